//! Event-time parsing for the timestamp shapes the three sources use in the wild.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Parses an event time: RFC 3339 (`2025-01-15T14:20:35.4567890Z`), a naive UTC time
/// with a space or `T` (`2024-12-10 14:33:09.049661100`, as Log Analytics and Panther
/// export it), or epoch milliseconds as a number or digit string (Confluence's
/// `creationDate`). Returns a reason on failure, for the caller to attach to a field.
pub fn parse_event_time(value: &Value) -> Result<DateTime<Utc>, String> {
    match value {
        Value::Number(number) => {
            let millis = number
                .as_i64()
                .ok_or_else(|| format!("{number} is not an integer number of milliseconds"))?;
            from_epoch_millis(millis)
        }
        Value::String(text) => parse_text(text.trim()),
        Value::Null => Err("is null".to_string()),
        other => Err(format!("expected a timestamp, found {}", kind(other))),
    }
}

fn parse_text(text: &str) -> Result<DateTime<Utc>, String> {
    if text.is_empty() {
        return Err("is empty".to_string());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let millis: i64 = text
            .parse()
            .map_err(|_| format!("{text:?} is out of range for epoch milliseconds"))?;
        return from_epoch_millis(millis);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&naive));
        }
    }
    Err(format!(
        "{text:?} is not an RFC 3339 time, a 'YYYY-MM-DD hh:mm:ss' UTC time or epoch milliseconds"
    ))
}

fn from_epoch_millis(millis: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| format!("{millis} is out of range for epoch milliseconds"))
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
    use serde_json::json;

    #[test]
    fn parses_every_shape_seen_in_the_real_data() {
        let cases = [
            (json!("2023-07-10T11:42:18Z"), "2023-07-10T11:42:18+00:00"),
            (
                json!("2025-01-15T14:20:35.4567890Z"),
                "2025-01-15T14:20:35.456789+00:00",
            ),
            (
                json!("2024-12-10 14:33:09.049661100"),
                "2024-12-10T14:33:09.049661100+00:00",
            ),
            (
                json!("2025-01-15 14:20:35.456"),
                "2025-01-15T14:20:35.456+00:00",
            ),
            (json!(1615817523345_i64), "2021-03-15T14:12:03.345+00:00"),
            (json!("1615817523345"), "2021-03-15T14:12:03.345+00:00"),
        ];
        for (input, expected) in cases {
            let parsed = parse_event_time(&input).unwrap();
            assert_eq!(parsed.to_rfc3339(), expected, "input {input}");
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        assert!(parse_event_time(&json!(null)).unwrap_err().contains("null"));
        assert!(
            parse_event_time(&json!("yesterday"))
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert!(parse_event_time(&json!({})).unwrap_err().contains("object"));
    }
}
