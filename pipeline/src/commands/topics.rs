//! `cyberlm topics`: creates the source, alerts and dead-letter topics, with the source
//! topics co-partitioned (one partition count) so each user's logs from all three sources
//! meet in one `detect` instance.
//!
//! Replay stamps each message with its original event time, and Kafka's time-based
//! retention measures age by that timestamp: a replayed incident from last month would be
//! deleted minutes after it arrived (and a consumer reading it would jump to the log
//! start). Topics are therefore created with `retention.ms` from `--retention-ms`,
//! unlimited by default.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use crate::cli::TopicsArgs;
use crate::config::Config;
use crate::kafka::KafkaConfig;

/// Creates the five topics; existing ones are left alone.
pub async fn create_topics(
    kafka: &KafkaConfig,
    partitions: i32,
    retention_ms: i64,
) -> anyhow::Result<()> {
    let mut client = rdkafka::ClientConfig::new();
    client.set("bootstrap.servers", &kafka.bootstrap_servers);
    for (key, value) in &kafka.librdkafka {
        client.set(key, value);
    }
    let admin: AdminClient<DefaultClientContext> = client
        .create()
        .context("failed to create a Kafka admin client")?;
    let topics = &kafka.topics;
    let wanted = [
        (&topics.azure, partitions),
        (&topics.confluence, partitions),
        (&topics.cloudtrail, partitions),
        (&topics.alerts, partitions),
        (&topics.dead_letter, 1),
    ];
    let retention = retention_ms.to_string();
    let new: Vec<NewTopic> = wanted
        .iter()
        .map(|(name, count)| {
            NewTopic::new(name.as_str(), *count, TopicReplication::Fixed(1))
                .set("retention.ms", &retention)
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin
        .create_topics(&new, &options)
        .await
        .context("failed to create topics")?
    {
        match result {
            Ok(name) => tracing::info!(message = "Created topic.", topic = name.as_str()),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::info!(message = "Topic exists.", topic = name.as_str())
            }
            Err((name, code)) => anyhow::bail!("failed to create topic {name}: {code}"),
        }
    }
    Ok(())
}

/// `cyberlm topics`.
pub fn run(args: &TopicsArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(create_topics(
        &config.kafka,
        args.partitions,
        args.retention_ms,
    ))?;
    println!("topics ready on {}", config.kafka.bootstrap_servers);
    Ok(ExitCode::SUCCESS)
}
