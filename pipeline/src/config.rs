//! The TOML config file, with environment overrides.
//!
//! Every key is optional; a missing file section means the defaults. Environment
//! variables override the file: `CYBERLM_SIGMA_RULES` replaces `sigma.rules`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use operators::sigma::RuleOverrides;
use serde::Deserialize;

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Sigma detector.
    #[serde(default)]
    pub sigma: SigmaConfig,
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
        if let Ok(rules) = std::env::var("CYBERLM_SIGMA_RULES") {
            config.sigma.rules = PathBuf::from(rules);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_overrides_and_rejects_unknown_keys() {
        let config: Config = toml::from_str(
            "[sigma]\nrules = \"r\"\n[sigma.overrides.noisy]\nenabled = false\n[sigma.overrides.x]\nseverity = \"high\"\n",
        )
        .unwrap();
        assert_eq!(config.sigma.rules, PathBuf::from("r"));
        assert_eq!(config.sigma.overrides.0["noisy"].enabled, Some(false));
        assert!(toml::from_str::<Config>("[sigma]\nrulez = 1\n").is_err());
    }
}
