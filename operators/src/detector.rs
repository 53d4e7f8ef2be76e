//! The one interface every detector implements, so the Sigma rules and the GPT scorer sit
//! side by side in the pipeline.

use schemas::{DetectionFinding, Envelope};

/// Turns decoded logs into findings. A detector sees every log of the merged stream in
/// event-time order and returns the findings the log raises (usually none).
pub trait Detector: Send {
    /// A short, stable name for metrics and logs (`sigma`, `gpt`).
    fn name(&self) -> &str;

    /// The version of what it judges with (a model's), for metrics; `None` for none.
    fn version(&self) -> Option<&str> {
        None
    }

    /// The findings `envelope` raises.
    fn detect(&mut self, envelope: &Envelope) -> Vec<DetectionFinding>;

    /// The findings of each log of a micro-batch, in order. A detector that works
    /// faster on batches (a model) overrides it; the result has one entry per log.
    fn detect_batch(&mut self, envelopes: &[&Envelope]) -> Vec<Vec<DetectionFinding>> {
        envelopes
            .iter()
            .map(|envelope| self.detect(envelope))
            .collect()
    }
}
