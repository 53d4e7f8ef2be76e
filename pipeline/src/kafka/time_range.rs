//! A stretch of recorded time read back from the source topics (for `cyberlm retrain`):
//! each partition from the first message stamped at or after the start (replay and
//! well-behaved producers stamp messages with event time) to the end it had when the
//! read began, keeping the logs whose event time falls in the range.
//!
//! A consumer outside detect's group, with partitions assigned by hand and nothing
//! committed: reading the past never moves the live pipeline's offsets.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use schemas::{Envelope, Source};

use super::KafkaConfig;
use crate::files::{DeadLetter, JsonlSink};

/// How long the broker may stay silent before the read is given up.
const STALL: Duration = Duration::from_secs(30);
const METADATA: Duration = Duration::from_secs(10);

/// Every log of the source topics whose event time is in `[since, until)`, decoded and
/// pseudonymised by `pii`; what does not decode goes to `dead_letters`. Returns the logs
/// and the number of dead letters.
pub fn read_time_range(
    config: &KafkaConfig,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    pii: Option<&operators::pii::PiiHasher>,
    dead_letters: &mut JsonlSink,
) -> anyhow::Result<(Vec<Envelope>, u64)> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("group.id", format!("{}-time-range", config.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    for (key, value) in &config.librdkafka {
        client.set(key, value);
    }
    let consumer: BaseConsumer = client.create().with_context(|| {
        format!(
            "failed to create a Kafka consumer for {}",
            config.bootstrap_servers
        )
    })?;

    // Where each partition starts and where it ends now.
    let mut starts = TopicPartitionList::new();
    let mut ends = Vec::new();
    for source in Source::ALL {
        let topic = config.topics.for_source(source);
        let metadata = consumer
            .fetch_metadata(Some(topic), METADATA)
            .with_context(|| format!("failed to read the metadata of topic {topic}"))?;
        let partitions = metadata
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        for partition in 0..partitions as i32 {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, METADATA)
                .with_context(|| format!("failed to read the offsets of {topic}/{partition}"))?;
            if high > low {
                let start = match since {
                    Some(since) => Offset::Offset(since.timestamp_millis()),
                    None => Offset::Offset(low),
                };
                starts.add_partition_offset(topic, partition, start)?;
                ends.push((source, topic.to_string(), partition, high));
            }
        }
    }
    if since.is_some() && starts.count() > 0 {
        starts = consumer
            .offsets_for_times(starts, METADATA)
            .context("failed to look up the offsets of the start time")?;
    }
    // A partition with nothing at or after the start has nothing to read.
    let mut remaining: Vec<(Source, String, i32, i64)> = Vec::new();
    let mut assignment = TopicPartitionList::new();
    for (source, topic, partition, high) in ends {
        let start = starts
            .find_partition(&topic, partition)
            .map(|element| element.offset());
        if let Some(Offset::Offset(start)) = start
            && start < high
        {
            assignment.add_partition_offset(&topic, partition, Offset::Offset(start))?;
            remaining.push((source, topic, partition, high));
        }
    }
    consumer
        .assign(&assignment)
        .context("failed to assign the source partitions")?;

    let mut logs = Vec::new();
    let mut rejected = 0u64;
    let mut heard = Instant::now();
    while !remaining.is_empty() {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            // A partition whose last offsets are transaction markers delivers no message
            // at its end, but the consumer's position moves past them.
            if let Ok(positions) = consumer.position() {
                remaining.retain(|(_, topic, partition, high)| {
                    !matches!(
                        positions.find_partition(topic, *partition).map(|p| p.offset()),
                        Some(Offset::Offset(position)) if position >= *high
                    )
                });
            }
            if remaining.is_empty() {
                break;
            }
            anyhow::ensure!(
                heard.elapsed() < STALL,
                "the broker sent nothing for {}s; still to read: {:?}",
                STALL.as_secs(),
                remaining
                    .iter()
                    .map(|(_, topic, partition, high)| format!(
                        "{topic}/{partition} up to offset {high}"
                    ))
                    .collect::<Vec<_>>()
            );
            continue;
        };
        let message = message.context("failed to read the source topics")?;
        heard = Instant::now();
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        let Some(index) = remaining
            .iter()
            .position(|(_, t, p, _)| t == topic && *p == partition)
        else {
            continue;
        };
        let (source, _, _, high) = remaining[index];
        if offset >= high {
            remaining.swap_remove(index);
            continue;
        }
        let payload = message.payload().unwrap_or_default();
        match schemas::decode(source, payload) {
            Ok(mut envelope) => {
                let in_range = since.is_none_or(|since| envelope.event_time >= since)
                    && until.is_none_or(|until| envelope.event_time < until);
                if in_range {
                    if let Some(pii) = pii {
                        pii.apply(&mut envelope);
                    }
                    logs.push(envelope);
                }
            }
            Err(error) => {
                rejected += 1;
                let dead = DeadLetter {
                    input: topic.to_string(),
                    position: format!("{partition}:{offset}"),
                    error,
                    raw: String::from_utf8_lossy(payload).into_owned(),
                };
                dead_letters.write(&dead.to_json())?;
            }
        }
        if offset + 1 >= high {
            remaining.swap_remove(index);
        }
    }
    Ok((logs, rejected))
}
