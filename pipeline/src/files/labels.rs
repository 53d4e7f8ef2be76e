//! The simulator's labels (`labels.jsonl`): which events belong to an attack or an
//! anticipated benign scenario, and which ATT&CK technique.

use std::path::Path;

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
