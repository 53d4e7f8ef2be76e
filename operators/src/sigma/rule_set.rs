//! Loading Sigma rules, with per-rule enable/disable and severity from the config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemas::Severity;
use serde::Deserialize;
use serde_norway::Value as Yaml;

use super::event::FieldNames;
use super::logsource::Logsource;
use super::witness::witnesses;
use crate::attack::technique_from_tag;
use crate::text_format::FieldPin;

/// One rule's settings in the config, keyed by rule id or file stem.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    /// `false` disables the rule (some SigmaHQ cloud rules fire on most ordinary traffic).
    pub enabled: Option<bool>,
    /// Replaces the rule's own `level`.
    pub severity: Option<Severity>,
}

/// Per-rule settings, keyed by rule id or file stem (`aws_sts_assumerole_misuse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RuleOverrides(pub BTreeMap<String, RuleOverride>);

impl RuleOverrides {
    fn get(&self, id: &str, stem: &str) -> Option<&RuleOverride> {
        self.0.get(id).or_else(|| self.0.get(stem))
    }
}

/// A rules folder or file that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or folder could not be read.
    #[error("failed to read Sigma rules at {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The path holds no rule at all, which is almost certainly a wrong path.
    #[error("no Sigma rules (*.yml, *.yaml) found under {path}")]
    Empty {
        /// The path.
        path: PathBuf,
    },
}

/// A loaded rule with the metadata findings need.
#[derive(Debug)]
pub struct SigmaRule {
    /// The rule's `id`, or its file stem where it has none.
    pub id: String,
    /// The rule's `title`.
    pub title: String,
    /// The rule's `description`.
    pub description: Option<String>,
    /// Severity after config overrides.
    pub severity: Severity,
    /// ATT&CK technique ids from the tags, upper-cased as tagged.
    pub techniques: Vec<String>,
    /// `logsource.product`.
    pub product: Option<String>,
    /// `logsource.service`.
    pub service: Option<String>,
    /// Where the rule came from.
    pub origin: String,
    /// What a log must hold for the rule to fire ([`super::witness`]), or why no set
    /// of pinned fields can say it.
    pub witnesses: Result<Vec<Vec<FieldPin>>, String>,
    pub(super) compiled: sigma_rust::Rule,
    pub(super) fields: FieldNames,
}

impl SigmaRule {
    /// Whether logs of `logsource` are this rule's to judge.
    pub fn applies_to(&self, logsource: &Logsource) -> bool {
        self.product.as_deref() == Some(logsource.product.as_str())
            && self
                .service
                .as_deref()
                .is_none_or(|service| service == logsource.service)
    }
}

/// The enabled rules, plus the ones that were rejected or disabled and why.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Enabled rules.
    pub rules: Vec<SigmaRule>,
    /// Rules that failed to parse: (origin, reason).
    pub rejected: Vec<(String, String)>,
    /// Ids of rules disabled by the config.
    pub disabled: Vec<String>,
}

impl RuleSet {
    /// Loads every `*.yml` / `*.yaml` under `path` (a folder, searched recursively, or
    /// one file).
    pub fn from_path(path: &Path, overrides: &RuleOverrides) -> Result<RuleSet, LoadError> {
        let mut files = Vec::new();
        collect_rule_files(path, &mut files)?;
        if files.is_empty() {
            return Err(LoadError::Empty {
                path: path.to_path_buf(),
            });
        }
        files.sort();
        let mut documents = Vec::with_capacity(files.len());
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
                path: file.clone(),
                source,
            })?;
            documents.push((file.display().to_string(), text));
        }
        Self::from_yaml_documents(
            documents
                .iter()
                .map(|(origin, text)| (origin.as_str(), text.as_str())),
            overrides,
        )
    }

    /// Builds a rule set from (origin, YAML text) pairs.
    pub fn from_yaml_documents<'a>(
        documents: impl IntoIterator<Item = (&'a str, &'a str)>,
        overrides: &RuleOverrides,
    ) -> Result<RuleSet, LoadError> {
        let mut set = RuleSet::default();
        for (origin, text) in documents {
            match parse_rule(origin, text, overrides) {
                Ok(Some(rule)) => set.rules.push(rule),
                Ok(None) => set.disabled.push(stem(origin).to_string()),
                Err(reason) => set.rejected.push((origin.to_string(), reason)),
            }
        }
        Ok(set)
    }

    /// The rule with this id or file stem.
    pub fn get(&self, id: &str) -> Option<&SigmaRule> {
        self.rules
            .iter()
            .find(|rule| rule.id == id || stem(&rule.origin) == id)
    }
}

fn collect_rule_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry_path = entry.map_err(io)?.path();
        if entry_path.is_dir() {
            collect_rule_files(&entry_path, files)?;
        } else if matches!(
            entry_path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            files.push(entry_path);
        }
    }
    Ok(())
}

fn stem(origin: &str) -> &str {
    Path::new(origin)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(origin)
}

fn parse_rule(
    origin: &str,
    text: &str,
    overrides: &RuleOverrides,
) -> Result<Option<SigmaRule>, String> {
    let mut fields = FieldNames::default();
    let mut yaml: Yaml = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let text_of = |key: &str| yaml.get(key).and_then(Yaml::as_str).map(str::to_string);
    let id = text_of("id").unwrap_or_else(|| stem(origin).to_string());
    let rule_override = overrides.get(&id, stem(origin));
    if rule_override.and_then(|o| o.enabled) == Some(false) {
        return Ok(None);
    }
    let title = text_of("title").ok_or("the rule has no title")?;
    let description = text_of("description");
    let level = text_of("level")
        .and_then(|level| Severity::parse(&level))
        .unwrap_or(Severity::Medium);
    let severity = rule_override.and_then(|o| o.severity).unwrap_or(level);
    let techniques = yaml
        .get("tags")
        .and_then(Yaml::as_sequence)
        .map(|tags| {
            tags.iter()
                .filter_map(Yaml::as_str)
                .filter_map(technique_from_tag)
                .collect()
        })
        .unwrap_or_default();
    let logsource = |key: &str| {
        yaml.get("logsource")
            .and_then(|logsource| logsource.get(key))
            .and_then(Yaml::as_str)
            .map(str::to_ascii_lowercase)
    };
    let (product, service) = (logsource("product"), logsource("service"));
    let detection = yaml
        .get_mut("detection")
        .ok_or("the rule has no detection")?;
    normalise_detection(detection, &mut fields);
    let witnesses = witnesses(detection);
    let compiled: sigma_rust::Rule = serde_norway::from_value(yaml).map_err(|e| e.to_string())?;
    Ok(Some(SigmaRule {
        id,
        title,
        description,
        severity,
        techniques,
        product,
        service,
        origin: origin.to_string(),
        witnesses,
        compiled,
        fields,
    }))
}

/// Records the detection's field names and turns its numbers into text, so that
/// `ResultType: 50053` matches both `50053` and `"50053"` (the event side does the same).
/// Fields compared with `gt`/`lt` modifiers keep their numbers.
fn normalise_detection(detection: &mut Yaml, field_names: &mut FieldNames) {
    let Some(map) = detection.as_mapping_mut() else {
        return;
    };
    for (key, value) in map.iter_mut() {
        if matches!(key.as_str(), Some("condition" | "timeframe")) {
            continue;
        }
        match value {
            Yaml::Mapping(_) => normalise_selection(value, field_names),
            Yaml::Sequence(items) => {
                // A list of plain values is a keyword search over every field.
                if items.iter().any(|item| !item.is_mapping()) {
                    field_names.all_fields = true;
                }
                items
                    .iter_mut()
                    .for_each(|item| normalise_selection(item, field_names))
            }
            _ => field_names.all_fields = true,
        }
    }
}

fn normalise_selection(selection: &mut Yaml, field_names: &mut FieldNames) {
    let Some(map) = selection.as_mapping_mut() else {
        return;
    };
    for (key, value) in map.iter_mut() {
        let Some(key) = key.as_str() else { continue };
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or(key);
        field_names.add(field);
        let modifiers: Vec<&str> = parts.collect();
        if modifiers.contains(&"fieldref") {
            for name in values_of(value).iter().filter_map(|v| v.as_str()) {
                field_names.add(name);
            }
        }
        let numeric = modifiers
            .iter()
            .any(|m| matches!(*m, "gt" | "gte" | "lt" | "lte"));
        if !numeric {
            numbers_to_text(value);
        }
    }
}

fn values_of(value: &Yaml) -> Vec<&Yaml> {
    match value {
        Yaml::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn numbers_to_text(value: &mut Yaml) {
    match value {
        Yaml::Number(number) => *value = Yaml::String(number.to_string()),
        Yaml::Sequence(items) => items.iter_mut().for_each(numbers_to_text),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"
title: Account lockout
id: rule-lockout
level: medium
tags: [attack.credential-access, attack.t1110]
logsource: {product: azure, service: signinlogs}
detection:
  selection: {ResultType: 50053}
  condition: selection
"#;

    #[test]
    fn reads_metadata_and_applies_overrides() {
        let set =
            RuleSet::from_yaml_documents([("a/lockout.yml", RULE)], &RuleOverrides::default())
                .unwrap();
        let rule = set.get("rule-lockout").unwrap();
        assert_eq!(rule.techniques, ["T1110"]);
        assert_eq!(rule.severity, Severity::Medium);
        assert!(set.get("lockout").is_some(), "found by file stem");

        let mut overrides = RuleOverrides::default();
        overrides.0.insert(
            "lockout".into(),
            RuleOverride {
                enabled: None,
                severity: Some(Severity::High),
            },
        );
        let set = RuleSet::from_yaml_documents([("a/lockout.yml", RULE)], &overrides).unwrap();
        assert_eq!(set.rules[0].severity, Severity::High);

        overrides.0.insert(
            "rule-lockout".into(),
            RuleOverride {
                enabled: Some(false),
                severity: None,
            },
        );
        let set = RuleSet::from_yaml_documents([("a/lockout.yml", RULE)], &overrides).unwrap();
        assert!(set.rules.is_empty());
        assert_eq!(set.disabled, ["lockout"]);
    }

    #[test]
    fn rejects_broken_rules_with_a_reason() {
        let set = RuleSet::from_yaml_documents(
            [(
                "bad.yml",
                "title: x\ndetection: {condition: nothing}\nlogsource: {}",
            )],
            &RuleOverrides::default(),
        )
        .unwrap();
        assert!(set.rules.is_empty());
        assert_eq!(set.rejected.len(), 1);
        assert_eq!(set.rejected[0].0, "bad.yml");
    }
}
