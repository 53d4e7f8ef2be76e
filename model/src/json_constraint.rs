//! JSON-constrained decoding: a byte-level JSON recogniser that says which next bytes keep
//! the output a valid prefix of a compact JSON object, and how to finish it.
//!
//! Sampling masks every byte it refuses, so every generated log parses: a generator that
//! emits invalid JSON a few percent of the time would poison a SIEM pipeline. The grammar
//! is compact JSON (no whitespace, as the logs are rendered), an object at the top,
//! strings of valid UTF-8 with no control characters, and `\u` escapes outside the
//! surrogate range (serde_json refuses lone surrogates).
//!
//! Given the [`Shape`] of the source's logs, it also refuses what no log of the source
//! has: a key the object never had (or already has), a value of a kind the field never
//! held, an element in an array that was always empty, and closing an object before
//! every key all its training logs had; the shortest completion then writes the missing
//! keys with the shortest value of an allowed kind. A listed value is further held to
//! those that came with the values already written, in training logs of the same
//! technique (or, for a group model, header) ([`Combinations`]). What the values say
//! stays the model's.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use operators::text_format::{
    Combinations, Consistent, FALSE, Header, ItemRange, NULL, Pattern, Presence, Shape, ShapeKey,
    ShapeNode, TRUE, array_codes, boolean_code, kind, number_code, number_codes, string_code,
    string_codes, user_fields,
};

/// Where the recogniser stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the top-level object.
    Start,
    /// After `{`: a key or `}`.
    ObjectOpen,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// A value is due; `array_open` when `]` may close an empty array instead.
    Value { array_open: bool },
    /// After a value: `,` or the container's closer.
    AfterValue,
    /// Inside a string.
    Str { key: bool, part: StrPart },
    /// Inside a number.
    Number(Num),
    /// Inside `true`, `false` or `null`: the bytes still due.
    Literal(&'static [u8]),
    /// The top-level object is closed.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrPart {
    Plain,
    Escape,
    /// Hex digits of a `\u` escape still due (4 = the first).
    Unicode(u8),
    /// UTF-8 continuation bytes still due and the range the next one must fall in.
    Utf8 {
        due: u8,
        low: u8,
        high: u8,
    },
}

/// A number's parts, with digits counted: serde_json turns an integer past u64 into an
/// f64 and refuses one past f64's range (1E310), so digits are bounded to stay in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int(u8),
    Dot,
    Frac(u8),
    Exp,
    ExpSign,
    ExpDigits(u8),
}

/// At most this many integer and fraction digits, and exponent digits: 10^40 * 10^99 is
/// far inside f64's range.
const MAX_MANTISSA_DIGITS: u8 = 40;
const MAX_EXPONENT_DIGITS: u8 = 2;

impl Num {
    fn complete(self) -> bool {
        matches!(
            self,
            Num::Zero | Num::Int(_) | Num::Frac(_) | Num::ExpDigits(_)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

/// An open object or array.
#[derive(Debug, Clone)]
struct Frame {
    container: Container,
    /// Its shape node; `None` where the shape does not constrain it.
    node: Option<u32>,
    /// Indices into the node's keys of the keys written so far.
    used: Vec<usize>,
    /// Values begun so far in it: an array's elements.
    items: u32,
}

/// The keys an ordered object may write next: those after the last one written, up to
/// the first required one not written yet (skipping it would leave it nowhere to go).
#[derive(Debug, Clone, Copy)]
struct KeyWindow {
    /// The highest index in the node's keys written so far.
    last: Option<usize>,
    /// The first required key after `last`; `usize::MAX` when none is left.
    next_required: usize,
}

impl KeyWindow {
    fn admits(self, index: usize, required: bool) -> bool {
        match self.last {
            // A key a later value made required (a combination that has it) is written
            // out of order rather than not at all.
            Some(last) if index < last => required,
            _ => index <= self.next_required,
        }
    }
}

/// What the value due next may be, by the shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Anything.
    Free,
    /// A value of this node's kinds.
    Node(u32),
    /// Nothing: an array that was always empty.
    Empty,
}

/// A byte-level recogniser of one compact JSON object.
#[derive(Debug, Clone)]
pub struct JsonConstraint {
    state: State,
    stack: Vec<Frame>,
    shape: Option<Arc<Shape>>,
    /// The key being written, as written (escapes included).
    key: Vec<u8>,
    /// The node of the value due after the key just written.
    pending: Option<u32>,
    /// The string value being written when its node has a pattern.
    string: Option<PatternedString>,
    /// The string value being written when its node lists its values: the node and the
    /// bytes written so far (escapes included).
    listed: Option<(u32, Vec<u8>)>,
    /// The number being written must stay whole, of at most this many digits: its node's
    /// `whole_digits` ([`operators::text_format::shape::ShapeNode`]).
    whole_number: Option<u8>,
    /// The number being written when its node lists its numbers: the node and the bytes
    /// written so far.
    listed_number: Option<(u32, Vec<u8>)>,
    /// The array being written when its node lists its arrays.
    listed_array: Option<ListedArray>,
    /// The training combinations still consistent with the listed values written so far
    /// (and the technique), shared between clones until a value narrows them.
    consistent: Arc<Consistent>,
    /// For each column of the combinations, how many consistent rows have its key;
    /// empty while nothing narrowed them (every key may come, none must).
    presence: Arc<Vec<Presence>>,
    /// The node of the value due after the key just written, and the codes its listed
    /// values may take by the combinations; absent, the whole list.
    choices: Option<(u32, Vec<u16>)>,
    /// For each field that names the log's user ([`Shape::user_fields`]), the codes of
    /// its values naming the user asked for; empty without one.
    user_codes: Arc<Vec<(u32, Vec<u16>)>>,
    /// The shortest completion from here, once asked for. Generation asks at every byte
    /// (is the log's budget still enough to close it?), and walking the completion costs
    /// as much as writing it; when the byte written is the completion's first, the rest
    /// of it is the completion after that byte, so it is kept rather than walked again.
    completion: OnceLock<Completion>,
}

/// A shortest completion computed once, shared by the states along it.
#[derive(Debug, Clone)]
struct Completion {
    bytes: Arc<[u8]>,
    /// How many of its bytes have been written since.
    start: usize,
}

impl Completion {
    fn rest(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// The completion after `byte`, when `byte` is this one's first.
    fn after(&self, byte: u8) -> Option<Completion> {
        (self.rest().first() == Some(&byte)).then(|| Completion {
            bytes: self.bytes.clone(),
            start: self.start + 1,
        })
    }
}

/// An array being written when its node lists its arrays: one of them, byte for byte.
#[derive(Debug, Clone)]
struct ListedArray {
    node: u32,
    /// Indices into the node's arrays of those it may still be: fixed at its `[` (the
    /// keys of the objects inside it move the per-key choices on), then narrowed to
    /// those each byte written continues.
    choices: Vec<usize>,
    /// How many of its bytes are written, from its `[`.
    written: usize,
    /// The stack's depth outside it: the array is closed when the stack is back to it.
    depth: usize,
}

/// A string value being written to a pattern.
#[derive(Debug, Clone)]
struct PatternedString {
    node: u32,
    /// Its bytes so far (no longer than the pattern: a short timestamp).
    written: Vec<u8>,
}

enum Stack {
    Keep,
    Push(Container),
    Pop,
}

impl Default for JsonConstraint {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonConstraint {
    /// A recogniser expecting a JSON object.
    pub fn new() -> Self {
        JsonConstraint {
            state: State::Start,
            stack: Vec::new(),
            shape: None,
            key: Vec::new(),
            pending: None,
            string: None,
            listed: None,
            whole_number: None,
            listed_number: None,
            listed_array: None,
            consistent: Arc::new(Consistent::All),
            presence: Arc::new(Vec::new()),
            choices: None,
            user_codes: Arc::new(Vec::new()),
            completion: OnceLock::new(),
        }
    }

    /// Holds listed values to the combinations of training logs whose header had `tag`
    /// ([`operators::text_format::combination_tag`]). Called before the object's first
    /// byte.
    pub fn condition_on(&mut self, tag: &str) {
        if let Some(combinations) = self.combinations() {
            let consistent = combinations.of_tag(tag);
            self.presence = Arc::new(combinations.presence(&consistent));
            self.consistent = Arc::new(consistent);
        }
        self.completion = OnceLock::new();
    }

    /// Holds the fields that name the log's user to the values naming `user`, and the
    /// combinations to those of logs that had them: the user's own. A user no listed
    /// value names changes nothing. Called after [`Self::condition_on`].
    pub fn condition_on_user(&mut self, user: &str) {
        let Some(shape) = self.shape.clone() else {
            return;
        };
        let codes: Vec<(u32, Vec<u16>)> = shape
            .user_fields
            .iter()
            .map(|&node| (node, user_fields::codes_naming(&shape, node, user)))
            .filter(|(_, codes)| !codes.is_empty())
            .collect();
        if let Some(combinations) = shape.combinations.as_ref() {
            let mut consistent = (*self.consistent).clone();
            for (node, codes) in &codes {
                if let Some(column) = combinations.column(*node) {
                    consistent = combinations.narrow_to_codes(&consistent, column, codes);
                }
            }
            self.presence = Arc::new(combinations.presence(&consistent));
            self.consistent = Arc::new(consistent);
        }
        self.user_codes = Arc::new(codes);
        self.completion = OnceLock::new();
    }

    /// The header keys the shape's combinations are keyed by; none without them.
    pub fn combination_keys(&self) -> &str {
        self.combinations()
            .map_or("", |combinations| &combinations.keys)
    }

    /// Whether some training log had `header`'s fields, as the combinations key them.
    pub fn knows_combination(&self, header: &Header) -> bool {
        self.combinations()
            .is_some_and(|combinations| combinations.knows(&combinations.tag_of(header)))
    }

    /// A recogniser expecting a JSON object of `shape`.
    pub fn with_shape(shape: Arc<Shape>) -> Self {
        JsonConstraint {
            shape: Some(shape),
            ..Self::new()
        }
    }

    /// Whether `byte` may come next.
    pub fn allows(&self, byte: u8) -> bool {
        self.transition(byte).is_some() && self.shape_allows(byte)
    }

    /// Feeds `byte`; `false` (and no change) when it is not allowed.
    pub fn push(&mut self, byte: u8) -> bool {
        let Some((state, stack)) = self.transition(byte) else {
            return false;
        };
        if !self.shape_allows(byte) {
            return false;
        }
        let completion = self
            .completion
            .get()
            .and_then(|completion| completion.after(byte));
        self.completion = completion.map(OnceLock::from).unwrap_or_default();
        let slot = self.value_slot();
        match self.state {
            State::Value { .. } if kind_of_first_byte(byte) == kind::NUMBER => {
                self.whole_number = match slot {
                    Slot::Node(node) => self
                        .node(node)
                        .and_then(|node| node.whole_digits.map(|max| max.min(WHOLE_DIGITS))),
                    Slot::Free | Slot::Empty => None,
                };
                self.listed_number = match slot {
                    Slot::Node(node) if self.numbers(node).is_some() => Some((node, vec![byte])),
                    _ => None,
                };
            }
            State::Number(num) if number_transition(num, byte).is_some() => {
                if let Some((_, written)) = &mut self.listed_number {
                    written.push(byte);
                }
            }
            State::Number(_) => {
                if let Some((node, written)) = self.listed_number.take() {
                    self.narrow_to_written(node, &written, number_code);
                }
            }
            State::Str {
                key: false,
                part: StrPart::Plain,
            } if byte == b'"' => {
                if let Some((node, written)) = self.listed.take() {
                    self.narrow_to_written(node, &written, string_code);
                }
            }
            // The first byte decides a boolean or `null`, and what may follow it is
            // judged on the combinations it narrows to.
            State::Value { .. } if matches!(byte, b't' | b'f' | b'n') => {
                if let Slot::Node(node) = slot {
                    let code = match byte {
                        b'n' => NULL,
                        _ => boolean_code(byte == b't'),
                    };
                    self.narrow(node, code);
                }
            }
            State::Value { .. } if byte == b'"' => {
                self.listed = match slot {
                    Slot::Node(node) if self.values(node).is_some() => Some((node, Vec::new())),
                    _ => None,
                };
                self.string = match slot {
                    Slot::Node(_) if self.listed.is_some() => None,
                    Slot::Node(node) if self.pattern(node).is_some() => Some(PatternedString {
                        node,
                        written: Vec::new(),
                    }),
                    _ => None,
                };
            }
            State::Str { key: false, .. } => {
                if let Some((_, written)) = &mut self.listed {
                    written.push(byte);
                }
                if let Some(string) = &mut self.string {
                    string.written.push(byte);
                }
            }
            State::ObjectOpen | State::Key => self.key.clear(),
            State::Str { key: true, .. } if state == State::Colon => {
                self.pending = self.use_key();
                if let Some(node) = self.pending {
                    self.narrow_to_key(node);
                }
                self.choices = self
                    .pending
                    .and_then(|node| Some((node, self.combination_codes(node)?)));
            }
            State::Str { key: true, .. } => self.key.push(byte),
            _ => {}
        }
        let shape = self.shape.as_deref();
        if let Some(array) = &mut self.listed_array {
            let arrays = shape.and_then(|shape| shape.node(array.node));
            let arrays = arrays.map_or(&[][..], |node| node.arrays.as_slice());
            array
                .choices
                .retain(|&index| listed_byte(arrays, index, array.written) == Some(byte));
            array.written += 1;
        } else if let (State::Value { .. }, b'[', Slot::Node(node)) = (self.state, byte, slot)
            && self.arrays(node).is_some()
        {
            self.listed_array = Some(ListedArray {
                node,
                choices: self.array_choices(node).collect(),
                written: 1,
                depth: self.stack.len(),
            });
        }
        // A value begun in an array is one more element of it.
        if matches!(self.state, State::Value { .. })
            && byte != b']'
            && let Some(frame) = self.stack.last_mut()
        {
            frame.items += 1;
        }
        match stack {
            Stack::Keep => {}
            Stack::Push(container) => self.stack.push(Frame {
                container,
                node: match slot {
                    Slot::Node(node) => Some(node),
                    Slot::Free | Slot::Empty => None,
                },
                used: Vec::new(),
                items: 0,
            }),
            Stack::Pop => {
                self.stack.pop();
                if let Some(array) = self
                    .listed_array
                    .take_if(|array| self.stack.len() <= array.depth)
                {
                    // Listed arrays are prefix-free: the one written is the one whose
                    // bytes are all written.
                    let arrays = self.arrays(array.node).unwrap_or_default();
                    let whole = array.choices.iter().find(|&&index| {
                        arrays
                            .get(index)
                            .is_some_and(|text| text.len() == array.written)
                    });
                    let code = self
                        .node(array.node)
                        .zip(whole)
                        .map(|(node, &index)| array_codes(node).start + index as u16);
                    if let Some(code) = code {
                        self.narrow(array.node, code);
                    }
                }
            }
        }
        self.state = if self.stack.is_empty() && state == State::AfterValue {
            State::Done
        } else {
            state
        };
        true
    }

    /// Whether the bytes so far are one complete JSON object.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// The shortest bytes that complete the object from here (empty when complete).
    pub fn completion(&self) -> &[u8] {
        self.completion
            .get_or_init(|| Completion {
                bytes: self.walk_completion().into(),
                start: 0,
            })
            .rest()
    }

    fn walk_completion(&self) -> Vec<u8> {
        let mut finisher = self.clone();
        let mut out = Vec::new();
        while !finisher.is_complete() {
            let byte = finisher.cheapest_next();
            let accepted = finisher.push(byte);
            debug_assert!(
                accepted,
                "completion byte {byte} refused in {:?}",
                finisher.state
            );
            if !accepted {
                // A dead end is a bug; an unfinished completion beats an endless one.
                break;
            }
            out.push(byte);
        }
        out
    }

    fn cheapest_next(&self) -> u8 {
        if let Some(array) = &self.listed_array {
            let arrays = self.arrays(array.node).unwrap_or_default();
            return array
                .choices
                .iter()
                .min_by_key(|&&index| arrays.get(index).map_or(usize::MAX, String::len))
                .and_then(|&index| listed_byte(arrays, index, array.written))
                .unwrap_or(b']');
        }
        match self.state {
            State::Start => b'{',
            State::ObjectOpen if self.must_add_key() => b'"',
            State::ObjectOpen => b'}',
            State::Key => b'"',
            State::Colon => b':',
            State::Value { array_open: true } if self.array_may_close() => b']',
            State::Value { .. } => self.cheapest_value(),
            State::AfterValue | State::Done => self.cheapest_after_value(),
            State::Str { key: true, .. } if self.constrained_object().is_some() => {
                self.cheapest_key_byte()
            }
            State::Str { key: false, .. } if self.listed.is_some() => self.cheapest_listed_byte(),
            State::Number(_) if self.listed_number.is_some() => self.cheapest_number_byte(),
            State::Str { key: false, .. } if self.string.is_some() => self
                .string
                .as_ref()
                .and_then(|string| {
                    self.pattern(string.node)?
                        .first_allowed_after(&string.written)
                })
                .unwrap_or(b'"'),
            State::Str { part, .. } => match part {
                StrPart::Plain => b'"',
                StrPart::Escape => b'n',
                StrPart::Unicode(_) => b'0',
                StrPart::Utf8 { low, .. } => low,
            },
            State::Number(num) if num.complete() => self.cheapest_after_number(),
            State::Number(_) => b'0',
            State::Literal(rest) => rest[0],
        }
    }

    fn top(&self) -> Option<Container> {
        self.stack.last().map(|frame| frame.container)
    }

    fn node(&self, id: u32) -> Option<&ShapeNode> {
        self.shape.as_deref()?.node(id)
    }

    fn pattern(&self, id: u32) -> Option<&Pattern> {
        self.node(id)?.pattern.as_ref()
    }

    /// The arrays node `id` lists, when it lists any.
    fn arrays(&self, id: u32) -> Option<&[String]> {
        let arrays = &self.node(id)?.arrays;
        (!arrays.is_empty()).then_some(arrays.as_slice())
    }

    /// The values node `id` lists, when it lists any.
    fn values(&self, id: u32) -> Option<&[String]> {
        let values = &self.node(id)?.values;
        (!values.is_empty()).then_some(values.as_slice())
    }

    /// Whether `byte` continues the listed string being written into one of its values
    /// (or, as its closing quote, ends it on one).
    fn listed_allows(&self, byte: u8, closing: bool) -> bool {
        let Some((node, written)) = &self.listed else {
            return true;
        };
        continues_any(self.value_choices(*node), written, byte, closing)
    }

    /// The next byte of the shortest listed value that continues what is written.
    fn cheapest_listed_byte(&self) -> u8 {
        let Some((node, written)) = &self.listed else {
            return b'"';
        };
        shortest_continuation(self.value_choices(*node), written).unwrap_or(b'"')
    }

    fn combinations(&self) -> Option<&Combinations> {
        self.shape.as_deref()?.combinations.as_ref()
    }

    /// The codes node `id`'s listed values may take by the combinations still
    /// consistent; `None` when the combinations do not constrain it.
    fn combination_codes(&self, id: u32) -> Option<Vec<u16>> {
        let combinations = self.combinations()?;
        let codes = combinations.codes(&self.consistent, combinations.column(id)?);
        (!codes.is_empty()).then_some(codes)
    }

    /// Whether the value of code `code` at node `id` may be written, `kind` being the
    /// codes of its kind (the node's strings, its numbers, or the booleans): those the
    /// consistent combinations hold, or any where they hold none of that kind.
    fn chosen(&self, id: u32, code: u16, kind: Range<u16>) -> bool {
        match &self.choices {
            Some((node, codes)) if *node == id => {
                codes.binary_search(&code).is_ok() || !codes.iter().any(|c| kind.contains(c))
            }
            _ => true,
        }
    }

    /// The listed values node `id` may take here: those the combinations hold, and,
    /// in a field that names the user, those naming the user asked for (they win where
    /// the two leave nothing in common: the log is that user's).
    fn value_choices(&self, id: u32) -> impl Iterator<Item = &String> {
        let values = self.values(id).unwrap_or_default();
        let kind = self.node(id).map_or(0..0, string_codes);
        let user = self
            .user_codes
            .iter()
            .find(|(node, _)| *node == id)
            .map(|(_, codes)| codes.as_slice());
        let combined =
            user.is_none_or(|user| user.iter().any(|&code| self.chosen(id, code, kind.clone())));
        kind.clone()
            .zip(values)
            .filter(move |&(code, _)| {
                user.is_none_or(|user| user.binary_search(&code).is_ok())
                    && (!combined || self.chosen(id, code, kind.clone()))
            })
            .map(|(_, value)| value)
    }

    /// The listed numbers node `id` may take here.
    fn number_choices(&self, id: u32) -> impl Iterator<Item = &String> {
        let kind = self.node(id).map_or(0..0, number_codes);
        let numbers = self.numbers(id).unwrap_or_default();
        kind.clone()
            .zip(numbers)
            .filter(move |&(code, _)| self.chosen(id, code, kind.clone()))
            .map(|(_, number)| number)
    }

    /// Indices into the arrays node `id` lists of those it may take here.
    fn array_choices(&self, id: u32) -> impl Iterator<Item = usize> {
        let kind = self.node(id).map_or(0..0, array_codes);
        kind.clone()
            .enumerate()
            .filter(move |&(_, code)| self.chosen(id, code, kind.clone()))
            .map(|(index, _)| index)
    }

    /// Whether node `id` may take the boolean `value` here: a pinned one only itself,
    /// and only as the consistent combinations allow.
    fn boolean_chosen(&self, id: u32, value: bool) -> bool {
        let pinned = self
            .node(id)
            .and_then(|node| node.boolean)
            .is_none_or(|only| only == value);
        pinned
            && self.chosen(id, boolean_code(value), TRUE..FALSE + 1)
            && !self.only_null_chosen(id)
    }

    /// Whether node `id` may be `null` here: where the consistent combinations have its
    /// key, one of them had `null` (a call whose logs had parameters has them).
    fn null_chosen(&self, id: u32) -> bool {
        match &self.choices {
            Some((node, codes)) if *node == id => codes.binary_search(&NULL).is_ok(),
            _ => true,
        }
    }

    /// Whether every consistent combination with node `id`'s key had `null` there.
    fn only_null_chosen(&self, id: u32) -> bool {
        matches!(&self.choices, Some((node, codes)) if *node == id && codes.as_slice() == [NULL])
    }

    /// Narrows the consistent combinations to those that had the key just written (of
    /// node `id`).
    fn narrow_to_key(&mut self, id: u32) {
        let Some(shape) = self.shape.clone() else {
            return;
        };
        let Some(combinations) = shape.combinations.as_ref() else {
            return;
        };
        if let Some(column) = combinations.column(id) {
            let consistent = combinations.narrow_to_present(&self.consistent, column);
            self.presence = Arc::new(combinations.presence(&consistent));
            self.consistent = Arc::new(consistent);
        }
    }

    /// Narrows the consistent combinations to those holding the listed value just
    /// written at node `id`.
    fn narrow_to_written(
        &mut self,
        id: u32,
        written: &[u8],
        code_of: fn(&Shape, u32, &str) -> Option<u16>,
    ) {
        let Some(shape) = self.shape.clone() else {
            return;
        };
        let code = std::str::from_utf8(written)
            .ok()
            .and_then(|text| code_of(&shape, id, text));
        if let Some(code) = code {
            self.narrow(id, code);
        }
    }

    /// Narrows the consistent combinations to those holding code `code` at node `id`.
    fn narrow(&mut self, id: u32, code: u16) {
        let Some(shape) = self.shape.clone() else {
            return;
        };
        let Some(combinations) = shape.combinations.as_ref() else {
            return;
        };
        if let Some(column) = combinations.column(id) {
            let consistent = combinations.narrow(&self.consistent, column, code);
            self.presence = Arc::new(combinations.presence(&consistent));
            self.consistent = Arc::new(consistent);
        }
    }

    /// The numbers node `id` lists, when it lists any.
    fn numbers(&self, id: u32) -> Option<&[String]> {
        let numbers = &self.node(id)?.numbers;
        (!numbers.is_empty()).then_some(numbers.as_slice())
    }

    /// Whether `byte` continues the listed number being written into one of its numbers
    /// (or, ending it, ends it on one).
    fn listed_number_allows(&self, byte: u8, ending: bool) -> bool {
        let Some((node, written)) = &self.listed_number else {
            return true;
        };
        continues_any(self.number_choices(*node), written, byte, ending)
    }

    /// The next byte of the shortest listed number that continues what is written, or
    /// the byte after the value once it is one.
    fn cheapest_number_byte(&self) -> u8 {
        let Some((node, written)) = &self.listed_number else {
            return self.cheapest_after_value();
        };
        shortest_continuation(self.number_choices(*node), written)
            .unwrap_or_else(|| self.cheapest_after_number())
    }

    /// The innermost open object, its node and the keys used, when the shape
    /// constrains it.
    fn constrained_object(&self) -> Option<(&ShapeNode, &[usize])> {
        let frame = self.stack.last()?;
        let node = self.node(frame.node?)?;
        (frame.container == Container::Object && !node.open).then_some((node, &frame.used))
    }

    /// Keys of the innermost constrained object that may be written next: not written
    /// yet, less the optional ones no consistent combination had and, where its logs
    /// kept their keys in one order, those out of it.
    fn unused_keys(&self) -> impl Iterator<Item = (usize, &ShapeKey)> {
        let (node, used) = match self.constrained_object() {
            Some((node, used)) => (Some(node), used),
            None => (None, &[][..]),
        };
        let window = node
            .filter(|node| node.ordered)
            .map(|node| self.key_window(node, used));
        node.into_iter()
            .flat_map(|node| node.keys.iter().enumerate())
            .filter(move |(index, _)| !used.contains(index))
            .filter(|(_, key)| key.required || self.presence_of(key.node) != Presence::Never)
            .filter(move |(index, key)| {
                window.is_none_or(|window| window.admits(*index, self.key_required(key)))
            })
    }

    /// Where the next key of an ordered object may come from, `used` being the keys
    /// written in it.
    fn key_window(&self, node: &ShapeNode, used: &[usize]) -> KeyWindow {
        let last = used.iter().max().copied();
        let after_last = |index: usize| last.is_none_or(|last| index > last);
        let next_required = node
            .keys
            .iter()
            .enumerate()
            .find(|(index, key)| {
                after_last(*index) && !used.contains(index) && self.key_required(key)
            })
            .map_or(usize::MAX, |(index, _)| index);
        KeyWindow {
            last,
            next_required,
        }
    }

    /// Whether `key` must be written: every log had it, or every consistent
    /// combination did.
    fn key_required(&self, key: &ShapeKey) -> bool {
        key.required || self.presence_of(key.node) == Presence::Always
    }

    /// How many consistent combinations had the key of node `id`; `Sometimes` where the
    /// combinations say nothing of it.
    fn presence_of(&self, id: u32) -> Presence {
        if self.presence.is_empty() {
            return Presence::Sometimes;
        }
        self.combinations()
            .and_then(|combinations| combinations.column(id))
            .and_then(|column| self.presence.get(column).copied())
            .unwrap_or(Presence::Sometimes)
    }

    /// Another key may follow in the innermost object.
    fn may_add_key(&self) -> bool {
        self.constrained_object().is_none() || self.unused_keys().next().is_some()
    }

    /// The innermost object may close: every required key is written.
    fn may_close(&self) -> bool {
        !self.must_add_key()
    }

    fn must_add_key(&self) -> bool {
        self.unused_keys().any(|(_, key)| self.key_required(key))
    }

    /// The elements begun in the innermost array, and the range its node's arrays had;
    /// `None` outside an array or where the shape does not bound it.
    fn array_items(&self) -> Option<(u32, ItemRange)> {
        let frame = self.stack.last()?;
        if frame.container != Container::Array {
            return None;
        }
        Some((frame.items, self.node(frame.node?)?.items?))
    }

    /// The innermost array has as many elements as the fewest its node's arrays had.
    fn array_may_close(&self) -> bool {
        self.array_items()
            .is_none_or(|(items, range)| items >= range.min)
    }

    /// The innermost array has fewer elements than the most its node's arrays had.
    fn array_may_grow(&self) -> bool {
        self.array_items()
            .is_none_or(|(items, range)| items < range.max)
    }

    /// What the value due next may be.
    fn value_slot(&self) -> Slot {
        let Some(frame) = self.stack.last() else {
            return match self.shape {
                Some(_) => Slot::Node(Shape::ROOT),
                None => Slot::Free,
            };
        };
        let Some(node) = frame.node.and_then(|id| self.node(id)) else {
            return Slot::Free;
        };
        match (frame.container, node.open) {
            (_, true) => Slot::Free,
            (Container::Object, false) => self.pending.map_or(Slot::Free, Slot::Node),
            (Container::Array, false) => node.element.map_or(Slot::Empty, Slot::Node),
        }
    }

    /// Marks the key just written as used; the node of its value.
    fn use_key(&mut self) -> Option<u32> {
        let (index, node) = self
            .unused_keys()
            .find(|(_, key)| key.name.as_bytes() == self.key.as_slice())
            .map(|(index, key)| (index, key.node))?;
        self.stack.last_mut()?.used.push(index);
        Some(node)
    }

    fn shape_allows(&self, byte: u8) -> bool {
        self.listed_array_allows(byte) && self.shape_allows_here(byte)
    }

    /// Whether `byte` keeps the listed array being written on the way to one of its
    /// node's arrays; `true` outside one.
    fn listed_array_allows(&self, byte: u8) -> bool {
        let Some(array) = &self.listed_array else {
            return true;
        };
        let arrays = self.arrays(array.node).unwrap_or_default();
        array
            .choices
            .iter()
            .any(|&index| listed_byte(arrays, index, array.written) == Some(byte))
    }

    /// [`Self::shape_allows`] but for a listed array being written.
    fn shape_allows_here(&self, byte: u8) -> bool {
        if self.shape.is_none() {
            return true;
        }
        match self.state {
            State::ObjectOpen => match byte {
                b'"' => self.may_add_key(),
                b'}' => self.may_close(),
                _ => true,
            },
            State::Key => self.may_add_key(),
            State::Str { key: true, part } => {
                if self.constrained_object().is_none() {
                    return true;
                }
                let closing = byte == b'"' && part == StrPart::Plain;
                self.unused_keys()
                    .any(|(_, key)| continues(key.name.as_bytes(), &self.key, byte, closing))
            }
            State::Value { array_open } => match (self.value_slot(), byte) {
                (_, b']') if array_open => self.array_may_close(),
                (Slot::Free, _) => true,
                (Slot::Empty, _) => false,
                (Slot::Node(id), _) => self.node(id).is_some_and(|node| {
                    node.kinds & kind_of_first_byte(byte) != 0
                        && !(node.whole_digits.is_some() && byte == b'-')
                        && match kind_of_first_byte(byte) {
                            kind::NUMBER => {
                                node.numbers.is_empty()
                                    || self
                                        .number_choices(id)
                                        .any(|number| number.as_bytes()[0] == byte)
                            }
                            kind::BOOL => self.boolean_chosen(id, byte == b't'),
                            kind::NULL => self.null_chosen(id),
                            _ => !self.only_null_chosen(id),
                        }
                }),
            },
            State::Str { key: false, part } if self.listed.is_some() => {
                self.listed_allows(byte, byte == b'"' && part == StrPart::Plain)
            }
            State::Str { key: false, .. } if self.string.is_some() => {
                let Some((string, pattern)) = self
                    .string
                    .as_ref()
                    .and_then(|string| Some((string, self.pattern(string.node)?)))
                else {
                    return true;
                };
                match string.written.len() < pattern.len() {
                    true => pattern.allows_after(&string.written, byte),
                    false => byte == b'"',
                }
            }
            State::AfterValue => self.after_value_allows(byte),
            State::Number(num) if number_transition(num, byte).is_none() => {
                self.listed_number_allows(byte, true) && self.after_number_allows(byte)
            }
            State::Number(num) => {
                let whole = match self.whole_number {
                    None => true,
                    Some(max) => match byte {
                        b'.' | b'e' | b'E' => false,
                        _ => !matches!(num, Num::Int(digits) if digits >= max),
                    },
                };
                whole && self.listed_number_allows(byte, false)
            }
            _ => true,
        }
    }

    /// [`Self::after_value_allows`] for the byte that ends a number: a listed number
    /// narrows the combinations as it ends, so whether another key may or must follow
    /// is judged on the narrowed ones (else `,` could open a key none of them allows).
    fn after_number_allows(&self, byte: u8) -> bool {
        match self.narrowed_by_number() {
            Some(narrowed) => narrowed.after_value_allows(byte),
            None => self.after_value_allows(byte),
        }
    }

    /// [`Self::cheapest_after_value`] for the byte that ends a number, judged as
    /// [`Self::after_number_allows`] judges it.
    fn cheapest_after_number(&self) -> u8 {
        match self.narrowed_by_number() {
            Some(narrowed) => narrowed.cheapest_after_value(),
            None => self.cheapest_after_value(),
        }
    }

    /// This constraint as the listed number being written, ended here, narrows it; `None`
    /// when no listed number narrows the combinations.
    fn narrowed_by_number(&self) -> Option<Self> {
        let (node, written) = self.listed_number.as_ref()?;
        self.combinations()?;
        let mut narrowed = self.clone();
        narrowed.narrow_to_written(*node, written, number_code);
        Some(narrowed)
    }

    fn after_value_allows(&self, byte: u8) -> bool {
        match (self.top(), byte) {
            (Some(Container::Object), b',') => self.may_add_key(),
            (Some(Container::Object), b'}') => self.may_close(),
            (Some(Container::Array), b',') => self.array_may_grow(),
            (Some(Container::Array), b']') => self.array_may_close(),
            _ => true,
        }
    }

    fn cheapest_after_value(&self) -> u8 {
        match self.top() {
            Some(Container::Array) if self.array_may_close() => b']',
            Some(Container::Array) => b',',
            _ if self.must_add_key() => b',',
            _ => b'}',
        }
    }

    /// The first byte of the shortest value the slot takes.
    fn cheapest_value(&self) -> u8 {
        let (kinds, first_digit, boolean) = match self.value_slot() {
            Slot::Free => return b'0',
            Slot::Empty => return b']',
            Slot::Node(id) => self.node(id).map_or((0, b'0', b't'), |node| {
                let shortest = self.number_choices(id).min_by_key(|number| number.len());
                (
                    node.kinds,
                    shortest.map_or(b'0', |number| number.as_bytes()[0]),
                    if self.boolean_chosen(id, true) {
                        b't'
                    } else {
                        b'f'
                    },
                )
            }),
        };
        let candidates = [
            (kind::NUMBER, first_digit),
            (kind::STRING, b'"'),
            (kind::ARRAY, b'['),
            (kind::OBJECT, b'{'),
            (kind::NULL, b'n'),
            (kind::BOOL, boolean),
        ];
        let of_kind = candidates
            .into_iter()
            .filter(|&(bit, _)| kinds & bit != 0)
            .map(|(_, byte)| byte);
        // The combinations may rule out a kind (`null` where the call has parameters).
        of_kind
            .clone()
            .find(|&byte| self.shape_allows(byte))
            .or_else(|| of_kind.clone().next())
            .unwrap_or(b'0')
    }

    /// The next byte of the key the completion writes: a required key before an
    /// optional one, the shortest first.
    fn cheapest_key_byte(&self) -> u8 {
        let target = self
            .unused_keys()
            .map(|(_, key)| key)
            .filter(|key| key.name.as_bytes().starts_with(&self.key))
            .min_by_key(|key| (!self.key_required(key), key.name.len()));
        match target {
            Some(key) if key.name.len() > self.key.len() => key.name.as_bytes()[self.key.len()],
            _ => b'"',
        }
    }

    fn transition(&self, byte: u8) -> Option<(State, Stack)> {
        use State::*;
        let keep = |state| Some((state, Stack::Keep));
        match self.state {
            Start => (byte == b'{').then_some((ObjectOpen, Stack::Push(Container::Object))),
            ObjectOpen => match byte {
                b'"' => keep(Str {
                    key: true,
                    part: StrPart::Plain,
                }),
                b'}' => Some((AfterValue, Stack::Pop)),
                _ => None,
            },
            Key => (byte == b'"').then_some((
                Str {
                    key: true,
                    part: StrPart::Plain,
                },
                Stack::Keep,
            )),
            Colon => (byte == b':').then_some((Value { array_open: false }, Stack::Keep)),
            Value { array_open } => match byte {
                b']' if array_open => Some((AfterValue, Stack::Pop)),
                b'{' => Some((ObjectOpen, Stack::Push(Container::Object))),
                b'[' => Some((Value { array_open: true }, Stack::Push(Container::Array))),
                b'"' => keep(Str {
                    key: false,
                    part: StrPart::Plain,
                }),
                b'-' => keep(Number(Num::Minus)),
                b'0' => keep(Number(Num::Zero)),
                b'1'..=b'9' => keep(Number(Num::Int(1))),
                b't' => keep(Literal(b"rue")),
                b'f' => keep(Literal(b"alse")),
                b'n' => keep(Literal(b"ull")),
                _ => None,
            },
            AfterValue => after_value(self.top(), byte),
            Str { key, part } => {
                string_transition(key, part, byte).map(|state| (state, Stack::Keep))
            }
            Number(num) => match number_transition(num, byte) {
                Some(next) => keep(Number(next)),
                // A complete number ends at the first byte that cannot extend it.
                None if num.complete() => after_value(self.top(), byte),
                None => None,
            },
            Literal(rest) => match rest {
                [expected] if *expected == byte => keep(AfterValue),
                [expected, tail @ ..] if *expected == byte => keep(Literal(tail)),
                _ => None,
            },
            Done => None,
        }
    }
}

/// The kind of value a first byte starts.
fn kind_of_first_byte(byte: u8) -> u8 {
    match byte {
        b'"' => kind::STRING,
        b'-' | b'0'..=b'9' => kind::NUMBER,
        b't' | b'f' => kind::BOOL,
        b'n' => kind::NULL,
        b'{' => kind::OBJECT,
        b'[' => kind::ARRAY,
        _ => 0,
    }
}

fn after_value(top: Option<Container>, byte: u8) -> Option<(State, Stack)> {
    match (byte, top?) {
        (b',', Container::Object) => Some((State::Key, Stack::Keep)),
        (b',', Container::Array) => Some((State::Value { array_open: false }, Stack::Keep)),
        (b'}', Container::Object) | (b']', Container::Array) => {
            Some((State::AfterValue, Stack::Pop))
        }
        _ => None,
    }
}

fn string_transition(key: bool, part: StrPart, byte: u8) -> Option<State> {
    let next = |part| Some(State::Str { key, part });
    let utf8 = |due, low, high| next(StrPart::Utf8 { due, low, high });
    match part {
        StrPart::Plain => match byte {
            b'"' if key => Some(State::Colon),
            b'"' => Some(State::AfterValue),
            b'\\' => next(StrPart::Escape),
            0x00..=0x1F => None,
            0x20..=0x7F => next(StrPart::Plain),
            // UTF-8 lead bytes, with the range of the byte after each (RFC 3629 table:
            // no overlongs, no surrogates, nothing past U+10FFFF).
            0xC2..=0xDF => utf8(1, 0x80, 0xBF),
            0xE0 => utf8(2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => utf8(2, 0x80, 0xBF),
            0xED => utf8(2, 0x80, 0x9F),
            0xF0 => utf8(3, 0x90, 0xBF),
            0xF1..=0xF3 => utf8(3, 0x80, 0xBF),
            0xF4 => utf8(3, 0x80, 0x8F),
            _ => None,
        },
        StrPart::Escape => match byte {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => next(StrPart::Plain),
            b'u' => next(StrPart::Unicode(4)),
            _ => None,
        },
        StrPart::Unicode(due) => {
            // The first hex digit may not be `d`: that keeps every escape out of the
            // surrogate range, which a lone escape cannot use.
            let ok = byte.is_ascii_hexdigit() && !(due == 4 && byte.eq_ignore_ascii_case(&b'd'));
            match (ok, due) {
                (false, _) => None,
                (true, 1) => next(StrPart::Plain),
                (true, _) => next(StrPart::Unicode(due - 1)),
            }
        }
        StrPart::Utf8 { due, low, high } => match (byte >= low && byte <= high, due) {
            (false, _) => None,
            (true, 1) => next(StrPart::Plain),
            (true, _) => next(StrPart::Utf8 {
                due: due - 1,
                low: 0x80,
                high: 0xBF,
            }),
        },
    }
}

/// Digits a whole number may have: every 19-digit number fits a `u64`, not every
/// 20-digit one, and past it serde_json reads a float.
const WHOLE_DIGITS: u8 = 19;

fn number_transition(num: Num, byte: u8) -> Option<Num> {
    match (num, byte) {
        (Num::Minus, b'0') => Some(Num::Zero),
        (Num::Minus, b'1'..=b'9') => Some(Num::Int(1)),
        (Num::Zero | Num::Int(_), b'.') => Some(Num::Dot),
        (Num::Zero | Num::Int(_) | Num::Frac(_), b'e' | b'E') => Some(Num::Exp),
        (Num::Int(n), b'0'..=b'9') if n < MAX_MANTISSA_DIGITS => Some(Num::Int(n + 1)),
        (Num::Dot, b'0'..=b'9') => Some(Num::Frac(1)),
        (Num::Frac(n), b'0'..=b'9') if n < MAX_MANTISSA_DIGITS => Some(Num::Frac(n + 1)),
        (Num::Exp, b'+' | b'-') => Some(Num::ExpSign),
        (Num::Exp | Num::ExpSign, b'0'..=b'9') => Some(Num::ExpDigits(1)),
        (Num::ExpDigits(n), b'0'..=b'9') if n < MAX_EXPONENT_DIGITS => Some(Num::ExpDigits(n + 1)),
        _ => None,
    }
}

/// The next byte of the shortest of `listed` that starts with `written` and goes on;
/// `None` when the shortest is `written` itself (or none starts with it).
fn shortest_continuation<'a>(
    listed: impl IntoIterator<Item = &'a String>,
    written: &[u8],
) -> Option<u8> {
    let target = listed
        .into_iter()
        .map(String::as_bytes)
        .filter(|text| text.starts_with(written))
        .min_by_key(|text| text.len())?;
    target.get(written.len()).copied()
}

/// Byte `at` of listed array `index` of `arrays`, when it has one.
fn listed_byte(arrays: &[String], index: usize, at: usize) -> Option<u8> {
    arrays.get(index)?.as_bytes().get(at).copied()
}

/// Whether `byte` after `written` stays on the way to one of `listed` ([`continues`]).
fn continues_any<'a>(
    listed: impl IntoIterator<Item = &'a String>,
    written: &[u8],
    byte: u8,
    ending: bool,
) -> bool {
    listed
        .into_iter()
        .any(|text| continues(text.as_bytes(), written, byte, ending))
}

/// Whether `byte` after `written` stays on the way to `text` (a key name or a listed
/// value, as escaped JSON), or, as the closing quote, ends exactly on it.
fn continues(text: &[u8], written: &[u8], byte: u8, closing: bool) -> bool {
    match closing {
        true => text == written,
        false => {
            text.len() > written.len() && text.starts_with(written) && text[written.len()] == byte
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn accepts(text: &[u8]) -> bool {
        let mut constraint = JsonConstraint::new();
        text.iter().all(|&b| constraint.push(b)) && constraint.is_complete()
    }

    #[test]
    fn accepts_compact_json_objects_and_refuses_the_rest() {
        for ok in [
            &br#"{}"#[..],
            r#"{"a":[],"b":[1,-2.5e+3,0],"c":{"d":null,"e":true,"f":false},"g":"\u00e9\n\"","h":"Zürich 東京"}"#.as_bytes(),
            br#"{"a":[[],{}]}"#,
        ] {
            assert!(accepts(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &br#"[]"#[..],
            br#"{"a":01}"#,
            br#"{"a":1E310}"#,
            br#"{"a":1.}"#,
            br#"{"a":tru}"#,
            br#"{a:1}"#,
            br#"{"a":1,}"#,
            br#"{"a" :1}"#,
            br#"{"a":"\ud800"}"#,
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\xED\xA0\x80\"}",
            br#"{"a":1}}"#,
        ] {
            assert!(!accepts(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    fn sample_shape() -> Arc<Shape> {
        use serde_json::json;
        Arc::new(unordered(Shape::fit(&[
            json!({"eventName": "A", "user": {"type": "IAM", "name": "bob"}, "tags": [{"k": 1}], "n": null, "e": []}),
            json!({"eventName": "B", "user": {"type": "Role"}, "tags": [], "n": "x", "e": [], "opt": true}),
        ])))
    }

    /// `shape` with its keys free to come in any order: for tests that write them out of
    /// the order of their logs (what a shape whose logs disagreed on one allows).
    fn unordered(mut shape: Shape) -> Shape {
        for node in &mut shape.nodes {
            node.ordered = false;
        }
        shape
    }

    fn fed(shape: &Arc<Shape>, text: &str) -> JsonConstraint {
        fed_from(JsonConstraint::with_shape(shape.clone()), text)
    }

    fn fed_from(mut constraint: JsonConstraint, text: &str) -> JsonConstraint {
        for &byte in text.as_bytes() {
            assert!(
                constraint.push(byte),
                "{} refused after {text}",
                byte as char
            );
        }
        constraint
    }

    /// The bytes allowed after `text`, in byte order.
    fn allowed_after(shape: &Arc<Shape>, text: &str) -> String {
        allowed_after_feeding(JsonConstraint::with_shape(shape.clone()), text)
    }

    /// The bytes `constraint` allows once fed `text`, in byte order.
    fn allowed_after_feeding(constraint: JsonConstraint, text: &str) -> String {
        let constraint = fed_from(constraint, text);
        (0..=255u8)
            .filter(|&b| constraint.allows(b))
            .map(char::from)
            .collect()
    }

    #[test]
    fn a_shape_refuses_unknown_keys_wrong_kinds_and_early_closing() {
        let shape = sample_shape();
        let allowed = |text: &str| allowed_after(&shape, text);
        assert_eq!(allowed("{\""), "enotu", "first bytes of the keys");
        assert_eq!(allowed("{\"eventName\":"), "\"", "a string");
        assert_eq!(allowed("{\"e\":["), "]", "an array that was always empty");
        assert_eq!(allowed("{\"n\":"), "\"n", "a string or null");
        assert_eq!(allowed("{\"n\":null"), ",", "required keys are missing");
        assert_eq!(
            allowed("{\"n\":null,\""),
            "etu",
            "n is written already, and opt never came with null"
        );
        assert_eq!(
            allowed("{\"user\":{\"type\":\"Role\""),
            "}",
            "name is optional, but never came with Role"
        );
        assert_eq!(
            allowed("{\"user\":{\"type\":\"IAM\""),
            ",",
            "and always with IAM"
        );
        assert_eq!(allowed("{\"user\":{\"type\":\""), "IR", "a listed value");
        assert_eq!(
            allowed("{\"user\":{\"type\":\"Ro"),
            "l",
            "only Role goes on"
        );
        assert_eq!(allowed("{\"eventName\":\"A"), "\"", "A is a whole value");
        assert!(!fed(&shape, "{\"user\":{").allows(b'}'));
    }

    #[test]
    fn a_pinned_boolean_is_the_only_one_written() {
        use operators::text_format::{FieldPin, ValuePattern};
        use serde_json::json;
        let shape = Shape::fit(&[
            json!({"ok": true, "k": "a"}),
            json!({"ok": false, "k": "b"}),
        ]);
        let allowed = |shape: &Shape, text: &str| allowed_after(&Arc::new(shape.clone()), text);
        assert_eq!(allowed(&shape, "{\"ok\":"), "ft");
        let compliant = FieldPin {
            field: "ok".into(),
            patterns: vec![ValuePattern("false".into())],
            all: false,
            negated: false,
        };
        let pinned = shape.pinned(&[compliant]).unwrap();
        assert_eq!(allowed(&pinned, "{\"ok\":"), "f");
        assert_eq!(
            allowed(&pinned, "{\"ok\":false,\"k\":\""),
            "b",
            "false came with b"
        );
        let completion = JsonConstraint::with_shape(Arc::new(pinned))
            .completion()
            .to_vec();
        assert_eq!(completion, br#"{"ok":false,"k":"b"}"#);
    }

    #[test]
    fn the_shortest_completion_writes_every_required_key_with_an_allowed_kind() {
        let shape = sample_shape();
        let completion = JsonConstraint::with_shape(shape.clone())
            .completion()
            .to_vec();
        let text = String::from_utf8(completion).unwrap();
        assert_eq!(
            text, r#"{"n":"x","e":[],"opt":true,"user":{"type":"Role"},"tags":[],"eventName":"B"}"#,
            "n:x came with opt, type Role and event B only"
        );
        assert!(shape.admits(&serde_json::from_str(&text).unwrap()));
        let mut partial = b"{\"tags\":[{\"k\":3".to_vec();
        partial.extend(fed(&shape, "{\"tags\":[{\"k\":3").completion());
        let value: serde_json::Value = serde_json::from_slice(&partial).unwrap();
        assert!(shape.admits(&value), "{value}");
    }

    #[test]
    fn a_listed_value_comes_with_the_values_before_it_in_its_techniques_logs() {
        use serde_json::json;
        let logs = [
            (json!({"src": "s3", "name": "GetObject", "code": 0}), ""),
            (json!({"src": "s3", "name": "PutObject", "code": 0}), ""),
            (json!({"src": "iam", "name": "ListUsers", "code": 0}), ""),
            (json!({"src": "iam", "name": "ListRoles", "code": 403}), ""),
            (json!({"src": "iam", "name": "ListRoles", "code": 403}), ""),
            (
                json!({"src": "cloudtrail", "name": "StopLogging", "code": 0}),
                "t=T1562.008",
            ),
        ];
        let shape = Arc::new(Shape::fit_tagged(
            "t",
            logs.iter().map(|(log, tag)| (log, *tag)),
        ));
        let allowed = |tag: &str, text: &str| {
            let mut constraint = JsonConstraint::with_shape(shape.clone());
            constraint.condition_on(tag);
            allowed_after_feeding(constraint, text)
        };
        assert_eq!(allowed("", r#"{"src":""#), "is", "benign logs' sources");
        assert_eq!(allowed("", r#"{"src":"s3","name":""#), "GP");
        assert_eq!(allowed("", r#"{"src":"iam","name":"List"#), "RU");
        assert_eq!(
            allowed("", r#"{"src":"iam","name":"ListRoles","code":"#),
            "4",
            "a listed number narrows too"
        );
        assert_eq!(allowed("t=T1562.008", r#"{"src":""#), "c");
        assert_eq!(
            allowed("t=T1562.008", r#"{"src":"cloudtrail","name":""#),
            "S"
        );
        assert_eq!(
            allowed("t=T0000", r#"{"src":""#),
            "cis",
            "an unknown technique"
        );
        let mut constraint = JsonConstraint::with_shape(shape.clone());
        constraint.condition_on("t=T1562.008");
        let completion = String::from_utf8(constraint.completion().to_vec()).unwrap();
        assert_eq!(
            completion,
            r#"{"src":"cloudtrail","name":"StopLogging","code":0}"#
        );
    }

    #[test]
    fn a_listed_number_that_ends_on_a_comma_leaves_a_key_to_write() {
        use serde_json::json;
        let logs = [
            json!({"code": 0}),
            json!({"code": 0}),
            json!({"code": 1, "err": "x"}),
            json!({"code": 1, "err": "x"}),
        ];
        let shape = Arc::new(Shape::fit(&logs));
        assert_eq!(
            allowed_after(&shape, r#"{"code":0"#),
            "}",
            "no log of code 0 had err"
        );
        assert_eq!(
            allowed_after(&shape, r#"{"code":1"#),
            ",",
            "every log of code 1 had err"
        );
        let completion = fed(&shape, r#"{"code":0"#).completion().to_vec();
        assert_eq!(completion, b"}");
    }

    #[test]
    fn a_boolean_comes_with_the_values_before_it_and_narrows_what_follows() {
        use serde_json::json;
        let logs = [
            json!({"category": "SignInLogs", "interactive": true, "mfa": "Phone"}),
            json!({"category": "NonInteractive", "interactive": false}),
            json!({"category": "NonInteractive", "interactive": false}),
        ];
        let shape = Arc::new(unordered(Shape::fit(&logs)));
        assert_eq!(
            allowed_after(&shape, r#"{"category":"SignInLogs","interactive":"#),
            "t"
        );
        assert_eq!(
            allowed_after(&shape, r#"{"category":"NonInteractive","interactive":"#),
            "f"
        );
        assert_eq!(allowed_after(&shape, r#"{"interactive":true"#), ",");
        assert_eq!(allowed_after(&shape, r#"{"interactive":false,""#), "c");
        assert_eq!(
            allowed_after(&shape, r#"{"interactive":false,"category":""#),
            "N"
        );
        let completion = fed(&shape, r#"{"category":"SignInLogs","#)
            .completion()
            .to_vec();
        assert_eq!(
            String::from_utf8(completion).unwrap(),
            r#""mfa":"Phone","interactive":true}"#
        );
    }

    #[test]
    fn a_users_log_names_that_user_and_follows_their_combinations() {
        use serde_json::json;
        let apps = [
            ("anna@x.com", "Teams"),
            ("bob@x.com", "Outlook"),
            ("carol@x.com", "Teams"),
        ];
        let logs: Vec<(serde_json::Value, &str)> = (0..30)
            .map(|i| {
                let (user, app) = apps[i % 3];
                (json!({"app": app, "upn": user}), user)
            })
            .collect();
        let mut shape = unordered(Shape::fit(logs.iter().map(|(log, _)| log)));
        shape.user_fields = user_fields::fit(&shape, logs.iter().map(|(log, user)| (log, *user)));
        let shape = Arc::new(shape);
        let allowed = |user: &str, text: &str| {
            let mut constraint = JsonConstraint::with_shape(shape.clone());
            constraint.condition_on("");
            constraint.condition_on_user(user);
            allowed_after_feeding(constraint, text)
        };
        assert_eq!(allowed("bob@x.com", r#"{"upn":""#), "b");
        assert_eq!(allowed("bob@x.com", r#"{"app":""#), "O", "bob's own apps");
        assert_eq!(
            allowed("anna@x.com", r#"{"app":"Teams","upn":""#),
            "a",
            "not carol, who also used Teams"
        );
        assert_eq!(
            allowed("dave@x.com", r#"{"upn":""#),
            "abc",
            "a user no value names keeps every value"
        );
    }

    #[test]
    fn keys_keep_to_the_order_every_log_had() {
        use serde_json::json;
        let logs = [
            json!({"a": "1", "b": "x", "c": "y"}),
            json!({"a": "1", "c": "y"}),
        ];
        let shape = Arc::new(Shape::fit(&logs));
        assert_eq!(
            allowed_after(&shape, r#"{""#),
            "a",
            "a is required and first"
        );
        assert_eq!(allowed_after(&shape, r#"{"a":"1",""#), "bc");
        assert_eq!(
            allowed_after(&shape, r#"{"a":"1","c":"y""#),
            "}",
            "b never came after c"
        );
        let completion = fed(&shape, "{").completion().to_vec();
        assert_eq!(
            String::from_utf8(completion).unwrap(),
            r#""a":"1","c":"y"}"#
        );
    }

    #[test]
    fn a_listed_array_of_objects_keeps_to_the_values_before_it() {
        use serde_json::json;
        let policies = |first: &str| {
            json!([
                {"id": "x", "grant": ["Mfa"], "result": first},
                {"id": "y", "grant": ["Block"], "result": "notApplied"},
            ])
        };
        let logs: Vec<serde_json::Value> = [
            json!({"req": "mfa", "p": policies("success"), "s": "success"}),
            json!({"req": "single", "p": policies("notApplied"), "s": "notApplied"}),
        ]
        .into_iter()
        .flat_map(|log| [log.clone(), log])
        .collect();
        let shape = Arc::new(Shape::fit(&logs));
        // The keys inside the list must not lose what `req` chose.
        assert_eq!(
            allowed_after(
                &shape,
                r#"{"req":"mfa","p":[{"id":"x","grant":["Mfa"],"result":""#
            ),
            "s"
        );
        let text = r#"{"req":"single","p":[{"id":"x","grant":["Mfa"],"result":"notApplied"},{"id":"y","grant":["Block"],"result":"notApplied"}],"s":""#;
        assert_eq!(allowed_after(&shape, text), "n");
    }

    #[test]
    fn a_listed_array_is_one_of_the_arrays_seen_and_comes_with_its_values() {
        use serde_json::json;
        let logs: Vec<serde_json::Value> = [
            json!({"p": [{"id": "a", "r": "on"}], "s": "on"}),
            json!({"p": [{"id": "a", "r": "off"}], "s": "off"}),
            json!({"p": [{"id": "b", "r": "on"}, {"id": "a", "r": "on"}], "s": "on"}),
        ]
        .into_iter()
        .flat_map(|log| [log.clone(), log])
        .collect();
        let shape = Arc::new(Shape::fit(&logs));
        assert_eq!(allowed_after(&shape, r#"{"p":[{"id":""#), "ab");
        assert_eq!(allowed_after(&shape, r#"{"p":[{"id":"a","r":"o"#), "fn");
        assert_eq!(
            allowed_after(&shape, r#"{"p":[{"id":"a","r":"on"}"#),
            "]",
            "no list went on after a"
        );
        assert_eq!(
            allowed_after(&shape, r#"{"p":[{"id":"a","r":"off"}],"s":"o"#),
            "f",
            "the status the list came with"
        );
        let completion = fed(&shape, r#"{"p":"#).completion().to_vec();
        assert_eq!(
            String::from_utf8(completion).unwrap(),
            r#"[{"id":"a","r":"on"}],"s":"on"}"#
        );
        assert!(!shape.admits(&json!({"p": [{"id": "b", "r": "off"}], "s": "off"})));
    }

    #[test]
    fn an_array_keeps_to_the_fewest_and_most_elements_seen() {
        use serde_json::json;
        let logs = [
            json!({"p": [{"id": "a"}]}),
            json!({"p": [{"id": "b"}, {"id": "a"}], "q": [[1, 2], []]}),
        ];
        let shape = Arc::new(Shape::fit(&logs));
        assert_eq!(
            allowed_after(&shape, r#"{"p":["#),
            "{",
            "never empty in training"
        );
        assert_eq!(allowed_after(&shape, r#"{"p":[{"id":"a"}"#), ",]");
        assert_eq!(
            allowed_after(&shape, r#"{"p":[{"id":"a"},{"id":"b"}"#),
            "]",
            "two at most"
        );
        // The inner arrays share one node: none had more than two numbers.
        assert_eq!(allowed_after(&shape, r#"{"p":[{"id":"a"}],"q":[[1,2"#), "]");
        assert_eq!(
            allowed_after(&shape, r#"{"p":[{"id":"a"}],"q":[[],[1"#),
            ",]"
        );
        assert_eq!(
            allowed_after(&shape, r#"{"p":[{"id":"a"}],"q":[[],[]"#),
            "]",
            "two at most"
        );
        let completion = fed(&shape, r#"{"p":"#).completion().to_vec();
        assert_eq!(String::from_utf8(completion).unwrap(), r#"[{"id":"a"}]}"#);
    }

    #[test]
    fn an_optional_key_no_consistent_combination_had_is_not_written() {
        use serde_json::json;
        let logs = [
            json!({"name": "GetObject", "error": "AccessDenied"}),
            json!({"name": "ListBuckets"}),
        ];
        let shape = Arc::new(Shape::fit(&logs));
        let mut constraint = JsonConstraint::with_shape(shape.clone());
        constraint.condition_on("");
        for &byte in br#"{"name":"ListBuckets""# {
            assert!(constraint.push(byte));
        }
        assert!(
            !constraint.allows(b','),
            "error never came with ListBuckets"
        );
        assert_eq!(
            allowed_after(&shape, r#"{"name":"GetObject""#),
            ",",
            "nor without it GetObject"
        );
    }

    #[test]
    fn a_field_the_consistent_combinations_never_listed_takes_its_whole_list() {
        use serde_json::json;
        let logs = [
            json!({"a": "x", "b": {"k": 1}}),
            json!({"a": "y", "b": "p"}),
            json!({"a": "y", "b": "q"}),
            json!({"a": "z", "b": null}),
        ];
        let shape = Arc::new(Shape::fit(&logs));
        assert_eq!(
            allowed_after(&shape, r#"{"a":"x","b":"#),
            "\"{",
            "no null with x"
        );
        assert_eq!(
            allowed_after(&shape, r#"{"a":"z","b":"#),
            "n",
            "only null with z"
        );
        assert_eq!(allowed_after(&shape, r#"{"a":"x","b":""#), "pq");
        assert_eq!(allowed_after(&shape, r#"{"a":"x","b":"p"}"#), "");
    }

    #[test]
    fn a_field_of_listed_numbers_takes_only_those_numbers() {
        let logs: Vec<serde_json::Value> = (0..12)
            .map(|i| serde_json::json!({"code": ([0, 50126, 50074, 500][i % 4]), "lat": -33.87}))
            .collect();
        let shape = Arc::new(Shape::fit(&logs));
        let allowed = |text: &str| allowed_after(&shape, text);
        assert_eq!(
            allowed("{\"code\":"),
            "05",
            "the first digits of listed codes"
        );
        assert_eq!(allowed("{\"code\":50"), "01", "5007…, 5012… or 500");
        assert_eq!(
            allowed("{\"code\":500"),
            ",7",
            "500 is whole, 5007… goes on"
        );
        assert_eq!(allowed("{\"code\":5012"), "6");
        assert_eq!(allowed("{\"code\":0,\"lat\":"), "-");
        assert_eq!(allowed("{\"code\":0,\"lat\":-33.8"), "7");
        assert_eq!(allowed("{\"code\":0,\"lat\":-33.87"), "}");
        let text = String::from_utf8(
            JsonConstraint::with_shape(shape.clone())
                .completion()
                .to_vec(),
        )
        .unwrap();
        assert_eq!(text, r#"{"code":0,"lat":-33.87}"#, "the logs' key order");
        let mut partial = b"{\"code\":50".to_vec();
        partial.extend(fed(&shape, "{\"code\":50").completion());
        let value: serde_json::Value = serde_json::from_slice(&partial).unwrap();
        assert!(shape.admits(&value), "{value}");
    }

    #[test]
    fn a_field_of_whole_numbers_takes_digits_only() {
        let logs = [
            serde_json::json!({"creationDate": 1_795_401_143_000_u64, "x": -1.5}),
            serde_json::json!({"creationDate": 7, "x": 2}),
        ];
        let shape = Arc::new(Shape::fit(&logs));
        let allowed = |text: &str| allowed_after(&shape, text);
        assert_eq!(allowed("{\"creationDate\":"), "0123456789", "no sign");
        assert_eq!(
            allowed("{\"creationDate\":17"),
            ",0123456789",
            "no fraction or exponent"
        );
        assert!(allowed("{\"creationDate\":1,\"x\":").contains('-'));
        assert!(allowed("{\"creationDate\":1,\"x\":1").contains('.'));
        assert!(shape.admits(&serde_json::json!({"creationDate": 3, "x": 0.5})));
        assert!(!shape.admits(&serde_json::json!({"creationDate": 3.5, "x": 0})));
        assert!(!shape.admits(&serde_json::json!({"creationDate": -3, "x": 0})));
        assert!(
            !shape.admits(&serde_json::json!({"creationDate": 51_366_503_650_300_000_u64, "x": 0}))
        );
    }

    /// Twenty logs whose time always has one format.
    fn pattern_shape() -> Arc<Shape> {
        let logs: Vec<serde_json::Value> = (0..20)
            .map(|i| serde_json::json!({"t": format!("2024-07-1{}T0{}Z", i % 3, i % 10), "v": [i]}))
            .collect();
        Arc::new(Shape::fit(&logs))
    }

    #[test]
    fn a_patterned_string_takes_only_the_characters_seen_at_each_position() {
        let shape = pattern_shape();
        let allowed = |text: &str| allowed_after(&shape, text);
        assert_eq!(allowed("{\"t\":\""), "2");
        assert_eq!(allowed("{\"t\":\"2024-07-"), "1");
        assert_eq!(allowed("{\"t\":\"2024-07-1"), "012");
        assert_eq!(allowed("{\"t\":\"2024-07-12T05Z"), "\"");
        let text = String::from_utf8(
            JsonConstraint::with_shape(shape.clone())
                .completion()
                .to_vec(),
        )
        .unwrap();
        assert_eq!(
            text, r#"{"t":"2024-07-10T00Z","v":[0]}"#,
            "v was never empty"
        );
    }

    /// Takes the allowed byte each choice picks (modulo the allowed count), then the
    /// completion; fails if a step allows nothing or refuses what it allowed.
    fn walk_then_complete(
        mut constraint: JsonConstraint,
        choices: &[u8],
    ) -> Result<Vec<u8>, TestCaseError> {
        let mut out = Vec::new();
        for &choice in choices {
            if constraint.is_complete() {
                break;
            }
            let allowed: Vec<u8> = (0..=255u8).filter(|&b| constraint.allows(b)).collect();
            prop_assert!(!allowed.is_empty());
            let byte = allowed[usize::from(choice) % allowed.len()];
            prop_assert!(constraint.push(byte));
            out.push(byte);
        }
        out.extend(constraint.completion());
        Ok(out)
    }

    /// Logs whose listed values and booleans depend on each other and on the technique,
    /// with an optional key only some combinations have, a listed number before it, an
    /// optional object whose own boolean and listed value go together, and a field that
    /// is an object for some calls and `null` for others.
    fn combination_logs() -> Vec<(serde_json::Value, &'static str)> {
        use serde_json::json;
        let calls = [
            ("s3", "GetObject", 200, true, Some((true, "joined")), ""),
            ("s3", "PutObject", 403, false, None, ""),
            (
                "iam",
                "ListUsers",
                200,
                true,
                Some((false, "registered")),
                "",
            ),
            (
                "iam",
                "CreateUser",
                403,
                false,
                Some((true, "joined")),
                "t=T1136",
            ),
            ("cloudtrail", "StopLogging", 200, true, None, "t=T1562"),
        ];
        calls
            .iter()
            .flat_map(|&(src, name, code, interactive, device, tag)| {
                let mut log = json!({"src": src, "name": name, "code": code, "interactive": interactive, "ctx": {"region": "eu"}, "tags": ["a"]});
                if code == 403 {
                    log["err"] = json!("AccessDenied");
                }
                if let Some((managed, trust)) = device {
                    log["device"] = json!({"managed": managed, "trust": trust});
                }
                log["params"] = match code {
                    200 => json!({"bucket": src}),
                    _ => serde_json::Value::Null,
                };
                [(log.clone(), tag), (log, tag)]
            })
            .collect()
    }

    proptest! {
        /// Any allowed walk under a tag's combinations completes to a log of the shape
        /// whose listed values came together in a training log of that tag.
        #[test]
        fn any_allowed_walk_keeps_to_a_combination_of_its_tag(tag_choice in 0usize..4, choices in proptest::collection::vec(any::<u8>(), 0..300)) {
            let logs = combination_logs();
            let shape = Arc::new(Shape::fit_tagged("t", logs.iter().map(|(log, tag)| (log, *tag))));
            let tag = ["", "t=T1136", "t=T1562", "t=T9999"][tag_choice];
            let mut constraint = JsonConstraint::with_shape(shape.clone());
            constraint.condition_on(tag);
            let out = walk_then_complete(constraint, &choices)?;
            let parsed: serde_json::Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&out))))?;
            prop_assert!(shape.admits(&parsed), "{}", String::from_utf8_lossy(&out));
            let key = |log: &serde_json::Value| {
                let fields = ["src", "name", "code", "interactive", "err", "device", "params"];
                fields.map(|field| log.get(field).cloned())
            };
            let seen = logs.iter().any(|(log, logged)| (*logged == tag || tag == "t=T9999") && key(log) == key(&parsed));
            prop_assert!(seen, "{tag}: {}", String::from_utf8_lossy(&out));
        }

        /// Under a shape pinned to some fields (as `generate --rule-guided` pins one to a
        /// rule's selection), any allowed walk completes to a log of the pinned shape
        /// whose fields hold their pins: a listed value, a value no log had, a negated
        /// one, an optional key, a nested one, a number, a wildcard.
        #[test]
        fn any_allowed_walk_under_pins_holds_them(pick in 1u8..128, tag_choice in 0usize..3, choices in proptest::collection::vec(any::<u8>(), 0..300)) {
            use operators::text_format::{FieldPin, ValuePattern};
            let logs = combination_logs();
            let shape = Shape::fit_tagged("t", logs.iter().map(|(log, tag)| (log, *tag)));
            let menu = [
                ("src", "s3", false),
                ("name", "GetObject", true),
                ("src", "elasticache", false),
                ("err", "*Denied", false),
                ("device.trust", "joined", false),
                ("code", "403", false),
                ("name", "Create*", false),
            ];
            let pins: Vec<FieldPin> = menu
                .iter()
                .enumerate()
                .filter(|(index, _)| pick & (1 << index) != 0)
                .map(|(_, &(field, value, negated))| FieldPin {
                    field: field.to_string(),
                    patterns: vec![ValuePattern(value.to_string())],
                    all: false,
                    negated,
                })
                .collect();
            let Ok(pinned) = shape.pinned(&pins) else {
                return Ok(());
            };
            let pinned = Arc::new(pinned);
            let mut constraint = JsonConstraint::with_shape(pinned.clone());
            constraint.condition_on(["", "t=T1136", "t=T1562"][tag_choice]);
            let out = walk_then_complete(constraint, &choices)?;
            let text = String::from_utf8_lossy(&out);
            let parsed: serde_json::Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert!(pinned.admits(&parsed), "{text}");
            for pin in &pins {
                let value = pin.field.split('.').try_fold(&parsed, |value, key| value.get(key));
                let written = value.map(|value| match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                });
                let matches = written.as_deref().is_some_and(|text| pin.patterns[0].matches(text));
                match pin.negated {
                    true => prop_assert!(!matches, "{} written as {written:?}: {text}", pin.field),
                    false => prop_assert!(matches, "{} written as {written:?}: {text}", pin.field),
                }
            }
        }

        /// The completion kept from step to step is the one a fresh walk finds, whether
        /// the byte written was the completion's first or another, and after the
        /// combinations are narrowed by a tag.
        #[test]
        fn the_kept_completion_is_the_walked_one(tag_choice in 0usize..3, choices in proptest::collection::vec(any::<u8>(), 0..300)) {
            let logs = combination_logs();
            let shape = Arc::new(Shape::fit_tagged("t", logs.iter().map(|(log, tag)| (log, *tag))));
            let mut constraint = JsonConstraint::with_shape(shape);
            prop_assert!(!constraint.completion().is_empty());
            constraint.condition_on(["", "t=T1136", "t=T1562"][tag_choice]);
            for &choice in &choices {
                prop_assert_eq!(constraint.completion(), &constraint.walk_completion()[..]);
                let Some(&cheapest) = constraint.completion().first() else {
                    break;
                };
                let byte = match choice % 2 {
                    0 => cheapest,
                    _ => {
                        let allowed: Vec<u8> = (0..=255u8).filter(|&b| constraint.allows(b)).collect();
                        allowed[usize::from(choice / 2) % allowed.len()]
                    }
                };
                prop_assert!(constraint.push(byte));
            }
            prop_assert_eq!(constraint.completion(), &constraint.walk_completion()[..]);
        }

        /// With a shape, any allowed walk completes to a log of that shape.
        #[test]
        fn any_allowed_walk_completes_to_a_log_of_the_shape(patterned: bool, choices in proptest::collection::vec(any::<u8>(), 0..300)) {
            let shape = match patterned {
                true => pattern_shape(),
                false => sample_shape(),
            };
            let out = walk_then_complete(JsonConstraint::with_shape(shape.clone()), &choices)?;
            let parsed: serde_json::Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&out))))?;
            prop_assert!(shape.admits(&parsed), "{}", String::from_utf8_lossy(&out));
        }

        /// Whatever bytes are chosen among the allowed ones, then finished with the
        /// completion, the result parses: the property generation relies on.
        #[test]
        fn any_allowed_walk_completes_to_valid_json(choices in proptest::collection::vec(any::<u8>(), 0..300)) {
            let out = walk_then_complete(JsonConstraint::new(), &choices)?;
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&out);
            prop_assert!(parsed.as_ref().is_ok_and(|v| v.is_object()), "{:?}: {}", parsed, String::from_utf8_lossy(&out));
        }
    }
}
