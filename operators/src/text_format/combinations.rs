//! Which listed values occurred together in one log, and under which header.
//!
//! A [`Shape`] lists each category's values, so a generated event name is a real one;
//! but a small model picks them almost independently of each other and of what it was
//! asked for: `StopLogging` comes out on `s3.amazonaws.com`, a red-team generation of a
//! CloudTrail defence evasion calls benign APIs, and a location model pairs Bengaluru
//! with London's latitude. Stored with the shape, the combinations let generation hold
//! each listed value to those seen together with the values already written, in training
//! logs whose header had the same keyed fields ([`Combinations::keys`]: the technique
//! for a main model, none meaning benign; a group model's own header fields, the country
//! for the location model). `eventName` may then only be an API of the `eventSource`
//! written before it, and a city only one of the header's country. Which of those values
//! comes out is still the model's choice; a field the combinations say nothing about (no
//! training log consistent with what is written had it) falls back to its whole list,
//! and a header never seen in training (a technique the model made up) to every row, so
//! generation never dead-ends.
//!
//! The user, weekday and hour are never keyed on by a main model: a travelling user's
//! logs would otherwise be held to what others did in the destination.
//!
//! Only places outside arrays take part: an array's elements repeat, so "the value of
//! this field in this log" is not one value there.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::shape::{Shape, ShapeNode, escaped, kind};
use super::{HEADER_KEYS, Header};

/// More distinct combinations than this (an estate of millions of logs whose listed
/// fields rarely repeat together) and the shape keeps none: a table that size would
/// weigh on every model file, and held to part of it, generation would refuse
/// combinations the data has.
pub const MAX_COMBINATIONS: usize = 200_000;

/// The distinct combinations of listed values in a source's training logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Combinations {
    /// The shape nodes combined, in node order: every node outside arrays that lists
    /// values or numbers, takes booleans, or sits behind an optional key.
    pub nodes: Vec<u32>,
    /// The header keys ([`HEADER_KEYS`]) the rows are keyed by, in header order: `t`
    /// for a main model, `c` for the location model.
    pub keys: String,
    /// The keyed fields of the logs' headers ([`tag`]), sorted; the empty tag (none of
    /// them: a benign log) included.
    pub tags: Vec<String>,
    /// One row per distinct combination: first its tag's index in `tags`, then for each
    /// of `nodes` the value's code: 0 for the key absent, [`UNLISTED`] for a value no
    /// list holds (an object, a free string), `i + 1` for the node's `values[i]`,
    /// `values.len() + i + 1` for its `numbers[i]`, [`TRUE`] and [`FALSE`] for
    /// booleans, [`NULL`] for `null`. Stored as text, the non-zero codes only ([`sparse_rows`]): a
    /// CloudTrail log has a few dozen of its source's two hundred listed places.
    #[serde(with = "sparse_rows")]
    pub rows: Vec<Vec<u16>>,
}

/// The keyed fields of a header, as the rows are tagged: `k=value` for each of `keys`
/// the header has, in header order, space-separated. `values` are the header's field
/// values in [`HEADER_KEYS`] order, as rendered.
pub fn tag(keys: &str, values: &[Option<String>]) -> String {
    HEADER_KEYS
        .iter()
        .zip(values)
        .filter(|(key, _)| keys.as_bytes().contains(key))
        .filter_map(|(&key, value)| Some(format!("{}={}", char::from(key), value.as_deref()?)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A row's code at `column`: 0, the key absent, past the row's end (rows are kept
/// without trailing zeros).
pub fn code_at(row: &[u16], column: usize) -> u16 {
    row.get(column + 1).copied().unwrap_or(0)
}

/// The share of the rows with a field's key whose value decides another field, for
/// the one to count as determining the other ([`Combinations::dependency`]).
pub const RULE_SHARE: f64 = 0.95;

/// The code of a value at a combined place that none of its lists holds (an object,
/// a string too rare to list).
pub const UNLISTED: u16 = u16::MAX;

/// The code of `null`, at a place that also takes other values: a `GetCostAndUsage`
/// call has its `requestParameters`, a `DescribeBudgets` call `null` there.
pub const NULL: u16 = u16::MAX - 3;

/// The codes of `true` and `false`, above any list's (a node lists at most a few
/// hundred values): a device's `isCompliant` goes with its `trustType`, a sign-in's
/// `IsInteractive` with its category.
pub const TRUE: u16 = u16::MAX - 2;
/// See [`TRUE`].
pub const FALSE: u16 = u16::MAX - 1;

/// The code of a boolean.
pub fn boolean_code(value: bool) -> u16 {
    if value { TRUE } else { FALSE }
}

/// How many of the consistent rows have a column's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// None: the key is not written.
    Never,
    /// Some.
    Sometimes,
    /// All: the key must be written.
    Always,
}

/// The rows still consistent with what a log holds so far; `All` before anything
/// narrowed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consistent {
    /// Every row.
    All,
    /// These rows (indices into [`Combinations::rows`]), never empty.
    Rows(Vec<u32>),
}

impl Combinations {
    /// The tag of `header`'s fields by these combinations' keys ([`tag`]).
    pub fn tag_of(&self, header: &Header) -> String {
        tag(&self.keys, &header.field_values())
    }

    /// Whether some training log had `tag`.
    pub fn knows(&self, tag: &str) -> bool {
        self.tag_index(tag).is_some()
    }

    fn tag_index(&self, tag: &str) -> Option<usize> {
        self.tags
            .binary_search_by(|known| known.as_str().cmp(tag))
            .ok()
    }

    /// Fits the combinations of `logs` (projected, each with its [`tag`] by `keys`)
    /// against `shape`, fitted on the same logs. `None` when no node lists values or the
    /// logs hold more than [`MAX_COMBINATIONS`] distinct ones.
    pub fn fit<'a>(
        shape: &Shape,
        keys: &str,
        logs: impl IntoIterator<Item = (&'a Value, &'a str)>,
    ) -> Option<Self> {
        let mut nodes = Vec::new();
        collect_columns(shape, Shape::ROOT, false, &mut nodes);
        if nodes.is_empty() {
            return None;
        }
        nodes.sort_unstable();
        let mut tagged: Vec<(&str, Vec<u16>)> = Vec::new();
        let mut seen: HashSet<(&str, Vec<u16>)> = HashSet::new();
        for (log, tag) in logs {
            let mut codes = vec![0u16; nodes.len()];
            shape.visit(log, &mut |id, _, value| {
                if let Ok(column) = nodes.binary_search(&id) {
                    codes[column] = value_code(shape, id, value);
                }
            });
            if seen.insert((tag, codes.clone())) {
                tagged.push((tag, codes));
                if tagged.len() > MAX_COMBINATIONS {
                    return None;
                }
            }
        }
        let tags: Vec<String> = tagged
            .iter()
            .map(|(tag, _)| tag.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if tags.len() > usize::from(u16::MAX) {
            return None;
        }
        let mut rows: Vec<Vec<u16>> = tagged
            .into_iter()
            .map(|(tag, codes)| {
                let index = tags.binary_search_by(|known| known.as_str().cmp(tag));
                std::iter::once(index.unwrap_or(0) as u16)
                    .chain(codes)
                    .collect()
            })
            .collect();
        // Without trailing zeros, as they read back from the manifest, and sorted, so a
        // resumed run, which compares the format it fits with the stored one, finds them
        // equal.
        for row in &mut rows {
            while row.len() > 1 && row.last() == Some(&0) {
                row.pop();
            }
        }
        rows.sort_unstable();
        Some(Combinations {
            nodes,
            keys: keys.to_string(),
            tags,
            rows,
        })
    }

    /// The rows of logs tagged `tag`; every row when no training log was (a technique
    /// the model made up).
    pub fn of_tag(&self, tag: &str) -> Consistent {
        let Some(index) = self.tag_index(tag) else {
            return Consistent::All;
        };
        let rows = self.rows_where(&Consistent::All, 0, index as u16);
        narrowed_or_unchanged(&Consistent::All, rows)
    }

    /// The column of `node`, when it takes part.
    pub fn column(&self, node: u32) -> Option<usize> {
        self.nodes.binary_search(&node).ok()
    }

    /// How column `to` follows column `from` across the rows: each value of `from` that
    /// comes with one code of `to` in every row having it, with that code. `None`
    /// unless the values that do so hold [`RULE_SHARE`] of the rows that have `from`'s
    /// key, and at least two of them are seen in two rows or more (fewer is no evidence
    /// of a rule). The key absent says nothing, nor does [`UNLISTED`] (values no list
    /// names apart): a role's `sessionIssuer` determines `userIdentity.type`, while its
    /// absence comes with an IAM user, a root account or a service. `eventName`
    /// determines `readOnly`, and whether `requestParameters` is `null`, though one
    /// call in twenty may differ (a call with and without parameters); it does not
    /// determine the caller, although a call only one role made comes with that role.
    pub fn dependency(&self, from: usize, to: usize) -> Option<HashMap<u16, u16>> {
        self.rule(from, to, |code| code)
    }

    /// Whether column `to` has its key, as [`Self::dependency`] follows its value: 1
    /// where it has, 0 where not. `eventName` decides whether
    /// `requestParameters.cidrIp` is written, though not its value.
    pub fn presence_dependency(&self, from: usize, to: usize) -> Option<HashMap<u16, u16>> {
        self.rule(from, to, |code| u16::from(code != 0))
    }

    fn rule(&self, from: usize, to: usize, read: impl Fn(u16) -> u16) -> Option<HashMap<u16, u16>> {
        // Each value of `from`: the code of `to` it comes with (None once it varies),
        // and in how many rows.
        let mut seen: HashMap<u16, (Option<u16>, usize)> = HashMap::new();
        for row in &self.rows {
            let value = code_at(row, from);
            if value == 0 || value == UNLISTED {
                continue;
            }
            let follows = read(code_at(row, to));
            let (kept, rows) = seen.entry(value).or_insert((Some(follows), 0));
            if *kept != Some(follows) {
                *kept = None;
            }
            *rows += 1;
        }
        let rows: usize = seen.values().map(|&(_, rows)| rows).sum();
        let ruled: usize = seen
            .values()
            .filter(|(kept, _)| kept.is_some())
            .map(|&(_, rows)| rows)
            .sum();
        let supported = seen
            .values()
            .filter(|&&(kept, rows)| kept.is_some() && rows >= 2)
            .count();
        (supported >= 2 && ruled as f64 >= RULE_SHARE * rows as f64).then(|| {
            seen.into_iter()
                .filter_map(|(value, (kept, _))| Some((value, kept?)))
                .collect()
        })
    }

    /// The codes `column` takes in the `consistent` rows that have its key, sorted
    /// ([`UNLISTED`] included); empty when none has it.
    pub fn codes(&self, consistent: &Consistent, column: usize) -> Vec<u16> {
        let mut codes: Vec<u16> = self
            .rows_of(consistent)
            .filter_map(|row| self.rows[row as usize].get(column + 1).copied())
            .filter(|&code| code != 0)
            .collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }

    /// For each column, how many of the `consistent` rows have its key: a key none of
    /// them had (`errorCode` in a technique whose every log succeeded) is not written,
    /// and one all of them had (`errorMessage` after an `errorCode`) must be.
    pub fn presence(&self, consistent: &Consistent) -> Vec<Presence> {
        let mut seen = vec![0usize; self.nodes.len()];
        let mut rows = 0;
        for row in self.rows_of(consistent) {
            rows += 1;
            let codes = self.rows[row as usize].iter().skip(1);
            for (count, &code) in seen.iter_mut().zip(codes) {
                *count += usize::from(code != 0);
            }
        }
        seen.into_iter()
            .map(|count| match count {
                0 => Presence::Never,
                count if count == rows => Presence::Always,
                _ => Presence::Sometimes,
            })
            .collect()
    }

    /// The `consistent` rows that have `column`'s key; unchanged when none does.
    pub fn narrow_to_present(&self, consistent: &Consistent, column: usize) -> Consistent {
        let rows: Vec<u32> = self
            .rows_of(consistent)
            .filter(|&row| {
                self.rows[row as usize]
                    .get(column + 1)
                    .is_some_and(|&code| code != 0)
            })
            .collect();
        narrowed_or_unchanged(consistent, rows)
    }

    /// The `consistent` rows whose `column` holds `code`; unchanged when none does (a
    /// value the rows did not offer: generation fell back to the whole list).
    pub fn narrow(&self, consistent: &Consistent, column: usize, code: u16) -> Consistent {
        let rows = self.rows_where(consistent, column + 1, code);
        narrowed_or_unchanged(consistent, rows)
    }

    /// The `consistent` rows whose `column` holds one of `codes` (sorted) or lacks the
    /// key; unchanged when none does.
    pub fn narrow_to_codes(
        &self,
        consistent: &Consistent,
        column: usize,
        codes: &[u16],
    ) -> Consistent {
        let rows: Vec<u32> = self
            .rows_of(consistent)
            .filter(|&row| {
                let code = code_at(&self.rows[row as usize], column);
                code == 0 || codes.binary_search(&code).is_ok()
            })
            .collect();
        narrowed_or_unchanged(consistent, rows)
    }

    fn rows_where(&self, consistent: &Consistent, at: usize, code: u16) -> Vec<u32> {
        self.rows_of(consistent)
            .filter(|&row| self.rows[row as usize].get(at) == Some(&code))
            .collect()
    }

    fn rows_of<'a>(&'a self, consistent: &'a Consistent) -> Box<dyn Iterator<Item = u32> + 'a> {
        match consistent {
            Consistent::All => Box::new(0..self.rows.len() as u32),
            Consistent::Rows(rows) => Box::new(rows.iter().copied()),
        }
    }
}

/// `rows` as the consistent ones, or `consistent` unchanged when none is left: a
/// narrowing that would leave nothing falls back, so generation never dead-ends.
fn narrowed_or_unchanged(consistent: &Consistent, rows: Vec<u32>) -> Consistent {
    match rows.is_empty() {
        true => consistent.clone(),
        false => Consistent::Rows(rows),
    }
}

/// The codes of a node's listed strings, `values[i]` being `start + i` (code 0 is the
/// key's absence).
pub fn string_codes(node: &ShapeNode) -> Range<u16> {
    1..1 + node.values.len() as u16
}

/// The codes of a node's listed numbers: after its strings'.
pub fn number_codes(node: &ShapeNode) -> Range<u16> {
    let start = string_codes(node).end;
    start..start + node.numbers.len() as u16
}

/// The codes of a node's listed arrays: after its numbers'.
pub fn array_codes(node: &ShapeNode) -> Range<u16> {
    let start = number_codes(node).end;
    start..start + node.arrays.len() as u16
}

/// The code of a string value (as compact JSON writes it between the quotes) at `node`.
pub fn string_code(shape: &Shape, node: u32, escaped_text: &str) -> Option<u16> {
    let node = shape.node(node)?;
    listed_code(&node.values, escaped_text, string_codes(node))
}

/// The code of a number (as compact JSON writes it) at `node`.
pub fn number_code(shape: &Shape, node: u32, number: &str) -> Option<u16> {
    let node = shape.node(node)?;
    listed_code(&node.numbers, number, number_codes(node))
}

/// The code of an array (as compact JSON writes it) at `node`.
pub fn array_code(shape: &Shape, node: u32, array: &str) -> Option<u16> {
    let node = shape.node(node)?;
    listed_code(&node.arrays, array, array_codes(node))
}

/// The code of `text` in a node's sorted `list`, whose codes are `codes`.
fn listed_code(list: &[String], text: &str, codes: Range<u16>) -> Option<u16> {
    let index = list
        .binary_search_by(|listed| listed.as_str().cmp(text))
        .ok()?;
    Some(codes.start + index as u16)
}

/// The nodes below `id` that take part, through objects only: those that list values,
/// numbers or arrays, take booleans, or take `null` besides another kind, and those behind an
/// optional key (`optional`), so
/// whether the key comes is tied to the values too: `requestID` with every API call,
/// never with a console sign-in.
fn collect_columns(shape: &Shape, id: u32, optional: bool, out: &mut Vec<u32>) {
    let Some(node) = shape.node(id) else {
        return;
    };
    let nullable = node.kinds & kind::NULL != 0 && node.kinds != kind::NULL;
    let combined = !node.values.is_empty()
        || !node.numbers.is_empty()
        || !node.arrays.is_empty()
        || node.kinds & kind::BOOL != 0
        || nullable;
    if optional || combined {
        out.push(id);
    }
    for key in &node.keys {
        collect_columns(shape, key.node, !key.required, out);
    }
}

/// The code ([`Combinations::rows`]) of `value` at node `id`.
fn value_code(shape: &Shape, id: u32, value: &Value) -> u16 {
    let code = match value {
        Value::String(text) => string_code(shape, id, &escaped(text)),
        Value::Number(number) => number_code(shape, id, &number.to_string()),
        Value::Bool(value) => Some(boolean_code(*value)),
        Value::Null => Some(NULL),
        Value::Array(_) => array_code(shape, id, &value.to_string()),
        Value::Object(_) => None,
    };
    code.unwrap_or(UNLISTED)
}

/// Rows as text: the tag's index, then `column:code` for each non-zero code, space
/// separated (`"0 3:2 17:5"`).
mod sparse_rows {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(rows: &[Vec<u16>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(rows.iter().map(|row| {
            let mut text = row.first().copied().unwrap_or(0).to_string();
            for (column, code) in row.iter().skip(1).enumerate() {
                if *code != 0 {
                    text.push_str(&format!(" {column}:{code}"));
                }
            }
            text
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u16>>, D::Error> {
        let texts: Vec<String> = Vec::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| row(text).map_err(D::Error::custom))
            .collect()
    }

    fn row(text: &str) -> Result<Vec<u16>, String> {
        let bad = || format!("combination row {text:?} is not `tag column:code ...`");
        let mut parts = text.split(' ');
        let tag: u16 = parts
            .next()
            .and_then(|tag| tag.parse().ok())
            .ok_or_else(bad)?;
        let mut row = vec![tag];
        for part in parts {
            let (column, code) = part.split_once(':').ok_or_else(bad)?;
            let column: usize = column.parse().map_err(|_| bad())?;
            let code: u16 = code.parse().map_err(|_| bad())?;
            if row.len() < column + 2 {
                row.resize(column + 2, 0);
            }
            row[column + 1] = code;
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_hold_each_logs_listed_values_with_its_technique_outside_arrays_only() {
        let logs = [
            (json!({"src": "s3", "name": "GetObject", "tags": ["a"]}), ""),
            (json!({"src": "s3", "name": "GetObject", "tags": ["b"]}), ""),
            (json!({"src": "s3", "name": "PutObject", "tags": []}), ""),
            (
                json!({"src": "cloudtrail", "name": "StopLogging"}),
                "t=T1562.008",
            ),
            (json!({"src": "cloudtrail", "name": "StopLogging"}), ""),
        ];
        let shape = Shape::fit_tagged("t", logs.iter().map(|(log, tag)| (log, *tag)));
        let combinations = shape.combinations.clone().unwrap();
        let presence = combinations.presence(&combinations.of_tag("t=T1562.008"));
        assert_eq!(
            presence,
            [Presence::Always, Presence::Always, Presence::Never]
        );
        let node = |key: usize| shape.nodes[0].keys[key].node;
        assert_eq!(
            combinations.nodes,
            [node(0), node(1), node(2)],
            "tags sits behind an optional key; its elements stay out"
        );
        assert_eq!(combinations.tags, ["", "t=T1562.008"]);
        // Values sorted: src [cloudtrail, s3], name [GetObject, PutObject, StopLogging].
        assert_eq!(
            combinations.rows,
            [
                vec![0, 1, 3],
                vec![0, 2, 1, UNLISTED],
                vec![0, 2, 2, UNLISTED],
                vec![1, 1, 3]
            ],
            "the repeated combination is kept once; the tagged one apart"
        );
        let src = combinations.column(node(0)).unwrap();
        let name = combinations.column(node(1)).unwrap();
        let benign = combinations.of_tag("");
        assert_eq!(combinations.codes(&benign, src), [1, 2]);
        let on_s3 = combinations.narrow(&benign, src, 2);
        assert_eq!(combinations.codes(&on_s3, name), [1, 2]);
        let attack = combinations.of_tag("t=T1562.008");
        assert_eq!(attack, Consistent::Rows(vec![3]));
        let reversed = Shape::fit_tagged("t", logs.iter().rev().map(|(log, tag)| (log, *tag)));
        assert_eq!(
            reversed.combinations.as_ref(),
            Some(&combinations),
            "the order of the logs does not matter"
        );
        let stored = serde_json::to_string(&combinations).unwrap();
        assert_eq!(
            serde_json::from_str::<Combinations>(&stored).unwrap(),
            combinations,
            "read back as fitted"
        );
        assert_eq!(combinations.codes(&attack, src), [1]);
        assert_eq!(
            combinations.of_tag("t=T0000"),
            Consistent::All,
            "a technique never seen narrows nothing"
        );
        assert_eq!(
            combinations.narrow(&attack, src, 2),
            attack,
            "a value the rows did not offer narrows nothing"
        );
    }

    #[test]
    fn numbers_are_coded_after_the_strings_and_unlisted_fields_stay_out() {
        let logs: Vec<Value> = (0..8)
            .map(|i| json!({"code": ([0, 50126][i % 2]), "reason": (["ok", "bad password"][i % 2]), "id": i}))
            .collect();
        let shape = Shape::fit(&logs);
        let combinations = shape.combinations.clone().unwrap();
        let code = shape.nodes[0].keys[0].node;
        assert_eq!(combinations.nodes.len(), 2, "id's numbers do not repeat");
        assert_eq!(number_code(&shape, code, "50126"), Some(2));
        assert_eq!(number_code(&shape, code, "7"), None);
        let reason = shape.nodes[0].keys[1].node;
        assert_eq!(string_code(&shape, reason, "ok"), Some(2));
        let rows: HashSet<Vec<u16>> = combinations.rows.into_iter().collect();
        assert_eq!(rows, HashSet::from([vec![0, 1, 2], vec![0, 2, 1]]));
    }

    #[test]
    fn booleans_take_part_with_their_own_codes() {
        let logs = [
            json!({"category": "SignInLogs", "interactive": true}),
            json!({"category": "NonInteractive", "interactive": false}),
        ];
        let shape = Shape::fit(&logs);
        let combinations = shape.combinations.clone().unwrap();
        let rows: HashSet<Vec<u16>> = combinations.rows.into_iter().collect();
        // category [NonInteractive, SignInLogs].
        assert_eq!(rows, HashSet::from([vec![0, 2, TRUE], vec![0, 1, FALSE]]));
    }

    #[test]
    fn rows_are_stored_sparse_and_read_back_whole() {
        let combinations = Combinations {
            nodes: vec![1, 2, 3, 4],
            keys: "t".into(),
            tags: vec!["".into(), "t=T1".into()],
            rows: vec![vec![1, 0, 2, 0, 0], vec![0, 3, 0, 0, 7]],
        };
        let text = serde_json::to_string(&combinations).unwrap();
        assert!(text.contains(r#""rows":["1 1:2","0 0:3 3:7"]"#), "{text}");
        let back: Combinations = serde_json::from_str(&text).unwrap();
        let consistent = back.of_tag("t=T1");
        assert_eq!(back.codes(&consistent, 1), [2]);
        assert_eq!(
            back.codes(&consistent, 3),
            [] as [u16; 0],
            "a zero tail reads as absent"
        );
        assert_eq!(back.codes(&Consistent::All, 3), [7]);
        let broken = text.replace("0 0:3 3:7", "0 0-3");
        let error = serde_json::from_str::<Combinations>(&broken).unwrap_err();
        assert!(error.to_string().contains("0 0-3"), "{error}");
    }

    #[test]
    fn a_tag_holds_the_keyed_header_fields_the_header_has() {
        let values = [
            Some("bob".to_string()),
            Some("IN".to_string()),
            None,
            Some("Mon".to_string()),
            None,
        ];
        assert_eq!(tag("t", &values), "");
        assert_eq!(tag("c", &values), "c=IN");
        assert_eq!(tag("uct", &values), "u=bob c=IN");
    }

    #[test]
    fn a_key_is_present_where_a_consistent_row_had_it_even_without_a_listed_value() {
        let logs = [
            json!({"name": "GetObject", "error": "AccessDenied"}),
            json!({"name": "GetObject", "error": null}),
            json!({"name": "ListBuckets"}),
        ];
        let shape = Shape::fit(&logs);
        let combinations = shape.combinations.clone().unwrap();
        let name = combinations.column(shape.nodes[0].keys[0].node).unwrap();
        let error = combinations.column(shape.nodes[0].keys[1].node).unwrap();
        let on = |code| combinations.narrow(&Consistent::All, name, code);
        // Names sorted: GetObject 1, ListBuckets 2.
        assert_eq!(combinations.presence(&on(1))[error], Presence::Always);
        assert_eq!(
            combinations.codes(&on(1), error),
            [1, NULL],
            "null has a code of its own"
        );
        assert_eq!(combinations.presence(&on(2))[error], Presence::Never);
        assert_eq!(
            combinations.presence(&Consistent::All)[error],
            Presence::Sometimes
        );
    }

    #[test]
    fn an_optional_key_of_unlisted_values_takes_part_by_its_presence() {
        let logs: Vec<Value> = (0..900)
            .map(|i| match i % 3 {
                0 => json!({"type": "ConsoleLogin"}),
                _ => json!({"type": "ApiCall", "requestID": format!("r{i}")}),
            })
            .collect();
        let shape = Shape::fit(&logs);
        let combinations = shape.combinations.clone().unwrap();
        let request = combinations.column(shape.nodes[0].keys[1].node).unwrap();
        let kind = combinations.column(shape.nodes[0].keys[0].node).unwrap();
        assert_eq!(
            combinations.rows.len(),
            2,
            "ids are not values: one row per type"
        );
        let api = combinations.narrow(&Consistent::All, kind, 1);
        assert_eq!(combinations.presence(&api)[request], Presence::Always);
        let with_request = combinations.narrow_to_present(&Consistent::All, request);
        assert_eq!(combinations.codes(&with_request, kind), [1]);
    }

    #[test]
    fn a_shape_without_listed_values_has_no_combinations() {
        let logs: Vec<Value> = (0..300).map(|i| json!({"id": format!("x{i}")})).collect();
        assert_eq!(Shape::fit(&logs).combinations, None);
    }
}
