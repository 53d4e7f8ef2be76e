//! How a log becomes the text a cyber language model reads, and back.
//!
//! Training, scoring and generation share this one format, and a model is stored with the
//! [`TextFormat`] it was trained on, so it is always read back the same way.
//!
//! Version 1: one log is its conditioning [`Header`] followed by the log's compact JSON
//! (the source's key order, the fields a fitted [`Projection`] keeps):
//!
//! ```text
//! [azure u=alice@contoso.com c=DE d=Mon h=09] {"Status":{"errorCode":0},...}
//! ```
//!
//! The tokenizer frames each log with begin/end-of-log tokens, so no newline is needed.
//!
//! A format fitted since the [`CountryCarry`] existed also writes, into the header of a
//! log whose source records no country (CloudTrail, Confluence), the country of the
//! user's latest sign-in ([`TextFormat::carry_country_hours`]); older models read each
//! log's own country only.
//!
//! A format fitted on technique-tagged logs with Sigma rules at hand
//! ([`TextFormat::tags_detected`]) also says, after a technique, whether a rule of it
//! fires on the log: `[cloudtrail t=T1562.008 f=y h=03] {...}`.
//!
//! ```
//! use operators::text_format::{Header, TextFormat};
//! use schemas::Source;
//!
//! let format = TextFormat::default();
//! let header = Header { source: Some(Source::Azure), country: Some("DE".into()), ..Header::default() };
//! let text = format.render(&header, &serde_json::json!({"Location": "DE"}));
//! assert_eq!(text, r#"[azure c=DE] {"Location":"DE"}"#);
//! let (parsed, json) = format.parse(&text).unwrap();
//! assert_eq!((parsed, json["Location"].as_str()), (header, Some("DE")));
//! ```

mod combinations;
mod country_carry;
mod field_group;
mod fields;
mod header;
pub mod header_mix;
mod pin;
mod pin_freeing;
mod projection;
mod shape;
pub mod user_fields;

pub use combinations::{
    Combinations, Consistent, FALSE, MAX_COMBINATIONS, NULL, Presence, TRUE, array_codes,
    boolean_code, number_code, number_codes, string_code, string_codes, tag as combination_tag,
};
pub use country_carry::{CountryCarry, DEFAULT_CARRY_HOURS};
pub use field_group::{FieldGroup, HeaderField};
pub use fields::{FieldSpan, field_spans};
pub use header::{HEADER_KEYS, Header, WEEKDAYS, header_spans, is_header_value_byte};
pub use pin::{FieldPin, PinError, ValuePattern};
pub use projection::{ConstantField, Projection};
pub use shape::{
    ItemRange, MAX_KEYS_PER_OBJECT, Pattern, Shape, ShapeKey, ShapeNode, kind, kind_of,
};

use std::collections::BTreeMap;

use schemas::Source;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The text format version this build writes.
pub const TEXT_FORMAT_VERSION: u32 = 1;

/// A versioned text format together with the projection fitted on the training logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextFormat {
    /// The format version; a model trained on another version cannot be read.
    pub version: u32,
    /// Fields the model does not read, per source.
    pub projection: Projection,
    /// The shape of each source's projected logs, by source name: what generation may
    /// write. Absent in models trained before it existed: their generations are only held
    /// to valid JSON.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shapes: BTreeMap<String, Shape>,
    /// For a group model (the Dual-GPT's location model), its fields and the header
    /// fields it reads: logs are rendered with only those header fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<FieldGroup>,
    /// For how many hours a user's latest sign-in country is written into the headers
    /// of their logs that record none. Absent (no carry) in models fitted before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carry_country_hours: Option<u32>,
    /// Whether only sign-ins that succeeded are carried: a failed one is often someone
    /// else's (a password spray from abroad) and says nothing of where the user is.
    /// `false` in models fitted before 2026-11-30, which carried every sign-in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub carry_successful_only: bool,
    /// Whether a window that starts inside a log longer than the context starts with
    /// that log's header (`model`'s `long_logs`), so whose log it is, from where and for
    /// which technique stays in view to its last byte. `false` in models fitted before
    /// 2026-12-01, which read such windows without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin_header: bool,
    /// Whether the header of a technique's log says whether a Sigma rule tagged with the
    /// technique fires on it ([`Header::detected`]), and combinations are kept per
    /// technique and that flag: so a red team can ask for the steps of an attack that
    /// rules see, or those they miss. `false` in models fitted without rules or tagged
    /// logs, and in every model before 2026-12-07.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tags_detected: bool,
}

impl Default for TextFormat {
    fn default() -> Self {
        TextFormat {
            version: TEXT_FORMAT_VERSION,
            projection: Projection::default(),
            shapes: BTreeMap::new(),
            group: None,
            carry_country_hours: None,
            carry_successful_only: false,
            pin_header: false,
            tags_detected: false,
        }
    }
}

impl TextFormat {
    /// A format with a fitted projection and no shapes.
    pub fn with_projection(projection: Projection) -> Self {
        TextFormat {
            projection,
            ..TextFormat::default()
        }
    }

    /// Fits the format on training logs: the projection of every source with at least
    /// `min_logs` logs, then the shape of its projected logs; countries are carried.
    /// Their combinations are keyed by nothing until [`TextFormat::fit_combinations`].
    pub fn fit(logs: &[(Source, &Value)], min_logs: usize) -> Self {
        let projection = Projection::fit(logs.iter().copied(), min_logs);
        let mut projected: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
        for &(source, log) in logs {
            let mut log = log.clone();
            projection.apply(source, &mut log);
            projected.entry(source.name()).or_default().push(log);
        }
        let shapes = projected
            .into_iter()
            .filter(|(_, logs)| logs.len() >= min_logs.max(1))
            .map(|(source, logs)| (source.to_string(), Shape::fit(&logs)))
            .collect();
        TextFormat {
            projection,
            shapes,
            carry_country_hours: Some(DEFAULT_CARRY_HOURS),
            carry_successful_only: true,
            pin_header: true,
            ..TextFormat::default()
        }
    }

    /// The header keys a model of this format keys its [`Combinations`] by: a group
    /// model's header fields (what it is conditioned on), else the technique (and whether
    /// its rules fire, where the format says).
    pub fn combination_keys(&self) -> String {
        let keys: Vec<u8> = match &self.group {
            Some(group) => group.header.iter().map(|field| field.key()).collect(),
            None if self.tags_detected => vec![b't', b'f'],
            None => vec![b't'],
        };
        HEADER_KEYS
            .iter()
            .filter(|key| keys.contains(key))
            .map(|&key| char::from(key))
            .collect()
    }

    /// Refits each shape's combinations and user fields on the training logs with the
    /// headers the model reads them under ([`TextFormat::combination_keys`]); call it
    /// once the format is complete (its group set).
    pub fn fit_combinations<'a>(
        &mut self,
        logs: impl IntoIterator<Item = (Source, &'a Value, Header)>,
    ) {
        let keys = self.combination_keys();
        let mut by_source: BTreeMap<&'static str, Vec<FitLog>> = BTreeMap::new();
        for (source, log, header) in logs {
            if !self.shapes.contains_key(source.name()) {
                continue;
            }
            let mut log = log.clone();
            self.projection.apply(source, &mut log);
            let header = self.header(&header);
            by_source.entry(source.name()).or_default().push(FitLog {
                log,
                tag: combinations::tag(&keys, &header.field_values()),
                benign: header.technique.is_none(),
                hour_of_week: header
                    .weekday
                    .zip(header.hour)
                    .and_then(|(weekday, hour)| header_mix::hour_of_week(weekday, hour)),
                detected: header.technique.clone().zip(header.detected),
                user: header.user.unwrap_or_default(),
            });
        }
        for (source, logs) in by_source {
            if let Some(shape) = self.shapes.get_mut(source) {
                let with_tags = logs.iter().map(|l| (&l.log, l.tag.as_str()));
                shape.combinations = Combinations::fit(shape, &keys, with_tags);
                let with_users = logs.iter().map(|l| (&l.log, l.user.as_str()));
                shape.user_fields = user_fields::fit(shape, with_users);
                let benign = || {
                    logs.iter()
                        .filter(|l| l.benign)
                        .map(|l| header_mix::BenignHeader {
                            user: &l.user,
                            hour_of_week: l.hour_of_week,
                        })
                };
                shape.users = header_mix::users(benign());
                shape.hours = header_mix::hours(benign());
                shape.detections = header_mix::detections(
                    logs.iter()
                        .filter_map(|l| l.detected.as_ref())
                        .map(|(technique, fired)| (technique.as_str(), *fired)),
                );
            }
        }
    }

    /// What writes the headers of one stream's logs under this format (carrying the
    /// user's country where the format does).
    pub fn country_carry(&self) -> CountryCarry {
        CountryCarry::new(self.carry_country_hours, self.carry_successful_only)
    }

    /// The shape generated logs of `source` must have, when the model has one.
    pub fn shape(&self, source: Source) -> Option<&Shape> {
        self.shapes.get(source.name())
    }

    /// The text of one log: header (a group model's fields of it), then the projected
    /// compact JSON.
    pub fn render(&self, header: &Header, log: &Value) -> String {
        let json = match header.source {
            Some(source) if self.projection.dropped(source) > 0 => {
                let mut projected = log.clone();
                self.projection.apply(source, &mut projected);
                projected.to_string()
            }
            _ => log.to_string(),
        };
        self.header(header).render() + &json
    }

    /// The header as the model reads it: a group model's header fields only, and
    /// whether a technique's rules fire only where the format tags it.
    pub fn header(&self, header: &Header) -> Header {
        let mut header = match &self.group {
            Some(group) => group.mask(header),
            None => header.clone(),
        };
        if !self.tags_detected {
            header.detected = None;
        }
        header
    }

    /// Reads a generated text back: its header and the full log, with the projected-away
    /// constant fields restored. `None` when the header or the JSON is malformed.
    pub fn parse(&self, text: &str) -> Option<(Header, Value)> {
        let (header, json) = Header::parse(text)?;
        let mut log: Value = serde_json::from_str(json).ok()?;
        if let Some(source) = header.source {
            self.projection.restore(source, &mut log);
        }
        Some((header, log))
    }
}

/// One training log as [`TextFormat::fit_combinations`] reads it: projected, with what
/// its header says.
struct FitLog {
    log: Value,
    /// Its header's keyed fields ([`combinations::tag`]).
    tag: String,
    /// Its header's user, empty for none.
    user: String,
    /// No technique in its header.
    benign: bool,
    hour_of_week: Option<u8>,
    /// Its technique and whether a rule of it fired, where the header says.
    detected: Option<(String, bool)>,
}
