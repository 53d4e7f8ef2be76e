//! The bundled SigmaHQ cloud rules read as witnesses: what rule-guided generation can pin.

use std::path::Path;

use operators::sigma::{RuleOverrides, RuleSet};

fn bundled() -> RuleSet {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/sigma/rules/cloud");
    RuleSet::from_path(&rules, &RuleOverrides::default()).unwrap()
}

#[test]
fn most_cloudtrail_rules_have_a_witness_and_the_others_say_why() {
    let rules = bundled();
    let cloudtrail: Vec<_> = rules
        .rules
        .iter()
        .filter(|rule| rule.service.as_deref() == Some("cloudtrail"))
        .collect();
    assert!(
        cloudtrail.len() > 40,
        "{} CloudTrail rules",
        cloudtrail.len()
    );
    let witnessed = cloudtrail
        .iter()
        .filter(|rule| rule.witnesses.as_ref().is_ok_and(|w| !w.is_empty()))
        .count();
    // Only regular expressions and field references are beyond a pin.
    assert!(
        witnessed * 10 >= cloudtrail.len() * 9,
        "{witnessed} of {} have a witness",
        cloudtrail.len()
    );
    for rule in &cloudtrail {
        if let Err(why) = &rule.witnesses {
            assert!(!why.is_empty(), "{} has no witness and no reason", rule.id);
        }
    }
    let enum_buckets = rules.get("aws_enum_buckets").unwrap();
    let pins = &enum_buckets.witnesses.as_ref().unwrap()[0];
    let fields: Vec<(&str, bool)> = pins
        .iter()
        .map(|pin| (pin.field.as_str(), pin.negated))
        .collect();
    assert_eq!(
        fields,
        [
            ("eventSource", false),
            ("eventName", false),
            ("userIdentity.type", true)
        ]
    );
}
