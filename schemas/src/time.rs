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

/// `time` written the way `like` writes times: epoch milliseconds as a number or digit
/// string, a naive time with a space, or RFC 3339 in UTC (`Z`), with as many fractional
/// digits as `like` has (none, 3, 6, 7 or 9). Used to move a generated log in time.
pub fn format_event_time_like(like: &Value, time: DateTime<Utc>) -> Value {
    let text = match like {
        Value::Number(_) => return Value::from(time.timestamp_millis()),
        Value::String(text) => text.trim(),
        _ => "",
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Value::String(time.timestamp_millis().to_string());
    }
    let digits = text.split_once('.').map_or(0, |(_, rest)| {
        rest.bytes().take_while(u8::is_ascii_digit).count()
    });
    let separator = if text.as_bytes().get(10) == Some(&b' ') {
        ' '
    } else {
        'T'
    };
    let seconds = time
        .format(&format!("%Y-%m-%d{separator}%H:%M:%S"))
        .to_string();
    let fraction = match digits {
        0 => String::new(),
        digits => {
            let nanos = format!("{:09}", time.timestamp_subsec_nanos());
            format!(".{}", &nanos[..digits.min(9)])
        }
    };
    let zone = if separator == ' ' { "" } else { "Z" };
    Value::String(format!("{seconds}{fraction}{zone}"))
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

    #[test]
    fn times_are_written_as_the_log_wrote_them_and_read_back() {
        let time = Utc.with_ymd_and_hms(2026, 12, 1, 7, 5, 9).unwrap()
            + chrono::Duration::milliseconds(250);
        let cases = [
            (json!(1_700_000_000_000i64), json!(time.timestamp_millis())),
            (
                json!("1700000000000"),
                json!(time.timestamp_millis().to_string()),
            ),
            (json!("2026-11-02T10:00:00Z"), json!("2026-12-01T07:05:09Z")),
            (
                json!("2026-11-02T10:00:00.123Z"),
                json!("2026-12-01T07:05:09.250Z"),
            ),
            (
                json!("2025-01-15T14:20:35.4567890Z"),
                json!("2026-12-01T07:05:09.2500000Z"),
            ),
            (
                json!("2024-12-10 14:33:09.049661100"),
                json!("2026-12-01 07:05:09.250000000"),
            ),
        ];
        for (like, expected) in cases {
            let written = format_event_time_like(&like, time);
            assert_eq!(written, expected, "like {like}");
            let read = parse_event_time(&written).unwrap();
            assert_eq!(read.timestamp(), time.timestamp(), "{written}");
        }
    }
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
