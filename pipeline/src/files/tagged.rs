//! Logs labelled with the MITRE ATT&CK technique they belong to, for red-team
//! generation: the simulator's logs with its `labels.jsonl`, and recorded attacks in the
//! shape of Stratus Red Team's detonation logs, one JSONL line a log:
//! `{"stratus_id": "aws.defense-evasion.cloudtrail-stop", "techniques": ["T1562.008"], "event": LOG}`.
//!
//! A recorded attack's technique is the first ATT&CK id of `techniques` (pre-v19
//! spelling, as [`operators::attack::canonical`] writes it); where the recording maps
//! none, its `stratus_id`, so every recorded attack log is still trained on as an
//! attack, under a name `generate --technique` accepts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use model::corpus::TrainingLog;
use operators::pii::PiiHasher;
use schemas::DecodeError;
use serde_json::Value;

use super::{DeadLetter, JsonlSink, LogFile, read_envelopes, read_labels, read_raw_logs};

/// Reads `inputs` (logs, as [`read_envelopes`] does), technique-tagged by `labels` (the
/// simulator's `labels.jsonl`: its malicious events), plus the recorded attacks of
/// `tagged`; everything pseudonymised by `pii` when given. A line that does not decode
/// goes to the dead-letter file at `dead_letter_path`. Returns the logs and how many
/// were dead-lettered.
pub fn read_labelled_logs(
    inputs: &[PathBuf],
    labels: Option<&Path>,
    tagged: &[PathBuf],
    pii: Option<&PiiHasher>,
    dead_letter_path: &Path,
) -> anyhow::Result<(Vec<TrainingLog>, u64)> {
    let techniques: HashMap<String, String> = match labels {
        Some(path) => read_labels(path)?
            .into_iter()
            .filter(|label| label.malicious)
            .filter_map(|label| label.technique.map(|t| (label.event_id, t)))
            .collect(),
        None => HashMap::new(),
    };
    let (envelopes, mut rejected) = match inputs.is_empty() {
        true => (Vec::new(), 0),
        false => read_envelopes(inputs, pii, dead_letter_path)?,
    };
    let mut logs: Vec<TrainingLog> = envelopes
        .into_iter()
        .map(|envelope| TrainingLog {
            technique: techniques.get(&envelope.event_id).cloned(),
            detected: None,
            envelope,
        })
        .collect();
    if !tagged.is_empty() {
        let mut dead_letters = JsonlSink::append(dead_letter_path)?;
        for path in tagged {
            let file = LogFile {
                path: path.clone(),
                source: None,
            };
            let mut write_error = None;
            read_raw_logs(&file, |position, _, bytes| {
                match decode_tagged(bytes, pii) {
                    Ok(log) => logs.push(log),
                    Err(error) => {
                        rejected += 1;
                        let dead = DeadLetter {
                            input: path.display().to_string(),
                            position,
                            error,
                            raw: String::from_utf8_lossy(bytes).into_owned(),
                        };
                        if let Err(error) = dead_letters.write(&dead.to_json()) {
                            write_error.get_or_insert(error);
                        }
                    }
                }
            })?;
            if let Some(error) = write_error {
                return Err(error);
            }
        }
        dead_letters.finish()?;
    }
    Ok((logs, rejected))
}

/// One recorded attack line: its log, decoded by shape, and its technique.
fn decode_tagged(bytes: &[u8], pii: Option<&PiiHasher>) -> Result<TrainingLog, DecodeError> {
    let missing = |field| DecodeError::MissingField {
        log_source: "technique-tagged",
        field,
    };
    let line: Value = serde_json::from_slice(bytes).map_err(|error| DecodeError::NotJson {
        reason: error.to_string(),
    })?;
    let technique = line["techniques"]
        .as_array()
        .and_then(|ids| ids.iter().find_map(Value::as_str))
        .map(operators::attack::canonical)
        .or_else(|| line["stratus_id"].as_str().map(str::to_string))
        .filter(|technique| !technique.trim().is_empty())
        .ok_or(missing("techniques"))?;
    let event = line.get("event").ok_or(missing("event"))?;
    let mut envelope = schemas::decode_any(event.to_string().as_bytes())?;
    if let Some(pii) = pii {
        pii.apply(&mut envelope);
    }
    Ok(TrainingLog {
        envelope,
        technique: Some(technique),
        detected: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_attacks_carry_their_technique_or_their_recording_name() {
        let event = r#"{"eventTime":"2024-07-30T21:10:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","userIdentity":{"type":"IAMUser","userName":"mallory"}}"#;
        let mapped = format!(
            r#"{{"stratus_id":"aws.defense-evasion.cloudtrail-stop","techniques":["T1685.002"],"event":{event}}}"#
        );
        let log = decode_tagged(mapped.as_bytes(), None).unwrap();
        assert_eq!(log.technique.as_deref(), Some("T1562.008"));
        assert_eq!(log.envelope.json["eventName"], "StopLogging");
        let unmapped = format!(r#"{{"stratus_id":"aws.x.y","techniques":[],"event":{event}}}"#);
        let log = decode_tagged(unmapped.as_bytes(), None).unwrap();
        assert_eq!(log.technique.as_deref(), Some("aws.x.y"));

        let untagged = format!(r#"{{"event":{event}}}"#);
        assert_eq!(
            decode_tagged(untagged.as_bytes(), None).unwrap_err().kind(),
            "missing_field"
        );
        let no_event = r#"{"techniques":["T1530"]}"#;
        assert_eq!(
            decode_tagged(no_event.as_bytes(), None)
                .unwrap_err()
                .to_string(),
            "technique-tagged log has no event field"
        );
        assert!(decode_tagged(b"{not json", None).is_err());
    }
}
