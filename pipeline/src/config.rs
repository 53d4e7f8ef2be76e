//! The TOML config file, with environment overrides.
//!
//! Every key is optional; a missing file section means the defaults. Environment
//! variables override the file: `CYBERLM_SIGMA_RULES` replaces `sigma.rules`,
//! `CYBERLM_KAFKA_BOOTSTRAP_SERVERS` replaces `kafka.bootstrap_servers`,
//! `CYBERLM_KAFKA_GROUP_ID` replaces `kafka.group_id`, `CYBERLM_GPT_MODEL` replaces
//! `gpt.model` and `CYBERLM_METRICS_LISTEN` replaces `metrics_listen`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use operators::sigma::RuleOverrides;

use crate::kafka::KafkaConfig;
use serde::Deserialize;

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Sigma detector.
    #[serde(default)]
    pub sigma: SigmaConfig,
    /// The broker, topics and librdkafka passthrough.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The event-time merge and backpressure of streaming detect.
    #[serde(default)]
    pub stream: StreamConfig,
    /// Pseudonymisation of personal data before detection.
    #[serde(default)]
    pub pii: PiiConfig,
    /// Groups of fields that get a model of their own (`train --field-group NAME`), as
    /// `[field_groups.NAME]`; `location` is built in.
    #[serde(default)]
    pub field_groups: std::collections::BTreeMap<String, FieldGroupConfig>,
    /// The GPT detector; off unless `gpt.model` is set.
    #[serde(default)]
    pub gpt: GptConfig,
    /// Where the Prometheus endpoint listens, e.g. `127.0.0.1:9464`; none when absent.
    /// Env: `CYBERLM_METRICS_LISTEN`.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// `[pii]`: which fields to replace with keyed pseudonyms. The key never lives in the
/// config file: it comes from `CYBERLM_PII_KEY` or from the file `key_file` names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    /// Fields per source: `azure = ["UserPrincipalName", "IPAddress"]`.
    #[serde(default)]
    pub fields: operators::pii::PiiFields,
    /// A file holding the key (at least 16 bytes), e.g. a mounted Kubernetes secret.
    pub key_file: Option<PathBuf>,
}

impl PiiConfig {
    /// The hasher, or `None` when no field is configured.
    pub fn hasher(&self) -> anyhow::Result<Option<operators::pii::PiiHasher>> {
        if self.fields.is_empty() {
            return Ok(None);
        }
        let key = match (std::env::var("CYBERLM_PII_KEY"), &self.key_file) {
            (Ok(key), _) => key.into_bytes(),
            (Err(_), Some(path)) => std::fs::read(path)
                .with_context(|| format!("failed to read the PII key file {}", path.display()))?,
            (Err(_), None) => anyhow::bail!(
                "pii.fields are configured but there is no key: set CYBERLM_PII_KEY or pii.key_file"
            ),
        };
        let key = key.trim_ascii();
        operators::pii::PiiHasher::new(key, self.fields.clone())
            .map(Some)
            .map_err(|reason| anyhow::anyhow!("invalid PII key: {reason}"))
    }

    /// The hasher for logs the model in `dir` (with `manifest`) reads, refused when it
    /// would pseudonymise them otherwise than the model's training logs were.
    pub fn hasher_for_model(
        &self,
        dir: &Path,
        manifest: &model::checkpoint::Manifest,
    ) -> anyhow::Result<Option<operators::pii::PiiHasher>> {
        let hasher = self.hasher()?;
        model::checkpoint::check_pseudonyms(dir, manifest, hasher.as_ref())?;
        Ok(hasher)
    }
}

/// `[field_groups.NAME]`: fields with a model of their own, e.g.
/// `header = ["country"]` and `fields.azure = ["Location", "LocationDetails"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldGroupConfig {
    /// Header fields the group's model is conditioned on, besides the source.
    #[serde(default)]
    pub header: Vec<operators::text_format::HeaderField>,
    /// The group's fields per source.
    pub fields: operators::source_fields::SourceFields,
}

impl Config {
    /// The field group called `name`: the config's, else the built-in `location`.
    pub fn field_group(&self, name: &str) -> anyhow::Result<operators::text_format::FieldGroup> {
        let group = match self.field_groups.get(name) {
            Some(group) => operators::text_format::FieldGroup {
                name: name.to_string(),
                header: group.header.clone(),
                fields: group.fields.clone(),
            },
            None if name == "location" => operators::text_format::FieldGroup::location(),
            None => anyhow::bail!(
                "no field group {name:?}: define [field_groups.{name}] in the config, or use the built-in \"location\""
            ),
        };
        anyhow::ensure!(
            !group.fields.is_empty(),
            "field group {name:?} lists no field for any source"
        );
        Ok(group)
    }
}

/// `[stream]`: how streaming detect merges and bounds its work.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Bounded out-of-orderness of each input, in milliseconds of event time.
    #[serde(default = "default_out_of_orderness_ms")]
    pub max_out_of_orderness_ms: i64,
    /// Wall-clock silence after which an input stops holding the watermark.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: i64,
    /// Wall-clock time after which an input that reached the end of its partition stops
    /// holding the watermark, unless a new log arrives first.
    #[serde(default = "default_caught_up_idle_ms")]
    pub caught_up_idle_ms: i64,
    /// Logs held by the merge before the oldest is released early.
    #[serde(default = "default_max_buffered")]
    pub max_buffered: usize,
    /// Logs read but not yet judged and delivered before consumption pauses.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Event time a partition may run ahead of the slowest active one before detect
    /// stops reading it until the others catch up (watermark alignment), in milliseconds.
    #[serde(default = "default_max_drift_ms")]
    pub max_drift_ms: i64,
}

const fn default_out_of_orderness_ms() -> i64 {
    5_000
}
const fn default_idle_timeout_ms() -> i64 {
    2_000
}
const fn default_caught_up_idle_ms() -> i64 {
    200
}
// Half of what may be in flight, so the merge can release early before reading pauses.
const fn default_max_buffered() -> usize {
    crate::stream::DEFAULT_MAX_IN_FLIGHT / 2
}
const fn default_max_in_flight() -> usize {
    crate::stream::DEFAULT_MAX_IN_FLIGHT
}
const fn default_max_drift_ms() -> i64 {
    30_000
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            max_out_of_orderness_ms: default_out_of_orderness_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            caught_up_idle_ms: default_caught_up_idle_ms(),
            max_buffered: default_max_buffered(),
            max_in_flight: default_max_in_flight(),
            max_drift_ms: default_max_drift_ms(),
        }
    }
}

impl StreamConfig {
    /// Rejects settings that would stall: the merge can only release a log early when it
    /// holds more than `max_buffered`, which consumption never reaches if it pauses at
    /// `max_in_flight` first.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.max_buffered < self.max_in_flight,
            "stream.max_buffered ({}) must be below stream.max_in_flight ({}), or a stalled input would stop detection",
            self.max_buffered,
            self.max_in_flight
        );
        anyhow::ensure!(
            self.idle_timeout_ms > 0,
            "stream.idle_timeout_ms must be positive"
        );
        anyhow::ensure!(
            self.caught_up_idle_ms >= 0,
            "stream.caught_up_idle_ms must not be negative"
        );
        anyhow::ensure!(
            self.max_out_of_orderness_ms >= 0,
            "stream.max_out_of_orderness_ms must not be negative"
        );
        anyhow::ensure!(
            self.max_drift_ms >= 0,
            "stream.max_drift_ms must not be negative"
        );
        Ok(())
    }

    /// The engine settings.
    pub fn engine(&self) -> crate::stream::EngineConfig {
        crate::stream::EngineConfig {
            merge: operators::merge::MergeConfig {
                max_out_of_orderness_ms: self.max_out_of_orderness_ms,
                idle_timeout_ms: self.idle_timeout_ms,
                caught_up_idle_ms: self.caught_up_idle_ms,
                max_buffered: self.max_buffered,
                max_drift_ms: self.max_drift_ms,
            },
            max_in_flight: self.max_in_flight,
            ..crate::stream::EngineConfig::default()
        }
    }
}

/// `[gpt]`: the GPT deviation detector beside the Sigma rules. Env: `CYBERLM_GPT_MODEL`
/// replaces `gpt.model`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptConfig {
    /// A model registry (`cyberlm publish`, `cyberlm retrain`: its published version,
    /// followed as new ones are published), or a model directory `cyberlm train` wrote
    /// and `cyberlm calibrate` calibrated; the detector is off when absent.
    pub model: Option<PathBuf>,
    /// `cpu`, or `cuda[:N]` in a CUDA build.
    #[serde(default = "default_gpt_device")]
    pub device: String,
    /// Expected alerts per 10,000 benign logs (the calibrated threshold).
    #[serde(default = "default_alerts_per_10k")]
    pub alerts_per_10k: f64,
    /// One user's anomalies within this many seconds of event time after an alert are
    /// grouped into it.
    #[serde(default = "default_group_window_s")]
    pub group_window_s: u64,
    /// Fields an alert names with the value the model expected.
    #[serde(default = "default_explain_fields")]
    pub explain_fields: usize,
    /// Logs scored per model call at most.
    #[serde(default = "default_gpt_max_batch")]
    pub max_batch: usize,
    /// Windows (rows) per forward pass.
    #[serde(default = "default_batch_windows")]
    pub batch_windows: usize,
}

fn default_gpt_device() -> String {
    "cpu".to_string()
}
const fn default_alerts_per_10k() -> f64 {
    1.0
}
const fn default_group_window_s() -> u64 {
    600
}
const fn default_explain_fields() -> usize {
    3
}
const fn default_gpt_max_batch() -> usize {
    64
}
const fn default_batch_windows() -> usize {
    16
}

impl Default for GptConfig {
    fn default() -> Self {
        GptConfig {
            model: None,
            device: default_gpt_device(),
            alerts_per_10k: default_alerts_per_10k(),
            group_window_s: default_group_window_s(),
            explain_fields: default_explain_fields(),
            max_batch: default_gpt_max_batch(),
            batch_windows: default_batch_windows(),
        }
    }
}

impl GptConfig {
    /// The detector settings.
    pub fn detector(&self) -> model::detector::GptDetectorConfig {
        model::detector::GptDetectorConfig {
            alerts_per_10k: self.alerts_per_10k,
            group_window_ms: i64::try_from(self.group_window_s.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            explain_fields: self.explain_fields,
            max_batch: self.max_batch,
        }
    }
}

/// `[sigma]`: which rules, and per-rule settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigmaConfig {
    /// Folder (searched recursively) or file of Sigma rules.
    #[serde(default = "default_rules")]
    pub rules: PathBuf,
    /// Per-rule `enabled` and `severity`, keyed by rule id or file stem:
    /// `[sigma.overrides.aws_sts_assumerole_misuse] enabled = false`.
    #[serde(default)]
    pub overrides: RuleOverrides,
}

impl Default for SigmaConfig {
    fn default() -> Self {
        SigmaConfig {
            rules: default_rules(),
            overrides: RuleOverrides::default(),
        }
    }
}

fn default_rules() -> PathBuf {
    PathBuf::from("rules/sigma/rules")
}

/// The config shipped in the repository, used when none is given and it exists.
pub const DEFAULT_CONFIG: &str = "config/cyberlm.toml";

impl Config {
    /// Reads `path`, or the default config if `None` and present, or the defaults; then
    /// applies environment overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let chosen = match path {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
        };
        let mut config = match &chosen {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| {
                    format!(
                        "config file {} is not valid; see config/cyberlm.toml for every key",
                        path.display()
                    )
                })?
            }
            None => Config::default(),
        };
        let source = chosen
            .as_ref()
            .map_or("the defaults".to_string(), |p| p.display().to_string());
        config
            .stream
            .validate()
            .with_context(|| format!("invalid [stream] settings in {source}"))?;
        if let Ok(rules) = std::env::var("CYBERLM_SIGMA_RULES") {
            config.sigma.rules = PathBuf::from(rules);
        }
        if let Ok(model) = std::env::var("CYBERLM_GPT_MODEL") {
            config.gpt.model = Some(PathBuf::from(model));
        }
        anyhow::ensure!(
            config.gpt.alerts_per_10k > 0.0 && config.gpt.alerts_per_10k < 10_000.0,
            "gpt.alerts_per_10k must be between 0 and 10000 (exclusive) in {source}"
        );
        if let Ok(servers) = std::env::var("CYBERLM_KAFKA_BOOTSTRAP_SERVERS") {
            config.kafka.bootstrap_servers = servers;
        }
        if let Ok(group) = std::env::var("CYBERLM_KAFKA_GROUP_ID") {
            config.kafka.group_id = group;
        }
        if let Ok(listen) = std::env::var("CYBERLM_METRICS_LISTEN") {
            config.metrics_listen = Some(listen.parse().with_context(|| {
                format!("CYBERLM_METRICS_LISTEN={listen} is not an address:port")
            })?);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_groups_come_from_the_config_or_are_built_in() {
        let config: Config = toml::from_str(
            "[field_groups.device]\nheader = [\"user\"]\nfields.azure = [\"DeviceDetail\"]\n",
        )
        .unwrap();
        let device = config.field_group("device").unwrap();
        assert_eq!(device.name, "device");
        assert_eq!(device.header, [operators::text_format::HeaderField::User]);
        assert_eq!(device.fields.azure, ["DeviceDetail"]);
        assert_eq!(
            config.field_group("location").unwrap(),
            operators::text_format::FieldGroup::location()
        );
        let unknown = config.field_group("nope").unwrap_err().to_string();
        assert!(unknown.contains("[field_groups.nope]"), "{unknown}");
        assert!(
            toml::from_str::<Config>("[field_groups.x]\nheader = [\"city\"]\nfields = {}\n")
                .is_err()
        );
        let empty: Config = toml::from_str("[field_groups.x]\nfields = {}\n").unwrap();
        assert!(empty.field_group("x").is_err(), "a group with no field");
    }

    #[test]
    fn parses_overrides_and_rejects_unknown_keys() {
        let config: Config = toml::from_str(
            "[sigma]\nrules = \"r\"\n[sigma.overrides.noisy]\nenabled = false\n[sigma.overrides.x]\nseverity = \"high\"\n",
        )
        .unwrap();
        assert_eq!(config.sigma.rules, PathBuf::from("r"));
        assert_eq!(config.sigma.overrides.0["noisy"].enabled, Some(false));
        assert!(toml::from_str::<Config>("[sigma]\nrulez = 1\n").is_err());
        let stalling: Config =
            toml::from_str("[stream]\nmax_buffered = 500\nmax_in_flight = 500\n").unwrap();
        let error = stalling.stream.validate().unwrap_err().to_string();
        assert!(
            error.contains("stream.max_buffered") && error.contains("stream.max_in_flight"),
            "{error}"
        );
    }
}
