//! The three source topics as a [`LogSource`]: a consumer in the group, each partition
//! read from its own librdkafka queue so the engine can hold back the partitions that
//! run ahead (watermark alignment), and offsets stored only when the engine confirms
//! them (`enable.auto.offset.store=false`; librdkafka commits what is stored).

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::FutureExt;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use schemas::Source;
use serde_json::{Map, Value};

use super::{KafkaConfig, PartitionChange, RebalanceContext, consumer};
use crate::stream::{Input, LogSource, REPLAYED_AT_HEADER, RawRecord, SourceEvent};

type PartitionQueue = StreamPartitionQueue<RebalanceContext>;

/// The source topics of one consumer-group member.
pub struct KafkaSource {
    consumer: Arc<StreamConsumer<RebalanceContext>>,
    /// Topic names in [`Source::ALL`] order: an input's first half indexes it.
    topics: Vec<String>,
    queues: Vec<(Input, PartitionQueue)>,
    changes: Receiver<PartitionChange>,
    /// The queue read last, tried first.
    last: Option<usize>,
    main_polled_at: Instant,
}

/// How often the main queue is polled while partition queues have logs.
const MAIN_QUEUE_EVERY: Duration = Duration::from_millis(5);
/// How long to wait when no readable queue has a log.
const IDLE_POLL: Duration = Duration::from_millis(2);

impl KafkaSource {
    /// Joins the group and subscribes to the source topics `config` names.
    pub fn subscribe(config: &KafkaConfig) -> anyhow::Result<Self> {
        let (context, changes) = RebalanceContext::new();
        let consumer = Arc::new(consumer(config, context)?);
        let topics: Vec<String> = Source::ALL
            .iter()
            .map(|s| config.topics.for_source(*s).to_string())
            .collect();
        let queues = split_partition_queues(&consumer, &topics);
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topic_refs)
            .with_context(|| format!("failed to subscribe to {topics:?}"))?;
        Ok(KafkaSource {
            consumer,
            topics,
            queues,
            changes,
            last: None,
            main_polled_at: Instant::now(),
        })
    }

    fn change(&self, change: PartitionChange) -> SourceEvent {
        let (PartitionChange::Assigned(topic, partition)
        | PartitionChange::Revoked(topic, partition)) = &change;
        let Some(index) = self.topics.iter().position(|t| t == topic) else {
            return SourceEvent::Nothing;
        };
        let input = (index, *partition);
        match change {
            PartitionChange::Assigned(..) => SourceEvent::Assigned(input),
            PartitionChange::Revoked(..) => SourceEvent::Revoked(input),
        }
    }

    fn event(
        topics: &[String],
        queue_input: Option<Input>,
        message: Result<BorrowedMessage<'_>, KafkaError>,
    ) -> SourceEvent {
        match message {
            Ok(message) => {
                let Some(index) = topics.iter().position(|t| t == message.topic()) else {
                    return SourceEvent::Nothing;
                };
                SourceEvent::Record(record((index, message.partition()), &message))
            }
            // On the main queue the end of a partition does not say which topic; those
            // (unsplit) partitions go idle by the idle timeout instead.
            Err(KafkaError::PartitionEOF(_)) => {
                queue_input.map_or(SourceEvent::Nothing, SourceEvent::CaughtUp)
            }
            Err(error) => {
                tracing::warn!(message = "Kafka consumer error.", %error);
                SourceEvent::Nothing
            }
        }
    }
}

impl LogSource for KafkaSource {
    fn initial_inputs(&self) -> Vec<Input> {
        // Partitions hold the watermark once assigned, not before.
        Vec::new()
    }

    fn name(&self, input: Input) -> &str {
        &self.topics[input.0]
    }

    fn locate(&self, input: Input, position: i64) -> Map<String, Value> {
        Map::from_iter([
            (
                "input".to_string(),
                Value::from(self.topics[input.0].as_str()),
            ),
            ("partition".to_string(), Value::from(input.1)),
            ("offset".to_string(), Value::from(position)),
        ])
    }

    async fn next(&mut self, readable: impl Fn(&Input) -> bool) -> SourceEvent {
        if let Ok(change) = self.changes.try_recv() {
            return self.change(change);
        }
        // The main queue serves rebalances and statistics, and carries the logs of any
        // partition that was not split off (one created after start): poll it often,
        // not for every log.
        if self.main_polled_at.elapsed() >= MAIN_QUEUE_EVERY {
            self.main_polled_at = Instant::now();
            if let Some(message) = self.consumer.recv().now_or_never() {
                return Self::event(&self.topics, None, message);
            }
        }
        // The queue read last first (its logs come in runs), then the others in turn.
        let count = self.queues.len();
        let start = self.last.unwrap_or(0);
        for step in 0..count {
            let index = (start + step) % count;
            let (input, queue) = &self.queues[index];
            if !readable(input) {
                continue;
            }
            if let Some(message) = queue.recv().now_or_never() {
                self.last = Some(index);
                return Self::event(&self.topics, Some(*input), message);
            }
        }
        // Nothing at hand. Waiting on every queue's waker costs a few locks per queue
        // each time, which at live rates (every log finds the queues empty) cost more
        // than the logs; a short sleep costs a poll round every IDLE_POLL instead.
        tokio::time::sleep(IDLE_POLL).await;
        SourceEvent::Nothing
    }

    fn confirm(&mut self, positions: &[(Input, i64)]) {
        let mut list = TopicPartitionList::new();
        for ((index, partition), next) in positions {
            if let Err(error) =
                list.add_partition_offset(&self.topics[*index], *partition, Offset::Offset(*next))
            {
                tracing::warn!(message = "Could not list an offset to store.", %error);
            }
        }
        if let Err(error) = self.consumer.store_offsets(&list) {
            // A partition revoked in the meantime cannot be stored; its new owner re-reads.
            tracing::debug!(message = "Offsets not stored.", %error);
        }
    }

    fn close(&mut self) {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing new since the last automatic commit.
            Ok(())
            | Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => {
                tracing::warn!(message = "Final offset commit failed; the next run re-reads from the last commit.", %error)
            }
        }
    }
}

fn record(input: Input, message: &BorrowedMessage<'_>) -> RawRecord {
    let replayed_at_ms = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|header| header.key == REPLAYED_AT_HEADER)
            .and_then(|header| header.value)
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(|text| text.parse().ok())
    });
    RawRecord {
        input,
        position: message.offset(),
        source: Some(Source::ALL[input.0]),
        key: message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
        payload: message.payload().unwrap_or_default().to_vec(),
        replayed_at_ms,
    }
}

/// Splits every partition of the source topics off the consumer's main queue, before the
/// first poll so no log of theirs is fetched into the main queue (librdkafka keeps an
/// application's forwarding through later assignments). Partitions this member is not
/// assigned stay empty. A topic whose metadata cannot be read stays on the main queue:
/// its logs are still judged, without alignment.
fn split_partition_queues(
    consumer: &Arc<StreamConsumer<RebalanceContext>>,
    topics: &[String],
) -> Vec<(Input, PartitionQueue)> {
    let mut queues = Vec::new();
    for (index, topic) in topics.iter().enumerate() {
        let partitions = match consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) {
            Ok(metadata) => metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
                .sum::<usize>(),
            Err(error) => {
                tracing::warn!(message = "Could not read topic metadata; its partitions are read without alignment.", topic = topic.as_str(), %error);
                0
            }
        };
        if partitions == 0 {
            tracing::warn!(
                message = "Topic has no partitions yet; its logs are read without alignment until detect restarts.",
                topic = topic.as_str()
            );
        }
        for partition in 0..partitions as i32 {
            match consumer.split_partition_queue(topic, partition) {
                Some(queue) => queues.push(((index, partition), queue)),
                None => {
                    tracing::warn!(
                        message =
                            "Could not split a partition queue; it is read without alignment.",
                        topic = topic.as_str(),
                        partition
                    )
                }
            }
        }
    }
    queues
}
