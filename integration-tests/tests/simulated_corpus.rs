//! `cyberlm simulate --users 50 --days 14` end to end: the files it writes, that every
//! event decodes, that labels join, and that each attack the SigmaHQ rules are meant to
//! see fires a rule tagged with its technique.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use integration_tests::{repo_root, run_cyberlm};
use operators::Detector;
use operators::sigma::{RuleOverrides, RuleSet, SigmaDetector};
use schemas::{Envelope, Source, decode};

fn read_source(dir: &Path, source: Source) -> Vec<Envelope> {
    let text = std::fs::read_to_string(dir.join(format!("{}.jsonl", source.name()))).unwrap();
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            decode(source, line.as_bytes())
                .unwrap_or_else(|e| panic!("{source} line {} does not decode: {e}", index + 1))
        })
        .collect()
}

#[test]
fn fourteen_days_of_fifty_users_decode_label_and_fire_their_rules() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    run_cyberlm(&[
        "simulate", "--users", "50", "--days", "14", "--seed", "7", "--out", out,
    ]);

    let mut by_id: HashMap<String, Envelope> = HashMap::new();
    for source in Source::ALL {
        let events = read_source(dir.path(), source);
        assert!(events.len() > 500, "only {} {source} events", events.len());
        assert!(
            events
                .windows(2)
                .all(|pair| pair[0].event_time <= pair[1].event_time),
            "{source} file is not time-ordered"
        );
        for envelope in events {
            assert!(envelope.user.is_some(), "{source} event without a user");
            by_id.insert(envelope.event_id.clone(), envelope);
        }
    }

    let labels: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("labels.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(labels.len() > 100);
    let rules = RuleSet::from_path(
        &repo_root().join("rules/sigma/rules"),
        &RuleOverrides::default(),
    )
    .unwrap();
    let mut detector = SigmaDetector::new(rules);
    // (scenario, technique) -> (stealthy, events, events firing a rule for the technique)
    let mut steps: BTreeMap<(String, String), (bool, usize, usize)> = BTreeMap::new();
    for label in &labels {
        let id = label["event_id"].as_str().unwrap();
        let envelope = by_id
            .get(id)
            .unwrap_or_else(|| panic!("label {id} names no event"));
        let Some(technique) = label["technique"].as_str() else {
            continue;
        };
        let fired = detector
            .detect(envelope)
            .iter()
            .flat_map(|f| f.finding_info.attacks.iter())
            .any(|attack| operators::attack::covers(&attack.technique_uid, technique));
        let step = steps
            .entry((
                label["scenario_id"].as_str().unwrap().to_string(),
                technique.to_string(),
            ))
            .or_insert((label["stealthy"].as_bool().unwrap(), 0, 0));
        step.1 += 1;
        step.2 += usize::from(fired);
    }
    let techniques: Vec<&str> = steps.keys().map(|(_, t)| t.as_str()).collect();
    for expected in [
        "T1580",
        "T1078.004",
        "T1110.003",
        "T1098.001",
        "T1562.008",
        "T1530",
        "T1213.001",
    ] {
        assert!(
            techniques.contains(&expected),
            "no {expected} scenario: {steps:?}"
        );
    }
    for ((scenario, technique), (stealthy, events, fired)) in &steps {
        if *stealthy {
            continue;
        }
        assert!(
            *fired > 0,
            "{scenario} {technique}: none of {events} events fired a rule for it"
        );
    }
    assert!(
        labels
            .iter()
            .any(|l| l["scenario"] == "travel" && l["malicious"] == false)
    );
}

#[test]
fn simulation_is_deterministic_for_a_seed() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&a, &b] {
        run_cyberlm(&[
            "simulate",
            "--users",
            "8",
            "--days",
            "3",
            "--seed",
            "11",
            "--out",
            dir.path().to_str().unwrap(),
        ]);
    }
    for file in [
        "azure.jsonl",
        "confluence.jsonl",
        "cloudtrail.jsonl",
        "labels.jsonl",
    ] {
        let left = std::fs::read(a.path().join(file)).unwrap();
        assert_eq!(
            left,
            std::fs::read(b.path().join(file)).unwrap(),
            "{file} differs"
        );
    }
}
