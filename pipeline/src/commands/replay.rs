//! `cyberlm replay`: recorded JSONL logs into the source topics, keyed by user, stamped
//! with their event time, in event-time order, paced by the original timestamps × speed,
//! at a fixed rate, or as fast as the broker takes them.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use schemas::Source;

use crate::cli::ReplayArgs;
use crate::config::Config;
use crate::files::{expand_inputs, read_raw_logs};
use crate::kafka::producer_config;
use crate::progress;
use crate::stream::REPLAYED_AT_HEADER;

/// One log to replay.
struct Recorded {
    source: Source,
    key: String,
    event_time_ms: i64,
    payload: Vec<u8>,
}

/// Counts deliveries from librdkafka's delivery callbacks.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
}

struct Counting(Arc<Deliveries>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.delivered.fetch_add(1, Ordering::Relaxed),
            Err((error, _)) => {
                tracing::error!(message = "A replayed log was not delivered.", %error);
                self.0.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// How early a paced message may go out: replay sends in bursts of at most this span.
const PACING_SLACK: Duration = Duration::from_millis(1);

/// How long a topic the logs need may take to appear in the broker's metadata.
const TOPIC_WAIT: Duration = Duration::from_secs(10);

/// How replay paces messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as the broker takes them.
    Unpaced,
    /// Original inter-event gaps divided by this factor.
    Speed(f64),
    /// Messages per second.
    Rate(f64),
}

fn read_recorded(args: &ReplayArgs) -> anyhow::Result<(Vec<Recorded>, u64)> {
    let mut logs: Vec<Recorded> = Vec::new();
    let mut skipped = 0;
    for file in expand_inputs(&args.inputs)? {
        read_raw_logs(&file, |position, source, bytes| {
            let decoded = schemas::decode_from(source, bytes);
            match (decoded, source) {
                (Ok(envelope), _) => logs.push(Recorded {
                    source: envelope.source,
                    key: envelope.key().to_string(),
                    event_time_ms: envelope.event_time_ms(),
                    payload: bytes.to_vec(),
                }),
                // A malformed log of a known source is replayed as is: detect must
                // dead-letter it, and a recorded incident may exist to test exactly that.
                (Err(_), Some(source)) => {
                    let event_time_ms = logs.last().map_or(0, |last| last.event_time_ms);
                    logs.push(Recorded {
                        source,
                        key: "-".to_string(),
                        event_time_ms,
                        payload: bytes.to_vec(),
                    });
                }
                (Err(error), None) => {
                    tracing::warn!(message = "Skipped a log of unknown source.", file = %file.path.display(), position, %error);
                    skipped += 1;
                }
            }
        })?;
    }
    logs.sort_by_key(|log| log.event_time_ms);
    Ok((logs, skipped))
}

/// Fails early, with what to do, when the broker cannot be reached or a topic the logs
/// need does not exist: otherwise the producer would queue logs until its delivery
/// timeout, minutes later. A topic created a moment ago may not show in the metadata
/// yet, so a missing one is asked for again for a few seconds.
fn check_topics(
    producer: &ThreadedProducer<Counting>,
    config: &Config,
    logs: &[Recorded],
) -> anyhow::Result<()> {
    let mut sources: Vec<Source> = logs.iter().map(|log| log.source).collect();
    sources.sort_by_key(|source| source.index());
    sources.dedup();
    let deadline = Instant::now() + TOPIC_WAIT;
    for source in sources {
        let topic = config.kafka.topics.for_source(source);
        loop {
            let metadata = producer
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .with_context(|| {
                    format!(
                        "cannot reach Kafka at {} (is the broker running?)",
                        config.kafka.bootstrap_servers
                    )
                })?;
            let ready = metadata
                .topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
            if ready {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "topic {topic} (for {} logs) does not exist on {}: create the topics with `cyberlm topics`",
                source.name(),
                config.kafka.bootstrap_servers
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

/// `cyberlm replay`.
pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let pace = match (args.speed, args.rate) {
        (Some(_), Some(_)) => {
            anyhow::bail!("--speed and --rate conflict: pace by event time or by rate, not both")
        }
        (Some(speed), None) if speed > 0.0 => Pace::Speed(speed),
        (None, Some(rate)) if rate > 0.0 => Pace::Rate(rate),
        (None, None) => Pace::Unpaced,
        _ => anyhow::bail!("--speed and --rate must be positive"),
    };
    let (logs, skipped) = read_recorded(args)?;
    let deliveries = Arc::new(Deliveries::default());
    let producer: ThreadedProducer<Counting> = producer_config(&config.kafka)
        .create_with_context(Counting(deliveries.clone()))
        .with_context(|| {
            format!(
                "failed to create a Kafka producer for {}",
                config.kafka.bootstrap_servers
            )
        })?;
    check_topics(&producer, &config, &logs)?;
    let bar = progress::bar(logs.len() as u64, "replaying");
    let started = Instant::now();
    let first_time = logs.first().map_or(0, |log| log.event_time_ms);
    for (index, log) in logs.iter().enumerate() {
        let due = match pace {
            Pace::Unpaced => None,
            Pace::Speed(speed) => Some(Duration::from_secs_f64(
                (log.event_time_ms - first_time) as f64 / 1000.0 / speed,
            )),
            Pace::Rate(rate) => Some(Duration::from_secs_f64(index as f64 / rate)),
        };
        if let Some(due) = due {
            // Messages due within the next PACING_SLACK go out now: sleeping once per
            // message (every 100 µs at 10k logs/s) costs the replayer more CPU than
            // producing, on cores that detect and the broker share in a benchmark.
            let elapsed = started.elapsed();
            if due > elapsed + PACING_SLACK {
                std::thread::sleep(due - elapsed);
            }
        }
        let topic = config.kafka.topics.for_source(log.source);
        let stamp = chrono::Utc::now().timestamp_millis().to_string();
        let headers = OwnedHeaders::new().insert(Header {
            key: REPLAYED_AT_HEADER,
            value: Some(stamp.as_str()),
        });
        let mut record = BaseRecord::to(topic)
            .key(log.key.as_str())
            .payload(log.payload.as_slice())
            .timestamp(log.event_time_ms)
            .headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((error, _)) => {
                    return Err(error).with_context(|| format!("failed to produce to {topic}"));
                }
            }
        }
        if index % 1024 == 0 {
            bar.set_position(index as u64);
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("replayed logs were not all delivered within 120 s")?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let (delivered, failed) = (
        deliveries.delivered.load(Ordering::Relaxed),
        deliveries.failed.load(Ordering::Relaxed),
    );
    println!(
        "replayed {delivered} logs in {seconds:.2} s ({:.0} logs/s) into {}; {failed} failed, {skipped} skipped",
        delivered as f64 / seconds.max(1e-9),
        config.kafka.bootstrap_servers
    );
    anyhow::ensure!(failed == 0, "{failed} logs were not delivered");
    Ok(ExitCode::SUCCESS)
}
