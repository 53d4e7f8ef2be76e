//! `train`, `score` and `generate` end to end on simulated logs, with the `tiny` preset:
//! a checkpoint is written, every log gets a score with per-field surprisal, every
//! generated line parses and carries the prompted user, and a broken model folder is a
//! clear error.

use std::path::Path;

mod common;
use common::{cyberlm, cyberlm_with_env, ok, path, simulate};

/// `train` flags for a model that only has to exist: two steps of `tiny`.
const TWO_TINY_STEPS: [&str; 8] = [
    "--preset",
    "tiny",
    "--steps",
    "2",
    "--eval-every",
    "2",
    "--batch-size",
    "2",
];

/// Stratus Red Team's recorded attacks, tagged with their techniques.
const STRATUS: &str = "../shared/data/cloudtrail/stratus_detonation_logs.jsonl";

#[test]
fn train_score_and_generate_on_simulated_logs() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let model = dir.path().join("model");
    simulate(&logs, 8, 2, &[]);
    let labels = logs.join("labels.jsonl");
    let train = [
        "train",
        path(&logs),
        "--out",
        path(&model),
        "--preset",
        "tiny",
        "--steps",
        "12",
        "--eval-every",
        "6",
        "--batch-size",
        "4",
        "--labels",
        path(&labels),
        "--tagged",
        STRATUS,
        "--attack-share",
        "0.25",
    ];
    let trained = ok(&cyberlm(&train));
    assert!(trained.contains("finished at step 12"), "{trained}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["format"], "cyberlm-model");
    assert_eq!(manifest["state"]["step"], 12);
    assert!(manifest["text_format"]["projection"]["constants"]["azure"].is_array());
    assert_eq!(manifest["training"]["favoured_share"], 0.25);
    assert_eq!(
        manifest["text_format"]["tags_detected"], true,
        "the technique logs are marked by whether their rules fire"
    );
    let simulated: usize = ["azure", "confluence", "cloudtrail"]
        .iter()
        .map(|source| {
            let file = logs.join(format!("{source}.jsonl"));
            std::fs::read_to_string(file).unwrap().lines().count()
        })
        .sum();
    let data = &manifest["data"];
    assert_eq!(
        data["logs"].as_u64().unwrap() + data["validation_logs"].as_u64().unwrap(),
        simulated as u64 + 310,
        "every simulated log and every recorded Stratus attack log"
    );

    // Training again into the same folder resumes: nothing left to do.
    let resumed = ok(&cyberlm(&train));
    assert!(
        resumed.contains("resumed run finished at step 12"),
        "{resumed}"
    );

    // A fine-tune starts from the model's weights and reads the logs in its format: two
    // more steps beat two steps from scratch.
    let manifest_of = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
    };
    let two_steps = |out: &Path, extra: &[&str]| {
        let mut args = vec!["train", path(&logs), "--out", path(out)];
        args.extend(TWO_TINY_STEPS);
        args.extend(extra);
        ok(&cyberlm(&args));
        manifest_of(out)
    };
    let tuned = two_steps(
        &dir.path().join("tuned"),
        &["--fine-tune-from", path(&model), "--start-share", "0.5"],
    );
    let fresh = two_steps(&dir.path().join("fresh"), &[]);
    assert_eq!(tuned["training"]["start_share"], 0.5);
    assert_eq!(tuned["text_format"], manifest["text_format"]);
    let validation = |m: &serde_json::Value| m["state"]["best_validation_loss"].as_f64().unwrap();
    assert!(
        validation(&tuned) < validation(&fresh),
        "fine-tuned {} against fresh {}",
        validation(&tuned),
        validation(&fresh)
    );

    let score_cloudtrail_to = |out: &Path| {
        ok(&cyberlm(&[
            "score",
            path(&logs.join("cloudtrail.jsonl")),
            "--model",
            path(&model),
            "--out",
            path(out),
        ]))
    };
    let scores = dir.path().join("scores.jsonl");
    score_cloudtrail_to(&scores);
    let cloudtrail_logs = std::fs::read_to_string(logs.join("cloudtrail.jsonl"))
        .unwrap()
        .lines()
        .count();
    let scored: Vec<serde_json::Value> = std::fs::read_to_string(&scores)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(scored.len(), cloudtrail_logs);
    for score in &scored {
        assert!(score["surprisal"].as_f64().unwrap() > 0.0);
        assert!(
            score["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["path"] == "eventName"),
            "{score}"
        );
    }

    // The same scores as Parquet: one row per log, the same figures, fields as JSON text.
    let parquet_scores = dir.path().join("scores.parquet");
    score_cloudtrail_to(&parquet_scores);
    let rows = read_parquet_scores(&parquet_scores);
    assert_eq!(rows.len(), scored.len());
    for ((event_id, surprisal, fields), json) in rows.iter().zip(&scored) {
        assert_eq!(json["event_id"].as_str(), Some(event_id.as_str()));
        let expected = json["surprisal"].as_f64().unwrap();
        assert!(
            (surprisal - expected).abs() <= 1e-6 * expected.abs().max(1.0),
            "{surprisal} vs {expected}"
        );
        let fields: serde_json::Value = serde_json::from_str(fields).unwrap();
        assert_eq!(fields, json["fields"]);
    }

    let generated = dir.path().join("generated.jsonl");
    let user = "ci-robot";
    let out = ok(&cyberlm(&[
        "generate",
        "--model",
        path(&model),
        "--source",
        "cloudtrail",
        "--user",
        user,
        "--count",
        "6",
        "--max-bytes",
        "400",
        "--out",
        path(&generated),
    ]));
    assert!(out.contains("0 did not parse"), "{out}");
    let lines: Vec<String> = std::fs::read_to_string(&generated)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 6);
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value.is_object(), "{line}");
    }

    benign_logs_are_generated_for_the_users_of_the_training_mix(dir.path(), &model, &manifest);
    must_fire_keeps_red_team_logs_that_fire_their_rules(dir.path(), &logs, &model);
    detected_asks_for_the_steps_rules_fire_on(dir.path(), &logs, &model, &dir.path().join("fresh"));
    rule_guided_logs_fire_a_rule_no_training_log_fires(dir.path(), &logs, &model);
    calibrate_evaluate_and_detect(dir.path(), &logs, &model);
}

/// The model keeps each source's mix of users and their hours of the week, and benign logs
/// asked for no user are generated for users of it: the user fields name one of them.
fn benign_logs_are_generated_for_the_users_of_the_training_mix(
    dir: &Path,
    model: &Path,
    manifest: &serde_json::Value,
) {
    let mix = manifest["text_format"]["shapes"]["azure"]["users"]
        .as_object()
        .expect("the sign-ins' mix of users");
    assert!(mix.len() >= 2, "{mix:?}");
    assert!(mix.values().all(|count| count.as_u64() > Some(0)));
    // And each user's hours of the week, one count per log: what a log's time is drawn
    // from.
    let hours = manifest["text_format"]["shapes"]["azure"]["hours"]
        .as_object()
        .expect("the sign-in users' hours of the week");
    for (user, count) in mix {
        let of_week = hours[user].as_object().expect("the user's hours");
        assert!(
            of_week
                .keys()
                .all(|hour| hour.parse::<u8>().is_ok_and(|h| h < 168))
        );
        let logs: u64 = of_week.values().filter_map(serde_json::Value::as_u64).sum();
        assert_eq!(Some(logs), count.as_u64(), "{user}: {of_week:?}");
    }
    let generated = dir.join("benign.jsonl");
    let out = ok(&cyberlm(&[
        "generate",
        "--model",
        path(model),
        "--source",
        "azure",
        "--benign",
        "--count",
        "4",
        "--max-bytes",
        "600",
        "--out",
        path(&generated),
    ]));
    assert!(out.contains("4 logs written"), "{out}");
    for line in std::fs::read_to_string(&generated).unwrap().lines() {
        let log: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(user) = log["UserPrincipalName"].as_str() {
            assert!(mix.contains_key(user), "{user} is not in {mix:?}");
        }
    }
}

/// `generate --must-fire` writes only logs that fire a Sigma rule of their technique, as
/// `eval generation` judges them, and refuses a technique no rule detects.
fn must_fire_keeps_red_team_logs_that_fire_their_rules(dir: &Path, logs: &Path, model: &Path) {
    let fired = dir.join("fired.jsonl");
    let generate = |technique: &str| {
        cyberlm(&[
            "generate",
            "--model",
            path(model),
            "--source",
            "cloudtrail",
            "--technique",
            technique,
            "--must-fire",
            "--count",
            "3",
            "--out",
            path(&fired),
        ])
    };
    let out = ok(&generate("T1562.008"));
    assert!(out.contains("3 logs written"), "{out}");
    assert!(out.contains("--must-fire: 3 of"), "{out}");
    let cloudtrail = cloudtrail_judged_as_t1562(&dir.join("eval-fired"), &fired, logs);
    assert_eq!(cloudtrail["rules"]["generated"]["logs"], 3, "{cloudtrail}");
    assert_eq!(
        cloudtrail["rules"]["generated"]["technique_rule"], 1.0,
        "{cloudtrail}"
    );

    let undetected = generate("T1001");
    assert!(!undetected.status.success());
    let stderr = String::from_utf8_lossy(&undetected.stderr);
    assert!(stderr.contains("no Sigma rule"), "{stderr}");
}

/// `eval generation` of generated CloudTrail logs as T1562.008's: the CloudTrail figures.
fn cloudtrail_judged_as_t1562(eval_dir: &Path, generated: &Path, logs: &Path) -> serde_json::Value {
    cloudtrail_judged_as("T1562.008", eval_dir, generated, logs)
}

/// `eval generation` of generated CloudTrail logs as `technique`'s: the CloudTrail figures.
fn cloudtrail_judged_as(
    technique: &str,
    eval_dir: &Path,
    generated: &Path,
    logs: &Path,
) -> serde_json::Value {
    ok(&cyberlm(&[
        "eval",
        "generation",
        path(generated),
        "--technique",
        technique,
        "--real",
        path(logs),
        "--tagged",
        STRATUS,
        "--out",
        path(eval_dir),
    ]));
    let figures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(eval_dir.join("figures.json")).unwrap())
            .unwrap();
    figures["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|source| source["source"] == "cloudtrail")
        .unwrap()
        .clone()
}

/// `generate --detected` asks the model for the steps of a technique its rules fire on:
/// their combinations of values are those of the recorded logs that fired, so they fire
/// without a log thrown away. A model trained without tagged logs refuses it.
fn detected_asks_for_the_steps_rules_fire_on(
    dir: &Path,
    logs: &Path,
    model: &Path,
    untagged: &Path,
) {
    let generated = dir.join("detected.jsonl");
    let generate = |model: &Path| {
        cyberlm(&[
            "generate",
            "--model",
            path(model),
            "--source",
            "cloudtrail",
            "--technique",
            "T1562.008",
            "--detected",
            "--count",
            "4",
            "--out",
            path(&generated),
        ])
    };
    let out = ok(&generate(model));
    assert!(out.contains("4 logs written"), "{out}");
    let cloudtrail = cloudtrail_judged_as_t1562(&dir.join("eval-detected"), &generated, logs);
    assert_eq!(
        cloudtrail["rules"]["generated"]["technique_rule"], 1.0,
        "{cloudtrail}"
    );

    let refused = generate(untagged);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--must-fire"), "{stderr}");
}

/// `generate --rule-guided` holds each log to what a rule of the technique asks, so its
/// logs fire a rule that no recorded log of the technique fires: Stratus detonates
/// T1136.003 by creating an IAM user, and its one rule watches ElastiCache security
/// groups, a call no training log made.
fn rule_guided_logs_fire_a_rule_no_training_log_fires(dir: &Path, logs: &Path, model: &Path) {
    let generated = dir.join("rule-guided.jsonl");
    let out = ok(&cyberlm(&[
        "generate",
        "--model",
        path(model),
        "--source",
        "cloudtrail",
        "--technique",
        "T1136.003",
        "--rule-guided",
        "--count",
        "4",
        "--out",
        path(&generated),
    ]));
    assert!(
        out.contains("following 4ae68615-866f-4304-b24b-ba048dfa5ca7: eventSource=elasticache.amazonaws.com, eventName=CreateCacheSecurityGroup"),
        "{out}"
    );
    assert!(
        out.contains("--rule-guided: 4 of 4 logs tried fired"),
        "{out}"
    );
    let cloudtrail = cloudtrail_judged_as("T1136.003", &dir.join("eval-guided"), &generated, logs);
    assert_eq!(cloudtrail["rules"]["generated"]["logs"], 4, "{cloudtrail}");
    assert_eq!(
        cloudtrail["rules"]["generated"]["technique_rule"], 1.0,
        "{cloudtrail}"
    );
}

/// Pseudonymised training binds the model to its key and fields: the manifest names the
/// key (never holds it), scoring without the same pseudonymisation is refused with what
/// to do, and with it every scored user is a pseudonym.
#[test]
fn a_model_trained_on_pseudonyms_reads_only_logs_pseudonymised_alike() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let model = dir.path().join("model");
    simulate(&logs, 4, 1, &[]);
    let config = dir.path().join("pii.toml");
    std::fs::write(
        &config,
        "[pii.fields]\nazure = [\"UserPrincipalName\"]\ncloudtrail = [\"userIdentity.arn\"]\n\
         confluence = [\"author.username\"]\n",
    )
    .unwrap();
    let key = "training key, 24 bytes..";
    let with_key = [("CYBERLM_PII_KEY", key)];
    ok(&cyberlm_with_env(
        &[
            &["train", path(&logs), "--out", path(&model)][..],
            &TWO_TINY_STEPS,
            &["--config", path(&config)],
        ]
        .concat(),
        &with_key,
    ));
    let manifest = std::fs::read_to_string(model.join("manifest.json")).unwrap();
    assert!(!manifest.contains(key), "the key itself is never stored");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let pseudonyms = &manifest["data"]["pseudonyms"];
    assert!(
        pseudonyms["key_id"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert_eq!(pseudonyms["fields"]["azure"][0], "UserPrincipalName");

    let azure = logs.join("azure.jsonl");
    let scores = dir.path().join("scores.jsonl");
    let score = |config: Option<&Path>, key: &str| {
        let mut args = vec![
            "score",
            path(&azure),
            "--model",
            path(&model),
            "--out",
            path(&scores),
        ];
        if let Some(config) = config {
            args.extend(["--config", path(config)]);
        }
        cyberlm_with_env(&args, &[("CYBERLM_PII_KEY", key)])
    };
    let refused = |output: std::process::Output, expected: &str| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{stderr}"
        );
    };
    refused(score(None, key), "but the config pseudonymises nothing");
    refused(
        score(Some(&config), "another key of 24 bytes."),
        "but the key given now is",
    );
    ok(&score(Some(&config), key));
    let scored = std::fs::read_to_string(&scores).unwrap();
    assert!(scored.lines().count() > 0);
    for line in scored.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let user = row["user"].as_str().unwrap();
        assert!(user.starts_with("h:") && user.len() == 18, "{user}");
    }
}

/// The GPT detector's path: calibrate on the simulation (its attack logs left out),
/// evaluate every detector against the labels, and detect with the GPT beside Sigma.
fn calibrate_evaluate_and_detect(dir: &Path, logs: &Path, model: &Path) {
    let calibrated = ok(&cyberlm(&["calibrate", path(logs), "--model", path(model)]));
    assert!(
        calibrated.contains("labelled attack logs left out"),
        "{calibrated}"
    );
    assert!(
        !calibrated.contains("(0 labelled attack logs"),
        "{calibrated}"
    );
    assert!(model.join("calibration.json").is_file());

    let eval_dir = dir.join("eval");
    ok(&cyberlm(&[
        "eval",
        "detection",
        path(logs),
        "--model",
        path(model),
        "--out",
        path(&eval_dir),
    ]));
    let figures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(eval_dir.join("detection.json")).unwrap())
            .unwrap();
    for detector in ["gpt", "gpt+sigma", "sigma", "novelty"] {
        let figures = &figures["detectors"][detector];
        for key in ["precision", "recall", "pr_auc", "roc_auc"] {
            let value = figures[key].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&value), "{detector} {key}: {figures}");
        }
        assert!(
            figures["per_technique"]
                .as_object()
                .is_some_and(|t| !t.is_empty())
        );
    }
    for chart in ["pr.png", "gpt-scores.png"] {
        let bytes = std::fs::read(eval_dir.join(chart)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{chart} is not a PNG");
    }
    assert!(
        std::fs::read_to_string(eval_dir.join("index.html"))
            .unwrap()
            .contains("pr.png")
    );

    // Detect with the GPT at a deliberately loose threshold, so it surely alerts.
    let config = dir.join("gpt.toml");
    std::fs::write(
        &config,
        format!(
            "[gpt]\nmodel = {:?}\nalerts_per_10k = 5000\ngroup_window_s = 0\n",
            path(model)
        ),
    )
    .unwrap();
    let alerts = dir.join("alerts.jsonl");
    ok(&cyberlm(&[
        "detect",
        path(logs),
        "--config",
        path(&config),
        "--alerts",
        path(&alerts),
        "--dead-letter",
        path(&dir.join("dead.jsonl")),
    ]));
    let gpt_alerts: Vec<serde_json::Value> = std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|alert| alert["finding_info"]["analytic"]["uid"] == "cyberlm-gpt")
        .collect();
    assert!(!gpt_alerts.is_empty(), "no GPT alert at 50%");
    for alert in &gpt_alerts {
        let fields = alert["unmapped"]["cyberlm"]["fields"].as_array().unwrap();
        assert!(!fields.is_empty(), "{alert}");
        assert!(fields.iter().all(|f| f["observed"].is_string()), "{alert}");
    }
}

/// (event_id, surprisal, fields) of every row of a scores Parquet file.
fn read_parquet_scores(path: &Path) -> Vec<(String, f64, String)> {
    use arrow_array::{Array, Float64Array, StringArray};
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone()
        };
        let (ids, fields) = (text("event_id"), text("fields"));
        let surprisal = batch
            .column_by_name("surprisal")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone();
        for row in 0..batch.num_rows() {
            assert!(!surprisal.is_null(row));
            rows.push((
                ids.value(row).to_string(),
                surprisal.value(row),
                fields.value(row).to_string(),
            ));
        }
    }
    rows
}

#[test]
fn a_folder_that_is_not_a_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("manifest.json"),
        "{\"format\":\"something-else\"}",
    )
    .unwrap();
    let output = cyberlm(&[
        "generate",
        "--model",
        path(dir.path()),
        "--source",
        "azure",
        "--count",
        "1",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("manifest.json") && stderr.contains("not a cyberlm model"),
        "{stderr}"
    );
}

/// The Dual-GPT: a location model trained on the location fields alone, then a travel
/// scenario that takes the user's days from the main model and the places from it.
#[test]
fn a_travel_scenario_writes_the_users_days_abroad() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    simulate(&logs, 4, 7, &["--no-attacks"]);
    let train = |out: &Path, extra: &[&str]| {
        let args = [
            &["train", path(&logs), "--out", path(out)][..],
            &TWO_TINY_STEPS,
            extra,
        ]
        .concat();
        ok(&cyberlm(&args));
        let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&manifest).unwrap()
    };
    let (main, location) = (dir.path().join("main"), dir.path().join("location"));
    assert!(train(&main, &[])["text_format"]["group"].is_null());
    let group = &train(&location, &["--field-group", "location"])["text_format"]["group"];
    assert_eq!(group["name"], "location");
    assert_eq!(group["header"], serde_json::json!(["country"]));

    let roster = std::fs::read_to_string(logs.join("users.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(roster.lines().next().unwrap()).unwrap();
    let user = first["upn"].as_str().unwrap();
    let travel = dir.path().join("travel.jsonl");
    let run = |model: &Path, group: &Path| {
        cyberlm(&[
            "scenario",
            "travel",
            "--model",
            path(model),
            "--group-model",
            path(group),
            "--user",
            user,
            "--country",
            "jp",
            "--from",
            "2026-12-07",
            "--days",
            "3",
            "--history",
            path(&logs),
            "--max-bytes",
            "600",
            "--out",
            path(&travel),
        ])
    };
    let swapped = run(&location, &location);
    assert!(
        String::from_utf8_lossy(&swapped.stderr).contains("is the \"location\" group model"),
        "{}",
        String::from_utf8_lossy(&swapped.stderr)
    );
    let stdout = ok(&run(&main, &location));
    assert!(
        stdout.contains("in JP from 2026-12-07 for 3 days"),
        "{stdout}"
    );
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&travel)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(!written.is_empty());
    let at = |text: &str| text.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let (from, to) = (at("2026-12-07T00:00:00Z"), at("2026-12-10T00:00:00Z"));
    let mut previous = from;
    for log in &written {
        let time = match log.get("TimeGenerated").or_else(|| log.get("eventTime")) {
            Some(text) => at(text.as_str().unwrap()),
            None => log["creationDate"]
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .unwrap_or_else(|| panic!("no event time: {log}")),
        };
        assert!(time >= from && time < to, "{time}");
        assert!(
            time >= previous,
            "in event-time order: {previous} then {time}"
        );
        previous = time;
        if log.get("AppDisplayName").is_some() {
            assert_eq!(log["Location"], "JP", "{log}");
        }
    }
}

#[test]
fn retrain_turns_a_joiner_and_a_new_aws_service_into_their_logs() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    simulate(&logs, 4, 7, &["--no-attacks", "--no-travel"]);
    let (model, registry) = (dir.path().join("model"), dir.path().join("registry"));
    ok(&cyberlm(
        &[
            &["train", path(&logs), "--out", path(&model)][..],
            &TWO_TINY_STEPS,
        ]
        .concat(),
    ));
    ok(&cyberlm(&[
        "calibrate",
        path(&logs),
        "--model",
        path(&model),
    ]));
    ok(&cyberlm(&[
        "publish",
        path(&model),
        "--registry",
        path(&registry),
    ]));

    let roster: Vec<serde_json::Value> = std::fs::read_to_string(logs.join("users.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let upn = |user: &serde_json::Value| user["upn"].as_str().unwrap().to_string();
    let engineer = roster
        .iter()
        .find(|user| user["role"] == "engineer")
        .map(upn)
        .expect("an engineer, who calls AWS");
    let teammates = [upn(&roster[0]), upn(&roster[1])];
    let anticipated = dir.path().join("anticipated.toml");
    std::fs::write(
        &anticipated,
        format!(
            r#"
[[joiner]]
user = "nora.new@contoso.com"
teammates = ["{}", "{}"]
from = "2026-11-16"
days = 5

[[aws_service]]
users = ["{engineer}"]
service = "sagemaker.amazonaws.com"
events = ["CreateNotebookInstance", "ListNotebookInstances"]
from = "2026-11-16"
days = 5
share = 0.5
"#,
            teammates[0], teammates[1]
        ),
    )
    .unwrap();
    let output = cyberlm(&[
        "retrain",
        path(&logs),
        "--registry",
        path(&registry),
        "--anticipated",
        path(&anticipated),
        "--steps",
        "2",
        "--max-bytes",
        "1500",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Published (0) or kept the published version (3): two steps decide nothing.
    assert!(
        matches!(output.status.code(), Some(0 | 3)),
        "{:?}: {stderr}",
        output.status
    );
    let version = ["versions", "candidates"]
        .iter()
        .map(|folder| registry.join(folder).join("v0002"))
        .find(|dir| dir.exists())
        .expect("the candidate v0002");
    let synthetic: Vec<serde_json::Value> =
        std::fs::read_to_string(version.join("anticipated.jsonl"))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
    let text = |log: &serde_json::Value| log.to_string().to_lowercase();
    let joiner: Vec<&serde_json::Value> = synthetic
        .iter()
        .filter(|log| text(log).contains("nora.new@contoso.com"))
        .collect();
    assert!(!joiner.is_empty(), "no log of the joiner");
    for teammate in &teammates {
        let local = teammate.split('@').next().unwrap();
        assert!(
            joiner.iter().all(|log| !text(log).contains(local)),
            "a joiner's log still names {teammate}"
        );
    }
    let calls: Vec<&serde_json::Value> = synthetic
        .iter()
        .filter(|log| log["eventSource"] == "sagemaker.amazonaws.com")
        .collect();
    assert!(!calls.is_empty(), "no call to the new service");
    assert!(calls.iter().all(|call| {
        ["CreateNotebookInstance", "ListNotebookInstances"]
            .contains(&call["eventName"].as_str().unwrap_or(""))
            && text(call).contains(&engineer.to_lowercase())
    }));
}
