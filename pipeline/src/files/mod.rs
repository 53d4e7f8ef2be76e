//! Files as a source and sink: JSONL or Parquet logs in (also as detect's
//! [`FileSource`]), JSONL alerts and dead letters out, Parquet recordings. With these the main job runs with no broker at all.

mod dead_letter;
mod input;
mod jsonl_sink;
mod labels;
mod parquet;
mod reader;
mod source;
mod tagged;

pub use dead_letter::DeadLetter;
pub use input::{LogFile, expand_inputs, read_envelopes, read_log_file, read_raw_logs};
pub use jsonl_sink::{JsonlRecordSink, JsonlSink};
pub use labels::{LabelRow, labels_beside, malicious_event_ids, read_labels};
pub use parquet::ParquetLogWriter;
pub use reader::{LogReader, RawLog};
pub use source::FileSource;
pub use tagged::read_labelled_logs;
