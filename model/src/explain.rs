//! What the model expected instead: its most likely value for a field, given everything
//! before the field's value (the same context the log was scored with), decoded greedily
//! under the JSON constraint. An alert then reads `Location "RU", expected "DE"`.

use std::ops::Range;

use burn::prelude::*;

use operators::text_format::is_header_value_byte;

use crate::gpt::{Gpt, KvCache};
use crate::json_constraint::JsonConstraint;
use crate::score::ScoreRequest;
use crate::tokenizer::{ByteTokenizer, Special};

/// Longest expected value decoded, in bytes; longer ones end in `…`.
const MAX_VALUE_BYTES: usize = 64;

/// The model's most likely value for the field whose value occupies `value` (a byte
/// range of `request.text`, in the header, which ends at `header_bytes`, or in the JSON
/// after it). `None` when the text before the value is not a header and the start of a
/// JSON object.
pub fn expected_value(
    model: &Gpt,
    request: &ScoreRequest,
    header_bytes: usize,
    value: Range<usize>,
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
        Grammar::Json(constraint, ValueShape::default())
    };
    let mut prompt = vec![Special::BeginLog as u32];
    prompt.extend(ByteTokenizer.encode(request.text.get(..value.start)?));
    // The most recent tokens that leave room for the value.
    let room = model.context().saturating_sub(MAX_VALUE_BYTES + 1).max(1);
    let mut tokens: Vec<u32> = request.context.iter().chain(&prompt).copied().collect();
    let excess = tokens.len().saturating_sub(room);
    tokens.drain(..excess);

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

/// What may be decoded: a header value (up to the space or `]` after it) or a JSON value.
enum Grammar {
    Header,
    Json(JsonConstraint, ValueShape),
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
    fn values_end_where_json_says() {
        assert_eq!(ends(r#""DE","x""#), Some(4));
        assert_eq!(ends(r#""a\"b",1"#), Some(6));
        assert_eq!(ends("123,"), Some(3));
        assert_eq!(ends("true}"), Some(4));
        assert_eq!(ends(r#"{"a":[1,"]"]},"#), Some(13));
        assert_eq!(ends(r#""unterminated"#), None);
    }
}
