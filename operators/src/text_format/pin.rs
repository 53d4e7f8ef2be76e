//! Holding fields of a [`Shape`] to values: what a Sigma rule's selection asks of a log
//! (`eventSource` is `elasticache.amazonaws.com`, `userIdentity.type` is not
//! `AssumedRole`), so that generation under the pinned shape writes a log the rule
//! fires on, and the model writes the rest of it.
//!
//! A pin narrows a field's listed values to those it admits, so the model still picks
//! among the real values that fit (`eventName` starting with `Delete`: any of the
//! source's `Delete*` calls). Where no listed value fits (a call the training logs never
//! made), the field lists one: the shortest value the pin admits. Combinations of values
//! that no longer fit are dropped, so the other fields keep to those seen with the
//! pinned values. Where none would be left (a call no training log made, a value never
//! seen with the others pinned), the combinations instead stop saying anything of that
//! field and go on tying the other fields together: an ElastiCache call then still has
//! the `userIdentity`, `userAgent` and `additionalEventData` of one real call, not a
//! console sign-in's `LoginTo` beside an API call's user agent.

use serde_json::Value;

use super::combinations::{
    FALSE, NULL, TRUE, UNLISTED, array_codes, boolean_code, code_at, number_codes, string_codes,
};
use super::shape::{Shape, ShapeNode, escaped, kind};

/// A value as a Sigma rule matches it: case-insensitive, `*` standing for any run of
/// characters and `?` for one, `\` escaping either (`contains: x` is `*x*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePattern(pub String);

/// One piece of a [`ValuePattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Char(char),
    AnyRun,
    AnyOne,
}

impl ValuePattern {
    fn pieces(&self) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            pieces.push(match c {
                '*' => Piece::AnyRun,
                '?' => Piece::AnyOne,
                '\\' => match chars.clone().next() {
                    Some(next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        Piece::Char(next)
                    }
                    _ => Piece::Char('\\'),
                },
                c => Piece::Char(c),
            });
        }
        pieces
    }

    /// Whether `text` matches, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        let pieces = self.pieces();
        let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        let same = |piece: Piece, c: char| match piece {
            Piece::Char(p) => p.to_lowercase().eq(std::iter::once(c)),
            Piece::AnyOne => true,
            Piece::AnyRun => false,
        };
        // Wildcard matching with one backtrack point: the latest `*`.
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match pieces.get(p) {
                Some(Piece::AnyRun) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(&piece) if same(piece, text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        star = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        pieces[p.min(pieces.len())..]
            .iter()
            .all(|&piece| piece == Piece::AnyRun)
    }

    /// The shortest text that matches: the literal characters, `?` as `x`.
    pub fn example(&self) -> String {
        self.pieces()
            .into_iter()
            .filter_map(|piece| match piece {
                Piece::Char(c) => Some(c),
                Piece::AnyOne => Some('x'),
                Piece::AnyRun => None,
            })
            .collect()
    }
}

/// What one field of a log must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPin {
    /// The field's dotted path as a rule names it (`userIdentity.type`), matched against
    /// the shape's keys ignoring case; a path not at the top is also looked for under
    /// `properties` (the Azure Monitor export of a sign-in).
    pub field: String,
    /// The value matches one of these, or with `all` every one.
    pub patterns: Vec<ValuePattern>,
    /// Every pattern must match, not one (Sigma's `|all`).
    pub all: bool,
    /// The value must not match (a rule's `not filter`); the key may then be left out.
    pub negated: bool,
}

/// `eventName=ListBuckets`, `userIdentity.type≠AssumedRole`; a pin of several values
/// joins them with `|`.
impl std::fmt::Display for FieldPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let relation = if self.negated { "≠" } else { "=" };
        write!(f, "{}{relation}", self.field)?;
        for (index, pattern) in self.patterns.iter().enumerate() {
            let separator = if index == 0 { "" } else { "|" };
            write!(f, "{separator}{}", pattern.0)?;
        }
        Ok(())
    }
}

impl FieldPin {
    pub(super) fn admits(&self, text: &str) -> bool {
        let matches = match self.all {
            true => self.patterns.iter().all(|p| p.matches(text)),
            false => self.patterns.iter().any(|p| p.matches(text)),
        };
        matches != self.negated
    }

    /// Whether it admits each of `node`'s listed strings, then each listed number.
    pub(super) fn admitted_listed(&self, node: &ShapeNode) -> (Vec<bool>, Vec<bool>) {
        let strings = node.values.iter().map(|text| self.admits(&unescaped(text)));
        let numbers = node.numbers.iter().map(|number| self.admits(number));
        (strings.collect(), numbers.collect())
    }

    /// Whether it admits the boolean `value`, written as Sigma compares it (`'false'`).
    pub(super) fn admits_boolean(&self, value: bool) -> bool {
        self.admits(&value.to_string())
    }

    /// The one boolean the pin admits, where it admits exactly one.
    pub(super) fn boolean(&self) -> Option<bool> {
        let admitted = self.admits_boolean(true);
        (admitted != self.admits_boolean(false)).then_some(admitted)
    }

    /// The shortest value a positive pin admits: its first pattern's example, or with
    /// `all` the examples one after another.
    fn example(&self) -> String {
        match self.all {
            true => self.patterns.iter().map(ValuePattern::example).collect(),
            false => self
                .patterns
                .first()
                .map(ValuePattern::example)
                .unwrap_or_default(),
        }
    }
}

/// Why a shape cannot be held to a pin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// No training log of the source had the field.
    #[error("no training log of this source has the field {field}")]
    NoSuchField {
        /// The field.
        field: String,
    },
    /// The field is inside an array, whose elements a pin does not pick between.
    #[error("{field} is inside an array, which a pinned value cannot reach")]
    InArray {
        /// The field.
        field: String,
    },
    /// The field held only objects, arrays, booleans or `null`, never a text or number
    /// the pin could be written as (nor is it a boolean the pin admits one of).
    #[error("{field} never held a text or number that {value:?} could be written as")]
    WrongKind {
        /// The field.
        field: String,
        /// The value the pin asked for.
        value: String,
    },
    /// A value may not match, but the field's values are not listed, so the one the
    /// model writes cannot be kept from matching.
    #[error(
        "{field} has too many distinct values to keep the model from writing one the rule excludes"
    )]
    Unlisted {
        /// The field.
        field: String,
    },
    /// Another pin of the same alternative held the field to values this one does not
    /// admit.
    #[error("{field} is already held to values that {value:?} is not one of")]
    Conflicting {
        /// The field.
        field: String,
        /// The value this pin asked for.
        value: String,
    },
    /// Every value the field ever held is excluded.
    #[error("every value of {field} in the training logs is excluded")]
    NothingLeft {
        /// The field.
        field: String,
    },
}

/// The root's key under which the Azure Monitor export nests a sign-in's fields.
const NESTED_UNDER: &str = "properties";

impl Shape {
    /// This shape with every pin's field held to it; see the module.
    pub fn pinned(&self, pins: &[FieldPin]) -> Result<Shape, PinError> {
        // A field the logs lack (most of an Entra ID technique's audit-log rules) is
        // refused before the shape, combinations and all, is copied.
        for pin in pins {
            self.path_to(&pin.field)?;
        }
        // Negated pins first: where no choice of the field to free does better
        // ([`Self::freeing_least`]), the field freed is then one a selection names (the
        // call), and the rows kept are those of callers the filter allows.
        let mut order: Vec<&FieldPin> = pins.iter().collect();
        order.sort_by_key(|pin| !pin.negated);
        let (shape, freed) = self.pinned_in(&order)?;
        let mut shape = match freed.is_empty() {
            true => shape,
            false => self.freeing_least(&order, (shape, freed)),
        };
        if shape
            .combinations
            .as_ref()
            .is_some_and(|combinations| combinations.rows.is_empty())
        {
            shape.combinations = None;
        }
        Ok(shape)
    }

    /// This shape held to `pins` in their order, and the nodes whose column was freed
    /// on the way ([`Self::recode_rows`]).
    pub(super) fn pinned_in(&self, pins: &[&FieldPin]) -> Result<(Shape, Vec<u32>), PinError> {
        let mut shape = self.clone();
        let (mut pinned, mut freed) = (Vec::new(), Vec::new());
        for pin in pins {
            shape.pin(pin, &mut pinned, &mut freed)?;
        }
        Ok((shape, freed))
    }

    /// Holds the shape to `pin`; `pinned` are the nodes earlier pins held to a value,
    /// and the nodes whose column this frees are added to `freed`.
    fn pin(
        &mut self,
        pin: &FieldPin,
        pinned: &mut Vec<u32>,
        freed: &mut Vec<u32>,
    ) -> Result<(), PinError> {
        let path = self.path_to(&pin.field)?;
        let target = path.last().map_or(Self::ROOT, |&(parent, key)| {
            self.nodes[parent as usize].keys[key].node
        });
        let held_before = pinned.contains(&target);
        if !pin.negated {
            pinned.push(target);
        }
        if !pin.negated {
            // Every object on the way is written, as an object.
            for (depth, &(parent, key)) in path.iter().enumerate() {
                self.nodes[parent as usize].keys[key].required = true;
                let child = self.nodes[parent as usize].keys[key].node;
                if depth + 1 < path.len() {
                    self.nodes[child as usize].kinds = kind::OBJECT;
                }
                if self.keep_rows(child, false, |code| code != 0) {
                    freed.push(child);
                }
            }
        }
        let node = &self.nodes[target as usize];
        let (strings, numbers) = pin.admitted_listed(node);
        let field = || pin.field.clone();
        let only_booleans =
            node.kinds & kind::BOOL != 0 && node.kinds & (kind::STRING | kind::NUMBER) == 0;
        if let Some(value) = pin.boolean().filter(|_| only_booleans) {
            if node.boolean == Some(!value) {
                return Err(PinError::Conflicting {
                    field: field(),
                    value: value.to_string(),
                });
            }
            self.pin_boolean(target, value, pin.negated, freed);
            return Ok(());
        }
        if pin.negated {
            let takes_text = node.kinds & (kind::STRING | kind::NUMBER) != 0;
            let free_strings = node.kinds & kind::STRING != 0 && node.values.is_empty();
            let free_numbers = node.kinds & kind::NUMBER != 0 && node.numbers.is_empty();
            if free_strings || free_numbers {
                return Err(PinError::Unlisted { field: field() });
            }
            let left = strings.iter().chain(&numbers).any(|&keep| keep);
            if takes_text && !left && node.kinds & !(kind::STRING | kind::NUMBER) == 0 {
                return Err(PinError::NothingLeft { field: field() });
            }
            if self.keep_listed(target, &strings, &numbers, true) {
                freed.push(target);
            }
            return Ok(());
        }
        if strings.iter().chain(&numbers).any(|&keep| keep) {
            if self.keep_listed(target, &strings, &numbers, false) {
                freed.push(target);
            }
            let node = &mut self.nodes[target as usize];
            node.kinds = if node.values.is_empty() {
                0
            } else {
                kind::STRING
            } | if node.numbers.is_empty() {
                0
            } else {
                kind::NUMBER
            };
            return Ok(());
        }
        // No listed value fits: the field lists the pin's own, unless an earlier pin
        // held it to others.
        let example = pin.example();
        if held_before {
            return Err(PinError::Conflicting {
                field: field(),
                value: example,
            });
        }
        let number = serde_json::from_str::<serde_json::Number>(&example).ok();
        let node = &self.nodes[target as usize];
        let (values, numbers, kinds) = if node.kinds & kind::STRING != 0 {
            (vec![escaped(&example)], Vec::new(), kind::STRING)
        } else if let (true, Some(number)) = (node.kinds & kind::NUMBER != 0, number) {
            (Vec::new(), vec![number.to_string()], kind::NUMBER)
        } else {
            return Err(PinError::WrongKind {
                field: field(),
                value: example,
            });
        };
        // No training combination had the value: they stop saying anything of it.
        if self.keep_rows(target, false, |_| false) {
            freed.push(target);
        }
        let node = &mut self.nodes[target as usize];
        node.values = values;
        node.numbers = numbers;
        node.arrays.clear();
        node.kinds = kinds;
        node.pattern = None;
        node.whole_digits = None;
        Ok(())
    }

    /// Holds boolean node `id` to `value`: a positive pin makes it that boolean, a
    /// negated one (`≠ true`) lets it also be absent or `null`. The combination rows
    /// with the other boolean go; where none would be left, the column is freed and
    /// the node alone holds the value.
    fn pin_boolean(&mut self, id: u32, value: bool, negated: bool, freed: &mut Vec<u32>) {
        let excluded = boolean_code(!value);
        let column_freed = match negated {
            true => self.keep_rows(id, true, |code| code != excluded),
            false => self.keep_rows(id, false, |code| code != excluded && code != NULL),
        };
        if column_freed {
            freed.push(id);
        }
        let node = &mut self.nodes[id as usize];
        node.boolean = Some(value);
        if !negated {
            node.kinds = kind::BOOL;
        }
    }

    /// The nodes from the root's child to `field`'s own, as [`Self::path_to`] finds them.
    pub(super) fn nodes_to(&self, field: &str) -> Result<Vec<u32>, PinError> {
        Ok(self
            .path_to(field)?
            .into_iter()
            .map(|(parent, key)| self.nodes[parent as usize].keys[key].node)
            .collect())
    }

    /// The keys from the root to `field`: (the object's node, the key's index in it).
    fn path_to(&self, field: &str) -> Result<Vec<(u32, usize)>, PinError> {
        let walk = |start: Vec<(u32, usize)>| -> Result<Vec<(u32, usize)>, PinError> {
            let mut path = start;
            for segment in field.split('.') {
                let id = path.last().map_or(Self::ROOT, |&(parent, key)| {
                    self.nodes[parent as usize].keys[key].node
                });
                let node = &self.nodes[id as usize];
                if node.keys.is_empty() && node.element.is_some() {
                    return Err(PinError::InArray {
                        field: field.to_string(),
                    });
                }
                let key = node
                    .keys
                    .iter()
                    .position(|key| key.name.eq_ignore_ascii_case(segment))
                    .ok_or_else(|| PinError::NoSuchField {
                        field: field.to_string(),
                    })?;
                path.push((id, key));
            }
            Ok(path)
        };
        let root = self.node(Self::ROOT).ok_or_else(|| PinError::NoSuchField {
            field: field.to_string(),
        })?;
        match walk(Vec::new()) {
            Err(PinError::NoSuchField { .. }) => {
                let nested = root
                    .keys
                    .iter()
                    .position(|key| key.name.eq_ignore_ascii_case(NESTED_UNDER));
                match nested {
                    Some(key) => walk(vec![(Self::ROOT, key)]),
                    None => walk(Vec::new()),
                }
            }
            other => other,
        }
    }

    /// Keeps the node's listed strings and numbers marked `true`, renumbering the
    /// combinations' codes and dropping rows whose value went. With `others`, values
    /// of other kinds (booleans, `null`, unlisted, absent) stay; without, their rows go
    /// too, as do the node's listed arrays. Rows are freed rather than all dropped
    /// ([`Self::recode_rows`]); whether the node's column was.
    fn keep_listed(&mut self, id: u32, strings: &[bool], numbers: &[bool], others: bool) -> bool {
        let node = &self.nodes[id as usize];
        let (old_strings, old_numbers, old_arrays) =
            (string_codes(node), number_codes(node), array_codes(node));
        let kept_strings = strings.iter().filter(|&&keep| keep).count() as u16;
        let kept_numbers = numbers.iter().filter(|&&keep| keep).count() as u16;
        let renumber = |kept: &[bool], index: usize, start: u16| -> Option<u16> {
            kept[index].then(|| start + kept[..index].iter().filter(|&&keep| keep).count() as u16)
        };
        let recode = |code: u16| -> Option<u16> {
            if old_strings.contains(&code) {
                renumber(strings, (code - old_strings.start) as usize, 1)
            } else if old_numbers.contains(&code) {
                renumber(
                    numbers,
                    (code - old_numbers.start) as usize,
                    1 + kept_strings,
                )
            } else if old_arrays.contains(&code) {
                others.then(|| code - old_arrays.start + 1 + kept_strings + kept_numbers)
            } else {
                debug_assert!(matches!(code, 0 | NULL | TRUE | FALSE | UNLISTED));
                others.then_some(code)
            }
        };
        let freed = self.recode_rows(id, others, recode);
        let node = &mut self.nodes[id as usize];
        let mut keep = strings.iter();
        node.values
            .retain(|_| keep.next().copied().unwrap_or(false));
        let mut keep = numbers.iter();
        node.numbers
            .retain(|_| keep.next().copied().unwrap_or(false));
        if !others {
            node.arrays.clear();
        }
        freed
    }

    /// Drops the combination rows whose code at `id` fails `keep` (see
    /// [`Self::recode_rows`] for `may_be_absent` and what it returns).
    fn keep_rows(&mut self, id: u32, may_be_absent: bool, keep: impl Fn(u16) -> bool) -> bool {
        self.recode_rows(id, may_be_absent, |code| keep(code).then_some(code))
    }

    /// Maps each combination row's code at node `id` through `recode`, dropping the
    /// rows it maps to `None`. Where that would drop every row, each row's code there
    /// becomes [`UNLISTED`] instead (`0`, the key absent, where it `may_be_absent`): the
    /// combinations no longer choose the field's value, and still tie the others.
    /// Returns whether the column was freed so.
    fn recode_rows(
        &mut self,
        id: u32,
        may_be_absent: bool,
        recode: impl Fn(u16) -> Option<u16>,
    ) -> bool {
        let Some(combinations) = self.combinations.as_mut() else {
            return false;
        };
        let Some(column) = combinations.column(id) else {
            return false;
        };
        if !combinations.rows.is_empty()
            && combinations
                .rows
                .iter()
                .all(|row| recode(code_at(row, column)).is_none())
        {
            for row in &mut combinations.rows {
                let free = match code_at(row, column) {
                    0 if may_be_absent => 0,
                    _ => UNLISTED,
                };
                if row.len() <= column + 1 {
                    row.resize(column + 2, 0);
                }
                row[column + 1] = free;
            }
            return true;
        }
        combinations.rows.retain_mut(|row| {
            match (recode(code_at(row, column)), row.get_mut(column + 1)) {
                (Some(new), Some(slot)) => {
                    *slot = new;
                    true
                }
                (Some(new), None) => new == 0,
                (None, _) => false,
            }
        });
        false
    }
}

/// A listed string as it reads: listed values are kept as compact JSON writes them
/// between the quotes.
fn unescaped(text: &str) -> String {
    match serde_json::from_str::<Value>(&format!("\"{text}\"")) {
        Ok(Value::String(text)) => text,
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text_format::string_code;
    use serde_json::json;

    fn pattern(text: &str) -> ValuePattern {
        ValuePattern(text.to_string())
    }

    fn pin(field: &str, value: &str, negated: bool) -> FieldPin {
        FieldPin {
            field: field.to_string(),
            patterns: vec![pattern(value)],
            all: false,
            negated,
        }
    }

    #[test]
    fn patterns_match_as_sigma_does() {
        assert!(pattern("ListBuckets").matches("listbuckets"));
        assert!(!pattern("ListBuckets").matches("ListBucketsV2"));
        assert!(pattern("Delete*").matches("DeleteTrail"));
        assert!(pattern("*S3 Browser*").matches("S3 Browser 9.5.5"));
        assert!(pattern("*a*b").matches("xaxxab"));
        assert!(!pattern("*a*b").matches("xaxxa"));
        assert!(pattern("C?t").matches("cat") && !pattern("C?t").matches("ct"));
        assert!(pattern(r"100\*").matches("100*") && !pattern(r"100\*").matches("1000"));
        assert!(pattern("*").matches(""));
        assert_eq!(pattern("*S3 Browser*").example(), "S3 Browser");
        assert_eq!(pattern(r"C?t\*").example(), "Cxt*");
    }

    fn trail_shape() -> Shape {
        let logs = [
            (
                json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "userIdentity": {"type": "AssumedRole"}}),
                "t=T1580",
            ),
            (
                json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "userIdentity": {"type": "IAMUser"}}),
                "",
            ),
            (
                json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "userIdentity": {"type": "IAMUser"}, "errorCode": "AccessDenied"}),
                "t=T1136.003",
            ),
            (
                json!({"eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "userIdentity": {"type": "Root"}}),
                "",
            ),
        ];
        Shape::fit_tagged("t", logs.iter().map(|(log, tag)| (log, *tag)))
    }

    fn node_of(shape: &Shape, field: &str) -> u32 {
        let path = shape.path_to(field).unwrap();
        let &(parent, key) = path.last().unwrap();
        shape.nodes[parent as usize].keys[key].node
    }

    #[test]
    fn a_pinned_field_keeps_the_listed_values_that_match_and_the_rows_that_had_them() {
        let shape = trail_shape();
        let pinned = shape
            .pinned(&[
                pin("eventname", "List*", false),
                pin("eventSource", "s3.*", false),
            ])
            .unwrap();
        // Each pin alone narrows the list; the rows tie the two together.
        let name = node_of(&pinned, "eventName");
        assert_eq!(
            pinned.nodes[name as usize].values,
            ["ListBuckets", "ListUsers"]
        );
        let combinations = pinned.combinations.as_ref().unwrap();
        assert_eq!(combinations.rows.len(), 1, "{:?}", combinations.rows);
        let column = combinations.column(name).unwrap();
        assert_eq!(
            combinations.rows[0][column + 1],
            string_code(&pinned, name, "ListBuckets").unwrap()
        );
        // Every kept row's codes name values the pinned shape still lists.
        let source = node_of(&pinned, "eventSource");
        let column = combinations.column(source).unwrap();
        assert_eq!(
            combinations.rows[0][column + 1],
            string_code(&pinned, source, "s3.amazonaws.com").unwrap()
        );
        assert!(pinned.admits(
            &json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "userIdentity": {"type": "AssumedRole"}})
        ));
        assert!(!pinned.admits(
            &json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "userIdentity": {"type": "IAMUser"}})
        ));
    }

    #[test]
    fn a_negated_pin_drops_the_values_it_excludes_and_their_rows() {
        let pinned = trail_shape()
            .pinned(&[pin("userIdentity.type", "AssumedRole", true)])
            .unwrap();
        let kind = node_of(&pinned, "userIdentity.type");
        assert_eq!(pinned.nodes[kind as usize].values, ["IAMUser", "Root"]);
        assert_eq!(pinned.combinations.as_ref().unwrap().rows.len(), 3);
        let missing = trail_shape().pinned(&[pin("userAgent", "x", true)]);
        assert_eq!(
            missing.unwrap_err(),
            PinError::NoSuchField {
                field: "userAgent".into()
            }
        );
    }

    #[test]
    fn a_value_no_log_had_is_listed_alone_and_an_optional_key_becomes_required() {
        let elasticache = pin("eventSource", "elasticache.amazonaws.com", false);
        let pinned = trail_shape()
            .pinned(std::slice::from_ref(&elasticache))
            .unwrap();
        let source = node_of(&pinned, "eventSource");
        assert_eq!(
            pinned.nodes[source as usize].values,
            ["elasticache.amazonaws.com"]
        );
        // No training combination had the new value: the combinations no longer choose
        // it, and still tie the other fields together.
        let combinations = pinned.combinations.as_ref().unwrap();
        assert_eq!(combinations.rows.len(), 4);
        let column = combinations.column(source).unwrap();
        assert!(
            combinations
                .rows
                .iter()
                .all(|row| row[column + 1] == UNLISTED)
        );

        // An optional key pinned is required, and the rows without it go.
        let pinned = trail_shape()
            .pinned(&[elasticache, pin("errorCode", "*Denied", false)])
            .unwrap();
        let root = &pinned.nodes[Shape::ROOT as usize];
        let error = root
            .keys
            .iter()
            .find(|key| key.name == "errorCode")
            .unwrap();
        assert!(error.required);
        assert_eq!(pinned.combinations.as_ref().unwrap().rows.len(), 1);
        assert!(!pinned.admits(
            &json!({"eventSource": "elasticache.amazonaws.com", "eventName": "CreateUser", "userIdentity": {"type": "Root"}})
        ));
    }

    #[test]
    fn a_value_never_seen_with_the_others_pinned_frees_its_field_in_the_rows_left() {
        // ListBuckets was only ever called by an assumed role: the rows of the other
        // callers stay, and the call is freed in them.
        let pinned = trail_shape()
            .pinned(&[
                pin("eventName", "ListBuckets", false),
                pin("userIdentity.type", "AssumedRole", true),
            ])
            .unwrap();
        let combinations = pinned.combinations.as_ref().unwrap();
        assert_eq!(combinations.rows.len(), 3, "the rows of other callers stay");
        let name = node_of(&pinned, "eventName");
        let column = combinations.column(name).unwrap();
        assert!(
            combinations
                .rows
                .iter()
                .all(|row| row[column + 1] == UNLISTED)
        );
        assert_eq!(pinned.nodes[name as usize].values, ["ListBuckets"]);
        let kind = node_of(&pinned, "userIdentity.type");
        assert_eq!(pinned.nodes[kind as usize].values, ["IAMUser", "Root"]);
    }

    #[test]
    fn a_pin_refuses_what_it_cannot_hold() {
        let shape = Shape::fit(
            [
                json!({"user": {"id": "a1"}, "tags": [{"k": "x"}], "ok": true}),
                json!({"user": {"id": "b2"}, "tags": [{"k": "y"}], "ok": false}),
            ]
            .iter(),
        );
        assert!(matches!(
            shape.pinned(&[pin("tags.k", "x", false)]),
            Err(PinError::InArray { .. })
        ));
        assert!(matches!(
            shape.pinned(&[pin("ok", "yes", false)]),
            Err(PinError::WrongKind { .. })
        ));
        let everything = FieldPin {
            patterns: vec![pattern("*")],
            ..pin("user.id", "", true)
        };
        assert!(matches!(
            shape.pinned(&[everything]),
            Err(PinError::NothingLeft { .. } | PinError::Unlisted { .. })
        ));
    }

    #[test]
    fn a_boolean_is_held_to_the_one_a_pin_admits_with_the_rows_that_had_it() {
        let device = |trust: &str, compliant: bool| json!({"DeviceDetail": {"trustType": trust, "isCompliant": compliant}});
        let shape = Shape::fit(
            [
                device("Azure AD joined", true),
                device("Azure AD joined", true),
                device("Azure AD registered", false),
                device("Azure AD registered", false),
            ]
            .iter(),
        );
        let compliant = "DeviceDetail.isCompliant";
        // Sigma writes the boolean as text: 'false'.
        let pinned = shape.pinned(&[pin(compliant, "false", false)]).unwrap();
        let node = node_of(&pinned, compliant);
        assert_eq!(pinned.nodes[node as usize].boolean, Some(false));
        assert!(pinned.admits(&device("Azure AD registered", false)));
        assert!(!pinned.admits(&device("Azure AD registered", true)));
        let trust = node_of(&shape, "DeviceDetail.trustType");
        let rows = |shape: &Shape| -> Vec<(u16, u16)> {
            let combinations = shape.combinations.as_ref().unwrap();
            let code = |row: &[u16], id: u32| code_at(row, combinations.column(id).unwrap());
            let rows = combinations.rows.iter();
            rows.map(|row| (code(row, trust), code(row, node)))
                .collect()
        };
        let registered = string_code(&shape, trust, "Azure AD registered").unwrap();
        assert_eq!(rows(&shape).len(), 2);
        assert_eq!(
            rows(&pinned),
            [(registered, FALSE)],
            "the joined device's row went"
        );
        // `≠ true` holds it the same way where it is written.
        let negated = shape.pinned(&[pin(compliant, "true", true)]).unwrap();
        assert_eq!(negated.nodes[node as usize].boolean, Some(false));
        assert!(!negated.admits(&device("Azure AD joined", true)));
        assert_eq!(rows(&negated), [(registered, FALSE)]);
        // No row had a joined device out of compliance: the field is freed in the
        // joined device's rows, and the node alone keeps it false.
        let both = shape
            .pinned(&[
                pin("DeviceDetail.trustType", "Azure AD joined", false),
                pin(compliant, "false", false),
            ])
            .unwrap();
        let joined = string_code(&both, trust, "Azure AD joined").unwrap();
        assert_eq!(rows(&both), [(joined, UNLISTED)]);
        assert!(both.admits(&device("Azure AD joined", false)));
        assert!(!both.admits(&device("Azure AD joined", true)));
        assert!(matches!(
            shape.pinned(&[
                pin(compliant, "false", false),
                pin(compliant, "true", false)
            ]),
            Err(PinError::Conflicting { .. })
        ));
    }

    #[test]
    fn a_field_of_an_azure_monitor_export_is_found_under_properties() {
        let shape = Shape::fit(
            [
                json!({"properties": {"resultType": "0"}}),
                json!({"properties": {"resultType": "50126"}}),
            ]
            .iter(),
        );
        let pinned = shape.pinned(&[pin("ResultType", "50126", false)]).unwrap();
        let node = node_of(&pinned, "properties.resultType");
        assert_eq!(pinned.nodes[node as usize].values, ["50126"]);
    }
}
