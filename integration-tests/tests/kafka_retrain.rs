//! The retrain loop on a real broker: `cyberlm detect --kafka` scores with the version a
//! model registry publishes; `cyberlm retrain` publishes a new one while detect runs;
//! detect switches between two micro-batches, so every log is judged exactly once, by
//! the version published when it was judged, and none is lost.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::kafka::{TestTopics, terminate, uid_counts};
use integration_tests::{cyberlm_bin, repo_root, run_cyberlm, train_and_calibrate_tiny};

fn path(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// One benign day of the same six people (organisation seed 3).
fn simulate_day(out: &Path, start: &str, activity_seed: &str) {
    run_cyberlm(&[
        "simulate",
        "--users",
        "6",
        "--days",
        "1",
        "--seed",
        "3",
        "--activity-seed",
        activity_seed,
        "--start",
        start,
        "--no-attacks",
        "--no-travel",
        "--out",
        &path(out),
    ]);
}

/// Logs in the simulated folder.
fn log_count(folder: &Path) -> usize {
    event_ids(folder).len()
}

/// The GPT alerts file-mode detect raises on `inputs` with the config: uid → event id.
fn expected_gpt_alerts(dir: &Path, config: &str, inputs: &[&Path]) -> Vec<(String, String)> {
    let alerts = dir.join("expected.jsonl");
    let mut args = vec!["detect".to_string()];
    args.extend(inputs.iter().map(|p| path(p)));
    args.extend([
        "--config".into(),
        config.into(),
        "--alerts".into(),
        path(&alerts),
        "--dead-letter".into(),
        path(&dir.join("expected-dl.jsonl")),
    ]);
    run_cyberlm(&args.iter().map(String::as_str).collect::<Vec<_>>());
    std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|alert| alert["finding_info"]["analytic"]["uid"] == "cyberlm-gpt")
        .map(|alert| {
            (
                alert["finding_info"]["uid"].as_str().unwrap().to_string(),
                alert["evidences"][0]["data"]["event_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

/// Event ids of the logs in a simulated folder, as the decoder names them.
fn event_ids(folder: &Path) -> HashSet<String> {
    let mut ids = HashSet::new();
    for source in schemas::Source::ALL {
        let text = std::fs::read_to_string(folder.join(format!("{}.jsonl", source.name())))
            .unwrap_or_default();
        for line in text.lines() {
            ids.insert(schemas::decode(source, line.as_bytes()).unwrap().event_id);
        }
    }
    ids
}

/// The Prometheus page detect serves.
fn metrics(listen: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(listen) else {
        return String::new();
    };
    let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut page = String::new();
    let _ = stream.read_to_string(&mut page);
    page
}

/// The value of the first sample of `name` on the page.
fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find(|line| line.starts_with(name) && !line.starts_with('#'))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Waits until detect has judged `logs` logs in all.
fn wait_until_judged(listen: &str, logs: usize) {
    let started = Instant::now();
    let mut judged = None;
    while started.elapsed() < Duration::from_secs(180) {
        judged = sample(&metrics(listen), "cyberlm_detection_batch_logs_sum");
        if judged.is_some_and(|n| n as usize >= logs) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("detect judged {judged:?} of {logs} logs in three minutes");
}

#[test]
fn detect_switches_to_the_version_retrain_publishes_and_loses_no_log() {
    let dir = tempfile::tempdir().unwrap();
    let topics = TestTopics::create("retrain", 3);
    let (history, before, after) = (
        dir.path().join("history"),
        dir.path().join("before"),
        dir.path().join("after"),
    );
    simulate_day(&history, "2026-11-02", "4");
    simulate_day(&before, "2026-11-03", "5");
    simulate_day(&after, "2026-11-04", "6");

    // v0001: trained and calibrated on the first day, published.
    let first = dir.path().join("first");
    let registry = dir.path().join("registry");
    // Each log judged alone: with entity evidence, a log without any (most of them) is
    // never anomalous, and the loose threshold below would leave a handful of alerts
    // to compare instead of hundreds.
    train_and_calibrate_tiny(&history, &first, &["--evidence-window-s", "0"]);
    run_cyberlm(&["publish", &path(&first), "--registry", &path(&registry)]);

    // Retrain reads the recorded day back from the topics, with the broker settings and
    // the default alert rate.
    let retrain_config = dir.path().join("retrain.toml");
    std::fs::copy(&topics.config, &retrain_config).unwrap();
    // A loose threshold, so that many logs' verdicts are compared, not a handful. The
    // merge holds each replayed day until every partition has gone quiet (a day's
    // out-of-orderness), so the stream judges the logs in the files' order: a log's
    // header carries its user's sign-in country, which depends on that order, and a
    // partition a loaded machine delivers a second late must not make logs late.
    let mut config = std::fs::read_to_string(&topics.config).unwrap().replace(
        "idle_timeout_ms = 1000",
        "idle_timeout_ms = 3000\nmax_out_of_orderness_ms = 86400000\ncaught_up_idle_ms = 1000",
    );
    config.push_str(&format!(
        "[gpt]\nmodel = {:?}\nalerts_per_10k = 3000\ngroup_window_s = 0\nmax_batch = 8\n",
        path(&registry)
    ));
    std::fs::write(&topics.config, config).unwrap();
    let expected_before = expected_gpt_alerts(dir.path(), topics.config_str(), &[&before]);
    assert!(
        expected_before.len() > 10,
        "{} GPT alerts",
        expected_before.len()
    );

    let listen = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let detect = topics.spawn_detect(&[("CYBERLM_METRICS_LISTEN", &listen)]);
    topics.replay(&before, &[]);
    wait_until_judged(&listen, log_count(&before));
    assert!(
        metrics(&listen).contains("v0001+"),
        "the metrics name the active version"
    );

    // Retrain (fine-tuning v0001 on the day just replayed, read back from the topics,
    // plus a trip the first employee will make next week) while detect runs.
    let roster = std::fs::read_to_string(history.join("users.jsonl")).unwrap();
    let traveller: serde_json::Value =
        serde_json::from_str(roster.lines().next().unwrap()).unwrap();
    let anticipated = dir.path().join("anticipated.toml");
    std::fs::write(
        &anticipated,
        format!(
            "[[travel]]\nuser = {}\ncountry = \"JP\"\nfrom = \"2026-11-09\"\ndays = 2\n",
            traveller["upn"]
        ),
    )
    .unwrap();
    let retrain = std::process::Command::new(cyberlm_bin())
        .args([
            "retrain",
            "--kafka",
            "--config",
            &path(&retrain_config),
            "--since",
            "2026-11-03",
            "--registry",
            &path(&registry),
            // Copies of the traveller's Tuesday (the only day in the topics).
            "--anticipated",
            &path(&anticipated),
            "--fine-tune",
            "--steps",
            "4",
            // Four steps hardly change a tiny model; the gate's sampling noise must
            // not keep it from being published in this test.
            "--max-loss-increase",
            "1",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&retrain.stdout);
    assert_eq!(
        retrain.status.code(),
        Some(0),
        "retrain did not publish: {said}\n{}",
        String::from_utf8_lossy(&retrain.stderr)
    );
    assert!(said.contains("published v0002"), "{said}");
    assert!(
        said.contains("synthetic logs of 1 anticipated events") && !said.contains(" 0 synthetic"),
        "{said}"
    );
    let recorded: usize = said
        .lines()
        .find_map(|line| {
            line.split(" recorded logs to train on, ")
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let held_out = said
        .lines()
        .find_map(|line| {
            let rest = line.split(" recorded logs to train on, ").nth(1)?;
            rest.split(' ').next()?.parse::<usize>().ok()
        })
        .unwrap_or(0);
    assert_eq!(
        recorded + held_out,
        log_count(&before),
        "retrain read the replayed day back from the topics: {said}"
    );
    assert!(registry.join("versions/v0002/retrain.json").is_file());

    // The second day, judged by v0002 after the first day as context, as file mode
    // does with v0002 throughout (fine-tuning keeps the text format, so the context
    // v0001 read is the context v0002 reads).
    let after_ids = event_ids(&after);
    let expected_after: Vec<(String, String)> =
        expected_gpt_alerts(dir.path(), topics.config_str(), &[&before, &after])
            .into_iter()
            .filter(|(_, event)| after_ids.contains(event))
            .collect();
    topics.replay(&after, &[]);
    wait_until_judged(&listen, log_count(&before) + log_count(&after));
    let page = metrics(&listen);
    let alerts = topics.read("alerts", Duration::from_secs(60), |seen| {
        let gpt = seen
            .iter()
            .filter(|alert| alert["finding_info"]["analytic"]["uid"] == "cyberlm-gpt")
            .count();
        gpt >= expected_before.len() + expected_after.len()
    });
    let stdout = terminate(detect);

    let consumed: usize = stdout
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert_eq!(
        consumed,
        log_count(&before) + log_count(&after),
        "detect said: {stdout}"
    );
    assert!(
        uid_counts(&alerts).values().all(|&n| n == 1),
        "a log was alerted twice"
    );
    let gpt: Vec<&serde_json::Value> = alerts
        .iter()
        .filter(|alert| alert["finding_info"]["analytic"]["uid"] == "cyberlm-gpt")
        .collect();
    let by_version = |prefix: &str| -> HashSet<String> {
        gpt.iter()
            .filter(|alert| {
                alert["unmapped"]["cyberlm"]["model_version"]
                    .as_str()
                    .is_some_and(|version| version.starts_with(prefix))
            })
            .map(|alert| alert["finding_info"]["uid"].as_str().unwrap().to_string())
            .collect()
    };
    let uids = |expected: &[(String, String)]| -> HashSet<String> {
        expected.iter().map(|(uid, _)| uid.clone()).collect()
    };
    assert_eq!(by_version("v0001+"), uids(&expected_before));
    assert_eq!(by_version("v0002+"), uids(&expected_after));
    assert_eq!(
        gpt.len(),
        expected_before.len() + expected_after.len(),
        "every GPT alert came from one of the two versions"
    );
    assert!(
        page.contains("cyberlm_model_switches_total"),
        "the switch is counted"
    );
    let active: Vec<&str> = page
        .lines()
        .filter(|line| line.starts_with("cyberlm_model_info") && line.ends_with(" 1"))
        .collect();
    assert!(
        active.len() == 1 && active[0].contains("v0002+"),
        "the metrics name v0002 as the active version: {active:?}"
    );
}
