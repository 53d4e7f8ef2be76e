//! What a generated log may look like, byte by byte: a conditioning header whose given
//! fields are forced and whose other fields the model fills in (or leaves out), then the
//! JSON prefix the prompt fixed, then a JSON object ([`JsonConstraint`]).
//!
//! A prompt of `--country CH` alone thus still gets a user, weekday and hour the model
//! finds likely, in the header's fixed field order, instead of a header the model never
//! saw in training.

use std::collections::VecDeque;
use std::sync::Arc;

use operators::text_format::{HEADER_KEYS, Header, Shape, combination_tag, is_header_value_byte};

/// Indices of the user, the technique and whether its rules fire in [`HEADER_KEYS`].
const USER_FIELD: usize = 0;
const TECHNIQUE_FIELD: usize = 2;
const DETECTED_FIELD: usize = 3;
/// How many optional fields a header has.
const FIELDS: usize = HEADER_KEYS.len();

use crate::json_constraint::JsonConstraint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderState {
    /// After the source or a value: ` ` starts a field, `]` ends the header.
    Boundary,
    /// After ` `: one of the keys still allowed.
    Key,
    /// After a free key: `=`.
    Equals,
    /// In a free value; `empty` until its first byte.
    Value { empty: bool },
    /// After `]`: the space before the JSON.
    Closing,
    /// The header is done.
    Done,
}

/// The byte-level constraint of one generated log.
#[derive(Debug, Clone)]
pub struct LogConstraint {
    given: [Option<String>; FIELDS],
    /// Index into `HEADER_KEYS` of the next field that may appear.
    next_field: usize,
    state: HeaderState,
    /// Bytes to force next (a given field's ` k=value`, the JSON prefix).
    forced: VecDeque<u8>,
    json_prefix: Vec<u8>,
    /// Bytes the shortest completion of the JSON prefix takes.
    prefix_completion: usize,
    /// The values the model wrote into the header's free fields, in [`HEADER_KEYS`]
    /// order.
    written: [Vec<u8>; FIELDS],
    /// The technique may not be written ([`LogConstraint::leave_out_technique`]).
    no_technique: bool,
    /// Whether the model may say if a technique's rules fire
    /// ([`LogConstraint::allow_detected`]).
    detected_allowed: bool,
    json: JsonConstraint,
}

impl LogConstraint {
    /// A constraint for a log whose header holds `header`'s fields (the source is in the
    /// prompt already), whose JSON starts with `json_prefix` and, given one, has the
    /// source's `shape`. A prefix the shape refuses (a key no training log had) turns the
    /// shape off for this log: the caller asked for it. `None` when the prefix cannot
    /// start a JSON object.
    pub fn new(header: &Header, json_prefix: &str, shape: Option<Arc<Shape>>) -> Option<Self> {
        // Checked up front so an impossible prefix is an error, not a stuck generation.
        let after_prefix = |json: &JsonConstraint| {
            let mut json = json.clone();
            json_prefix
                .bytes()
                .all(|byte| json.push(byte))
                .then_some(json)
        };
        let fresh = shape
            .map(JsonConstraint::with_shape)
            .filter(|shaped| after_prefix(shaped).is_some())
            .unwrap_or_default();
        let json = after_prefix(&fresh)?;
        Some(LogConstraint {
            given: header.field_values(),
            next_field: 0,
            state: HeaderState::Boundary,
            forced: VecDeque::new(),
            json_prefix: json_prefix.as_bytes().to_vec(),
            prefix_completion: json.completion().len(),
            written: Default::default(),
            no_technique: false,
            detected_allowed: false,
            json: fresh,
        })
    }

    /// The byte that must come next, if only one may.
    pub fn forced(&self) -> Option<u8> {
        if let Some(&byte) = self.forced.front() {
            return Some(byte);
        }
        match self.state {
            HeaderState::Boundary if self.must_continue() => Some(b' '),
            HeaderState::Equals => Some(b'='),
            HeaderState::Closing => Some(b' '),
            _ => None,
        }
    }

    /// Whether `byte` may come next.
    pub fn allows(&self, byte: u8) -> bool {
        if let Some(&forced) = self.forced.front() {
            return byte == forced;
        }
        match self.state {
            HeaderState::Boundary => self.boundary_allows(byte),
            HeaderState::Key => self.allowed_keys().any(|(_, key)| key == byte),
            HeaderState::Equals => byte == b'=',
            HeaderState::Value { empty } if self.in_detected() => match empty {
                true => matches!(byte, b'y' | b'n'),
                false => self.boundary_allows(byte),
            },
            HeaderState::Value { empty } => {
                is_header_value_byte(byte) || (!empty && self.boundary_allows(byte))
            }
            HeaderState::Closing => byte == b' ',
            HeaderState::Done => self.json.allows(byte),
        }
    }

    /// Feeds `byte`; `false` (and no change) when it is not allowed.
    pub fn push(&mut self, byte: u8) -> bool {
        if !self.allows(byte) {
            return false;
        }
        if self.forced.pop_front().is_some() {
            if self.state == HeaderState::Done {
                self.json.push(byte);
            } else if self.forced.is_empty() {
                self.state = HeaderState::Boundary;
            }
            return true;
        }
        match self.state {
            HeaderState::Boundary if byte == b' ' => self.state = HeaderState::Key,
            HeaderState::Boundary => self.state = HeaderState::Closing,
            HeaderState::Key => {
                let Some((index, _)) = self.allowed_keys().find(|&(_, key)| key == byte) else {
                    return false;
                };
                self.next_field = index + 1;
                match &self.given[index] {
                    Some(value) => {
                        self.forced.push_back(b'=');
                        self.forced.extend(value.bytes());
                    }
                    None => self.state = HeaderState::Equals,
                }
            }
            HeaderState::Equals => self.state = HeaderState::Value { empty: true },
            HeaderState::Value { .. } if byte == b' ' => self.state = HeaderState::Key,
            HeaderState::Value { .. } if byte == b']' => self.state = HeaderState::Closing,
            HeaderState::Value { .. } => {
                if let Some(written) = self.written.get_mut(self.next_field.wrapping_sub(1)) {
                    written.push(byte);
                }
                self.state = HeaderState::Value { empty: false };
            }
            HeaderState::Closing => {
                self.state = HeaderState::Done;
                let values: Vec<Option<String>> = self
                    .given
                    .iter()
                    .zip(&self.written)
                    .map(|(given, written)| match given {
                        Some(given) => Some(given.clone()),
                        None if written.is_empty() => None,
                        None => Some(String::from_utf8_lossy(written).into_owned()),
                    })
                    .collect();
                let tag = combination_tag(self.json.combination_keys(), &values);
                let mut conditioned = self.json.clone();
                conditioned.condition_on(&tag);
                if let Some(user) = &values[USER_FIELD] {
                    conditioned.condition_on_user(user);
                }
                // A prompt's JSON prefix the tag's combinations refuse (another service's
                // call for this technique) keeps every combination: the caller asked for it.
                let mut check = conditioned.clone();
                if self.json_prefix.iter().all(|&byte| check.push(byte)) {
                    self.json = conditioned;
                }
                self.forced.extend(self.json_prefix.iter().copied());
            }
            HeaderState::Done => {
                self.json.push(byte);
            }
        }
        true
    }

    /// Refuses a technique in the header unless one is given: a benign log.
    pub fn leave_out_technique(&mut self) {
        self.no_technique = self.given[TECHNIQUE_FIELD].is_none();
    }

    /// Lets the model write, after a technique, whether its rules fire (`f=y`, `f=n`):
    /// for models whose format tags it. Without it the flag is written only when given.
    pub fn allow_detected(&mut self) {
        self.detected_allowed = true;
    }

    /// Whether the header is written and the JSON object closed.
    pub fn is_complete(&self) -> bool {
        self.state == HeaderState::Done && self.forced.is_empty() && self.json.is_complete()
    }

    /// Bytes the shortest completion from here takes.
    pub fn completion_len(&self) -> usize {
        if self.state == HeaderState::Done {
            // Once in the JSON, what is still forced is the rest of the prefix.
            return match self.forced.len() {
                0 => self.json.completion().len(),
                rest => rest + self.prefix_completion,
            };
        }
        let given_rest: usize = self.given[self.next_field..]
            .iter()
            .flatten()
            .map(|value| 3 + value.len())
            .sum::<usize>()
            + if self.flag_expected() { 4 } else { 0 };
        let state_rest = match self.state {
            HeaderState::Key | HeaderState::Equals => 3,
            HeaderState::Value { empty: true } => 1,
            _ => 0,
        };
        self.forced.len()
            + given_rest
            + state_rest
            + 2
            + self.json_prefix.len()
            + self.prefix_completion
    }

    /// The cheapest allowed byte: what a forced completion writes.
    pub fn cheapest(&self) -> u8 {
        if let Some(byte) = self.forced() {
            return byte;
        }
        match self.state {
            HeaderState::Boundary | HeaderState::Value { empty: false } => {
                if self.must_continue() {
                    b' '
                } else {
                    b']'
                }
            }
            HeaderState::Key => self.allowed_keys().last().map_or(b']', |(_, key)| key),
            HeaderState::Value { empty: true } if self.in_detected() => b'n',
            HeaderState::Value { empty: true } => b'_',
            HeaderState::Done => self.json.completion().first().copied().unwrap_or(b'}'),
            HeaderState::Equals => b'=',
            HeaderState::Closing => b' ',
        }
    }

    /// A later given field, or the flag its technique expects, is still to be written.
    fn must_continue(&self) -> bool {
        self.given[self.next_field.min(FIELDS)..]
            .iter()
            .any(Option::is_some)
            || self.flag_expected()
    }

    fn boundary_allows(&self, byte: u8) -> bool {
        byte == b' ' && self.next_field < FIELDS || byte == b']' && !self.must_continue()
    }

    /// Keys that may come next: those up to and including the next given one (a given
    /// field cannot be skipped). Whether rules fire may follow a technique only, and
    /// must where the technique's training logs all said it.
    fn allowed_keys(&self) -> impl Iterator<Item = (usize, u8)> + '_ {
        let stop = (self.next_field..FIELDS)
            .find(|&i| self.given[i].is_some() || (i == DETECTED_FIELD && self.flag_expected()))
            .unwrap_or(FIELDS - 1);
        let flag_allowed = self.next_field <= DETECTED_FIELD && self.flag_allowed();
        (self.next_field..=stop.min(FIELDS - 1))
            .filter(|&i| !(self.no_technique && i == TECHNIQUE_FIELD))
            .filter(move |&i| i != DETECTED_FIELD || flag_allowed)
            .map(|i| (i, HEADER_KEYS[i]))
    }

    /// Whether the model must say if the technique's rules fire: its training logs all
    /// did. A header without it is one the model never saw, and its combinations would
    /// narrow nothing.
    fn flag_expected(&self) -> bool {
        self.next_field <= DETECTED_FIELD && self.technique_flagged() == Some(true)
    }

    /// Whether the flag may be written: given, or after a technique whose training logs
    /// said it (any technique, where no combinations tell).
    fn flag_allowed(&self) -> bool {
        self.given[DETECTED_FIELD].is_some()
            || (self.detected_allowed
                && self.technique().is_some()
                && self.technique_flagged() != Some(false))
    }

    /// Whether the training logs of the technique given or written said if its rules
    /// fire, by the combinations' tags; `None` with no technique yet, no combinations,
    /// or for a model that may not write the flag.
    fn technique_flagged(&self) -> Option<bool> {
        if !self.detected_allowed || !self.json.combination_keys().contains('f') {
            return None;
        }
        let technique = self.technique()?;
        Some([true, false].into_iter().any(|detected| {
            self.json.knows_combination(&Header {
                technique: Some(technique.clone()),
                detected: Some(detected),
                ..Header::default()
            })
        }))
    }

    /// The technique given or written so far.
    fn technique(&self) -> Option<String> {
        match &self.given[TECHNIQUE_FIELD] {
            Some(given) => Some(given.clone()),
            None if !self.written[TECHNIQUE_FIELD].is_empty() => {
                Some(String::from_utf8_lossy(&self.written[TECHNIQUE_FIELD]).into_owned())
            }
            None => None,
        }
    }

    /// Whether the free value being written is the detected flag.
    fn in_detected(&self) -> bool {
        self.next_field == DETECTED_FIELD + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(
        constraint: &mut LogConstraint,
        pick: impl Fn(&LogConstraint) -> u8,
        limit: usize,
    ) -> String {
        let mut out = Vec::new();
        while !constraint.is_complete() && out.len() < limit {
            let byte = pick(constraint);
            assert!(
                constraint.push(byte),
                "{} refused after {:?}",
                byte as char,
                String::from_utf8_lossy(&out)
            );
            out.push(byte);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn given_fields_are_forced_in_order_and_others_may_be_filled_or_skipped() {
        let header = Header {
            country: Some("CH".into()),
            ..Header::default()
        };
        let mut cheapest = LogConstraint::new(&header, r#"{"a":"#, None).unwrap();
        let text = walk(&mut cheapest, LogConstraint::cheapest, 200);
        assert_eq!(text, r#" c=CH] {"a":0}"#);

        // A model that writes a user first: allowed, since `u` comes before `c`.
        let mut constraint = LogConstraint::new(&header, "", None).unwrap();
        for &byte in b" u=bob c" {
            assert!(constraint.push(byte), "{}", byte as char);
        }
        assert!(
            !LogConstraint::new(&header, "", None).unwrap().allows(b']'),
            "c=CH may not be skipped"
        );
        let mut after_country = constraint.clone();
        let rest = walk(&mut after_country, LogConstraint::cheapest, 200);
        assert_eq!(rest, "=CH] {}");
        assert!(LogConstraint::new(&header, "[", None).is_none());
    }

    #[test]
    fn the_headers_technique_given_or_written_holds_the_json_to_its_combinations() {
        // Keyed by the technique only: the user the model writes into the header changes
        // nothing.
        use serde_json::json;
        let logs = [
            (json!({"src": "s3", "name": "GetObject"}), ""),
            (
                json!({"src": "cloudtrail", "name": "StopLogging"}),
                "t=T1562.008",
            ),
        ];
        let shape = Arc::new(Shape::fit_tagged(
            "t",
            logs.iter().map(|(log, tag)| (log, *tag)),
        ));
        let given = Header {
            technique: Some("T1562.008".into()),
            ..Header::default()
        };
        let mut constraint = LogConstraint::new(&given, "", Some(shape.clone())).unwrap();
        let text = walk(&mut constraint, LogConstraint::cheapest, 200);
        assert_eq!(
            text,
            r#" t=T1562.008] {"src":"cloudtrail","name":"StopLogging"}"#
        );

        let mut written = LogConstraint::new(&Header::default(), "", Some(shape.clone())).unwrap();
        for &byte in br#" u=bob t=T1562.008] {"src":""# {
            assert!(written.push(byte), "{}", byte as char);
        }
        assert!(written.allows(b'c') && !written.allows(b's'));
        let mut benign = LogConstraint::new(&Header::default(), "", Some(shape.clone())).unwrap();
        for &byte in br#"] {"src":""# {
            assert!(benign.push(byte), "{}", byte as char);
        }
        assert!(benign.allows(b's') && !benign.allows(b'c'));

        let mut left_out = LogConstraint::new(&Header::default(), "", None).unwrap();
        left_out.leave_out_technique();
        for &byte in b" u=bob " {
            assert!(left_out.push(byte), "{}", byte as char);
        }
        assert!(
            !left_out.allows(b't') && left_out.allows(b'd'),
            "a benign log"
        );

        let prefix = r#"{"src":"s3""#;
        let mut asked = LogConstraint::new(&given, prefix, Some(shape)).unwrap();
        let text = walk(&mut asked, LogConstraint::cheapest, 200);
        assert_eq!(
            text, r#" t=T1562.008] {"src":"s3","name":"GetObject"}"#,
            "a prefix the technique's combinations refuse turns them off"
        );
    }

    #[test]
    fn whether_rules_fire_follows_a_technique_as_y_or_n_where_the_format_says() {
        let push_all = |constraint: &mut LogConstraint, bytes: &[u8]| {
            for &byte in bytes {
                assert!(constraint.push(byte), "{}", byte as char);
            }
        };
        let mut tagged = LogConstraint::new(&Header::default(), "", None).unwrap();
        tagged.allow_detected();
        push_all(&mut tagged, b" u=bob ");
        assert!(!tagged.allows(b'f'), "no technique, so nothing to detect");
        push_all(&mut tagged, b"t=T1580 f=");
        assert!(tagged.allows(b'y') && tagged.allows(b'n') && !tagged.allows(b'x'));
        push_all(&mut tagged, b"y");
        assert!(!tagged.allows(b'e'), "one letter");
        push_all(&mut tagged, b" h=03] {}");
        assert!(tagged.is_complete());

        // A model whose format does not tag it may not write it.
        let mut untagged = LogConstraint::new(&Header::default(), "", None).unwrap();
        push_all(&mut untagged, b" t=T1580 ");
        assert!(!untagged.allows(b'f') && untagged.allows(b'h'));

        // Given, it is forced after the technique, even where the model may not pick it.
        let given = Header {
            technique: Some("T1580".into()),
            detected: Some(false),
            ..Header::default()
        };
        let mut forced = LogConstraint::new(&given, "", None).unwrap();
        let text = walk(&mut forced, LogConstraint::cheapest, 200);
        assert_eq!(text, " t=T1580 f=n] {}");

        // A technique whose training logs all said it must say it: without the flag its
        // combinations would narrow nothing. One whose logs never did may not.
        use serde_json::json;
        let logs = [
            (json!({"name": "DescribeInstances"}), "t=T1580 f=n"),
            (json!({"name": "GetObject"}), "t=T1530"),
        ];
        let shape = Arc::new(Shape::fit_tagged(
            "tf",
            logs.iter().map(|(log, tag)| (log, *tag)),
        ));
        let mut flagged = LogConstraint::new(&Header::default(), "", Some(shape.clone())).unwrap();
        flagged.allow_detected();
        push_all(&mut flagged, b" t=T1580");
        assert!(!flagged.allows(b']'));
        push_all(&mut flagged, b" ");
        assert!(flagged.allows(b'f') && !flagged.allows(b'h'));
        let mut unflagged = LogConstraint::new(&Header::default(), "", Some(shape)).unwrap();
        unflagged.allow_detected();
        push_all(&mut unflagged, b" t=T1530 ");
        assert!(!unflagged.allows(b'f') && unflagged.allows(b'h'));
        let text = walk(&mut flagged, LogConstraint::cheapest, 200);
        assert_eq!(text, r#"f=n] {"name":"DescribeInstances"}"#);
    }
}
