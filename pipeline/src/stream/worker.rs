//! The detector worker: a dedicated thread that runs the detectors over batches of logs
//! in the order the merge released them and starts producing their alerts, so rule
//! evaluation (and, with [4/7], model scoring) never blocks the Kafka consumer.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::FutureExt;
use operators::Detector;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use schemas::Envelope;
use tokio::sync::mpsc;

use super::REPLAYED_AT_HEADER;

/// Which partition of which source topic a log came from.
pub type Input = (usize, i32);

/// A log released by the merge, on its way to the detectors.
pub struct Judgement {
    /// Its partition.
    pub input: Input,
    /// Its offset.
    pub offset: i64,
    /// The log.
    pub envelope: Envelope,
    /// When it was read.
    pub consumed_at: Instant,
    /// When replay produced it, if it was replayed.
    pub replayed_at_ms: Option<i64>,
}

/// A log's verdict: the deliveries of its alerts (none for "no alert").
pub struct Verdict {
    /// Its partition.
    pub input: Input,
    /// Its offset.
    pub offset: i64,
    /// Event time, for latency metrics.
    pub event_time_ms: i64,
    /// When it was read.
    pub consumed_at: Instant,
    /// When replay produced it.
    pub replayed_at_ms: Option<i64>,
    /// One per alert.
    pub deliveries: Vec<Delivery>,
}

/// A record on its way to the broker; resolves when it is acknowledged.
pub type Delivery = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>;

/// Starts the worker. It ends when `batches` closes, returning the number of alerts.
pub fn spawn(
    mut detectors: Vec<Box<dyn Detector>>,
    producer: FutureProducer,
    alerts_topic: String,
    mut batches: mpsc::UnboundedReceiver<Vec<Judgement>>,
    verdicts: mpsc::UnboundedSender<Verdict>,
) -> std::io::Result<JoinHandle<u64>> {
    std::thread::Builder::new().name("cyberlm-detectors".to_string()).spawn(move || {
        let mut alerts = 0;
        while let Some(batch) = batches.blocking_recv() {
            for judgement in batch {
                let mut deliveries = Vec::new();
                for detector in detectors.iter_mut() {
                    for finding in detector.detect(&judgement.envelope) {
                        metrics::counter!("cyberlm_alerts_total", "severity" => finding.severity.caption(),
                            "detector" => detector.name().to_string())
                        .increment(1);
                        alerts += 1;
                        let payload = finding.to_ocsf().to_string();
                        let delivery = send(&producer, &alerts_topic, judgement.envelope.key(), &payload, judgement.replayed_at_ms);
                        deliveries.push(delivery);
                    }
                }
                let verdict = Verdict {
                    input: judgement.input,
                    offset: judgement.offset,
                    event_time_ms: judgement.envelope.event_time_ms(),
                    consumed_at: judgement.consumed_at,
                    replayed_at_ms: judgement.replayed_at_ms,
                    deliveries,
                };
                if verdicts.send(verdict).is_err() {
                    // The engine is gone; nothing will store offsets any more.
                    return alerts;
                }
            }
        }
        alerts
    })
}

/// Enqueues one record, waiting while librdkafka's queue is full.
pub fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: &str,
    replayed_at_ms: Option<i64>,
) -> Delivery {
    let stamp = replayed_at_ms.map(|ms| ms.to_string());
    let mut record = FutureRecord::to(topic).key(key).payload(payload);
    if let Some(stamp) = &stamp {
        record = record.headers(OwnedHeaders::new().insert(Header {
            key: REPLAYED_AT_HEADER,
            value: Some(stamp.as_str()),
        }));
    }
    loop {
        match producer.send_result(record) {
            Ok(delivery) => {
                let topic = topic.to_string();
                return async move {
                    match delivery.await {
                        Ok(Ok(_)) => {
                            metrics::counter!("cyberlm_produced_total", "topic" => topic)
                                .increment(1);
                            Ok(())
                        }
                        Ok(Err((error, _))) => Err(anyhow::anyhow!(
                            "failed to deliver to topic {topic}: {error}"
                        )),
                        Err(_) => Err(anyhow::anyhow!(
                            "the producer shut down before delivering to {topic}"
                        )),
                    }
                }
                .boxed();
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((error, _)) => {
                // Not retryable (e.g. a record over the size limit): the engine stops
                // without storing the offset, so the log is re-read, never lost.
                let message = format!("cannot enqueue a record for topic {topic}: {error}");
                return async move { Err(anyhow::anyhow!(message)) }.boxed();
            }
        }
    }
}
