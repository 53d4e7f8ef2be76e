//! Where detect reads logs from. Kafka topics ([`crate::kafka::KafkaSource`]) and files
//! ([`crate::files::FileSource`]) implement one interface, so both run through the same
//! engine: decode, merge by event time, detectors, sinks.

use std::future::Future;

use schemas::Source;
use serde_json::{Map, Value};

/// One input of a source: a topic partition as (topic index, partition), or a file as
/// (file index, 0). The merge keys its watermark by it.
pub type Input = (usize, i32);

/// A log as a source hands it over, not yet decoded.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Its input.
    pub input: Input,
    /// Where it sits in its input: Kafka offset, or line / row number of a file. Strictly
    /// increasing within an input.
    pub position: i64,
    /// What it is decoded as (`None`: recognised by shape).
    pub source: Option<Source>,
    /// The message key (Kafka), passed on to its dead letter.
    pub key: Option<String>,
    /// The log's bytes.
    pub payload: Vec<u8>,
    /// When replay produced it (epoch ms), if it was replayed.
    pub replayed_at_ms: Option<i64>,
}

/// What a source reports when asked for more.
#[derive(Debug)]
pub enum SourceEvent {
    /// A log.
    Record(RawRecord),
    /// The input reached the end of what it holds for now (Kafka end of partition).
    CaughtUp(Input),
    /// The input will hold nothing more (end of a file).
    Finished(Input),
    /// The input is now this instance's to read (Kafka rebalance).
    Assigned(Input),
    /// The input is no longer this instance's (Kafka rebalance).
    Revoked(Input),
    /// Every input is finished: a bounded source is done.
    Exhausted,
    /// The source cannot go on (a file that cannot be read further).
    Failed(anyhow::Error),
    /// Nothing to act on (e.g. a transient client error, already logged).
    Nothing,
}

/// A source of raw logs with inputs the engine can read selectively (watermark
/// alignment) and positions it confirms once logs are judged and delivered.
pub trait LogSource {
    /// The inputs that hold the watermark from the start (files); Kafka announces its
    /// partitions with [`SourceEvent::Assigned`] instead.
    fn initial_inputs(&self) -> Vec<Input>;

    /// Names `input` (topic, file path) for tracing and metrics.
    fn name(&self, input: Input) -> &str;

    /// Where a log is, as the fields of its dead letter: topic, partition and offset, or
    /// file path and line.
    fn locate(&self, input: Input, position: i64) -> Map<String, Value>;

    /// Waits for the next event, reading only inputs for which `readable` holds. Must be
    /// cancellation safe: the engine drops it when something else happens first.
    fn next(&mut self, readable: impl Fn(&Input) -> bool) -> impl Future<Output = SourceEvent>;

    /// Everything of `input` before `next_position` is judged and delivered: a
    /// restarted reader may resume there (Kafka stores the offset; files ignore it).
    fn confirm(&mut self, positions: &[(Input, i64)]);

    /// Shuts down after the last confirmation (Kafka's final synchronous commit).
    fn close(&mut self);
}
