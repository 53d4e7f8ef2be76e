//! Decoding raw bytes into an [`Envelope`].

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::DecodeError;
use crate::path::FieldPath;
use crate::source::Source;
use crate::time::parse_event_time;

/// The default upper bound on one log's size. Real Entra ID sign-in records run to about
/// 4 KB and the largest CloudTrail records in the reference data to about 40 KB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 256 * 1024;

/// A decoded log: what the pipeline needs to route, merge and score it, plus the original
/// JSON with its key order preserved.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Which source the log came from.
    pub source: Source,
    /// When the event happened (not when it arrived).
    pub event_time: DateTime<Utc>,
    /// The acting user, lower-cased so that one person's UPN, session name and
    /// Confluence login meet under one key. `None` for service events with no principal.
    pub user: Option<String>,
    /// ISO 3166 country of the request, where the source records one.
    pub country: Option<String>,
    /// The source's own event id, or `fp:` and a hash of the raw bytes where the source
    /// has none (Confluence), so labels and alerts can name any event.
    pub event_id: String,
    /// The original log, key order preserved.
    pub json: Value,
}

impl Envelope {
    /// The Kafka message key and partitioning key: the user, or `-` for none.
    pub fn key(&self) -> &str {
        self.user.as_deref().unwrap_or("-")
    }

    /// Event time in epoch milliseconds, the unit Kafka timestamps use.
    pub fn event_time_ms(&self) -> i64 {
        self.event_time.timestamp_millis()
    }

    /// The IP address the request came from, when the log records one. CloudTrail
    /// names an AWS service instead for calls made on a user's behalf
    /// (`ecs.amazonaws.com`): that is no address, and `None`.
    pub fn client_ip(&self) -> Option<&str> {
        self.source.spec().client_ip.iter().find_map(|path| {
            let text = path.lookup(&self.json)?.as_str()?.trim();
            text.parse::<std::net::IpAddr>().is_ok().then_some(text)
        })
    }

    /// Whether the log says its request failed (a sign-in with a non-zero result code);
    /// `false` where the source records no outcome.
    pub fn failed(&self) -> bool {
        self.source
            .spec()
            .success
            .iter()
            .find_map(|(path, success)| match path.lookup(&self.json)? {
                Value::String(text) => Some(text.trim() != *success),
                Value::Number(number) => Some(number.to_string() != *success),
                _ => None,
            })
            .unwrap_or(false)
    }
}

/// Decodes one raw log known to come from `source`.
pub fn decode(source: Source, bytes: &[u8]) -> Result<Envelope, DecodeError> {
    let json = parse(bytes)?;
    decode_parsed(source, json, bytes)
}

/// Decodes one raw log whose source is recognised from its shape.
pub fn decode_any(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    let json = parse(bytes)?;
    let source = recognise(&json).ok_or(DecodeError::UnrecognisedShape)?;
    decode_parsed(source, json, bytes)
}

/// Decodes one raw log from `source` when it is known, else by its shape.
pub fn decode_from(source: Option<Source>, bytes: &[u8]) -> Result<Envelope, DecodeError> {
    match source {
        Some(source) => decode(source, bytes),
        None => decode_any(bytes),
    }
}

fn parse(bytes: &[u8]) -> Result<Value, DecodeError> {
    if bytes.len() > DEFAULT_MAX_EVENT_BYTES {
        return Err(DecodeError::Oversize {
            bytes: bytes.len(),
            limit: DEFAULT_MAX_EVENT_BYTES,
        });
    }
    serde_json::from_slice(bytes).map_err(|error| DecodeError::NotJson {
        reason: error.to_string(),
    })
}

/// Recognises a source from the fields only it has.
fn recognise(json: &Value) -> Option<Source> {
    let has = |path: &'static str| FieldPath(path).lookup(json).is_some();
    if has("eventSource") && (has("eventName") || has("eventTime")) {
        Some(Source::CloudTrail)
    } else if has("creationDate") && has("author") {
        Some(Source::Confluence)
    } else if has("UserPrincipalName")
        || has("TimeGenerated")
        || has("createdDateTime")
        || has("properties")
    {
        Some(Source::Azure)
    } else {
        None
    }
}

fn decode_parsed(source: Source, json: Value, bytes: &[u8]) -> Result<Envelope, DecodeError> {
    if !json.is_object() {
        return Err(DecodeError::NotAnObject { found: kind(&json) });
    }
    let spec = source.spec();
    let (time_path, time_value) =
        first_present(&json, spec.event_time).ok_or(DecodeError::MissingField {
            log_source: source.name(),
            field: spec.event_time[0].as_str(),
        })?;
    let event_time = parse_event_time(time_value).map_err(|reason| DecodeError::InvalidField {
        log_source: source.name(),
        field: time_path.as_str(),
        reason,
    })?;
    let user = first_text(&json, spec.user).map(|(path, text)| normalise_user(path, text));
    let country = spec.country_of(&json);
    let event_id = match first_text(&json, spec.event_id) {
        Some((_, id)) => id.to_string(),
        None => format!("fp:{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)),
    };
    Ok(Envelope {
        source,
        event_time,
        user,
        country,
        event_id,
        json,
    })
}

fn first_present<'a>(json: &'a Value, paths: &[FieldPath]) -> Option<(FieldPath, &'a Value)> {
    paths
        .iter()
        .find_map(|path| path.lookup(json).map(|value| (*path, value)))
}

/// The first path holding a non-empty string.
fn first_text<'a>(json: &'a Value, paths: &[FieldPath]) -> Option<(FieldPath, &'a str)> {
    paths.iter().find_map(|path| {
        let text = path.lookup(json)?.as_str()?.trim();
        (!text.is_empty()).then_some((*path, text))
    })
}

/// A user from an ARN is its last segment: the IAM user name, or the role session name
/// (which IAM Identity Center sets to the person's UPN); the root ARN gives `root`.
fn normalise_user(path: FieldPath, text: &str) -> String {
    let user = if path.as_str().ends_with(".arn") {
        if text.ends_with(":root") {
            "root"
        } else {
            text.rsplit('/').next().unwrap_or(text)
        }
    } else {
        text
    };
    user.to_lowercase()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order() {
        let raw = br#"{"zeta":1,"eventTime":"2024-01-01T00:00:00Z","alpha":2,"eventSource":"x"}"#;
        let envelope = decode(Source::CloudTrail, raw).unwrap();
        let keys: Vec<_> = envelope.json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["zeta", "eventTime", "alpha", "eventSource"]);
        assert_eq!(serde_json::to_vec(&envelope.json).unwrap(), raw.to_vec());
    }

    #[test]
    fn users_from_arns_are_session_or_user_names() {
        let raw = br#"{"eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":"AssumedRole",
            "arn":"arn:aws:sts::1:assumed-role/AWSReservedSSO_Dev/Alice@Contoso.com"}}"#;
        let envelope = decode(Source::CloudTrail, raw).unwrap();
        assert_eq!(envelope.user.as_deref(), Some("alice@contoso.com"));
        let root =
            br#"{"eventTime":"2024-01-01T00:00:00Z","userIdentity":{"arn":"arn:aws:iam::1:root"}}"#;
        assert_eq!(
            decode(Source::CloudTrail, root).unwrap().user.as_deref(),
            Some("root")
        );
    }

    #[test]
    fn client_addresses_are_ip_addresses_only() {
        let call = |ip: &str| {
            let raw = format!(r#"{{"eventTime":"2024-01-01T00:00:00Z","sourceIPAddress":"{ip}"}}"#);
            decode(Source::CloudTrail, raw.as_bytes()).unwrap()
        };
        assert_eq!(call("203.0.113.9").client_ip(), Some("203.0.113.9"));
        assert_eq!(call("2001:db8::1").client_ip(), Some("2001:db8::1"));
        assert_eq!(call("ecs.amazonaws.com").client_ip(), None);
        let page = br#"{"creationDate":1700000000000,"remoteAddress":"198.51.100.7"}"#;
        let page = decode(Source::Confluence, page).unwrap();
        assert_eq!(page.client_ip(), Some("198.51.100.7"));
    }

    #[test]
    fn a_sign_in_fails_by_its_result_code_in_either_shape() {
        let sign_in = |outcome: &str| {
            let raw = format!(r#"{{"TimeGenerated":"2024-01-01T00:00:00Z",{outcome}}}"#);
            decode(Source::Azure, raw.as_bytes()).unwrap().failed()
        };
        assert!(!sign_in(r#""ResultType":"0""#));
        assert!(sign_in(r#""ResultType":"50126""#));
        assert!(!sign_in(r#""properties":{"status":{"errorCode":0}}"#));
        assert!(sign_in(r#""properties":{"status":{"errorCode":50053}}"#));
        assert!(
            !sign_in(r#""AppDisplayName":"Teams""#),
            "no outcome: not failed"
        );
        let call = br#"{"eventTime":"2024-01-01T00:00:00Z","errorCode":"AccessDenied"}"#;
        assert!(!decode(Source::CloudTrail, call).unwrap().failed());
    }

    #[test]
    fn errors_name_the_problem() {
        let cases: [(&[u8], &str); 4] = [
            (b"not json", "not valid JSON"),
            (b"[1,2]", "expected a JSON object, found an array"),
            (
                br#"{"eventName":"x"}"#,
                "cloudtrail log has no eventTime field",
            ),
            (
                br#"{"eventTime":"soon"}"#,
                "cloudtrail log has an invalid eventTime",
            ),
        ];
        for (raw, expected) in cases {
            let error = decode(Source::CloudTrail, raw).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
        let big = vec![b' '; DEFAULT_MAX_EVENT_BYTES + 1];
        assert_eq!(decode(Source::Azure, &big).unwrap_err().kind(), "oversize");
    }

    #[test]
    fn recognises_sources_by_shape() {
        let confluence = br#"{"author":{"username":"bob"},"creationDate":1615817523345}"#;
        assert_eq!(decode_any(confluence).unwrap().source, Source::Confluence);
        let azure = br#"{"TimeGenerated":"2024-01-01T00:00:00Z","UserPrincipalName":"a@b.c","Location":"de"}"#;
        let envelope = decode_any(azure).unwrap();
        assert_eq!(
            (envelope.source, envelope.country.as_deref()),
            (Source::Azure, Some("DE"))
        );
        assert_eq!(
            decode_any(br#"{"msg":"hi"}"#).unwrap_err(),
            DecodeError::UnrecognisedShape
        );
    }

    #[test]
    fn events_without_an_id_get_a_stable_fingerprint() {
        let raw = br#"{"author":{"username":"bob"},"creationDate":1}"#;
        let first = decode(Source::Confluence, raw).unwrap().event_id;
        assert!(first.starts_with("fp:"));
        assert_eq!(first, decode(Source::Confluence, raw).unwrap().event_id);
    }
}
