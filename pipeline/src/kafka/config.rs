//! `[kafka]` settings.

use std::collections::BTreeMap;

use schemas::Source;
use serde::Deserialize;

/// `[kafka]`: the broker, the topics and any librdkafka setting.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers`. Env: `CYBERLM_KAFKA_BOOTSTRAP_SERVERS`.
    #[serde(default = "default_bootstrap")]
    pub bootstrap_servers: String,
    /// Consumer group of `detect`; instances in one group split the partitions.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Topic names.
    #[serde(default)]
    pub topics: TopicsConfig,
    /// Any librdkafka setting, passed through to every client (TLS, SASL, ...):
    /// `"security.protocol" = "SASL_SSL"`, `"sasl.mechanism" = "SCRAM-SHA-512"`.
    #[serde(default)]
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: default_bootstrap(),
            group_id: default_group(),
            topics: TopicsConfig::default(),
            librdkafka: BTreeMap::new(),
        }
    }
}

fn default_bootstrap() -> String {
    "127.0.0.1:9092".to_string()
}

fn default_group() -> String {
    "cyberlm-detect".to_string()
}

/// `[kafka.topics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    /// Entra ID sign-in logs.
    #[serde(default = "default_azure")]
    pub azure: String,
    /// Confluence audit records.
    #[serde(default = "default_confluence")]
    pub confluence: String,
    /// CloudTrail records.
    #[serde(default = "default_cloudtrail")]
    pub cloudtrail: String,
    /// Where alerts go.
    #[serde(default = "default_alerts")]
    pub alerts: String,
    /// Where undecodable logs go, with the reason.
    #[serde(default = "default_dead_letter")]
    pub dead_letter: String,
}

fn default_azure() -> String {
    "azure".to_string()
}
fn default_confluence() -> String {
    "confluence".to_string()
}
fn default_cloudtrail() -> String {
    "cloudtrail".to_string()
}
fn default_alerts() -> String {
    "alerts".to_string()
}
fn default_dead_letter() -> String {
    "dead-letter".to_string()
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            azure: default_azure(),
            confluence: default_confluence(),
            cloudtrail: default_cloudtrail(),
            alerts: default_alerts(),
            dead_letter: default_dead_letter(),
        }
    }
}

impl TopicsConfig {
    /// The topic a source's logs are read from and replayed into.
    pub fn for_source(&self, source: Source) -> &str {
        match source {
            Source::Azure => &self.azure,
            Source::Confluence => &self.confluence,
            Source::CloudTrail => &self.cloudtrail,
        }
    }

    /// The source whose logs a topic carries.
    pub fn source_of(&self, topic: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .find(|source| self.for_source(*source) == topic)
    }
}
