//! cyberlm's cyber language model: a small GPT trained from scratch on raw JSON logs.
//!
//! The byte [`ByteTokenizer`] reads any text; logs become training text through
//! `operators::text_format` and [`corpus`]; the [`Gpt`] (shape in [`GptConfig`]) is
//! written with burn and runs on the device chosen at run time ([`device`]). [`train`]
//! fits it, [`checkpoint`] stores it with the format it was trained on, [`score`] turns
//! logs into per-byte and per-field surprisal, and [`generate`] samples new logs that
//! always parse ([`JsonConstraint`]). In the stream, [`deviation`] scores each log after
//! its user's preceding logs, and the [`detector`] calibrates that score into alerts that
//! say what the model expected instead ([`explain`]), switching to each new version a
//! retrain publishes in the [`registry`].
//!
//! ```
//! let tokenizer = model::ByteTokenizer;
//! let ids = tokenizer.encode("{\"Location\":\"DE\"}");
//! assert_eq!(tokenizer.decode(&ids).unwrap(), "{\"Location\":\"DE\"}");
//! ```
#![deny(missing_docs)]

mod attention;
pub mod checkpoint;
mod config;
pub mod corpus;
mod cpu_kernels;
pub mod detector;
pub mod deviation;
pub mod device;
pub mod explain;
pub mod generate;
mod gpt;
mod json_constraint;
#[cfg(feature = "cuda")]
mod llvm_stubs;
mod log_constraint;
mod long_logs;
pub mod precision;
pub mod registry;
pub mod score;
mod tokenizer;
pub mod train;

pub use burn::prelude::Device;
pub use config::{GptConfig, PRESETS};
pub use gpt::{Gpt, KvCache};
pub use json_constraint::JsonConstraint;
pub use log_constraint::LogConstraint;
pub use tokenizer::{ByteTokenizer, Special, TokenizerError};
