//! The GPT's shape, with the presets cyberlm ships.

use serde::{Deserialize, Serialize};

use crate::tokenizer::ByteTokenizer;

/// The size and shape of a GPT. Stored in every checkpoint's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Token ids the model reads and predicts.
    pub vocab_size: usize,
    /// Longest sequence (tokens) the model attends over.
    pub context: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads per block; `width` must divide evenly among them.
    pub heads: usize,
    /// Embedding width.
    pub width: usize,
    /// Dropout probability in training (0 disables it).
    pub dropout: f64,
}

/// The preset names `--preset` accepts.
pub const PRESETS: [&str; 4] = ["tiny", "small", "seed-85m", "seed-120m"];

impl GptConfig {
    /// A named preset:
    /// - `tiny`: tests, trains in seconds (2 layers, width 64, context 256);
    /// - `small`: the demo, minutes on 2 cores (4 layers, width 128, context 1024, which
    ///   holds a whole projected CloudTrail or Confluence log and half an Entra ID one);
    /// - `seed-85m`, `seed-120m`: the research seed's 12-layer GPU models (width 768 and
    ///   896, context 2048 and 7000).
    pub fn preset(name: &str) -> Option<Self> {
        let (layers, heads, width, context, dropout) = match name {
            "tiny" => (2, 2, 64, 256, 0.0),
            "small" => (4, 4, 128, 1024, 0.0),
            "seed-85m" => (12, 12, 768, 2048, 0.1),
            "seed-120m" => (12, 14, 896, 7000, 0.1),
            _ => return None,
        };
        Some(GptConfig {
            vocab_size: ByteTokenizer::VOCAB_SIZE as usize,
            context,
            layers,
            heads,
            width,
            dropout,
        })
    }

    /// Checks the shape is one a GPT can have.
    pub fn validate(&self) -> Result<(), String> {
        if self.layers == 0 || self.heads == 0 || self.width == 0 || self.context < 2 {
            return Err(format!(
                "layers, heads, width must be positive and context at least 2: {self:?}"
            ));
        }
        if !self.width.is_multiple_of(self.heads) {
            return Err(format!(
                "width {} does not divide among {} heads",
                self.width, self.heads
            ));
        }
        if self.vocab_size < ByteTokenizer::VOCAB_SIZE as usize {
            return Err(format!(
                "vocabulary {} is smaller than the byte tokenizer's {}",
                self.vocab_size,
                ByteTokenizer::VOCAB_SIZE
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        Ok(())
    }

    /// Parameters the model has (weights and biases).
    pub fn parameters(&self) -> usize {
        let (v, c, d) = (self.vocab_size, self.context, self.width);
        let block =
            2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d);
        v * d + c * d + self.layers * block + 2 * d + (d * v + v)
    }

    /// Floating-point operations to train on one token (forward and backward) at full
    /// context: 6 per weight plus the attention scores, as in the PaLM paper's MFU.
    pub fn train_flops_per_token(&self) -> f64 {
        let non_embedding =
            self.parameters() - self.vocab_size * self.width - self.context * self.width;
        6.0 * non_embedding as f64 + 12.0 * (self.layers * self.width * self.context) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_the_seed_models_have_their_sizes() {
        for name in PRESETS {
            GptConfig::preset(name).unwrap().validate().unwrap();
        }
        let seed_85m = GptConfig::preset("seed-85m").unwrap().parameters();
        assert!((84_000_000..90_000_000).contains(&seed_85m), "{seed_85m}");
        let seed_120m = GptConfig::preset("seed-120m").unwrap().parameters();
        assert!(
            (115_000_000..125_000_000).contains(&seed_120m),
            "{seed_120m}"
        );
        assert!(GptConfig::preset("huge").is_none());
    }
}
