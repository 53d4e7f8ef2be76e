//! `generate --technique T --rule-guided`: red-team logs held to what a Sigma rule of T
//! asks of a log ([`operators::sigma::witness`]), the model writing everything else.
//!
//! Imitation alone cannot write a log no recorded one resembles: none of Stratus's
//! T1136.003 logs fires the one rule tagged with it (it watches ElastiCache security
//! groups; Stratus creates an IAM user). A guided log pins the fields the rule's
//! selection names, at the values the model knows where they fit (any of the source's
//! `Delete*` calls for `eventName|startswith: Delete`), and keeps the combinations of
//! the other fields to those seen with the pinned values.

use std::sync::Arc;

use operators::attack;
use operators::fidelity::rule_firing::rules_tagged;
use operators::sigma::{Logsource, SigmaDetector};
use operators::text_format::{FieldPin, Shape};
use schemas::Source;

/// The shapes pinned to each rule of a technique that a log of the source can fire,
/// handed out in turn.
#[derive(Debug)]
pub struct RuleGuide {
    /// (rule id, the fields pinned, the pinned shape).
    pub guides: Vec<(String, Vec<FieldPin>, Arc<Shape>)>,
    /// Rules of the technique for the source that no pinned shape could follow, and why.
    pub skipped: Vec<(String, String)>,
    /// Rules tagged only with the technique's parent (T1562 for T1562.008) that could
    /// be followed but are not, because a rule tagged with the technique itself can:
    /// its logs are the technique's own steps, not any of its parent's.
    pub broader: Vec<String>,
    next: usize,
}

impl RuleGuide {
    /// Pins `shape` to the first alternative of each rule of `technique` (in
    /// `detector`) for `source` that it can hold; rules tagged only with its parent
    /// where one tagged with the technique itself can be followed are left out.
    pub fn new(
        detector: &SigmaDetector,
        technique: &str,
        source: Source,
        shape: &Shape,
    ) -> anyhow::Result<Self> {
        let logsources = Logsource::of_source(source);
        let (rules, elsewhere): (Vec<_>, Vec<_>) =
            rules_tagged(detector, technique).partition(|rule| {
                logsources
                    .iter()
                    .any(|logsource| rule.applies_to(logsource))
            });
        let (mut guides, mut skipped) = (Vec::new(), Vec::new());
        for rule in rules {
            let alternatives = match &rule.witnesses {
                Ok(alternatives) => alternatives,
                Err(why) => {
                    skipped.push((rule.id.clone(), why.clone()));
                    continue;
                }
            };
            let mut refusals = Vec::new();
            let pinned = alternatives
                .iter()
                .find_map(|pins| match shape.pinned(pins) {
                    Ok(pinned) => Some((pins.clone(), pinned)),
                    Err(refusal) => {
                        refusals.push(refusal.to_string());
                        None
                    }
                });
            let own = rule
                .techniques
                .iter()
                .any(|tagged| attack::canonical(tagged) == attack::canonical(technique));
            match pinned {
                Some((pins, pinned)) => {
                    guides.push((own, (rule.id.clone(), pins, Arc::new(pinned))))
                }
                None => {
                    refusals.dedup();
                    skipped.push((rule.id.clone(), refusals.join("; ")));
                }
            }
        }
        let mut broader = Vec::new();
        if guides.iter().any(|(own, _)| *own) {
            broader = guides
                .extract_if(.., |(own, _)| !*own)
                .map(|(_, (rule, _, _))| rule)
                .collect();
        }
        let guides: Vec<_> = guides.into_iter().map(|(_, guide)| guide).collect();
        if guides.is_empty() {
            let mut reasons: Vec<String> = skipped
                .iter()
                .map(|(rule, why)| format!("{rule}: {why}"))
                .collect();
            if !elsewhere.is_empty() {
                let mut logsources: Vec<String> = elsewhere
                    .iter()
                    .map(|rule| {
                        let product = rule.product.as_deref().unwrap_or("any product");
                        let service = rule.service.as_deref().unwrap_or("any service");
                        format!("{product}/{service}")
                    })
                    .collect();
                logsources.sort();
                logsources.dedup();
                reasons.push(format!(
                    "{} rules tagged with it read other logs: {}",
                    elsewhere.len(),
                    logsources.join(", ")
                ));
            }
            if reasons.is_empty() {
                reasons.push("no rule is tagged with it".into());
            }
            anyhow::bail!(
                "--rule-guided: no Sigma rule tagged with {technique} for {} logs can be followed ({}); drop --rule-guided, or point sigma.rules at a rule for this source whose selection names fields its logs have",
                source.name(),
                reasons.join(" | ")
            );
        }
        Ok(RuleGuide {
            guides,
            skipped,
            broader,
            next: 0,
        })
    }

    /// Says which rules are followed (printed) and which are not and why (logged):
    /// an Entra ID technique has dozens of rules for audit logs and risk detections,
    /// which a sign-in cannot be, so one warning counts them and debug names each.
    pub fn report(&self) {
        for (rule, pins, _) in &self.guides {
            println!("--rule-guided: following {rule}: {}", describe(pins));
        }
        if !self.broader.is_empty() {
            tracing::info!(
                message = "Rules tagged only with the technique's parent are not followed: rules of the technique itself are.",
                rules = self.broader.join(" ")
            );
        }
        for (rule, why) in &self.skipped {
            tracing::debug!(
                message = "A rule of the technique cannot be followed.",
                rule = rule.as_str(),
                why = why.as_str()
            );
        }
        if let Some((rule, why)) = self.skipped.first() {
            tracing::warn!(
                message = "Rules of the technique for this source that no log can be guided to fire (RUST_LOG=debug names each and why).",
                rules = self.skipped.len(),
                first = format!("{rule}: {why}").as_str()
            );
        }
    }

    /// The shape of the next log: each rule's in turn.
    pub fn next_shape(&mut self) -> Arc<Shape> {
        let (_, _, shape) = &self.guides[self.next % self.guides.len()];
        self.next += 1;
        shape.clone()
    }
}

/// How a rule's pins read: `eventName=ListBuckets, userIdentity.type≠AssumedRole`.
pub fn describe(pins: &[FieldPin]) -> String {
    pins.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use operators::sigma::{RuleOverrides, RuleSet};
    use serde_json::json;

    const ENUM_BUCKETS: &str = r#"
title: Bucket enumeration
id: enum-buckets
tags: [attack.discovery, attack.t1580]
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventSource: s3.amazonaws.com, eventName: ListBuckets}
  filter: {userIdentity.type: AssumedRole}
  condition: selection and not filter
"#;
    const BY_REGEX: &str = r#"
title: Assumed role by regex
id: by-regex
tags: [attack.t1580]
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {userIdentity.arn|re: '.+:assumed-role/.+'}
  condition: selection
"#;
    const SIGN_IN: &str = r#"
title: A sign-in rule
id: sign-in
tags: [attack.t1580]
logsource: {product: azure, service: signinlogs}
detection:
  selection: {ResultType: 50126}
  condition: selection
"#;

    #[test]
    fn follows_each_rule_it_can_and_says_why_not_the_others() {
        let rules = RuleSet::from_yaml_documents(
            [
                ("enum.yml", ENUM_BUCKETS),
                ("regex.yml", BY_REGEX),
                ("signin.yml", SIGN_IN),
            ],
            &RuleOverrides::default(),
        )
        .unwrap();
        let detector = SigmaDetector::new(rules);
        let logs = [
            json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "userIdentity": {"type": "AssumedRole"}}),
            json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "userIdentity": {"type": "IAMUser"}}),
        ];
        let shape = Shape::fit(logs.iter());
        let mut guide = RuleGuide::new(&detector, "T1580", Source::CloudTrail, &shape).unwrap();
        assert_eq!(guide.guides.len(), 1);
        assert_eq!(guide.guides[0].0, "enum-buckets");
        assert_eq!(
            describe(&guide.guides[0].1),
            "eventSource=s3.amazonaws.com, eventName=ListBuckets, userIdentity.type≠AssumedRole"
        );
        // The sign-in rule is not for CloudTrail; the regex cannot be pinned.
        assert_eq!(guide.skipped.len(), 1);
        assert!(guide.skipped[0].1.contains("|re"), "{:?}", guide.skipped);
        let pinned = guide.next_shape();
        assert!(pinned.admits(
            &json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "userIdentity": {"type": "IAMUser"}})
        ));
        assert!(!pinned.admits(&logs[0]));

        let none = RuleGuide::new(&detector, "T1530", Source::CloudTrail, &shape);
        assert!(
            none.unwrap_err()
                .to_string()
                .contains("no rule is tagged with it")
        );
        let elsewhere = RuleGuide::new(&detector, "T1580", Source::Confluence, &shape);
        let elsewhere = elsewhere.unwrap_err().to_string();
        assert!(
            elsewhere.contains(
                "3 rules tagged with it read other logs: aws/cloudtrail, azure/signinlogs"
            ),
            "{elsewhere}"
        );
    }

    #[test]
    fn a_rule_of_the_technique_itself_wins_over_its_parents() {
        let stop = "title: Stop\nid: stop\ntags: [attack.t1562.008]\nlogsource: {product: aws, service: cloudtrail}\ndetection: {selection: {eventName: StopLogging}, condition: selection}\n";
        let broad = "title: Broad\nid: broad\ntags: [attack.t1562]\nlogsource: {product: aws, service: cloudtrail}\ndetection: {selection: {eventName: DeleteDetector}, condition: selection}\n";
        let rules = RuleSet::from_yaml_documents(
            [("stop.yml", stop), ("broad.yml", broad)],
            &RuleOverrides::default(),
        )
        .unwrap();
        let detector = SigmaDetector::new(rules);
        let shape = Shape::fit([json!({"eventName": "StopLogging"})].iter());
        let own = RuleGuide::new(&detector, "T1562.008", Source::CloudTrail, &shape).unwrap();
        let followed: Vec<&str> = own.guides.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(
            (followed, own.broader),
            (vec!["stop"], vec!["broad".to_string()])
        );
        let parent_only =
            RuleGuide::new(&detector, "T1562.001", Source::CloudTrail, &shape).unwrap();
        let followed: Vec<&str> = parent_only
            .guides
            .iter()
            .map(|(id, _, _)| id.as_str())
            .collect();
        assert_eq!(followed, ["broad"]);
        assert!(parent_only.broader.is_empty());
    }
}
