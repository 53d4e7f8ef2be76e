//! A log that could not be decoded, with where it came from and why.

use schemas::DecodeError;
use serde_json::{Value, json};

/// A rejected log: the input that held it, its position, the error and the raw bytes.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// File path or topic name.
    pub input: String,
    /// Line number (files) or `partition:offset` (topics).
    pub position: String,
    /// Why it was rejected.
    pub error: DecodeError,
    /// The raw log, lossily as text.
    pub raw: String,
}

impl DeadLetter {
    /// The JSON record written to the dead-letter destination.
    pub fn to_json(&self) -> Value {
        json!({
            "input": self.input,
            "position": self.position,
            "error_type": self.error.kind(),
            "error": self.error.to_string(),
            "raw": self.raw,
        })
    }
}
