//! JSON-constrained decoding: a byte-level JSON recogniser that says which next bytes keep
//! the output a valid prefix of a compact JSON object, and how to finish it.
//!
//! Sampling masks every byte it refuses, so every generated log parses: a generator that
//! emits invalid JSON a few percent of the time would poison a SIEM pipeline. The grammar
//! is compact JSON (no whitespace, as the logs are rendered), an object at the top,
//! strings of valid UTF-8 with no control characters, and `\u` escapes outside the
//! surrogate range (serde_json refuses lone surrogates).

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

/// A byte-level recogniser of one compact JSON object.
#[derive(Debug, Clone)]
pub struct JsonConstraint {
    state: State,
    stack: Vec<Container>,
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
        }
    }

    /// Whether `byte` may come next.
    pub fn allows(&self, byte: u8) -> bool {
        self.transition(byte).is_some()
    }

    /// Feeds `byte`; `false` (and no change) when it is not allowed.
    pub fn push(&mut self, byte: u8) -> bool {
        let Some((state, stack)) = self.transition(byte) else {
            return false;
        };
        match stack {
            Stack::Keep => {}
            Stack::Push(container) => self.stack.push(container),
            Stack::Pop => {
                self.stack.pop();
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
    pub fn completion(&self) -> Vec<u8> {
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
            out.push(byte);
        }
        out
    }

    fn cheapest_next(&self) -> u8 {
        match self.state {
            State::Start => b'{',
            State::ObjectOpen => b'}',
            State::Key => b'"',
            State::Colon => b':',
            State::Value { array_open: true } => b']',
            State::Value { array_open: false } => b'0',
            State::AfterValue | State::Done => match self.stack.last() {
                Some(Container::Array) => b']',
                _ => b'}',
            },
            State::Str { part, .. } => match part {
                StrPart::Plain => b'"',
                StrPart::Escape => b'n',
                StrPart::Unicode(_) => b'0',
                StrPart::Utf8 { low, .. } => low,
            },
            State::Number(num) if num.complete() => match self.stack.last() {
                Some(Container::Array) => b']',
                _ => b'}',
            },
            State::Number(_) => b'0',
            State::Literal(rest) => rest[0],
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
            AfterValue => after_value(self.stack.last().copied(), byte),
            Str { key, part } => {
                string_transition(key, part, byte).map(|state| (state, Stack::Keep))
            }
            Number(num) => match number_transition(num, byte) {
                Some(next) => keep(Number(next)),
                // A complete number ends at the first byte that cannot extend it.
                None if num.complete() => after_value(self.stack.last().copied(), byte),
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

    proptest! {
        /// Whatever bytes are chosen among the allowed ones, then finished with the
        /// completion, the result parses: the property generation relies on.
        #[test]
        fn any_allowed_walk_completes_to_valid_json(choices in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut constraint = JsonConstraint::new();
            let mut out = Vec::new();
            for choice in choices {
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
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&out);
            prop_assert!(parsed.as_ref().is_ok_and(|v| v.is_object()), "{:?}: {}", parsed, String::from_utf8_lossy(&out));
        }
    }
}
