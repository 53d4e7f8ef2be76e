//! The byte tokenizer: UTF-8 bytes are ids 0..=255, specials follow. Any text encodes,
//! so a character never seen in training is scored, never an error.

/// Special tokens, numbered after the 256 byte ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Special {
    /// Starts a log (after its conditioning header).
    BeginLog = 256,
    /// Ends a log.
    EndLog = 257,
    /// Padding in a batch.
    Pad = 258,
}

/// Why ids could not be turned back into text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// An id past the vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab} ids")]
    UnknownId {
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab: u32,
    },
    /// The bytes are not UTF-8 (a model can emit a cut multi-byte character).
    #[error("decoded bytes are not valid UTF-8: {reason}")]
    NotUtf8 {
        /// The UTF-8 error.
        reason: String,
    },
}

/// Bytes as tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteTokenizer;

impl ByteTokenizer {
    /// Number of ids: 256 bytes and the specials.
    pub const VOCAB_SIZE: u32 = 259;

    /// The ids of `text`'s UTF-8 bytes.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        text.bytes().map(u32::from).collect()
    }

    /// The text of `ids`; specials are skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let mut bytes = Vec::with_capacity(ids.len());
        for &id in ids {
            match u8::try_from(id) {
                Ok(byte) => bytes.push(byte),
                Err(_) if id < Self::VOCAB_SIZE => {}
                Err(_) => {
                    return Err(TokenizerError::UnknownId {
                        id,
                        vocab: Self::VOCAB_SIZE,
                    });
                }
            }
        }
        String::from_utf8(bytes).map_err(|error| TokenizerError::NotUtf8 {
            reason: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_text_round_trips_and_specials_are_skipped() {
        let tokenizer = ByteTokenizer;
        let text = "Zürich → 東京 {\"x\":null}";
        let mut ids = vec![Special::BeginLog as u32];
        ids.extend(tokenizer.encode(text));
        ids.push(Special::EndLog as u32);
        assert_eq!(tokenizer.decode(&ids).unwrap(), text);
        assert!(ids.iter().all(|&id| id < ByteTokenizer::VOCAB_SIZE));
    }

    #[test]
    fn bad_ids_are_errors_not_panics() {
        let tokenizer = ByteTokenizer;
        assert_eq!(
            tokenizer.decode(&[999]).unwrap_err(),
            TokenizerError::UnknownId {
                id: 999,
                vocab: 259
            }
        );
        assert!(matches!(
            tokenizer.decode(&[0xE6, 0x9D]),
            Err(TokenizerError::NotUtf8 { .. })
        ));
    }
}
