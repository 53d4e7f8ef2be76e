//! Do logs trigger the detections their kind should? Red-team logs generated for a
//! technique must fire a Sigma rule tagged with that technique, as the recorded attack
//! does; benign generated logs must fire rules no more often than real benign logs do.

use std::collections::BTreeSet;

use schemas::Envelope;
use serde::Serialize;

use crate::attack;
use crate::sigma::{SigmaDetector, SigmaRule};

/// The rules one log fires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fired {
    /// Ids of the rules that match.
    pub rules: Vec<String>,
    /// ATT&CK technique ids the matching rules are tagged with.
    pub techniques: BTreeSet<String>,
}

impl Fired {
    /// What `envelope` fires under `detector`.
    pub fn of(detector: &mut SigmaDetector, envelope: &Envelope) -> Fired {
        let mut fired = Fired::default();
        for index in detector.matching_rules(envelope) {
            let rule = detector.rule(index);
            fired.rules.push(rule.id.clone());
            fired.techniques.extend(rule.techniques.iter().cloned());
        }
        fired
    }

    /// Whether a fired rule is tagged with `technique` (or its parent, across ATT&CK
    /// versions: [`attack::covers`]).
    pub fn detects(&self, technique: &str) -> bool {
        self.techniques
            .iter()
            .any(|tagged| attack::covers(tagged, technique))
    }
}

/// How often a set of logs fires rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FiringRate {
    /// Logs judged.
    pub logs: usize,
    /// Share firing any rule.
    pub any_rule: Option<f64>,
    /// Share firing a rule tagged with the technique asked about.
    pub technique_rule: Option<f64>,
}

impl FiringRate {
    /// The rates over `fired`, the technique's when one is asked about.
    pub fn of<'a>(fired: impl IntoIterator<Item = &'a Fired>, technique: Option<&str>) -> Self {
        let (mut logs, mut any, mut detected) = (0usize, 0usize, 0usize);
        for log in fired {
            logs += 1;
            any += usize::from(!log.rules.is_empty());
            detected += usize::from(technique.is_some_and(|t| log.detects(t)));
        }
        let share = |count: usize| (logs > 0).then(|| count as f64 / logs as f64);
        FiringRate {
            logs,
            any_rule: share(any),
            technique_rule: technique.and_then(|_| share(detected)),
        }
    }
}

/// Ids of the rules of `detector` tagged with `technique` (or its parent): whether the
/// technique has a detection at all.
pub fn rules_for(detector: &SigmaDetector, technique: &str) -> Vec<String> {
    rules_tagged(detector, technique)
        .map(|rule| rule.id.clone())
        .collect()
}

/// The rules of `detector` tagged with `technique` (or its parent).
pub fn rules_tagged<'a>(
    detector: &'a SigmaDetector,
    technique: &'a str,
) -> impl Iterator<Item = &'a SigmaRule> {
    detector
        .rules()
        .iter()
        .filter(move |rule| rule.techniques.iter().any(|t| attack::covers(t, technique)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigma::{RuleOverrides, RuleSet};
    use schemas::Source;

    const STOP_LOGGING: &str = r#"
title: CloudTrail logging stopped
id: stop-logging
tags: [attack.defense-evasion, attack.t1685.002]
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
  condition: selection
level: high
"#;
    const ANY_DELETE: &str = r#"
title: Something deleted
id: any-delete
tags: [attack.impact]
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventName|startswith: Delete}
  condition: selection
level: low
"#;

    fn trail(event_name: &str) -> Envelope {
        let log = format!(
            r#"{{"eventTime":"2026-11-02T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"{event_name}","userIdentity":{{"type":"IAMUser","userName":"a"}}}}"#
        );
        schemas::decode(Source::CloudTrail, log.as_bytes()).unwrap()
    }

    #[test]
    fn rates_count_rules_tagged_with_the_technique_across_attack_versions() {
        let rules = RuleSet::from_yaml_documents(
            [("stop.yml", STOP_LOGGING), ("delete.yml", ANY_DELETE)],
            &RuleOverrides::default(),
        )
        .unwrap();
        let mut detector = SigmaDetector::new(rules);
        assert_eq!(rules_for(&detector, "T1562.008"), ["stop-logging"]);
        assert!(rules_for(&detector, "T1530").is_empty());

        let fired: Vec<Fired> = ["StopLogging", "DeleteTrail", "GetObject", "StopLogging"]
            .iter()
            .map(|name| Fired::of(&mut detector, &trail(name)))
            .collect();
        assert_eq!(fired[0].rules, ["stop-logging"]);
        assert!(fired[0].detects("T1562.008") && !fired[1].detects("T1562.008"));
        let rate = FiringRate::of(&fired, Some("T1562.008"));
        assert_eq!(rate.logs, 4);
        assert_eq!(rate.any_rule, Some(0.75));
        assert_eq!(rate.technique_rule, Some(0.5));
        let benign = FiringRate::of(&fired[1..3], None);
        assert_eq!((benign.any_rule, benign.technique_rule), (Some(0.5), None));
        assert_eq!(FiringRate::of(&[], Some("T1530")).any_rule, None);
    }
}
