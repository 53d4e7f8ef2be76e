//! The detect loop.
//!
//! One task owns the consumer, the merge, the detectors and the offset tracker. Each
//! decoded log enters the merge keyed by (topic, partition); logs the watermark releases
//! are judged in event-time order; each verdict's alerts (or dead letter) are produced,
//! and the log's offset is marked finished when they are delivered, or at once when the
//! verdict is "no alert". Only offsets below every unfinished one are stored, and
//! librdkafka commits stored offsets, so a crash re-reads but never skips a log
//! (at-least-once). Consumption stops while `max_in_flight` logs await verdicts:
//! memory stays bounded and the backlog waits in Kafka.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use operators::Detector;
use operators::merge::{EventTimeMerge, MergeConfig, Merged};
use operators::offsets::OffsetTracker;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use schemas::{Envelope, Source};
use serde_json::json;

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

type Input = (usize, i32);

struct Pending {
    envelope: Envelope,
    offset: i64,
    consumed_at: Instant,
    replayed_at_ms: Option<i64>,
}

type Delivery = Pin<Box<dyn Future<Output = anyhow::Result<(Input, i64)>> + Send>>;

struct Engine {
    kafka: KafkaConfig,
    topics: Vec<String>,
    producer: FutureProducer,
    merge: EventTimeMerge<Input, Pending>,
    tracker: OffsetTracker<Input>,
    deliveries: FuturesUnordered<Delivery>,
    detectors: Vec<Box<dyn Detector>>,
    dirty: BTreeSet<Input>,
    started: Instant,
    report: EngineReport,
}

fn now_ms(started: Instant) -> i64 {
    started.elapsed().as_millis() as i64
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs detect until `shutdown` resolves, then drains: every buffered log is judged,
/// every delivery awaited, and the final offsets committed.
pub async fn run(
    kafka: &KafkaConfig,
    config: EngineConfig,
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
    let mut engine = Engine {
        kafka: kafka.clone(),
        topics,
        producer: producer(kafka)?,
        merge: EventTimeMerge::new(config.merge),
        tracker: OffsetTracker::new(),
        deliveries: FuturesUnordered::new(),
        detectors,
        dirty: BTreeSet::new(),
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
            Some(done) = engine.deliveries.next(), if !engine.deliveries.is_empty() => {
                let (input, offset) = done?;
                engine.finished(input, offset);
            }
            message = consumer.recv(), if accepting => match message {
                Ok(message) => engine.on_message(&message)?,
                Err(KafkaError::PartitionEOF(partition)) => engine.on_partition_end(partition),
                Err(error) => tracing::warn!(message = "Kafka consumer error.", %error),
            },
            _ = ticker.tick() => {}
        }
        engine.release_ready()?;
        engine.store_offsets(&consumer);
    }
    tracing::info!(
        message = "Shutting down: judging buffered logs and waiting for deliveries.",
        buffered = engine.merge.buffered(),
        in_flight = engine.tracker.in_flight()
    );
    for merged in engine.merge.drain() {
        engine.judge(merged)?;
    }
    while let Some(done) = engine.deliveries.next().await {
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
    fn apply_rebalances(&mut self, changes: &Receiver<PartitionChange>) {
        let now = now_ms(self.started);
        while let Ok(change) = changes.try_recv() {
            match change {
                PartitionChange::Assigned(topic, partition) => {
                    if let Some(index) = self.topics.iter().position(|t| *t == topic) {
                        self.merge.register((index, partition), now);
                    }
                }
                PartitionChange::Revoked(topic, partition) => {
                    if let Some(index) = self.topics.iter().position(|t| *t == topic) {
                        // Its buffered logs are still judged here; the new owner re-reads
                        // from the last stored offset: duplicates, never gaps.
                        self.merge.remove(&(index, partition));
                        self.tracker.forget(&(index, partition));
                        self.dirty.remove(&(index, partition));
                    }
                }
            }
        }
    }

    fn on_partition_end(&mut self, partition: i32) {
        // The end of one partition of some topic: rdkafka's EOF error does not say which
        // topic, so every input with that partition number counts as alive and caught up.
        let now = now_ms(self.started);
        for index in 0..self.topics.len() {
            self.merge.touch(&(index, partition), now);
        }
    }

    fn on_message(
        &mut self,
        message: &rdkafka::message::BorrowedMessage<'_>,
    ) -> anyhow::Result<()> {
        let topic = message.topic();
        let Some(index) = self.topics.iter().position(|t| t == topic) else {
            return Ok(());
        };
        let input = (index, message.partition());
        let offset = message.offset();
        self.report.consumed += 1;
        metrics::counter!("cyberlm_consumed_total", "topic" => topic.to_string()).increment(1);
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
        let source = Source::ALL[index];
        match schemas::decode(source, payload) {
            Ok(envelope) => {
                let now = now_ms(self.started);
                let time = envelope.event_time_ms();
                metrics::gauge!("cyberlm_watermark_seconds", "source" => source.name())
                    .set(time as f64 / 1000.0);
                let pending = Pending {
                    envelope,
                    offset,
                    consumed_at: Instant::now(),
                    replayed_at_ms,
                };
                if let Some(late) = self.merge.push(input, time, pending, now) {
                    metrics::counter!("cyberlm_late_events_total", "source" => source.name())
                        .increment(1);
                    self.judge(late)?;
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
                let delivery = produce(
                    &self.producer,
                    self.kafka.topics.dead_letter.clone(),
                    key,
                    record.to_string(),
                    None,
                );
                self.deliveries.push(Box::pin(async move {
                    delivery.await?;
                    Ok((input, offset))
                }));
            }
        }
        Ok(())
    }

    fn release_ready(&mut self) -> anyhow::Result<()> {
        let now = now_ms(self.started);
        while let Some(merged) = self.merge.pop_ready(now) {
            self.judge(merged)?;
        }
        Ok(())
    }

    fn judge(&mut self, merged: Merged<Input, Pending>) -> anyhow::Result<()> {
        let Merged {
            input,
            item: pending,
            ..
        } = merged;
        let mut sends = Vec::new();
        for detector in self.detectors.iter_mut() {
            for finding in detector.detect(&pending.envelope) {
                metrics::counter!("cyberlm_alerts_total", "severity" => finding.severity.caption(),
                    "detector" => detector.name().to_string())
                .increment(1);
                self.report.alerts += 1;
                let key = pending.envelope.key().to_string();
                sends.push(produce(
                    &self.producer,
                    self.kafka.topics.alerts.clone(),
                    key,
                    finding.to_ocsf().to_string(),
                    pending.replayed_at_ms,
                ));
            }
        }
        let offset = pending.offset;
        let event_time_ms = pending.envelope.event_time_ms();
        let consumed_at = pending.consumed_at;
        let replayed_at_ms = pending.replayed_at_ms;
        self.deliveries.push(Box::pin(async move {
            for send in sends {
                send.await?;
            }
            let verdict_ms = wall_ms();
            metrics::histogram!("cyberlm_end_to_end_latency_seconds")
                .record((verdict_ms - event_time_ms) as f64 / 1000.0);
            metrics::histogram!("cyberlm_processing_latency_seconds")
                .record(consumed_at.elapsed().as_secs_f64());
            if let Some(replayed) = replayed_at_ms {
                metrics::histogram!("cyberlm_replay_to_verdict_seconds")
                    .record((verdict_ms - replayed) as f64 / 1000.0);
            }
            Ok((input, offset))
        }));
        Ok(())
    }
}

/// Produces one record; the future owns everything it needs.
fn produce(
    producer: &FutureProducer,
    topic: String,
    key: String,
    payload: String,
    replayed_at_ms: Option<i64>,
) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
    let producer = producer.clone();
    async move {
        let mut record = FutureRecord::to(&topic).key(&key).payload(&payload);
        let stamp = replayed_at_ms.map(|ms| ms.to_string());
        if let Some(stamp) = &stamp {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: REPLAYED_AT_HEADER,
                value: Some(stamp.as_str()),
            }));
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(error, _)| anyhow::anyhow!("failed to deliver to topic {topic}: {error}"))?;
        metrics::counter!("cyberlm_produced_total", "topic" => topic).increment(1);
        Ok(())
    }
}

impl Engine {
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
