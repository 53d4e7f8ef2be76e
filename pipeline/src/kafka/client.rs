//! Building rdkafka clients: cyberlm's settings first, then the user's passthrough
//! settings, which win.

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::FutureProducer;

use super::{KafkaConfig, RebalanceContext};

fn base(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.bootstrap_servers);
    client
}

fn with_passthrough(mut client: ClientConfig, config: &KafkaConfig) -> ClientConfig {
    for (key, value) in &config.librdkafka {
        client.set(key, value);
    }
    client
}

/// A producer for the source topics (replay) or the alerts and dead-letter topics.
/// Keys are partitioned with murmur2 like the Java client, so the three source topics
/// are co-partitioned by user whoever produced them.
pub fn producer(config: &KafkaConfig) -> anyhow::Result<FutureProducer> {
    producer_config(config).create().with_context(|| {
        format!(
            "failed to create a Kafka producer for {}",
            config.bootstrap_servers
        )
    })
}

/// The producer settings, for callers that need another producer type (replay's
/// threaded producer).
pub fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = base(config);
    client
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("compression.type", "lz4");
    with_passthrough(client, config)
}

/// A consumer of the source topics that stores offsets only when told (after a log's
/// verdict) and assigns partitions by range, so partition N of every source topic goes
/// to the same instance.
pub fn consumer(
    config: &KafkaConfig,
    context: RebalanceContext,
) -> anyhow::Result<StreamConsumer<RebalanceContext>> {
    let mut client = base(config);
    client
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "range")
        .set("enable.partition.eof", "true")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        // Per partition: detect reads each partition from its own queue (18 by default).
        .set("queued.max.messages.kbytes", "2048")
        // A partition held back by alignment has a full queue, and librdkafka then
        // postpones its next fetch by this much (1 s by default): when it becomes the
        // slowest it must be refilled at once, or every other partition waits.
        .set("fetch.queue.backoff.ms", "10")
        .set("fetch.max.bytes", "8388608")
        .set("statistics.interval.ms", "5000");
    with_passthrough(client, config)
        .create_with_context(context)
        .with_context(|| {
            format!(
                "failed to create a Kafka consumer for {}",
                config.bootstrap_servers
            )
        })
}
