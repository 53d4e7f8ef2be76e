//! What the model expected instead: its most likely value for a field, given what comes
//! before the field's value in a window the model was trained on (for a long log, the
//! [`long_logs`](crate::long_logs) window that holds the value, header pinned), decoded
//! greedily under the JSON constraint. An alert then reads `Location "RU", expected
//! "DE"`.

use std::ops::Range;

use burn::prelude::*;

use operators::text_format::is_header_value_byte;

use crate::gpt::{Gpt, KvCache};
use crate::json_constraint::JsonConstraint;
use crate::long_logs;
use crate::score::ScoreRequest;
use crate::tokenizer::{ByteTokenizer, Special};

/// Longest expected value decoded, in bytes; longer ones end in `…`.
const MAX_VALUE_BYTES: usize = 64;

/// The model's most likely value for the field whose value occupies `value` (a byte
/// range of `request.text`, in the header, which ends at `header_bytes`, or in the JSON
/// after it); `pin_header` is the model's text format's. `None` when the text before the
/// value is not a header and the start of a JSON object.
pub fn expected_value(
    model: &Gpt,
    request: &ScoreRequest,
    header_bytes: usize,
    value: Range<usize>,
    pin_header: bool,
    device: &Device,
) -> Option<String> {
    let mut grammar = if value.start < header_bytes {
        Grammar::Header
    } else {
        let mut constraint = JsonConstraint::new();
        for &byte in request.text.get(header_bytes..value.start)?.as_bytes() {
            if !constraint.push(byte) {
                return None;
            }
        }
        Grammar::Json(Box::new(constraint), ValueShape::default())
    };
    let mut log = vec![Special::BeginLog as u32];
    log.extend(ByteTokenizer.encode(request.text.get(..value.start)?));
    let tokens = prompt(&request.context, &log, pin_header, model.context());

    let mut cache = KvCache::new(model.layers());
    let mut logits = last_logits(model, &tokens, &mut cache, device);
    let mut out: Vec<u8> = Vec::new();
    while out.len() < MAX_VALUE_BYTES {
        let byte = (0..=255u8)
            .filter(|&byte| grammar.allows(&out, byte))
            .max_by(|&a, &b| logits[usize::from(a)].total_cmp(&logits[usize::from(b)]))?;
        if grammar.ends_before(&out, byte) {
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.push(byte);
        if grammar.push_ends(&out) {
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        logits = last_logits(model, &[u32::from(byte)], &mut cache, device);
    }
    Some(format!("{}…", String::from_utf8_lossy(&out)))
}

/// The tokens to decode the value after: the log so far (`log`, framed) in the first of
/// its [`long_logs`] windows that leaves room for the value, after as much of `history`
/// as fits when that is the log's first window. A model whose format pins no header was
/// trained on windows entering anywhere: it reads the most recent tokens that fit.
fn prompt(history: &[u32], log: &[u32], pin_header: bool, context: usize) -> Vec<u32> {
    // Every decoded byte but none past the value is fed back: the prompt and the value's
    // bytes must fit the context together.
    let room = context.saturating_sub(MAX_VALUE_BYTES).max(1);
    let recent = || {
        let mut all: Vec<u32> = history.iter().chain(log).copied().collect();
        all.drain(..all.len().saturating_sub(room));
        all
    };
    if !pin_header || log.len() <= room {
        return recent();
    }
    let pinned = long_logs::pinnable(long_logs::header_prefix_len(log), context);
    // The first window that holds the log so far and the value after it: the last of
    // those a log as long as both is read in.
    let k = long_logs::entries(log.len() + MAX_VALUE_BYTES + 1, pinned, context) - 1;
    let from = (k * long_logs::stride(context)).min(log.len());
    let mut tokens = log[..pinned].to_vec();
    tokens.extend_from_slice(&log[from..]);
    tokens
}

/// What may be decoded: a header value (up to the space or `]` after it) or a JSON value.
enum Grammar {
    Header,
    Json(Box<JsonConstraint>, ValueShape),
}

impl Grammar {
    fn allows(&self, out: &[u8], byte: u8) -> bool {
        match self {
            Grammar::Header => {
                is_header_value_byte(byte) || (!out.is_empty() && matches!(byte, b' ' | b']'))
            }
            Grammar::Json(constraint, _) => constraint.allows(byte),
        }
    }

    fn ends_before(&self, out: &[u8], next: u8) -> bool {
        match self {
            Grammar::Header => matches!(next, b' ' | b']'),
            Grammar::Json(_, shape) => shape.ends_before(out, next),
        }
    }

    fn push_ends(&mut self, out: &[u8]) -> bool {
        match self {
            Grammar::Header => false,
            Grammar::Json(constraint, shape) => {
                if let Some(&byte) = out.last() {
                    constraint.push(byte);
                }
                shape.ends_after(out)
            }
        }
    }
}

fn last_logits(model: &Gpt, tokens: &[u32], cache: &mut KvCache, device: &Device) -> Vec<f32> {
    let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, tokens.len()]), device);
    let logits = model.forward_cached(input, cache);
    let [_, length, vocab] = logits.dims();
    logits
        .slice([0..1, length - 1..length, 0..vocab])
        .into_data()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Where a JSON value being decoded ends.
#[derive(Default)]
struct ValueShape {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl ValueShape {
    /// A scalar (number, literal) ends where a delimiter would come next.
    fn ends_before(&self, out: &[u8], next: u8) -> bool {
        matches!(out.first(), Some(b) if !matches!(b, b'"' | b'{' | b'['))
            && matches!(next, b',' | b'}' | b']')
    }

    /// A string ends at its closing quote, an object or array at its closing bracket.
    fn ends_after(&mut self, out: &[u8]) -> bool {
        let (Some(&first), Some(&last)) = (out.first(), out.last()) else {
            return false;
        };
        if first != b'"' && first != b'{' && first != b'[' {
            return false;
        }
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if last == b'\\' {
                self.escaped = true;
            } else if last == b'"' {
                self.in_string = false;
                return self.depth == 0;
            }
            return false;
        }
        match last {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                return self.depth == 0;
            }
            _ => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(value: &str) -> Option<usize> {
        let mut shape = ValueShape::default();
        let mut out = Vec::new();
        for (index, byte) in value.bytes().enumerate() {
            if shape.ends_before(&out, byte) {
                return Some(index);
            }
            out.push(byte);
            if shape.ends_after(&out) {
                return Some(index + 1);
            }
        }
        None
    }

    #[test]
    fn a_long_log_is_prompted_in_the_window_training_read_it_in() {
        let framed = |text: &str| {
            let mut tokens = vec![Special::BeginLog as u32];
            tokens.extend(ByteTokenizer.encode(text));
            tokens
        };
        let history: Vec<u32> = (0..100).map(|t| t % 200 + 40).collect();
        let header = "[azure u=a@x] ";
        let pin = 1 + header.len();
        // Context 256 leaves 192 tokens before a value of up to 64; windows every 128.
        let long = framed(&format!("{header}{}", "x".repeat(300)));
        assert_eq!(long.len(), 315);
        // Window 1 would feed 15 + 187 tokens: too many; window 2 feeds 15 + 59.
        let mut expected = long[..pin].to_vec();
        expected.extend_from_slice(&long[256..]);
        assert_eq!(prompt(&history, &long, true, 256), expected);
        // A log start that fits is read after the most recent history that fits with it.
        let short = framed(&format!("{header}{}", "x".repeat(150)));
        let read = prompt(&history, &short, true, 256);
        assert_eq!(read.len(), 192);
        assert!(read.ends_with(&short) && history.ends_with(&read[..192 - short.len()]));
        // A model trained without pinned headers reads the most recent tokens.
        assert_eq!(prompt(&history, &long, false, 256), long[315 - 192..]);
    }

    #[test]
    fn values_end_where_json_says() {
        assert_eq!(ends(r#""DE","x""#), Some(4));
        assert_eq!(ends(r#""a\"b",1"#), Some(6));
        assert_eq!(ends("123,"), Some(3));
        assert_eq!(ends("true}"), Some(4));
        assert_eq!(ends(r#"{"a":[1,"]"]},"#), Some(13));
        assert_eq!(ends(r#""unterminated"#), None);
    }
}
