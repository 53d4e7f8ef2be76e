//! Log files as a [`LogSource`]: each file one input, read lazily, a log at a time, so
//! detect on files merges by event time in bounded memory as it does on Kafka. Files
//! whose logs are in time order (as exports and the simulator write them) merge exactly;
//! a log more than the out-of-orderness bound behind its file is judged late.

use std::time::Duration;

use indicatif::ProgressBar;
use serde_json::{Map, Value};

use super::{LogFile, LogReader};
use crate::stream::{Input, LogSource, RawRecord, SourceEvent};

/// A set of files read side by side.
pub struct FileSource {
    readers: Vec<LogReader>,
    names: Vec<String>,
    finished: Vec<bool>,
    /// The file read last: read on from it while it stays readable.
    cursor: usize,
    progress: ProgressBar,
}

impl FileSource {
    /// Opens every file; `progress` counts the logs read.
    pub fn open(files: &[LogFile], progress: ProgressBar) -> anyhow::Result<Self> {
        let readers = files
            .iter()
            .map(LogReader::open)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(FileSource {
            names: files.iter().map(|f| f.path.display().to_string()).collect(),
            finished: vec![false; readers.len()],
            readers,
            cursor: 0,
            progress,
        })
    }
}

impl LogSource for FileSource {
    fn initial_inputs(&self) -> Vec<Input> {
        (0..self.readers.len()).map(|index| (index, 0)).collect()
    }

    fn name(&self, input: Input) -> &str {
        &self.names[input.0]
    }

    fn locate(&self, input: Input, position: i64) -> Map<String, Value> {
        let unit = self.readers[input.0].unit();
        Map::from_iter([
            (
                "input".to_string(),
                Value::from(self.names[input.0].as_str()),
            ),
            (
                "position".to_string(),
                Value::from(format!("{unit} {position}")),
            ),
        ])
    }

    async fn next(&mut self, readable: impl Fn(&Input) -> bool) -> SourceEvent {
        let count = self.readers.len();
        if self.finished.iter().all(|&done| done) {
            self.progress.finish_and_clear();
            return SourceEvent::Exhausted;
        }
        for step in 0..count {
            let index = (self.cursor + step) % count;
            let input = (index, 0);
            if self.finished[index] || !readable(&input) {
                continue;
            }
            self.cursor = index;
            return match self.readers[index].next_log() {
                Ok(Some(raw)) => {
                    self.progress.inc(1);
                    SourceEvent::Record(RawRecord {
                        input,
                        position: raw.number as i64,
                        source: raw.source,
                        key: None,
                        payload: raw.bytes.to_vec(),
                        replayed_at_ms: None,
                    })
                }
                Ok(None) => {
                    self.finished[index] = true;
                    SourceEvent::Finished(input)
                }
                Err(error) => {
                    self.finished[index] = true;
                    SourceEvent::Failed(error)
                }
            };
        }
        // Every unfinished file is ahead of one the merge still waits for (it cannot be:
        // the slowest is always readable); do not spin if it ever happens.
        tokio::time::sleep(Duration::from_millis(10)).await;
        SourceEvent::Nothing
    }

    fn confirm(&mut self, _positions: &[(Input, i64)]) {}

    fn close(&mut self) {}
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use operators::Detector;
    use schemas::{DetectionFinding, Envelope, FindingInfo, Severity};

    use super::*;
    use crate::files::{JsonlRecordSink, expand_inputs};
    use crate::stream::{EngineConfig, Sinks};

    /// Records the event times it sees and alerts on every third log.
    struct Recorder(Arc<Mutex<Vec<i64>>>);

    impl Detector for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }

        fn detect(&mut self, envelope: &Envelope) -> Vec<DetectionFinding> {
            let mut seen = self.0.lock().unwrap();
            seen.push(envelope.event_time_ms());
            if !seen.len().is_multiple_of(3) {
                return Vec::new();
            }
            let info = FindingInfo {
                uid: envelope.event_id.clone(),
                title: "every third".into(),
                desc: None,
                analytic_uid: "recorder".into(),
                analytic_name: "recorder".into(),
                analytic_type: "Rule".into(),
                attacks: Vec::new(),
            };
            vec![DetectionFinding::about(envelope, Severity::Low, info)]
        }
    }

    fn cloudtrail(second: u32, id: &str) -> String {
        format!(
            r#"{{"eventTime":"2024-01-01T00:00:{second:02}Z","eventID":"{id}","eventSource":"s3.amazonaws.com","userIdentity":{{"userName":"u"}}}}"#
        )
    }

    #[test]
    fn files_are_merged_by_event_time_and_bad_lines_become_dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let odd: Vec<String> = [1, 3, 5]
            .iter()
            .map(|s| cloudtrail(*s, &format!("o{s}")))
            .collect();
        let even: Vec<String> = [2, 4, 6]
            .iter()
            .map(|s| cloudtrail(*s, &format!("e{s}")))
            .collect();
        std::fs::write(logs.join("cloudtrail.jsonl"), odd.join("\n")).unwrap();
        std::fs::write(
            logs.join("more.jsonl"),
            format!("{}\nnot json\n\n{}\n{}\n", even[0], even[1], even[2]),
        )
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (alerts, dead) = (
            dir.path().join("alerts.jsonl"),
            dir.path().join("dead.jsonl"),
        );
        let files = expand_inputs(&[logs]).unwrap();
        let source = FileSource::open(&files, ProgressBar::hidden()).unwrap();
        let sinks = Sinks {
            alerts: Arc::new(JsonlRecordSink::create(&alerts).unwrap()),
            dead_letters: Arc::new(JsonlRecordSink::create(&dead).unwrap()),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let report = runtime
            .block_on(crate::stream::run(
                source,
                sinks,
                EngineConfig::default(),
                None,
                vec![Box::new(Recorder(seen.clone()))],
                std::future::pending(),
            ))
            .unwrap();

        let seconds: Vec<i64> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|ms| ms % 60_000 / 1000)
            .collect();
        assert_eq!(seconds, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            (
                report.consumed,
                report.dead_letters,
                report.late,
                report.alerts
            ),
            (7, 1, 0, 2)
        );
        let alerts = std::fs::read_to_string(&alerts).unwrap();
        assert_eq!(alerts.lines().count(), 2);
        let letter: Value =
            serde_json::from_str(std::fs::read_to_string(&dead).unwrap().trim()).unwrap();
        assert!(letter["input"].as_str().unwrap().ends_with("more.jsonl"));
        assert_eq!(letter["position"], "line 2");
        assert_eq!(letter["error_type"], "not_json");
        assert_eq!(letter["raw"], "not json");
    }

    #[test]
    fn an_unreadable_file_stops_the_run_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recorded.parquet");
        std::fs::write(&path, "not parquet").unwrap();
        let files = expand_inputs(&[path]).unwrap();
        let error = FileSource::open(&files, ProgressBar::hidden())
            .err()
            .unwrap();
        assert!(
            format!("{error:#}").contains("recorded.parquet"),
            "{error:#}"
        );
    }
}
