//! Every real third-party event in ../shared/data decodes, and the Sigma rules behave on
//! it as measured when the data was collected.

use integration_tests::{shared_events, sigma_rules};
use operators::Detector;
use operators::sigma::{RuleOverrides, RuleSet, SigmaDetector};
use schemas::{DecodeError, Source, decode};

fn decode_all(source: Source, relative: &str, unwrap: Option<&str>) -> Vec<schemas::Envelope> {
    shared_events(relative, unwrap)
        .into_iter()
        .map(|event| {
            let bytes = serde_json::to_vec(&event).unwrap();
            decode(source, &bytes).unwrap_or_else(|e| panic!("{relative}: {e}: {event}"))
        })
        .collect()
}

#[test]
fn every_real_event_with_an_event_time_decodes() {
    let azure = decode_all(
        Source::Azure,
        "azure/panther_signin_rule_tests.jsonl",
        Some("log"),
    );
    assert_eq!(azure.len(), 47);
    assert!(azure.iter().filter(|e| e.user.is_some()).count() >= 30);
    let confluence = decode_all(
        Source::Confluence,
        "confluence/sentinel_confluence_audit_sample.jsonl",
        None,
    );
    assert_eq!(confluence.len(), 8);
    assert!(
        confluence
            .iter()
            .all(|e| e.user.is_some() && e.event_id.starts_with("fp:"))
    );
    let invictus = decode_all(
        Source::CloudTrail,
        "cloudtrail/invictus_aws_dataset.jsonl",
        None,
    );
    assert_eq!(invictus.len(), 2900);
    let stratus = decode_all(
        Source::CloudTrail,
        "cloudtrail/stratus_detonation_logs.jsonl",
        Some("event"),
    );
    assert_eq!(stratus.len(), 310);
    assert!(stratus.iter().all(|e| e.user.is_some()));
}

/// Some of Panther's 461 CloudTrail unit-test logs are fragments with no event time at
/// all, or a redacted one; they must be rejected with an error that names the field, not
/// decoded with a made-up time.
#[test]
fn panther_fragments_without_event_time_are_rejected_by_name() {
    let (mut decoded, mut missing, mut invalid) = (0, 0, 0);
    for event in shared_events("cloudtrail/panther_rule_tests.jsonl", Some("log")) {
        let bytes = serde_json::to_vec(&event).unwrap();
        match decode(Source::CloudTrail, &bytes) {
            Ok(_) => decoded += 1,
            Err(DecodeError::MissingField {
                field: "eventTime", ..
            }) => missing += 1,
            Err(DecodeError::InvalidField {
                field: "eventTime", ..
            }) => invalid += 1,
            Err(other) => panic!("unexpected error {other} for {event}"),
        }
    }
    assert_eq!((decoded, missing, invalid), (444, 15, 2));
}

#[test]
fn all_shared_sigma_rules_load() {
    let rules = RuleSet::from_path(&sigma_rules(), &RuleOverrides::default()).unwrap();
    assert_eq!(rules.rejected, Vec::<(String, String)>::new());
    assert_eq!(rules.rules.len(), 180);
}

#[test]
fn stratus_detonations_fire_the_rules_for_their_technique() {
    let rules = RuleSet::from_path(&sigma_rules(), &RuleOverrides::default()).unwrap();
    let mut detector = SigmaDetector::new(rules);
    let mut fired_on = std::collections::BTreeMap::<String, usize>::new();
    for row in shared_events("cloudtrail/stratus_detonation_logs.jsonl", None) {
        let bytes = serde_json::to_vec(&row["event"]).unwrap();
        let envelope = decode(Source::CloudTrail, &bytes).unwrap();
        if !detector.detect(&envelope).is_empty() {
            *fired_on
                .entry(row["stratus_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    for expected in [
        "aws.defense-evasion.cloudtrail-stop",
        "aws.defense-evasion.cloudtrail-delete",
        "aws.initial-access.console-login-without-mfa",
        "aws.persistence.iam-backdoor-user",
    ] {
        assert!(
            fired_on.contains_key(expected),
            "{expected} fired nothing: {fired_on:?}"
        );
    }
}

#[test]
fn panther_azure_positives_fire_numeric_and_nested_rules() {
    // Azure Monitor export shape: fields under properties.*, ResultType as text.
    let rules = RuleSet::from_path(&sigma_rules(), &RuleOverrides::default()).unwrap();
    let mut detector = SigmaDetector::new(rules);
    let fired: usize = decode_all(
        Source::Azure,
        "azure/panther_signin_rule_tests.jsonl",
        Some("log"),
    )
    .iter()
    .map(|envelope| detector.detect(envelope).len())
    .sum();
    assert!(fired > 0, "no Sigma rule fired on the Panther Azure tests");
}
