//! Tells the stream engine when partitions are assigned or revoked, and exports consumer
//! lag from librdkafka's statistics.

use std::sync::mpsc;

use rdkafka::ClientContext;
use rdkafka::Statistics;
use rdkafka::consumer::{ConsumerContext, Rebalance};

/// A partition the instance gained or lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionChange {
    /// Now ours.
    Assigned(String, i32),
    /// No longer ours.
    Revoked(String, i32),
}

/// The consumer context: forwards rebalances to the engine over a channel.
pub struct RebalanceContext {
    changes: mpsc::Sender<PartitionChange>,
}

impl RebalanceContext {
    /// A context and the receiving end of its changes.
    pub fn new() -> (Self, mpsc::Receiver<PartitionChange>) {
        let (changes, receiver) = mpsc::channel();
        (RebalanceContext { changes }, receiver)
    }
}

impl ClientContext for RebalanceContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        // End of partition is how a caught-up consumer learns it is idle, not a fault.
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        if matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::trace!(message = "Reached the end of a partition.", reason);
        } else {
            tracing::warn!(message = "Kafka client error.", %error, reason);
        }
    }

    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in &statistics.topics {
            for (partition, partition_stats) in &stats.partitions {
                if *partition < 0 || partition_stats.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!("cyberlm_consumer_lag_messages", "topic" => topic.clone(), "partition" => partition.to_string())
                    .set(partition_stats.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for RebalanceContext {
    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let send = |make: fn(String, i32) -> PartitionChange,
                    list: &rdkafka::TopicPartitionList| {
            for element in list.elements() {
                let _ = self
                    .changes
                    .send(make(element.topic().to_string(), element.partition()));
            }
        };
        match rebalance {
            Rebalance::Assign(list) => send(PartitionChange::Assigned, list),
            Rebalance::Revoke(list) => send(PartitionChange::Revoked, list),
            Rebalance::Error(error) => tracing::warn!(message = "Kafka rebalance failed.", %error),
        }
    }
}
