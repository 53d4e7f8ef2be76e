//! `cyberlm eval generation` on "generated" logs whose figures are known in advance:
//! copies of real logs plus broken ones.

use std::path::Path;

use serde_json::Value;

mod common;
use common::{cyberlm, ok, path};

fn simulate(out: &Path, seed: &str) {
    common::simulate(out, 6, 2, &["--seed", seed]);
}

fn figures(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("figures.json")).unwrap()).unwrap()
}

#[test]
fn copies_of_real_logs_and_broken_lines_get_exactly_their_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (real, holdout) = (dir.path().join("real"), dir.path().join("holdout"));
    simulate(&real, "1");
    simulate(&holdout, "2");
    let cloudtrail = std::fs::read_to_string(real.join("cloudtrail.jsonl")).unwrap();
    let copies: Vec<&str> = cloudtrail.lines().collect();
    let n = copies.len();
    assert!(n > 50, "{n}");

    // Every real CloudTrail log, one line that is not JSON, one object that is no log.
    let generated = dir.path().join("generated.jsonl");
    let broken = ["this is not json", r#"{"eventName":"Invented"}"#];
    std::fs::write(
        &generated,
        [copies.join("\n"), broken.join("\n")].join("\n"),
    )
    .unwrap();
    let out = dir.path().join("report");
    let stdout = ok(&cyberlm(&[
        "eval",
        "generation",
        path(&generated),
        "--source",
        "cloudtrail",
        "--real",
        path(&real),
        "--holdout",
        path(&holdout),
        "--out",
        path(&out),
    ]));
    assert!(stdout.contains("cloudtrail"), "{stdout}");
    let report = figures(&out);
    let source = &report["sources"][0];
    assert_eq!(source["source"], "cloudtrail");
    assert_eq!(source["generated"], n + 2);
    let close = |value: &Value, expected: f64| {
        let value = value.as_f64().unwrap();
        assert!((value - expected).abs() < 1e-9, "{value} vs {expected}");
    };
    close(&source["json_valid"], (n + 1) as f64 / (n + 2) as f64);
    close(&source["schema_valid"], n as f64 / (n + 2) as f64);
    assert_eq!(source["invalid_reasons"]["not a JSON object"], 1);
    assert!(
        source["invalid_reasons"]
            .as_object()
            .unwrap()
            .keys()
            .any(|reason| reason.contains("eventTime")),
        "{}",
        source["invalid_reasons"]
    );

    // One JSON log in n + 1 is foreign: an always-present field moves by exactly
    // 1/(n + 1), a sometimes-absent one by less.
    let fields = source["fields"].as_array().unwrap();
    let tvd_of = |path: &str| {
        fields.iter().find(|f| f["path"] == path).unwrap_or_else(|| {
            panic!("{path} is not among the categorical fields: {fields:?}")
        })["tvd"]
            .as_f64()
            .unwrap()
    };
    close(&Value::from(tvd_of("eventName")), 1.0 / (n + 1) as f64);
    for field in fields {
        assert!(
            field["tvd"].as_f64().unwrap() <= 1.0 / (n + 1) as f64 + 1e-9,
            "{field}"
        );
        assert!(field["reference_tvd"].is_number(), "{field}");
        assert_eq!(field["missing"], Value::Array(vec![]), "{field}");
        assert!(
            out.join(format!(
                "cloudtrail-field-{}.png",
                field["path"].as_str().unwrap().replace('.', "_")
            ))
            .exists()
        );
    }
    assert!(
        fields
            .iter()
            .all(|f| f["path"] != "eventID" && f["path"] != "eventTime"),
        "volatile fields are not categories"
    );
    assert_eq!(source["fields_within_reference"], fields.len());
    let reference_within = fields
        .iter()
        .filter(|f| f["reference_tvd"].as_f64().unwrap() <= 0.05)
        .count();
    assert_eq!(source["reference_fields_within_target"], reference_within);
    // The floor draws real logs themselves: a number for every field, and counted.
    let floor_within = fields
        .iter()
        .map(|f| f["floor_tvd"].as_f64().unwrap_or_else(|| panic!("{f}")))
        .inspect(|floor| assert!((0.0..=1.0).contains(floor), "{floor}"))
        .filter(|&floor| floor <= 0.05)
        .count();
    assert_eq!(source["floor_fields_within_target"], floor_within);

    // The copies happen exactly when the real logs did; the two lines that are no log
    // have no time to count.
    let times = source["time_of_week"].as_array().unwrap();
    let paths: Vec<&str> = times.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["event_hour_utc", "event_weekday_utc"]);
    for field in times {
        close(&field["tvd"], 0.0);
        assert_eq!(field["generated"]["logs"], n, "{field}");
        assert!(field["reference_tvd"].is_number(), "{field}");
        let chart = format!("cloudtrail-field-{}.png", field["path"].as_str().unwrap());
        assert!(out.join(chart).exists());
    }

    // Copies keep every dependency between fields the real logs keep (the eventName
    // decides the eventSource); only the foreign log may break one.
    let agreement = &source["agreement"];
    assert!(
        agreement["agreeing"].as_f64().unwrap() >= n as f64 / (n + 1) as f64 - 1e-9,
        "{agreement}"
    );
    assert!(
        agreement["broken"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["from"] == "eventName" && d["to"] == "eventSource"),
        "{agreement}"
    );
    assert!(source["reference_agreement"].is_number());

    let memorisation = &source["memorisation"];
    close(&memorisation["exact_copies"], n as f64 / (n + 1) as f64);
    close(&memorisation["rouge1"]["median"], 1.0);
    assert!(memorisation["holdout_distance"]["median"].is_number());
    let holdout_copies = memorisation["holdout_exact_copies"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&holdout_copies));
    assert!(out.join("index.html").exists() && out.join("cloudtrail-rouge1.png").exists());

    // Conditioning: one user's logs, asked for as that user.
    let user_logs: Vec<&str> = copies
        .iter()
        .copied()
        .filter(|line| {
            let log: Value = serde_json::from_str(line).unwrap();
            log["userIdentity"]["userName"] == "svc-ci-deploy"
        })
        .collect();
    assert!(!user_logs.is_empty());
    std::fs::write(&generated, user_logs.join("\n")).unwrap();
    ok(&cyberlm(&[
        "eval",
        "generation",
        path(&generated),
        "--source",
        "cloudtrail",
        "--user",
        "svc-ci-deploy",
        "--real",
        path(&real),
        "--out",
        path(&out),
    ]));
    let source = &figures(&out)["sources"][0];
    close(&source["user_accuracy"], 1.0);
    close(&source["schema_valid"], 1.0);
    close(&source["worst_tvd"], 0.0);
    assert_eq!(source["real_logs"], user_logs.len());
}

/// Red-team figures: generated logs that are a recorded attack's own logs fire the
/// technique's rules exactly as often as the recorded attack does.
#[test]
fn recorded_attack_logs_fire_their_techniques_rules_as_the_recording_does() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    simulate(&real, "1");
    let stratus = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/cloudtrail/stratus_detonation_logs.jsonl"
    ));
    let disable_logging: Vec<String> = std::fs::read_to_string(stratus)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|row| row["techniques"] == serde_json::json!(["T1562.008"]))
        .map(|row| row["event"].to_string())
        .collect();
    assert_eq!(disable_logging.len(), 3);
    let generated = dir.path().join("generated.jsonl");
    std::fs::write(&generated, disable_logging.join("\n")).unwrap();
    let out = dir.path().join("report");
    let stdout = ok(&cyberlm(&[
        "eval",
        "generation",
        path(&generated),
        "--source",
        "cloudtrail",
        "--technique",
        "t1685.002",
        "--real",
        path(&real),
        "--tagged",
        path(stratus),
        "--out",
        path(&out),
    ]));
    assert!(stdout.contains("fire a rule of T1562.008"), "{stdout}");
    let report = figures(&out);
    assert_eq!(
        report["prompt"]["technique"], "T1562.008",
        "pre-v19 spelling"
    );
    let rules = &report["sources"][0]["rules"];
    assert!(!rules["rules_for_technique"].as_array().unwrap().is_empty());
    let real_rate = &rules["real_technique"];
    assert_eq!(real_rate["logs"], 3, "the recording's own T1562.008 logs");
    let fired = rules["generated"]["technique_rule"].as_f64().unwrap();
    assert!(
        fired >= 2.0 / 3.0,
        "StopLogging and DeleteTrail fire: {rules}"
    );
    assert_eq!(
        rules["generated"]["technique_rule"],
        real_rate["technique_rule"]
    );
    assert_eq!(rules["generated"]["any_rule"], real_rate["any_rule"]);
    let fired_on: usize = rules["generated_rules"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap() as usize)
        .sum();
    assert!(fired_on >= 2, "{rules}");
    assert!(rules["real_benign"]["logs"].as_u64().unwrap() > 50);
}

/// Locations: a real sign-in's place is known, the same sign-in moved to a city of no
/// real log is not.
#[test]
fn only_places_of_real_logs_in_the_country_are_known() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    simulate(&real, "1");
    let azure: Vec<Value> = std::fs::read_to_string(real.join("azure.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let country = azure[0]["Location"].as_str().unwrap().to_string();
    let mut generated: Vec<Value> = azure
        .iter()
        .filter(|log| log["Location"] == country.as_str())
        .cloned()
        .collect();
    let n = generated.len();
    let mut nowhere = generated[0].clone();
    nowhere["LocationDetails"]["city"] = Value::from("Atlantis");
    // A location model's log of the Dual-GPT: its fields alone, no event time.
    let place_only = serde_json::json!({
        "Location": country,
        "LocationDetails": generated[0]["LocationDetails"].clone(),
    });
    generated.extend([nowhere, place_only]);
    let file = dir.path().join("generated.jsonl");
    let lines: Vec<String> = generated.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = dir.path().join("report");
    ok(&cyberlm(&[
        "eval",
        "generation",
        path(&file),
        "--source",
        "azure",
        "--country",
        &country,
        "--real",
        path(&real),
        "--out",
        path(&out),
    ]));
    let source = &figures(&out)["sources"][0];
    assert_eq!(
        source["country_accuracy"], 1.0,
        "the place-only log's country is read from its fields"
    );
    let share = |value: &Value, expected: f64| {
        let value = value.as_f64().unwrap();
        assert!((value - expected).abs() < 1e-9, "{value} vs {expected}");
    };
    share(&source["known_locations"], (n + 1) as f64 / (n + 2) as f64);
    share(&source["schema_valid"], (n + 1) as f64 / (n + 2) as f64);
}

/// With the simulator's labels, benign logs are judged against the real benign logs and a
/// technique's logs against that technique's: the labelled attacks are no part of what a
/// benign generation should write.
#[test]
fn labels_split_the_real_logs_into_benign_and_each_techniques() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    simulate(&real, "1");
    let labels = real.join("labels.jsonl");
    let technique_of: std::collections::HashMap<String, String> = std::fs::read_to_string(&labels)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter_map(|label| {
            let technique = label["technique"].as_str()?.to_string();
            Some((label["event_id"].as_str()?.to_string(), technique))
        })
        .collect();
    let cloudtrail = std::fs::read_to_string(real.join("cloudtrail.jsonl")).unwrap();
    let of = |technique: Option<&str>| -> Vec<&str> {
        cloudtrail
            .lines()
            .filter(|line| {
                let log: Value = serde_json::from_str(line).unwrap();
                let id = log["eventID"].as_str().unwrap();
                technique_of.get(id).map(String::as_str) == technique
            })
            .collect()
    };
    let (benign, collection) = (of(None), of(Some("T1530")));
    assert!(!benign.is_empty() && !collection.is_empty());

    let judge = |lines: &[&str], extra: &[&str]| -> Value {
        let generated = dir.path().join("generated.jsonl");
        std::fs::write(&generated, lines.join("\n")).unwrap();
        let out = dir.path().join("report");
        let mut args = vec![
            "eval",
            "generation",
            path(&generated),
            "--source",
            "cloudtrail",
            "--real",
            path(&real),
            "--out",
            path(&out),
        ];
        args.extend(extra);
        ok(&cyberlm(&args));
        figures(&out)["sources"][0].clone()
    };
    let labelled = judge(&benign, &["--labels", path(&labels)]);
    assert_eq!(labelled["real_logs"], benign.len());
    assert_eq!(
        labelled["worst_tvd"], 0.0,
        "the benign logs are their own reference"
    );
    let unlabelled = judge(&benign, &[]);
    assert_eq!(unlabelled["real_logs"], cloudtrail.lines().count());
    assert!(
        unlabelled["worst_tvd"].as_f64().unwrap() > 0.0,
        "without labels the attacks count as real behaviour: {unlabelled}"
    );
    let technique = judge(
        &collection,
        &["--labels", path(&labels), "--technique", "T1530"],
    );
    assert_eq!(technique["real_logs"], collection.len());
    assert_eq!(technique["worst_tvd"], 0.0);

    // A technique no real log of the source has: held to every log of the source.
    let sign_ins = std::fs::read_to_string(real.join("azure.jsonl")).unwrap();
    let generated = dir.path().join("sign-ins.jsonl");
    std::fs::write(&generated, &sign_ins).unwrap();
    let out = dir.path().join("sign-ins");
    ok(&cyberlm(&[
        "eval",
        "generation",
        path(&generated),
        "--source",
        "azure",
        "--technique",
        "T1530",
        "--labels",
        path(&labels),
        "--real",
        path(&real),
        "--out",
        path(&out),
    ]));
    assert_eq!(
        figures(&out)["sources"][0]["real_logs"],
        sign_ins.lines().count()
    );
}
