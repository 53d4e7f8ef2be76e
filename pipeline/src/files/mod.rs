//! Files as a source and sink: JSONL logs in, JSONL alerts and dead letters out. With
//! these the main job runs with no broker at all.

mod dead_letter;
mod input;
mod jsonl_sink;

pub use dead_letter::DeadLetter;
pub use input::{LogFile, expand_inputs, read_log_file};
pub use jsonl_sink::JsonlSink;
