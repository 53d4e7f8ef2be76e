#![recursion_limit = "256"]
//! The library behind the `cyberlm` binary: the enterprise simulator, file sources and
//! sinks, config and the commands. `main.rs` only parses flags and calls into here.

pub mod cli;
pub mod commands;
pub mod config;
pub mod files;
pub mod kafka;
mod progress;
pub mod quota;
pub mod report;
pub mod simulate;
pub mod stream;
