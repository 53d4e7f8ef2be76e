//! Where detect writes alerts and dead letters. A Kafka topic
//! ([`crate::kafka::TopicSink`]) and a JSONL file ([`crate::files::JsonlRecordSink`])
//! implement one interface; each write returns a [`Delivery`] that resolves when the
//! record is safely out, and only then is the log's position confirmed to its source.

use std::future::Future;
use std::pin::Pin;

/// A record on its way out; resolves when the destination has it.
pub type Delivery = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A destination for records (OCSF findings, dead letters).
pub trait RecordSink: Send + Sync {
    /// Starts writing one record keyed by `key` (the user): Kafka partitions by it.
    /// `replayed_at_ms` travels with it where the destination can carry it, for latency
    /// measurement.
    fn send(&self, key: &str, payload: &str, replayed_at_ms: Option<i64>) -> Delivery;

    /// Makes everything sent so far durable (flushes a file); Kafka deliveries are
    /// awaited one by one instead.
    fn flush(&self) -> anyhow::Result<()>;
}
