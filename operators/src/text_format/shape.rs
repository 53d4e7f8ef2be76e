//! The shape of a source's logs as the model writes them: which keys each object may
//! hold, which of them every log has, and what kind of value each takes.
//!
//! Fitted on the projected training logs and stored with the model, it lets generation
//! refuse a key no log ever had, a value of a kind the field never held, or an object
//! closed before a key every log has: a generated log is then a log of its source by
//! construction, however undertrained the model. A string field with few distinct values
//! (event names, apps, result codes, cities) is a category: its values are listed and
//! generation picks one of them, and so is a number field whose values repeat (result
//! codes, autonomous system numbers, coordinates); every other value stays the model's to
//! write.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::combinations::Combinations;

/// An object with more distinct keys than this (tags, free-form parameters) is left open:
/// any key, any value below it.
pub const MAX_KEYS_PER_OBJECT: usize = 512;

/// A string field with at most this many distinct values is a category: it gets a
/// [`ShapeNode::values`] list and generated values are held to it.
pub const MAX_LISTED_VALUES: usize = 256;

/// A string field of more values than [`MAX_LISTED_VALUES`] gets a
/// [`ShapeNode::pattern`] (a format: timestamps, ids) only if no position took more
/// than this many characters.
const MAX_PATTERN_CHOICES: usize = 10;

/// An object node whose objects wrote their keys in more distinct orders than this (or
/// subsets of keys) is left unordered rather than kept in memory.
const MAX_KEY_SEQUENCES: usize = 4096;

/// Kinds of JSON value, as bits of [`ShapeNode::kinds`].
pub mod kind {
    /// A string.
    pub const STRING: u8 = 1;
    /// A number.
    pub const NUMBER: u8 = 2;
    /// `true` or `false`.
    pub const BOOL: u8 = 4;
    /// `null`.
    pub const NULL: u8 = 8;
    /// An object.
    pub const OBJECT: u8 = 16;
    /// An array.
    pub const ARRAY: u8 = 32;
}

/// One place in a log: the kinds of value seen there and, for objects and arrays, what
/// they hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeNode {
    /// The [`kind`] bits of the values seen here.
    pub kinds: u8,
    /// Keys seen when it is an object, in first-seen order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<ShapeKey>,
    /// Too many distinct keys to constrain: anything goes below this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
    /// Every object seen here wrote its keys in the order of [`Self::keys`] (each one's
    /// keys a subsequence of them), as a source's logs do: a generated one keeps to it, so
    /// it reads like the real logs and a list of objects compares equal to theirs.
    /// `false` where objects disagreed, and in models fitted before 2026-12-06.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ordered: bool,
    /// The node of its elements when it is an array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<u32>,
    /// When arrays were seen here: the fewest and the most elements one had. A generated
    /// array keeps to them, so a list every log filled (Entra ID's
    /// `ConditionalAccessPolicies`) is never left empty and a model that repeats itself
    /// cannot grow one without end. `None` in models fitted before 2026-12-06.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<ItemRange>,
    /// For a string field of many values that all had one length and few characters at
    /// each position (timestamps, numeric ids): which characters may follow which where.
    /// A timestamp the model writes then stays a timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Pattern>,
    /// For a string field of at most [`MAX_LISTED_VALUES`] distinct values: those
    /// values, as compact JSON writes them between the quotes, sorted. A generated value
    /// is one of them, so an event name is a real event name however undertrained the
    /// model; which one is still the model's choice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// When every number seen here was a whole number of at least zero (epoch
    /// milliseconds, counts, ports): the most digits one had. A generated one is then
    /// digits only, no sign, fraction or exponent, and no longer, so a 13-digit
    /// epoch-millisecond time never grows to 17 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole_digits: Option<u8>,
    /// For a number field whose values repeat (at most [`MAX_LISTED_VALUES`] distinct,
    /// each seen twice on average): those numbers as compact JSON writes them, sorted as
    /// text. A generated number is one of them, so an error code or an autonomous system
    /// number is a real one, not digits that look like one. Epoch times and counters,
    /// whose values rarely repeat, are not listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<String>,
    /// For an array field whose whole arrays repeat (at most [`MAX_LISTED_VALUES`]
    /// distinct, each seen twice on average): those arrays as compact JSON writes them,
    /// sorted. A generated array is one of them, element for element: Entra ID's
    /// `ConditionalAccessPolicies` is one of the policy lists sign-ins had, and it takes
    /// part in the value combinations, so the policies' results agree with
    /// `ConditionalAccessStatus`. Empty in models fitted before 2026-12-06.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arrays: Vec<String>,
    /// Where a boolean is written here, only this one: a Sigma rule's pin
    /// (`DeviceDetail.isCompliant` is `false`). Never fitted: the combinations choose
    /// between `true` and `false` otherwise, and they may have been freed of the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boolean: Option<bool>,
}

/// The fewest and the most elements the arrays at one place had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRange {
    /// The fewest elements.
    pub min: u32,
    /// The most elements.
    pub max: u32,
}

impl ItemRange {
    fn widened_to(range: Option<Self>, len: u32) -> Self {
        match range {
            None => Self { min: len, max: len },
            Some(range) => Self {
                min: range.min.min(len),
                max: range.max.max(len),
            },
        }
    }

    /// Whether an array of `len` elements keeps to the range.
    pub fn admits(&self, len: usize) -> bool {
        (self.min as usize..=self.max as usize).contains(&len)
    }
}

/// The format of a fixed-length string field, position by position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    /// The characters seen at each position.
    pub chars: Vec<String>,
    /// For each position after the first, the (previous, this) character pairs seen
    /// there, two bytes each: a timestamp's hour may then be 09 or 23, never 29, and its
    /// day never 00, though each digit alone was seen in its place.
    pub pairs: Vec<String>,
}

impl Pattern {
    /// Characters in a value.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Whether `byte` may follow `written`, the value's bytes so far: seen at its
    /// position after the byte before it, and, in a value that opens with an ISO date
    /// (`YYYY-MM-DD`), keeping that date on the calendar: the digits of 2026-11-31 were
    /// each seen in their place, the date never was. Where no byte the pattern allows
    /// keeps the date real (a 29 February seen only in a leap year), the pattern alone
    /// decides, so a value never dead-ends.
    pub fn allows_after(&self, written: &[u8], byte: u8) -> bool {
        let position = written.len();
        if !self.allows(position, written.last().copied(), byte) {
            return false;
        }
        if !self.opens_with_date() || !(8..10).contains(&position) {
            return true;
        }
        let on_calendar = |byte: u8| self.keeps_a_real_date(written, byte);
        on_calendar(byte) || !self.candidates(written).any(on_calendar)
    }

    /// The first byte [`Self::allows_after`] allows after `written`: every allowed byte
    /// was seen there followed by something, so this never leads to a dead end.
    pub fn first_allowed_after(&self, written: &[u8]) -> Option<u8> {
        self.candidates(written)
            .find(|&byte| self.allows_after(written, byte))
    }

    /// Whether `text` has this format.
    pub fn admits(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        bytes.len() == self.len()
            && (0..bytes.len())
                .all(|position| self.allows_after(&bytes[..position], bytes[position]))
    }

    /// Whether `byte` may come at `position`, after `previous`, by the characters and
    /// pairs seen alone.
    fn allows(&self, position: usize, previous: Option<u8>, byte: u8) -> bool {
        let seen = self
            .chars
            .get(position)
            .is_some_and(|chars| chars.as_bytes().contains(&byte));
        let follows = match (position.checked_sub(1), previous) {
            (Some(before), Some(previous)) => self.pairs.get(before).is_some_and(|pairs| {
                pairs
                    .as_bytes()
                    .chunks(2)
                    .any(|pair| pair == [previous, byte])
            }),
            _ => true,
        };
        seen && follows
    }

    /// The bytes seen at the position after `written` that follow its last byte.
    fn candidates<'a>(&'a self, written: &'a [u8]) -> impl Iterator<Item = u8> + 'a {
        let position = written.len();
        self.chars
            .get(position)
            .map(String::as_bytes)
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(move |&byte| self.allows(position, written.last().copied(), byte))
    }

    /// Every value seen opened with `YYYY-MM-DD`.
    fn opens_with_date(&self) -> bool {
        let only = |position: usize, allowed: fn(u8) -> bool| {
            self.chars
                .get(position)
                .is_some_and(|chars| chars.bytes().all(allowed))
        };
        [0, 1, 2, 3, 5, 6, 8, 9]
            .into_iter()
            .all(|position| only(position, |byte| byte.is_ascii_digit()))
            && only(4, |byte| byte == b'-')
            && only(7, |byte| byte == b'-')
    }

    /// With `written` the date's first 8 or 9 bytes, whether `byte` leaves a real day
    /// (the first day digit: one the pattern lets follow it does).
    fn keeps_a_real_date(&self, written: &[u8], byte: u8) -> bool {
        let mut date = written.to_vec();
        date.push(byte);
        match date.len() {
            10 => is_calendar_date(&date),
            9 => self.candidates(&date).any(|last| {
                let mut day = date.clone();
                day.push(last);
                is_calendar_date(&day)
            }),
            _ => true,
        }
    }
}

/// Whether `YYYY-MM-DD` names a day of the calendar.
fn is_calendar_date(date: &[u8]) -> bool {
    std::str::from_utf8(date)
        .ok()
        .and_then(|text| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .is_some()
}

/// A key of an object node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeKey {
    /// The key as compact JSON writes it between its quotes (escapes included), so a
    /// decoder can match it byte by byte.
    pub name: String,
    /// The node of its value.
    pub node: u32,
    /// Every object seen at this place had it.
    pub required: bool,
}

/// The shape of one source's logs: a tree of nodes, the root (node 0) an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// The nodes; children always come after their parent.
    pub nodes: Vec<ShapeNode>,
    /// Which listed values occurred together, and under which header. Absent in models
    /// fitted before 2026-12-06 (their listed values are picked independently), and
    /// where there were too many to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combinations: Option<Combinations>,
    /// The listed fields whose values name their log's user ([`super::user_fields`]):
    /// generation for a user holds them to the values naming that user. Empty in models
    /// fitted before 2026-12-06 and for a group model (whose header has no user).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_fields: Vec<u32>,
    /// How many benign training logs of the source each header user had: the mix of
    /// users generation draws from when none is asked for (a small model's own pick
    /// leans to the users heaviest across all sources). Empty in models fitted before
    /// 2026-12-06 (session 31) and for a group model (whose header has no user).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, u32>,
    /// For each of those users, how many of their benign training logs fell in each hour
    /// of the week ([`super::header_mix::hour_of_week`]: 0 is Monday 00 UTC): the time
    /// generation draws for a log asked for none. Empty in models fitted before session
    /// 32 (2026-12-06) and for a group model.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hours: BTreeMap<String, BTreeMap<u8, u32>>,
    /// For each technique whose training logs of the source said whether its rules fire
    /// ([`super::Header::detected`]), how many did and did not: the share generation
    /// draws the flag at when a technique is asked for without `--detected` or
    /// `--undetected`. Empty in models fitted before 2026-12-07.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub detections: BTreeMap<String, super::header_mix::Detections>,
}

impl Shape {
    /// The root node: the log object.
    pub const ROOT: u32 = 0;

    /// Fits the shape of `logs` (as the model writes them: projected), and which of
    /// their listed values came together, keyed by nothing.
    pub fn fit<'a>(logs: impl IntoIterator<Item = &'a Value>) -> Self {
        let logs: Vec<&Value> = logs.into_iter().collect();
        Self::fit_tagged("", logs.iter().map(|&log| (log, "")))
    }

    /// Fits the shape of `logs` (projected), and which of their listed values came
    /// together under each tag ([`Combinations`]: the header fields `keys` names).
    pub fn fit_tagged<'a>(
        keys: &str,
        logs: impl IntoIterator<Item = (&'a Value, &'a str)>,
    ) -> Self {
        let logs: Vec<(&Value, &str)> = logs.into_iter().collect();
        let mut builder = Builder::default();
        builder.nodes.push(BuildNode::default());
        for &(log, _) in &logs {
            builder.observe(Self::ROOT, log);
        }
        let mut shape = builder.finish();
        shape.combinations = Combinations::fit(&shape, keys, logs);
        shape
    }

    /// The node `id`, if the shape has it.
    pub fn node(&self, id: u32) -> Option<&ShapeNode> {
        self.nodes.get(id as usize)
    }

    /// Calls `visit` with each value of `log` outside arrays and the node it sits at,
    /// parents first: objects' keys are followed, arrays not entered, keys the shape
    /// lacks skipped.
    pub fn visit(&self, log: &Value, visit: &mut impl FnMut(u32, &ShapeNode, &Value)) {
        self.visit_at(Self::ROOT, log, visit);
    }

    fn visit_at(&self, id: u32, value: &Value, visit: &mut impl FnMut(u32, &ShapeNode, &Value)) {
        let Some(node) = self.node(id) else {
            return;
        };
        visit(id, node, value);
        if let Value::Object(object) = value {
            for (key, child) in object {
                let name = escaped(key);
                if let Some(key) = node.keys.iter().find(|k| k.name == name) {
                    self.visit_at(key.node, child, visit);
                }
            }
        }
    }

    /// Whether `log` fits this shape: known keys only, every required key, known kinds.
    pub fn admits(&self, log: &Value) -> bool {
        self.admits_at(Self::ROOT, log)
    }

    fn admits_at(&self, id: u32, value: &Value) -> bool {
        let Some(node) = self.node(id) else {
            return false;
        };
        if node.kinds & kind_of(value) == 0 {
            return false;
        }
        match value {
            Value::Object(_) if node.open => true,
            Value::Object(object) => {
                let known = object.iter().all(|(key, child)| {
                    node.keys
                        .iter()
                        .find(|k| k.name == escaped(key))
                        .is_some_and(|k| self.admits_at(k.node, child))
                });
                let complete = node
                    .keys
                    .iter()
                    .filter(|k| k.required)
                    .all(|k| object.keys().any(|key| escaped(key) == k.name));
                let positions = object
                    .keys()
                    .filter_map(|key| node.keys.iter().position(|k| k.name == escaped(key)));
                let in_order = !node.ordered || positions.is_sorted();
                known && complete && in_order
            }
            Value::Array(items) => {
                (node.arrays.is_empty() || node.arrays.binary_search(&value.to_string()).is_ok())
                    && node.items.is_none_or(|range| range.admits(items.len()))
                    && match node.element {
                        Some(element) => items.iter().all(|item| self.admits_at(element, item)),
                        None => items.is_empty(),
                    }
            }
            Value::String(text) => {
                node.pattern
                    .as_ref()
                    .is_none_or(|pattern| pattern.admits(text))
                    && (node.values.is_empty() || node.values.binary_search(&escaped(text)).is_ok())
            }
            Value::Number(number) => {
                let whole = match (node.whole_digits, number.as_u64()) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(max), Some(whole)) => digits(whole) <= max,
                };
                whole
                    && (node.numbers.is_empty()
                        || node.numbers.binary_search(&number.to_string()).is_ok())
            }
            Value::Bool(value) => node.boolean.is_none_or(|only| only == *value),
            _ => true,
        }
    }
}

/// The [`kind`] bit of `value`.
pub fn kind_of(value: &Value) -> u8 {
    match value {
        Value::String(_) => kind::STRING,
        Value::Number(_) => kind::NUMBER,
        Value::Bool(_) => kind::BOOL,
        Value::Null => kind::NULL,
        Value::Object(_) => kind::OBJECT,
        Value::Array(_) => kind::ARRAY,
    }
}

/// Decimal digits of `number`.
fn digits(number: u64) -> u8 {
    number.checked_ilog10().map_or(1, |log| log as u8 + 1)
}

/// `distinct`, sorted, when few enough to list ([`MAX_LISTED_VALUES`]); else empty.
fn sorted(distinct: &HashSet<String>) -> Vec<String> {
    if distinct.len() > MAX_LISTED_VALUES {
        return Vec::new();
    }
    let mut listed: Vec<String> = distinct.iter().cloned().collect();
    listed.sort_unstable();
    listed
}

/// A key as compact JSON writes it between the quotes.
pub(super) fn escaped(key: &str) -> String {
    let quoted = Value::String(key.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[derive(Debug, Default)]
struct BuildNode {
    kinds: u8,
    /// Objects seen here.
    objects: usize,
    /// (key, node, objects that had it), first-seen order.
    keys: Vec<(String, u32, usize)>,
    index: HashMap<String, usize>,
    open: bool,
    /// The distinct key sequences (positions in `keys`) its objects had.
    key_sequences: HashSet<Vec<u32>>,
    /// They were more than [`MAX_KEY_SEQUENCES`]: the node is left unordered.
    too_many_orders: bool,
    element: Option<u32>,
    items: Option<ItemRange>,
    /// Distinct strings seen here (as compact JSON writes them), up to one more than
    /// [`MAX_LISTED_VALUES`].
    distinct: HashSet<String>,
    /// Characters seen at each position, while every string had the same length and
    /// only plain ASCII.
    positions: Vec<Vec<u8>>,
    /// The (previous, this) pairs seen at each position after the first.
    pairs: Vec<Vec<[u8; 2]>>,
    no_pattern: bool,
    /// A number seen here was negative or not whole.
    fractional: bool,
    /// The most digits of a whole number seen here.
    max_digits: u8,
    /// Numbers seen here, as compact JSON writes them.
    numbers: Repeats,
    /// Arrays seen here, as compact JSON writes them.
    arrays: Repeats,
}

/// Values of one kind seen at a node, to list them when they repeat: at most
/// [`MAX_LISTED_VALUES`] distinct, each seen twice on average.
#[derive(Debug, Default)]
struct Repeats {
    seen: usize,
    /// Up to one more than [`MAX_LISTED_VALUES`].
    distinct: HashSet<String>,
}

impl Repeats {
    fn observe(&mut self, text: String) {
        self.seen += 1;
        if self.distinct.len() <= MAX_LISTED_VALUES {
            self.distinct.insert(text);
        }
    }

    /// The values, sorted, when they repeat; else none.
    fn listed(&self) -> Vec<String> {
        match self.seen >= 2 * self.distinct.len() {
            true => sorted(&self.distinct),
            false => Vec::new(),
        }
    }
}

impl BuildNode {
    fn observe_key_sequence(&mut self, sequence: Vec<u32>) {
        if self.too_many_orders {
            return;
        }
        self.key_sequences.insert(sequence);
        if self.key_sequences.len() > MAX_KEY_SEQUENCES {
            self.too_many_orders = true;
            self.key_sequences = HashSet::new();
        }
    }

    /// Positions in `keys` in the one order every object's keys kept to, when there is
    /// one: the first-seen order where it serves, else the earliest-seen key first.
    fn key_order(&self) -> Option<Vec<usize>> {
        if self.too_many_orders {
            return None;
        }
        let mut after: Vec<HashSet<usize>> = vec![HashSet::new(); self.keys.len()];
        for sequence in &self.key_sequences {
            for pair in sequence.windows(2) {
                after[pair[0] as usize].insert(pair[1] as usize);
            }
        }
        let mut before_count = vec![0usize; self.keys.len()];
        for next in after.iter().flatten() {
            before_count[*next] += 1;
        }
        let mut ready: BinaryHeap<Reverse<usize>> = (0..self.keys.len())
            .filter(|&position| before_count[position] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(self.keys.len());
        while let Some(Reverse(position)) = ready.pop() {
            order.push(position);
            for &next in &after[position] {
                before_count[next] -= 1;
                if before_count[next] == 0 {
                    ready.push(Reverse(next));
                }
            }
        }
        // A cycle (a before b in one object, b before a in another) leaves keys out.
        (order.len() == self.keys.len()).then_some(order)
    }

    fn observe_string(&mut self, text: &str) {
        let first = self.distinct.is_empty();
        if self.distinct.len() <= MAX_LISTED_VALUES {
            self.distinct.insert(escaped(text));
        }
        let plain = |byte: u8| (0x20..0x7F).contains(&byte) && byte != b'"' && byte != b'\\';
        if self.no_pattern || !text.bytes().all(plain) {
            self.no_pattern = true;
            return;
        }
        if first {
            self.positions = text.bytes().map(|byte| vec![byte]).collect();
            self.pairs = text
                .as_bytes()
                .windows(2)
                .map(|pair| vec![[pair[0], pair[1]]])
                .collect();
            return;
        }
        if text.len() != self.positions.len() {
            self.no_pattern = true;
            return;
        }
        for (choices, byte) in self.positions.iter_mut().zip(text.bytes()) {
            if !choices.contains(&byte) {
                choices.push(byte);
                if choices.len() > MAX_PATTERN_CHOICES {
                    self.no_pattern = true;
                }
            }
        }
        for (seen, pair) in self.pairs.iter_mut().zip(text.as_bytes().windows(2)) {
            let pair = [pair[0], pair[1]];
            if !seen.contains(&pair) {
                seen.push(pair);
            }
        }
    }

    /// The listed values of a category, sorted.
    fn values(&self) -> Vec<String> {
        sorted(&self.distinct)
    }

    /// A pattern, for strings too many to list.
    fn pattern(&self) -> Option<Pattern> {
        let only_strings = self.kinds == kind::STRING;
        let many = self.distinct.len() > MAX_LISTED_VALUES;
        let text = |mut bytes: Vec<u8>| {
            bytes.sort_unstable();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        (only_strings && !self.no_pattern && many).then(|| Pattern {
            chars: self.positions.iter().cloned().map(text).collect(),
            pairs: self
                .pairs
                .iter()
                .map(|pairs| {
                    let mut pairs = pairs.clone();
                    pairs.sort_unstable();
                    String::from_utf8_lossy(&pairs.concat()).into_owned()
                })
                .collect(),
        })
    }
}

#[derive(Debug, Default)]
struct Builder {
    nodes: Vec<BuildNode>,
}

impl Builder {
    fn add(&mut self) -> u32 {
        self.nodes.push(BuildNode::default());
        (self.nodes.len() - 1) as u32
    }

    fn observe(&mut self, id: u32, value: &Value) {
        let at = id as usize;
        self.nodes[at].kinds |= kind_of(value);
        match value {
            Value::Object(object) => {
                self.nodes[at].objects += 1;
                if self.nodes[at].open {
                    return;
                }
                let mut sequence = Vec::with_capacity(object.len());
                for (key, child) in object {
                    let name = escaped(key);
                    let child_id = match self.nodes[at].index.get(&name) {
                        Some(&position) => {
                            sequence.push(position as u32);
                            self.nodes[at].keys[position].2 += 1;
                            self.nodes[at].keys[position].1
                        }
                        None if self.nodes[at].keys.len() >= MAX_KEYS_PER_OBJECT => {
                            self.nodes[at].open = true;
                            return;
                        }
                        None => {
                            let new = self.add();
                            let node = &mut self.nodes[at];
                            sequence.push(node.keys.len() as u32);
                            node.index.insert(name.clone(), node.keys.len());
                            node.keys.push((name, new, 1));
                            new
                        }
                    };
                    self.observe(child_id, child);
                }
                self.nodes[at].observe_key_sequence(sequence);
            }
            Value::Array(items) => {
                let len = u32::try_from(items.len()).unwrap_or(u32::MAX);
                let node = &mut self.nodes[at];
                node.items = Some(ItemRange::widened_to(node.items, len));
                node.arrays.observe(value.to_string());
                for item in items {
                    let element = match self.nodes[at].element {
                        Some(element) => element,
                        None => {
                            let new = self.add();
                            self.nodes[at].element = Some(new);
                            new
                        }
                    };
                    self.observe(element, item);
                }
            }
            Value::String(text) => self.nodes[at].observe_string(text),
            Value::Number(number) => {
                let node = &mut self.nodes[at];
                node.numbers.observe(number.to_string());
                match number.as_u64() {
                    Some(whole) => node.max_digits = node.max_digits.max(digits(whole)),
                    None => node.fractional = true,
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> Shape {
        let nodes = self.nodes.into_iter().map(BuildNode::finish).collect();
        Shape {
            nodes,
            combinations: None,
            user_fields: Vec::new(),
            users: BTreeMap::new(),
            hours: BTreeMap::new(),
            detections: BTreeMap::new(),
        }
    }
}

impl BuildNode {
    /// The node, its keys in the order its objects kept to when they kept to one.
    fn finish(self) -> ShapeNode {
        let (pattern, values, numbers, arrays) = (
            self.pattern(),
            self.values(),
            self.numbers.listed(),
            self.arrays.listed(),
        );
        let order = match self.open {
            true => None,
            false => self.key_order(),
        };
        let keys = match self.open {
            true => Vec::new(),
            false => self
                .keys
                .iter()
                .map(|(name, id, seen)| ShapeKey {
                    name: name.clone(),
                    node: *id,
                    required: *seen == self.objects,
                })
                .collect(),
        };
        let keys = match &order {
            Some(order) => order.iter().map(|&at| keys[at].clone()).collect(),
            None => keys,
        };
        ShapeNode {
            pattern,
            values,
            numbers,
            arrays,
            whole_digits: (self.kinds & kind::NUMBER != 0 && !self.fractional)
                .then_some(self.max_digits),
            kinds: self.kinds,
            keys,
            open: self.open,
            ordered: order.is_some() && self.objects > 0,
            element: self.element,
            items: self.items,
            boolean: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_array_node_keeps_the_fewest_and_most_elements_seen() {
        let logs = [json!({"p": [1], "q": []}), json!({"p": [1, 2, 3], "q": []})];
        let shape = Shape::fit(&logs);
        let items = |key: &str| {
            let root = shape.node(Shape::ROOT).unwrap();
            let node = root.keys.iter().find(|k| k.name == key).unwrap().node;
            shape.node(node).unwrap().items
        };
        assert_eq!(items("p"), Some(ItemRange { min: 1, max: 3 }));
        assert_eq!(items("q"), Some(ItemRange { min: 0, max: 0 }));
        assert!(shape.admits(&json!({"p": [2, 1], "q": []})));
        assert!(
            !shape.admits(&json!({"p": [], "q": []})),
            "p was never empty"
        );
        assert!(
            !shape.admits(&json!({"p": [1, 1, 1, 1], "q": []})),
            "p had three at most"
        );
    }

    #[test]
    fn arrays_that_repeat_are_listed_whole() {
        let logs: Vec<Value> = (0..6)
            .map(|i| json!({"p": [i % 2, 1 - i % 2], "r": [i]}))
            .collect();
        let shape = Shape::fit(&logs);
        let root = shape.node(Shape::ROOT).unwrap();
        let listed = |key: usize| &shape.node(root.keys[key].node).unwrap().arrays;
        assert_eq!(listed(0), &["[0,1]", "[1,0]"]);
        assert!(
            listed(1).is_empty(),
            "six arrays, six values: not a category"
        );
        assert!(shape.admits(&json!({"p": [1, 0], "r": [7]})));
        assert!(
            !shape.admits(&json!({"p": [1, 1], "r": [7]})),
            "elements, length and digits as seen, but not a list seen"
        );
    }

    #[test]
    fn objects_that_kept_one_key_order_are_ordered() {
        let logs = [
            json!({"a": 1, "c": {"y": 1, "x": 2}, "d": 1}),
            json!({"b": 1, "c": {"x": 1, "y": 2}}),
            json!({"a": 1, "b": 1, "d": 1}),
        ];
        let shape = Shape::fit(&logs);
        let root = shape.node(Shape::ROOT).unwrap();
        let names: Vec<&str> = root.keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(
            names,
            ["a", "b", "c", "d"],
            "b before c though c was seen first"
        );
        assert!(root.ordered);
        let c = shape.node(root.keys[2].node).unwrap();
        assert!(
            !c.ordered,
            "x before y in one object, y before x in another"
        );
        assert!(shape.admits(&json!({"b": 1, "d": 1})));
        assert!(!shape.admits(&json!({"d": 1, "b": 1})), "out of order");
        assert!(shape.admits(&json!({"c": {"x": 1, "y": 2}})));
        assert!(shape.admits(&json!({"c": {"y": 1, "x": 2}})));
    }

    #[test]
    fn keys_kinds_and_required_keys_come_from_the_logs() {
        let logs = [
            json!({"eventName": "A", "user": {"type": "IAM", "name": "bob"}, "tags": [{"k": 1}], "err": null}),
            json!({"eventName": "B", "user": {"type": "Role"}, "tags": [], "err": "Denied", "q\"uote": 1}),
        ];
        let shape = Shape::fit(&logs);
        let root = shape.node(Shape::ROOT).unwrap();
        let names: Vec<(&str, bool)> = root
            .keys
            .iter()
            .map(|k| (k.name.as_str(), k.required))
            .collect();
        assert_eq!(
            names,
            [
                ("eventName", true),
                ("user", true),
                ("tags", true),
                ("err", true),
                (r#"q\"uote"#, false)
            ]
        );
        let err = shape.node(root.keys[3].node).unwrap();
        assert_eq!(err.kinds, kind::NULL | kind::STRING);
        let user = shape.node(root.keys[1].node).unwrap();
        assert_eq!(
            user.keys.iter().map(|k| k.required).collect::<Vec<_>>(),
            [true, false]
        );
        for log in &logs {
            assert!(shape.admits(log), "{log}");
        }
        assert!(
            shape.admits(
                &json!({"eventName": "B", "user": {"type": "IAM"}, "tags": [], "err": null})
            )
        );
        for foreign in [
            json!({"eventName": "C", "user": {"type": "X"}, "tags": []}),
            json!({"eventName": 3, "user": {"type": "X"}, "tags": [], "err": null}),
            json!({"eventName": "C", "user": {"type": "X"}, "tags": [], "err": null, "new": 1}),
            json!({"eventName": "C", "user": {"type": "X"}, "tags": [{"k": "s"}], "err": null}),
        ] {
            assert!(!shape.admits(&foreign), "{foreign}");
        }
    }

    #[test]
    fn categories_get_their_values_fixed_formats_a_pattern_free_text_nothing() {
        let logs: Vec<Value> = (0..=MAX_LISTED_VALUES)
            .map(|i| {
                let country = ["DE", "FR", "GB"][i % 3];
                json!({"time": format!("2024-07-{:02}T{:02}:{:02}Z", 10 + i % 3, i / 60, i % 60),
                    "note": "x".repeat(i + 1), "id": format!("{i:03}"), "country": country})
            })
            .collect();
        let shape = Shape::fit(&logs);
        let node = |key: usize| shape.node(shape.nodes[0].keys[key].node).unwrap().clone();
        let time = node(0).pattern.unwrap();
        assert!(node(0).values.is_empty(), "too many to list");
        assert_eq!(time.len(), "2024-07-10T00:00Z".len());
        let chars = &time.chars;
        assert_eq!(
            (
                chars[0].as_str(),
                chars[9].as_str(),
                chars[12].as_str(),
                chars[14].as_str()
            ),
            ("2", "012", "01234", "012345")
        );
        assert!(time.allows(15, Some(b'5'), b'9') && !time.allows(14, Some(b':'), b'6'));
        assert_eq!(node(1).pattern, None, "lengths differ");
        assert!(node(1).values.is_empty());
        assert!(node(2).pattern.is_some());
        assert_eq!(
            node(3).pattern,
            None,
            "a category, however fixed its length"
        );
        assert_eq!(node(3).values, ["DE", "FR", "GB"]);
        let log = |time: &str, country: &str| json!({"time": time, "note": "y", "id": "007", "country": country});
        assert!(shape.admits(&log("2024-07-12T04:00Z", "DE")));
        assert!(
            !shape.admits(&log("2024-07-12T04:00Z", "BR")),
            "not a listed value"
        );
        assert!(!shape.admits(&log("2024-07-13T04:00Z", "DE")));
        assert!(!shape.admits(&log("2024-07-12T04:00", "DE")));
        let few = Shape::fit(&logs[..20]);
        let few_time = few.node(few.nodes[0].keys[0].node).unwrap();
        assert_eq!(few_time.pattern, None);
        assert_eq!(few_time.values.len(), 20, "few enough to list");
    }

    #[test]
    fn a_date_pattern_keeps_to_the_calendar_and_never_dead_ends() {
        let pattern = |dates: &[&str]| Pattern {
            chars: (0..dates[0].len())
                .map(|i| {
                    let mut chars: Vec<u8> = dates.iter().map(|d| d.as_bytes()[i]).collect();
                    chars.sort_unstable();
                    chars.dedup();
                    String::from_utf8(chars).unwrap()
                })
                .collect(),
            pairs: (1..dates[0].len())
                .map(|i| {
                    let pairs: Vec<u8> = dates
                        .iter()
                        .flat_map(|d| d.as_bytes()[i - 1..=i].to_vec())
                        .collect();
                    String::from_utf8(pairs).unwrap()
                })
                .collect(),
        };
        let months = pattern(&["2026-10-31", "2026-11-30", "2026-11-01", "2026-02-28"]);
        assert!(months.admits("2026-10-30"));
        assert!(
            !months.admits("2026-11-31"),
            "each digit pair seen, the day never"
        );
        assert!(
            !months.allows_after(b"2026-02-", b'3'),
            "no 30 or 31 in February"
        );
        assert_eq!(months.first_allowed_after(b"2026-11-3"), Some(b'0'));
        let leap = pattern(&["2024-02-29", "2025-03-29"]);
        assert!(
            leap.allows_after(b"2025-02-", b'2') && leap.allows_after(b"2025-02-2", b'9'),
            "no real day left: the pattern alone decides"
        );
    }

    #[test]
    fn numbers_that_repeat_are_listed_numbers_that_do_not_are_not() {
        let logs: Vec<Value> = (0..40)
            .map(|i| {
                json!({"errorCode": ([0, 0, 0, 50126, 50074][i % 5]), "lat": ([-33.87, 52.52][i % 2]),
                    "creationDate": 1_795_401_143_000_u64 + i as u64})
            })
            .collect();
        let shape = Shape::fit(&logs);
        let node = |key: usize| shape.node(shape.nodes[0].keys[key].node).unwrap().clone();
        assert_eq!(node(0).numbers, ["0", "50074", "50126"]);
        assert_eq!(node(1).numbers, ["-33.87", "52.52"]);
        assert!(node(2).numbers.is_empty(), "epoch times do not repeat");
        let log = |code: u32, lat: f64| json!({"errorCode": code, "lat": lat, "creationDate": 7});
        assert!(shape.admits(&log(50126, 52.52)));
        assert!(!shape.admits(&log(5074, 52.52)), "not a listed code");
        assert!(!shape.admits(&log(0, 52.5)));
    }

    #[test]
    fn objects_with_too_many_keys_are_left_open() {
        let log = Value::Object(
            (0..=MAX_KEYS_PER_OBJECT)
                .map(|i| (format!("tag{i}"), json!(i)))
                .collect(),
        );
        let shape = Shape::fit([&json!({"tags": log})]);
        let tags = shape.node(shape.nodes[0].keys[0].node).unwrap();
        assert!(tags.open && tags.keys.is_empty());
        assert!(shape.admits(&json!({"tags": {"anything": [1]}})));
    }
}
