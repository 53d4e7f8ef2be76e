//! Whether a generated log is a log: it parses as a JSON object, decodes as its source
//! (event time and the rest `schemas` needs) and holds every field that every real log of
//! that source holds.

use std::collections::HashMap;

use schemas::{DecodeError, Envelope, Source};
use serde::Serialize;
use serde_json::Value;

use super::fields::{at, leaves};

/// The verdict on one generated log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Validity {
    /// Decodes as its source with every required field.
    Valid,
    /// Not a JSON object.
    NotJson,
    /// A JSON object that is not a log of its source; the reason says what is wrong.
    NotSchema(String),
}

/// The fields every real log of each source holds.
#[derive(Debug, Clone, Default)]
pub struct RequiredFields {
    by_source: HashMap<Source, Vec<String>>,
}

impl RequiredFields {
    /// Fits on real logs: a leaf path present (and not `null`) in every log of its source
    /// is required.
    pub fn fit<'a>(real: impl IntoIterator<Item = (Source, &'a Value)>) -> Self {
        let mut counts: HashMap<Source, (usize, HashMap<String, usize>)> = HashMap::new();
        for (source, log) in real {
            let (logs, paths) = counts.entry(source).or_default();
            *logs += 1;
            for (path, value) in leaves(log) {
                if !value.is_null() {
                    *paths.entry(path).or_insert(0) += 1;
                }
            }
        }
        let by_source = counts
            .into_iter()
            .map(|(source, (logs, paths))| {
                let mut required: Vec<String> = paths
                    .into_iter()
                    .filter(|&(_, count)| count == logs)
                    .map(|(path, _)| path)
                    .collect();
                required.sort();
                (source, required)
            })
            .collect();
        RequiredFields { by_source }
    }

    /// The required paths of `source`, sorted.
    pub fn of(&self, source: Source) -> &[String] {
        self.by_source.get(&source).map_or(&[], Vec::as_slice)
    }

    /// Judges one generated log of `source` from its raw bytes.
    pub fn check(&self, source: Source, bytes: &[u8]) -> Validity {
        self.judge(source, bytes).0
    }

    /// Judges one generated log of `source` from its raw bytes, and hands back the log
    /// decoded when it decodes (valid or missing a required field), so a caller needs to
    /// parse it only once.
    pub fn judge(&self, source: Source, bytes: &[u8]) -> (Validity, Option<Envelope>) {
        let envelope = match schemas::decode(source, bytes) {
            Ok(envelope) => envelope,
            Err(DecodeError::NotJson { .. } | DecodeError::NotAnObject { .. }) => {
                return (Validity::NotJson, None);
            }
            // Too big to be parsed by the decoder; still tell JSON from not JSON.
            Err(error @ DecodeError::Oversize { .. })
                if serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v.is_object()) =>
            {
                return (Validity::NotSchema(error.to_string()), None);
            }
            Err(DecodeError::Oversize { .. }) => return (Validity::NotJson, None),
            Err(error) => return (Validity::NotSchema(error.to_string()), None),
        };
        let missing: Vec<&str> = self
            .of(source)
            .iter()
            .filter(|path| at(&envelope.json, path).is_none_or(Value::is_null))
            .map(String::as_str)
            .collect();
        let validity = match missing.as_slice() {
            [] => Validity::Valid,
            [first, rest @ ..] => Validity::NotSchema(format!(
                "missing {first}{}",
                match rest.len() {
                    0 => String::new(),
                    more => format!(" and {more} more required fields"),
                }
            )),
        };
        (validity, Some(envelope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_log_must_parse_decode_and_hold_every_always_present_field() {
        let real = [
            json!({"eventTime": "2024-01-01T00:00:00Z", "eventName": "A", "errorCode": "X",
                "userIdentity": {"type": "IAMUser", "userName": "bob"}}),
            json!({"eventTime": "2024-01-01T00:00:01Z", "eventName": "B",
                "userIdentity": {"type": "IAMUser", "userName": "eve"}}),
        ];
        let required = RequiredFields::fit(real.iter().map(|log| (Source::CloudTrail, log)));
        assert_eq!(
            required.of(Source::CloudTrail),
            [
                "eventName",
                "eventTime",
                "userIdentity.type",
                "userIdentity.userName"
            ]
        );
        let check = |text: &str| required.check(Source::CloudTrail, text.as_bytes());
        assert_eq!(check("not json"), Validity::NotJson);
        assert_eq!(check(r#""a string""#), Validity::NotJson);
        assert!(
            matches!(check(r#"{"eventName":"A"}"#), Validity::NotSchema(reason) if reason.contains("eventTime"))
        );
        assert_eq!(
            check(
                r#"{"eventTime":"2024-01-02T00:00:00Z","eventName":"C","userIdentity":{"type":"Root"}}"#
            ),
            Validity::NotSchema("missing userIdentity.userName".into())
        );
        assert_eq!(
            check(
                r#"{"eventTime":"2024-01-02T00:00:00Z","eventName":"C","userIdentity":{"type":"Root","userName":"x"}}"#
            ),
            Validity::Valid
        );
        assert_eq!(required.of(Source::Azure), Vec::<String>::new().as_slice());
    }
}
