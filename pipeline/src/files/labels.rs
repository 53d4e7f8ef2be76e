//! The simulator's labels (`labels.jsonl`): which events belong to an attack or an
//! anticipated benign scenario, and which ATT&CK technique.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// One labelled event from `labels.jsonl`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LabelRow {
    /// Event id.
    pub event_id: String,
    /// Scenario instance.
    pub scenario_id: String,
    /// ATT&CK technique.
    pub technique: Option<String>,
    /// Attack or anticipated benign event.
    pub malicious: bool,
    /// Designed to slip past the rules.
    pub stealthy: bool,
}

/// The `labels.jsonl` of an input: inside it when it is a folder (a simulation's), beside
/// it when it is a file.
pub fn labels_beside(input: &Path) -> PathBuf {
    match input.is_dir() {
        true => input.join("labels.jsonl"),
        false => input.with_file_name("labels.jsonl"),
    }
}

/// The event ids `labels.jsonl` at `path` marks as attacks.
pub fn malicious_event_ids(path: &Path) -> anyhow::Result<HashSet<String>> {
    Ok(read_labels(path)?
        .into_iter()
        .filter(|label| label.malicious)
        .map(|label| label.event_id)
        .collect())
}

/// Reads `labels.jsonl`.
pub fn read_labels(path: &Path) -> anyhow::Result<Vec<LabelRow>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read labels {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{} line {} is not a label", path.display(), index + 1))
        })
        .collect()
}
