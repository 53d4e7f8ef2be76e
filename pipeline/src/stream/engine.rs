//! The detect loop.
//!
//! One task owns the consumer, the decoder, the merge and the offset tracker; a worker
//! thread owns the detectors ([`super::worker`]). Each decoded log enters the merge keyed
//! by (topic, partition); logs the watermark releases go to the worker in event-time
//! order, in batches; each verdict comes back with the deliveries of its alerts, and the
//! log's offset is marked finished when they are acknowledged (at once for "no alert").
//! Undecodable logs go to the dead-letter topic and finish when that is acknowledged.
//! Only offsets below every unfinished one are stored, and librdkafka commits stored
//! offsets, so a crash re-reads but never skips a log (at-least-once). Consumption
//! pauses while `max_in_flight` logs await verdicts: memory stays bounded and the
//! backlog waits in Kafka.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use operators::Detector;
use operators::merge::{EventTimeMerge, MergeConfig, Merged};
use operators::offsets::OffsetTracker;
use operators::pii::PiiHasher;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use schemas::Source;
use serde_json::json;
use tokio::sync::mpsc;

use super::meters::Meters;
use super::worker::{self, Input, Judgement, Verdict};
use crate::kafka::{KafkaConfig, PartitionChange, RebalanceContext, consumer, producer};

/// Header replay stamps on each message: wall-clock epoch ms when it was produced.
pub const REPLAYED_AT_HEADER: &str = "cyberlm-replayed-at";

/// Loop settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// The event-time merge.
    pub merge: MergeConfig,
    /// Logs read but without a delivered verdict before consumption pauses.
    pub max_in_flight: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            merge: MergeConfig::default(),
            max_in_flight: 20_000,
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct EngineReport {
    /// Messages consumed.
    pub consumed: u64,
    /// Alerts produced.
    pub alerts: u64,
    /// Dead letters produced.
    pub dead_letters: u64,
    /// Logs merged out of order.
    pub late: u64,
}

type Finish = Pin<Box<dyn Future<Output = anyhow::Result<(Input, i64)>> + Send>>;

struct Engine {
    kafka: KafkaConfig,
    topics: Vec<String>,
    producer: FutureProducer,
    meters: Arc<Meters>,
    merge: EventTimeMerge<Input, Judgement>,
    tracker: OffsetTracker<Input>,
    finishing: FuturesUnordered<Finish>,
    batch: Vec<Judgement>,
    to_worker: Option<mpsc::UnboundedSender<Vec<Judgement>>>,
    dirty: BTreeSet<Input>,
    pii: Option<PiiHasher>,
    started: Instant,
    report: EngineReport,
}

/// Runs detect until `shutdown` resolves, then drains: every buffered log is judged,
/// every delivery awaited, and the final offsets committed.
pub async fn run(
    kafka: &KafkaConfig,
    config: EngineConfig,
    pii: Option<PiiHasher>,
    detectors: Vec<Box<dyn Detector>>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<EngineReport> {
    let (context, changes) = RebalanceContext::new();
    let consumer = consumer(kafka, context)?;
    let topics: Vec<String> = Source::ALL
        .iter()
        .map(|s| kafka.topics.for_source(*s).to_string())
        .collect();
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topic_refs)
        .with_context(|| format!("failed to subscribe to {topics:?}"))?;
    let producer = producer(kafka)?;
    let (to_worker, batches) = mpsc::unbounded_channel();
    let (verdict_sender, mut verdicts) = mpsc::unbounded_channel();
    let worker = worker::spawn(
        detectors,
        producer.clone(),
        kafka.topics.alerts.clone(),
        batches,
        verdict_sender,
    )
    .context("failed to start the detector worker thread")?;
    let mut engine = Engine {
        kafka: kafka.clone(),
        meters: Arc::new(Meters::new(&topics)),
        topics,
        producer,
        merge: EventTimeMerge::new(config.merge),
        tracker: OffsetTracker::new(),
        finishing: FuturesUnordered::new(),
        batch: Vec::new(),
        to_worker: Some(to_worker),
        dirty: BTreeSet::new(),
        pii,
        started: Instant::now(),
        report: EngineReport::default(),
    };
    tracing::info!(message = "Detecting on Kafka.", bootstrap = kafka.bootstrap_servers.as_str(),
        group = kafka.group_id.as_str(), topics = ?engine.topics);
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    tokio::pin!(shutdown);
    loop {
        engine.apply_rebalances(&changes);
        let accepting = engine.tracker.in_flight() < config.max_in_flight;
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(verdict) = verdicts.recv() => engine.on_verdict(verdict),
            Some(done) = engine.finishing.next(), if !engine.finishing.is_empty() => {
                let (input, offset) = done?;
                engine.finished(input, offset);
            }
            message = consumer.recv(), if accepting => match message {
                Ok(message) => engine.on_message(&message),
                Err(KafkaError::PartitionEOF(partition)) => engine.on_partition_end(partition),
                Err(error) => tracing::warn!(message = "Kafka consumer error.", %error),
            },
            _ = ticker.tick() => {
                if !accepting {
                    // We stopped reading, not the inputs: they are not idle.
                    let now = engine.now_ms();
                    engine.merge.touch_all(now);
                }
                // Storing is cheap but not free; a few times a second is plenty for a
                // one-second auto-commit.
                engine.store_offsets(&consumer);
            }
        }
        engine.release_ready();
    }
    tracing::info!(
        message = "Shutting down: judging buffered logs and waiting for deliveries.",
        buffered = engine.merge.buffered(),
        in_flight = engine.tracker.in_flight()
    );
    for merged in engine.merge.drain() {
        engine.dispatch(merged);
    }
    engine.flush_batch();
    // Closing the channel lets the worker finish its queue and stop.
    engine.to_worker = None;
    while let Some(verdict) = verdicts.recv().await {
        engine.on_verdict(verdict);
    }
    engine.report.alerts = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the detector worker panicked"))?;
    while let Some(done) = engine.finishing.next().await {
        let (input, offset) = done?;
        engine.finished(input, offset);
    }
    engine.store_offsets(&consumer);
    match consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing new since the last automatic commit.
        Ok(()) | Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => {
            tracing::warn!(message = "Final offset commit failed; the next run re-reads from the last commit.", %error)
        }
    }
    engine.report.late = engine.merge.stats().late;
    Ok(engine.report)
}

impl Engine {
    fn now_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    fn apply_rebalances(&mut self, changes: &Receiver<PartitionChange>) {
        let now = self.now_ms();
        while let Ok(change) = changes.try_recv() {
            let (PartitionChange::Assigned(topic, partition)
            | PartitionChange::Revoked(topic, partition)) = &change;
            let Some(index) = self.topics.iter().position(|t| t == topic) else {
                continue;
            };
            let input = (index, *partition);
            match change {
                PartitionChange::Assigned(..) => self.merge.register(input, now),
                PartitionChange::Revoked(..) => {
                    // Its buffered logs are still judged here; the new owner re-reads
                    // from the last stored offset: duplicates, never gaps.
                    self.merge.remove(&input);
                    self.tracker.forget(&input);
                    self.dirty.remove(&input);
                }
            }
        }
    }

    fn on_partition_end(&mut self, partition: i32) {
        // rdkafka's end-of-partition error does not say which topic: every input with
        // that partition number counts as alive and caught up.
        let now = self.now_ms();
        for index in 0..self.topics.len() {
            self.merge.touch(&(index, partition), now);
        }
    }

    fn on_message(&mut self, message: &rdkafka::message::BorrowedMessage<'_>) {
        let topic = message.topic();
        let Some(index) = self.topics.iter().position(|t| t == topic) else {
            return;
        };
        let input = (index, message.partition());
        let offset = message.offset();
        self.report.consumed += 1;
        self.meters.consumed[index].increment(1);
        self.tracker.started(input, offset);
        let payload = message.payload().unwrap_or_default();
        let replayed_at_ms = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|header| header.key == REPLAYED_AT_HEADER)
                .and_then(|header| header.value)
                .and_then(|value| std::str::from_utf8(value).ok())
                .and_then(|text| text.parse().ok())
        });
        match schemas::decode(Source::ALL[index], payload) {
            Ok(mut envelope) => {
                if let Some(pii) = &self.pii {
                    pii.apply(&mut envelope);
                }
                let time = envelope.event_time_ms();
                self.meters.watermark[index].set(time as f64 / 1000.0);
                let judgement = Judgement {
                    input,
                    offset,
                    envelope,
                    consumed_at: Instant::now(),
                    replayed_at_ms,
                };
                let now = self.now_ms();
                if let Some(late) = self.merge.push(input, time, judgement, now) {
                    self.meters.late[index].increment(1);
                    self.dispatch(late);
                }
            }
            Err(error) => {
                let record = json!({
                    "input": topic,
                    "partition": message.partition(),
                    "offset": offset,
                    "error_type": error.kind(),
                    "error": error.to_string(),
                    "raw": String::from_utf8_lossy(payload),
                });
                tracing::debug!(message = "Sent a log to the dead-letter topic.", topic, partition = message.partition(), offset, %error);
                metrics::counter!("cyberlm_dead_letters_total", "error_type" => error.kind())
                    .increment(1);
                self.report.dead_letters += 1;
                let key = message
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                let delivery = worker::send(
                    &self.producer,
                    &self.kafka.topics.dead_letter,
                    &key,
                    &record.to_string(),
                    None,
                );
                self.finishing.push(Box::pin(async move {
                    delivery.await?;
                    Ok((input, offset))
                }));
            }
        }
    }

    fn release_ready(&mut self) {
        let now = self.now_ms();
        let forced_before = self.merge.stats().forced;
        while let Some(merged) = self.merge.pop_ready(now) {
            self.dispatch(merged);
        }
        self.meters
            .forced
            .increment(self.merge.stats().forced - forced_before);
        self.flush_batch();
    }

    fn dispatch(&mut self, merged: Merged<Input, Judgement>) {
        self.batch.push(merged.item);
    }

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        if let Some(to_worker) = &self.to_worker
            && to_worker.send(batch).is_err()
        {
            tracing::error!(
                message =
                    "The detector worker stopped; logs stay unacknowledged and will be re-read."
            );
        }
    }

    fn on_verdict(&mut self, verdict: Verdict) {
        let Verdict {
            input,
            offset,
            event_time_ms,
            consumed_at,
            replayed_at_ms,
            deliveries,
        } = verdict;
        if deliveries.is_empty() {
            self.meters
                .verdict(event_time_ms, consumed_at, replayed_at_ms);
            self.finished(input, offset);
            return;
        }
        let meters = self.meters.clone();
        self.finishing.push(Box::pin(async move {
            for delivery in deliveries {
                delivery.await?;
            }
            meters.verdict(event_time_ms, consumed_at, replayed_at_ms);
            Ok((input, offset))
        }));
    }

    fn finished(&mut self, input: Input, offset: i64) {
        self.tracker.finished(&input, offset);
        self.dirty.insert(input);
    }

    fn store_offsets(&mut self, consumer: &StreamConsumer<RebalanceContext>) {
        if self.dirty.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for input in std::mem::take(&mut self.dirty) {
            if let Some(next) = self.tracker.committable(&input)
                && let Err(error) =
                    list.add_partition_offset(&self.topics[input.0], input.1, Offset::Offset(next))
            {
                tracing::warn!(message = "Could not list an offset to store.", %error);
            }
        }
        if let Err(error) = consumer.store_offsets(&list) {
            // A partition revoked in the meantime cannot be stored; its new owner re-reads.
            tracing::debug!(message = "Offsets not stored.", %error);
        }
    }
}
