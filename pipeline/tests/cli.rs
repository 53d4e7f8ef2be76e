//! The binary's own behaviour: the demo runs end to end, and bad input gets a clear error and a
//! dead letter instead of a crash.

use std::process::Command;

fn cyberlm() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cyberlm"));
    command.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    command
}

#[test]
fn demo_trains_calibrates_and_judges_the_held_out_stretch() {
    let dir = tempfile::tempdir().unwrap();
    let output = cyberlm()
        .args([
            "demo",
            "--users",
            "6",
            "--steps",
            "20",
            "--out",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every step is printed as the command it runs.
    for step in [
        "$ cyberlm simulate",
        "$ cyberlm train",
        "$ cyberlm calibrate",
        "$ cyberlm eval detection",
    ] {
        assert!(stdout.contains(step), "no `{step}` in {stdout}");
    }
    assert!(stdout.contains("The GPT detector raised"), "{stdout}");
    let figures: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("eval/detection.json")).unwrap(),
    )
    .unwrap();
    for detector in ["gpt", "gpt-alone", "gpt+sigma", "sigma", "novelty"] {
        assert!(
            figures["detectors"][detector]["pr_auc"].is_number(),
            "{detector}: {figures}"
        );
    }
    // The rules catch the attack they were written for in the held-out stretch.
    assert!(
        figures["scenarios"]["disable_logging-1"]["alerted"]["sigma"]
            .as_u64()
            .unwrap()
            > 0,
        "{figures}"
    );
    // The GPT's alerts are OCSF findings of its analytic, however few a 20-step model raises.
    let alerts = std::fs::read_to_string(dir.path().join("eval/gpt-alerts.jsonl")).unwrap();
    for line in alerts.lines() {
        let alert: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(alert["class_uid"], 2004);
        assert_eq!(
            alert["finding_info"]["analytic"]["uid"], "cyberlm-gpt",
            "{alert}"
        );
    }
}

#[test]
fn malformed_logs_go_to_the_dead_letter_file_and_detection_continues() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cloudtrail.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"eventTime\":\"2024-07-30T21:31:21Z\",\"eventSource\":\"cloudtrail.amazonaws.com\",",
            "\"eventName\":\"StopLogging\",\"userIdentity\":{\"type\":\"IAMUser\",\"userName\":\"m\"}}\n",
            "{\"eventSource\":\"cloudtrail.amazonaws.com\"}\n",
            "<html>\n",
        ),
    )
    .unwrap();
    let (alerts, dead) = (dir.path().join("a.jsonl"), dir.path().join("d.jsonl"));
    let output = cyberlm()
        .args([
            "detect",
            input.to_str().unwrap(),
            "--alerts",
            alerts.to_str().unwrap(),
            "--dead-letter",
            dead.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read_to_string(&alerts).unwrap().lines().count(), 1);
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0]["position"], "line 2");
    assert_eq!(dead[0]["error"], "cloudtrail log has no eventTime field");
    assert_eq!(dead[1]["error_type"], "not_json");
    assert_eq!(dead[1]["raw"], "<html>");
}

#[test]
fn a_missing_rules_folder_is_an_error_that_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("azure.jsonl");
    std::fs::write(&input, "").unwrap();
    let output = cyberlm()
        .env("CYBERLM_SIGMA_RULES", dir.path().join("nowhere"))
        .args(["detect", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CYBERLM_SIGMA_RULES"), "{stderr}");
}

#[test]
fn recorded_parquet_detects_exactly_like_its_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let run = |args: &[&str]| {
        let output = cyberlm().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(&[
        "simulate",
        "--users",
        "10",
        "--days",
        "4",
        "--out",
        logs.to_str().unwrap(),
    ]);
    std::fs::write(logs.join("azure.jsonl"), {
        let mut text = std::fs::read_to_string(logs.join("azure.jsonl")).unwrap();
        text.push_str("{\"broken\": true\n");
        text
    })
    .unwrap();
    let parquet = dir.path().join("recorded.parquet");
    run(&[
        "record",
        logs.to_str().unwrap(),
        "--out",
        parquet.to_str().unwrap(),
    ]);
    let detect = |input: &std::path::Path, name: &str| -> (Vec<String>, usize) {
        let (alerts, dead) = (
            dir.path().join(format!("{name}-a.jsonl")),
            dir.path().join(format!("{name}-d.jsonl")),
        );
        run(&[
            "detect",
            input.to_str().unwrap(),
            "--alerts",
            alerts.to_str().unwrap(),
            "--dead-letter",
            dead.to_str().unwrap(),
        ]);
        let mut uids: Vec<String> = std::fs::read_to_string(alerts)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["finding_info"]["uid"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        uids.sort();
        (uids, std::fs::read_to_string(dead).unwrap().lines().count())
    };
    let (from_jsonl, dead_jsonl) = detect(&logs, "jsonl");
    let (from_parquet, dead_parquet) = detect(&parquet, "parquet");
    assert!(!from_jsonl.is_empty());
    assert_eq!(from_jsonl, from_parquet);
    assert_eq!(
        (dead_jsonl, dead_parquet),
        (1, 1),
        "the broken log is kept in Parquet and dead-lettered from both"
    );
}

#[test]
fn pii_fields_are_pseudonymised_before_detection_and_need_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("azure.jsonl");
    std::fs::write(
        &input,
        "{\"TimeGenerated\":\"2024-07-30T21:31:21Z\",\"Id\":\"a1\",\"Category\":\"SignInLogs\",\"UserPrincipalName\":\"alice@contoso.com\",\"IPAddress\":\"81.2.69.160\",\"ResultType\":\"50053\"}\n",
    )
    .unwrap();
    let config = dir.path().join("cyberlm.toml");
    std::fs::write(
        &config,
        "[sigma]\nrules = \"rules/sigma/rules\"\n[pii.fields]\nazure = [\"UserPrincipalName\", \"IPAddress\"]\n",
    )
    .unwrap();
    let alerts = dir.path().join("a.jsonl");
    let args = [
        "detect",
        input.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--alerts",
        alerts.to_str().unwrap(),
        "--dead-letter",
        dir.path()
            .join("d.jsonl")
            .to_str()
            .unwrap()
            .to_string()
            .leak(),
    ];
    let without_key = cyberlm()
        .env_remove("CYBERLM_PII_KEY")
        .args(args)
        .output()
        .unwrap();
    assert!(!without_key.status.success());
    assert!(String::from_utf8_lossy(&without_key.stderr).contains("CYBERLM_PII_KEY"));

    let with_key = cyberlm()
        .env("CYBERLM_PII_KEY", "a test key of 24 bytes!!")
        .args(args)
        .output()
        .unwrap();
    assert!(
        with_key.status.success(),
        "{}",
        String::from_utf8_lossy(&with_key.stderr)
    );
    let text = std::fs::read_to_string(&alerts).unwrap();
    let alert: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("the lockout still alerts")).unwrap();
    let log = &alert["evidences"][0]["data"]["log"];
    assert!(log["UserPrincipalName"].as_str().unwrap().starts_with("h:"));
    assert!(log["IPAddress"].as_str().unwrap().starts_with("h:"));
    assert!(
        !text.contains("alice") && !text.contains("81.2.69.160"),
        "no PII in the alert"
    );
    assert_eq!(
        alert["evidences"][0]["actor"]["user"]["name"],
        log["UserPrincipalName"]
    );
}

/// A scheduler needs to tell "try later" from a failure: a retrain that finds another
/// one holding the registry's lock exits 75 and says who holds it; one with nothing
/// published yet says how to publish a first version.
#[test]
fn retrain_says_when_another_runs_and_when_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let retrain = || {
        cyberlm()
            .args([
                "retrain",
                logs.to_str().unwrap(),
                "--registry",
                registry.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };

    let output = retrain();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no model version is published yet") && stderr.contains("cyberlm publish"),
        "{stderr}"
    );

    // The lock is an OS lock on the file: this test holds it as another retrain would.
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(registry.join("retrain.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(registry.join("retrain.lock"), "4242").unwrap();
    let output = retrain();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains("held by another retrain (pid 4242)"),
        "{stderr}"
    );
    drop(lock);
}
