//! `cyberlm eval generation` on "generated" logs whose figures are known in advance:
//! copies of real logs plus broken ones.

use std::path::Path;

use serde_json::Value;

mod common;
use common::{cyberlm, ok, path};

fn simulate(out: &Path, seed: &str) {
    ok(&cyberlm(&[
        "simulate",
        "--users",
        "6",
        "--days",
        "2",
        "--seed",
        seed,
        "--out",
        path(out),
    ]));
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
