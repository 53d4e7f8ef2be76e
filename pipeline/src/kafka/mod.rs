//! Kafka through rdkafka: the settings, the clients built from them, the rebalance hook,
//! and the source topics and sink topics as detect's source and sinks.

mod client;
mod config;
mod rebalance;
mod sink;
mod source;
mod time_range;

pub use client::{consumer, producer, producer_config};
pub use config::{KafkaConfig, TopicsConfig};
pub use rebalance::{PartitionChange, RebalanceContext};
pub use sink::TopicSink;
pub use source::KafkaSource;
pub use time_range::read_time_range;
