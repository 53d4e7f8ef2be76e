//! Reading JSONL log files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use schemas::{Envelope, Source};

use super::{DeadLetter, JsonlSink, LogReader};

/// A JSONL file of logs, and the source its logs are decoded as (`None`: by shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// The file.
    pub path: PathBuf,
    /// Its source, known from its name.
    pub source: Option<Source>,
}

/// Files that sit beside simulated logs but are not logs.
const NOT_LOGS: &[&str] = &[
    "labels.jsonl",
    "users.jsonl",
    "alerts.jsonl",
    "dead-letter.jsonl",
];

/// Expands folders into their `*.jsonl` files (sorted) and names each file's source.
pub fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<LogFile>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("failed to list {}", input.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| {
                    path.extension()
                        .is_some_and(|e| e == "jsonl" || e == "parquet")
                })
                .filter(|path| {
                    !NOT_LOGS
                        .iter()
                        .any(|n| path.file_name().is_some_and(|f| f == *n))
                })
                .collect();
            found.sort();
            anyhow::ensure!(
                !found.is_empty(),
                "{} holds no *.jsonl log files",
                input.display()
            );
            files.extend(found);
        } else {
            anyhow::ensure!(input.exists(), "input {} does not exist", input.display());
            files.push(input.clone());
        }
    }
    Ok(files
        .into_iter()
        .map(|path| {
            let source = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok());
            LogFile { path, source }
        })
        .collect())
}

/// Calls `on_raw(position, source, bytes)` for every log in `file`: each non-blank line
/// of a JSONL file, each row of a recorded-logs Parquet file (`*.parquet`). The source is
/// the file's (from its name) or, in Parquet, the row's; `None` means "by shape".
pub fn read_raw_logs(
    file: &LogFile,
    mut on_raw: impl FnMut(String, Option<Source>, &[u8]),
) -> anyhow::Result<()> {
    let mut reader = LogReader::open(file)?;
    while let Some(raw) = reader.next_log()? {
        on_raw(raw.position(), raw.source, raw.bytes);
    }
    Ok(())
}

/// Decodes every log of `file`, handing each log or dead letter to `on_log`; a log that
/// does not decode never stops the file.
pub fn read_log_file(
    file: &LogFile,
    mut on_log: impl FnMut(Result<Envelope, DeadLetter>),
) -> anyhow::Result<()> {
    read_raw_logs(file, |position, source, bytes| {
        let decoded = schemas::decode_from(source, bytes);
        on_log(decoded.map_err(|error| DeadLetter {
            input: file.path.display().to_string(),
            position,
            error,
            raw: String::from_utf8_lossy(bytes).into_owned(),
        }));
    })
}

/// Decodes every log of `inputs` (files or folders, as [`expand_inputs`] reads them),
/// pseudonymised by `pii` when given, writing each log that does not decode to the
/// dead-letter file at `dead_letter_path`. Returns the logs in input order and how many
/// went to the dead-letter file.
pub fn read_envelopes(
    inputs: &[PathBuf],
    pii: Option<&operators::pii::PiiHasher>,
    dead_letter_path: &Path,
) -> anyhow::Result<(Vec<Envelope>, u64)> {
    let files = expand_inputs(inputs)?;
    let mut dead_letters = JsonlSink::create(dead_letter_path)?;
    let mut logs = Vec::new();
    let mut write_error = None;
    for file in &files {
        read_log_file(file, |decoded| match decoded {
            Ok(mut envelope) => {
                if let Some(pii) = pii {
                    pii.apply(&mut envelope);
                }
                logs.push(envelope)
            }
            Err(dead) => {
                tracing::debug!(message = "Sent a log to the dead-letter file.", input = dead.input.as_str(),
                    position = dead.position.as_str(), error = %dead.error);
                if let Err(error) = dead_letters.write(&dead.to_json()) {
                    write_error.get_or_insert(error);
                }
            }
        })?;
    }
    if let Some(error) = write_error {
        return Err(error);
    }
    Ok((logs, dead_letters.finish()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_become_dead_letters_and_reading_continues() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloudtrail.jsonl");
        std::fs::write(
            &path,
            "{\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventSource\":\"s3.amazonaws.com\"}\nnot json\n\n{\"eventSource\":\"x\"}\n{\"eventTime\":\"2024-01-01T00:00:01Z\"}\n",
        )
        .unwrap();
        let files = expand_inputs(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(files[0].source, Some(Source::CloudTrail));
        let (mut good, mut bad) = (0, Vec::new());
        read_log_file(&files[0], |log| match log {
            Ok(_) => good += 1,
            Err(dead) => bad.push(dead),
        })
        .unwrap();
        assert_eq!(good, 2);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].position, "line 2");
        assert_eq!(bad[0].error.kind(), "not_json");
        assert!(
            bad[1].error.to_string().contains("no eventTime"),
            "{}",
            bad[1].error
        );
        assert!(
            bad[1].to_json()["input"]
                .as_str()
                .unwrap()
                .ends_with("cloudtrail.jsonl")
        );
    }
}
