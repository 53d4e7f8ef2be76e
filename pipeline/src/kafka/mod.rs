//! Kafka through rdkafka: the settings, the clients built from them, and the rebalance
//! hook that tells the stream engine which partitions it owns.

mod client;
mod config;
mod rebalance;

pub use client::{consumer, producer, producer_config};
pub use config::{KafkaConfig, TopicsConfig};
pub use rebalance::{PartitionChange, RebalanceContext};
