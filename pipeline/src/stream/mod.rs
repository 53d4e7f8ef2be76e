//! The streaming `detect` path on Kafka: consume the three source topics, decode, merge
//! by event time, run the detectors on a worker thread, produce alerts and dead letters,
//! and store each log's offset only after its verdict is delivered.

mod engine;
mod meters;
mod metrics;
mod worker;

pub use engine::{EngineConfig, EngineReport, REPLAYED_AT_HEADER, run};
pub use metrics::install_prometheus;
