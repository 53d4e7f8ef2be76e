//! The streaming `detect` path: read logs from a source (Kafka topics or files), decode,
//! merge by event time, run the detectors on a worker thread, write alerts and dead
//! letters to sinks, and confirm each log's position only after its verdict is
//! delivered.

mod engine;
mod meters;
mod metrics;
mod sink;
mod source;
mod worker;

pub use engine::{
    DEFAULT_MAX_IN_FLIGHT, EngineConfig, EngineReport, REPLAYED_AT_HEADER, Sinks, run,
};
pub use metrics::install_prometheus;
pub use sink::{Delivery, RecordSink};
pub use source::{Input, LogSource, RawRecord, SourceEvent};
