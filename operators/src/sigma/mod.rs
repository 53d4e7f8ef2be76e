//! Sigma rules over the three sources, with sigma-rust's known gaps closed.
//!
//! sigma-rust 0.7 evaluates a rule against a flat event but has no notion of logsource,
//! no traversal of arrays, case-sensitive field names and strict types (a rule's
//! `ResultType: 50053` never equals the JSON string `"50053"`). [`RuleSet`] routes each
//! log only to the rules of its logsource; [`event`] builds the event the way the rules
//! expect to see it (see that module for each gap and how it is closed).

mod detector;
pub mod event;
mod logsource;
mod rule_set;
pub mod witness;

pub use detector::SigmaDetector;
pub use logsource::Logsource;
pub use rule_set::{LoadError, RuleOverride, RuleOverrides, RuleSet, SigmaRule};
