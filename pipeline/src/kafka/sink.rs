//! A Kafka topic as a record sink (alerts, dead letters).

use std::time::Duration;

use futures::FutureExt;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::stream::{Delivery, REPLAYED_AT_HEADER, RecordSink};

/// Produces each record to one topic, keyed by user.
pub struct TopicSink {
    producer: FutureProducer,
    topic: String,
}

impl TopicSink {
    /// A sink writing to `topic` through `producer`.
    pub fn new(producer: FutureProducer, topic: &str) -> Self {
        TopicSink {
            producer,
            topic: topic.to_string(),
        }
    }
}

impl RecordSink for TopicSink {
    /// Enqueues the record, waiting while librdkafka's queue is full; the delivery
    /// resolves when the broker acknowledges it.
    fn send(&self, key: &str, payload: &str, replayed_at_ms: Option<i64>) -> Delivery {
        let topic = self.topic.as_str();
        let stamp = replayed_at_ms.map(|ms| ms.to_string());
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if let Some(stamp) = &stamp {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: REPLAYED_AT_HEADER,
                value: Some(stamp.as_str()),
            }));
        }
        loop {
            match self.producer.send_result(record) {
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
                    // without confirming the log, so it is re-read, never lost.
                    let message = format!("cannot enqueue a record for topic {topic}: {error}");
                    return async move { Err(anyhow::anyhow!(message)) }.boxed();
                }
            }
        }
    }

    fn flush(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
