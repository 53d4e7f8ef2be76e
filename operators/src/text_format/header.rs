//! The conditioning header that precedes every log in the model's text.
//!
//! It tells the model (and lets a prompt tell it) which source, user, country and MITRE
//! technique a log belongs to, whether a Sigma rule of that technique fires on it, and
//! when in the week it happened, so behaviour that depends on the hour or the weekday can
//! be learned without reading timestamps.

use chrono::{DateTime, Datelike, Timelike, Utc};
use schemas::{Envelope, Source};

use super::FieldSpan;

/// What a log is conditioned on. Every field is optional: a prompt names what it wants
/// fixed and the model fills in the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The log source.
    pub source: Option<Source>,
    /// The acting user as the decoder keys it (lower-cased).
    pub user: Option<String>,
    /// ISO 3166 country of the request.
    pub country: Option<String>,
    /// MITRE ATT&CK technique id, for labelled attack logs.
    pub technique: Option<String>,
    /// For a technique's log: whether a Sigma rule tagged with the technique fires on it
    /// (the step of the attack a SOC's rules see), written `f=y` or `f=n`. Only models
    /// fitted with it ([`super::TextFormat::tags_detected`]) read it.
    pub detected: Option<bool>,
    /// Day of the week (UTC), 0 = Monday.
    pub weekday: Option<u8>,
    /// Hour of the day (UTC).
    pub hour: Option<u8>,
}

/// The weekdays as headers write them, Monday first.
pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// The keys of the header's optional fields, in the order they are rendered.
pub const HEADER_KEYS: [u8; 6] = [b'u', b'c', b't', b'f', b'd', b'h'];

impl Header {
    /// The header of a decoded log: its source, user, country and event time; the
    /// technique is known only from labels.
    pub fn of(envelope: &Envelope, technique: Option<&str>) -> Self {
        let mut header = Header {
            source: Some(envelope.source),
            user: envelope.user.clone(),
            country: envelope.country.clone(),
            technique: technique.map(str::to_string),
            ..Header::default()
        };
        header.set_time(envelope.event_time);
        header
    }

    /// Sets weekday and hour from an event time.
    pub fn set_time(&mut self, time: DateTime<Utc>) {
        self.weekday = Some(time.weekday().num_days_from_monday() as u8);
        self.hour = Some(time.hour() as u8);
    }

    /// The values of the optional fields, in [`HEADER_KEYS`] order, as rendered.
    pub fn field_values(&self) -> [Option<String>; 6] {
        let value = |v: Option<&str>| v.map(sanitize);
        [
            value(self.user.as_deref()),
            value(self.country.as_deref()),
            value(self.technique.as_deref()),
            self.detected
                .map(|detected| if detected { "y" } else { "n" }.to_string()),
            self.weekday
                .and_then(|d| WEEKDAYS.get(usize::from(d)))
                .map(|d| d.to_string()),
            self.hour.map(|h| format!("{h:02}")),
        ]
    }

    /// Renders the header, e.g. `[azure u=alice@contoso.com c=DE d=Mon h=09] `. Absent
    /// fields are left out; the order is fixed so the model sees one layout.
    pub fn render(&self) -> String {
        let mut out = String::from("[");
        out.push_str(self.source.map(Source::name).unwrap_or("-"));
        for (key, value) in HEADER_KEYS.iter().zip(self.field_values()) {
            if let Some(value) = value {
                out.push(' ');
                out.push(char::from(*key));
                out.push('=');
                out.push_str(&value);
            }
        }
        out.push_str("] ");
        out
    }

    /// Parses a rendered header from the start of `text`, returning it and the rest.
    pub fn parse(text: &str) -> Option<(Header, &str)> {
        let inner_end = text.find("] ")?;
        let inner = text.strip_prefix('[')?.get(..inner_end - 1)?;
        let mut parts = inner.split(' ');
        let source = match parts.next()? {
            "-" => None,
            name => Some(name.parse().ok()?),
        };
        let mut header = Header {
            source,
            ..Header::default()
        };
        for part in parts {
            let (key, value) = part.split_once('=')?;
            match key {
                "u" => header.user = Some(value.to_string()),
                "c" => header.country = Some(value.to_string()),
                "t" => header.technique = Some(value.to_string()),
                "f" => header.detected = Some(value == "y"),
                "d" => header.weekday = WEEKDAYS.iter().position(|d| *d == value).map(|d| d as u8),
                "h" => header.hour = value.parse().ok(),
                _ => return None,
            }
        }
        Some((header, &text[inner_end + 2..]))
    }
}

/// The byte spans of a rendered header's fields at the start of `text`, named
/// `header.source`, `header.user`, `header.country`, `header.technique`, `header.weekday`
/// and `header.hour`, so surprisal in the header is attributed like a JSON field's.
/// `None` when `text` does not start with a header.
pub fn header_spans(text: &str) -> Option<Vec<FieldSpan>> {
    let inner_end = text.find("] ")?;
    text.strip_prefix('[')?;
    let mut spans = Vec::new();
    let mut at = 1;
    for (index, part) in text.get(1..inner_end)?.split(' ').enumerate() {
        let (name, value_offset) = if index == 0 {
            ("source", 0)
        } else {
            let name = match part.as_bytes().first()? {
                b'u' => "user",
                b'c' => "country",
                b't' => "technique",
                b'f' => "detected",
                b'd' => "weekday",
                b'h' => "hour",
                _ => return None,
            };
            (name, 2)
        };
        spans.push(FieldSpan {
            path: format!("header.{name}"),
            bytes: at..at + part.len(),
            value: at + value_offset..at + part.len(),
        });
        at += part.len() + 1;
    }
    Some(spans)
}

/// Whether a generated header value may hold `byte`: printable ASCII but the header's
/// delimiters (user names, country codes, technique ids, hours all are).
pub fn is_header_value_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b']' | b'[' | b'=')
}

/// A value with the characters that delimit the header replaced, so a hostile user name
/// cannot forge a field or end the header early.
fn sanitize(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            ' ' | ']' | '[' | '=' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_escapes_delimiters() {
        let header = Header {
            source: Some(Source::Azure),
            user: Some("eve] c=RU".into()),
            country: Some("DE".into()),
            weekday: Some(4),
            hour: Some(9),
            ..Header::default()
        };
        let text = header.render();
        assert_eq!(text, "[azure u=eve__c_RU c=DE d=Fri h=09] ");
        let full = format!("{text}{{}}");
        let (parsed, rest) = Header::parse(&full).unwrap();
        assert_eq!(rest, "{}");
        assert_eq!(parsed.user.as_deref(), Some("eve__c_RU"));
        assert_eq!(parsed.country.as_deref(), Some("DE"));
        assert_eq!((parsed.weekday, parsed.hour), (Some(4), Some(9)));

        let spans = header_spans(&full).unwrap();
        let named: Vec<(&str, &str)> = spans
            .iter()
            .map(|span| (span.path.as_str(), &full[span.value.clone()]))
            .collect();
        assert_eq!(
            named,
            [
                ("header.source", "azure"),
                ("header.user", "eve__c_RU"),
                ("header.country", "DE"),
                ("header.weekday", "Fri"),
                ("header.hour", "09"),
            ]
        );
        assert_eq!(&full[spans[2].bytes.clone()], "c=DE");
        assert!(header_spans("{}").is_none());
    }

    #[test]
    fn a_techniques_log_says_whether_its_rules_fire_after_the_technique() {
        for (detected, flag) in [(true, "y"), (false, "n")] {
            let header = Header {
                source: Some(Source::CloudTrail),
                technique: Some("T1562.008".into()),
                detected: Some(detected),
                hour: Some(3),
                ..Header::default()
            };
            let text = header.render();
            assert_eq!(text, format!("[cloudtrail t=T1562.008 f={flag} h=03] "));
            let (parsed, _) = Header::parse(&text).unwrap();
            assert_eq!(parsed, header);
            let spans = header_spans(&text).unwrap();
            assert_eq!(spans[2].path, "header.detected");
            assert_eq!(&text[spans[2].value.clone()], flag);
        }
    }
}
