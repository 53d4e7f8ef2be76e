//! Which JSON field each byte of a rendered log belongs to, so per-byte surprisal can be
//! summed per field ("the country surprised the model", not "byte 213 did").

use std::ops::Range;

/// The bytes of one scalar field in a compact JSON text: its key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpan {
    /// Dotted path from the root; array elements share their array's path.
    pub path: String,
    /// Byte range in the JSON text, from the key's opening quote to the value's end.
    pub bytes: Range<usize>,
    /// Byte range of the value alone.
    pub value: Range<usize>,
}

/// Splits a JSON text into field spans. Objects and arrays give no span of their own:
/// their scalar members do. Returns `None` when the text is not valid JSON.
pub fn field_spans(json: &str) -> Option<Vec<FieldSpan>> {
    let mut scanner = Scanner {
        bytes: json.as_bytes(),
        at: 0,
        spans: Vec::new(),
    };
    let mut path = Vec::new();
    scanner.value(&mut path, None)?;
    scanner.skip_whitespace();
    (scanner.at == scanner.bytes.len()).then_some(scanner.spans)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    spans: Vec<FieldSpan>,
}

impl Scanner<'_> {
    fn value(&mut self, path: &mut Vec<String>, key_start: Option<usize>) -> Option<()> {
        self.skip_whitespace();
        let start = self.at;
        match *self.bytes.get(self.at)? {
            b'{' => return self.object(path),
            b'[' => return self.array(path, key_start),
            b'"' => self.string()?,
            _ => {
                while self.bytes.get(self.at).is_some_and(|b| {
                    !matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\t' | b'\r')
                }) {
                    self.at += 1;
                }
                if self.at == start {
                    return None;
                }
            }
        }
        self.spans.push(FieldSpan {
            path: path.join("."),
            bytes: key_start.unwrap_or(start)..self.at,
            value: start..self.at,
        });
        Some(())
    }

    fn object(&mut self, path: &mut Vec<String>) -> Option<()> {
        self.at += 1;
        self.skip_whitespace();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            self.skip_whitespace();
            let key_start = self.at;
            self.string()?;
            let key: String = serde_json::from_slice(&self.bytes[key_start..self.at]).ok()?;
            self.skip_whitespace();
            if !self.eat(b':') {
                return None;
            }
            path.push(key);
            self.value(path, Some(key_start))?;
            path.pop();
            self.skip_whitespace();
            if self.eat(b'}') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn array(&mut self, path: &mut Vec<String>, key_start: Option<usize>) -> Option<()> {
        self.at += 1;
        self.skip_whitespace();
        if self.eat(b']') {
            // An empty array is a value in its own right (and often the telling one).
            let start = self.at - 2;
            self.spans.push(FieldSpan {
                path: path.join("."),
                bytes: key_start.unwrap_or(start)..self.at,
                value: start..self.at,
            });
            return Some(());
        }
        loop {
            self.value(path, None)?;
            self.skip_whitespace();
            if self.eat(b']') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn string(&mut self) -> Option<()> {
        if !self.eat(b'"') {
            return None;
        }
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(hit);
        hit
    }

    fn skip_whitespace(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_each_scalar_with_its_key() {
        let json = r#"{"a":"x\"y","loc":{"c":"DE","n":[1,2]},"e":[]}"#;
        let spans = field_spans(json).unwrap();
        let named: Vec<(&str, &str)> = spans
            .iter()
            .map(|s| (s.path.as_str(), &json[s.value.clone()]))
            .collect();
        assert_eq!(
            named,
            [
                ("a", r#""x\"y""#),
                ("loc.c", "\"DE\""),
                ("loc.n", "1"),
                ("loc.n", "2"),
                ("e", "[]")
            ]
        );
        assert_eq!(&json[spans[1].bytes.clone()], r#""c":"DE""#);
        assert!(field_spans(r#"{"a":}"#).is_none());
    }
}
