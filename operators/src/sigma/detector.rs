//! The Sigma detector: every enabled rule of a log's logsource, evaluated on the log.

use std::collections::HashMap;

use schemas::{DetectionFinding, Envelope, FindingInfo, MitreAttack, Source};

use super::event::{FieldNames, sigma_events};
use super::logsource::Logsource;
use super::rule_set::{RuleSet, SigmaRule};
use crate::Detector;

/// Evaluates a [`RuleSet`] on each log, one finding per matching rule.
pub struct SigmaDetector {
    rules: RuleSet,
    /// Per logsource: the rules that apply and the fields they read.
    by_logsource: HashMap<Logsource, (Vec<usize>, FieldNames)>,
}

impl SigmaDetector {
    /// A detector over `rules`.
    pub fn new(rules: RuleSet) -> Self {
        SigmaDetector {
            rules,
            by_logsource: HashMap::new(),
        }
    }

    /// The rule at `index`, as [`SigmaDetector::matching_rules`] names it.
    pub fn rule(&self, index: usize) -> &SigmaRule {
        &self.rules.rules[index]
    }

    /// Every enabled rule; [`SigmaDetector::matching_rules`] gives indices into it.
    pub fn rules(&self) -> &[SigmaRule] {
        &self.rules.rules
    }

    /// Indices of the rules that match `envelope`.
    pub fn matching_rules(&mut self, envelope: &Envelope) -> Vec<usize> {
        let Some(logsource) = Logsource::of(envelope) else {
            return Vec::new();
        };
        let rules = &self.rules;
        // Built once per logsource; later logs only look it up.
        if !self.by_logsource.contains_key(&logsource) {
            let candidates: Vec<usize> = (0..rules.rules.len())
                .filter(|&index| rules.rules[index].applies_to(&logsource))
                .collect();
            let mut fields = FieldNames::default();
            for &index in &candidates {
                fields.merge(&rules.rules[index].fields);
            }
            self.by_logsource
                .insert(logsource.clone(), (candidates, fields));
        }
        let Some((candidates, fields)) = self.by_logsource.get(&logsource) else {
            return Vec::new();
        };
        if candidates.is_empty() {
            return Vec::new();
        }
        let events = sigma_events(&envelope.json, fields, envelope.source == Source::Azure);
        candidates
            .iter()
            .copied()
            .filter(|&index| {
                let rule = &rules.rules[index].compiled;
                events.iter().any(|event| rule.is_match(event))
            })
            .collect()
    }
}

impl Detector for SigmaDetector {
    fn name(&self) -> &str {
        "sigma"
    }

    fn detect(&mut self, envelope: &Envelope) -> Vec<DetectionFinding> {
        self.matching_rules(envelope)
            .into_iter()
            .map(|index| {
                let rule = &self.rules.rules[index];
                // The same rule on the same log always gives the same uid, so a consumer
                // can drop the duplicates that at-least-once delivery may produce.
                let uid = format!(
                    "{:016x}",
                    xxhash_rust::xxh3::xxh3_64(
                        format!("{}|{}", rule.id, envelope.event_id).as_bytes()
                    )
                );
                let info = FindingInfo {
                    uid,
                    title: rule.title.clone(),
                    desc: rule.description.clone(),
                    analytic_uid: rule.id.clone(),
                    analytic_name: rule.title.clone(),
                    analytic_type: "Rule".to_string(),
                    attacks: rule
                        .techniques
                        .iter()
                        .map(|technique| MitreAttack {
                            technique_uid: technique.clone(),
                        })
                        .collect(),
                };
                DetectionFinding::about(envelope, rule.severity, info)
            })
            .collect()
    }
}
