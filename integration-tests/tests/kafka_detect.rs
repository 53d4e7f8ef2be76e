//! `cyberlm detect --kafka` against a real Apache Kafka broker: replay → detect → alerts,
//! dead letters, event-time merge across topics, SIGKILL and restart, two instances in
//! one consumer group. Every test owns its topics and consumer group.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use integration_tests::kafka::{TestTopics, terminate, uid_counts};
use integration_tests::{run_cyberlm, train_and_calibrate_tiny};

/// Simulates a small enterprise and returns the uids of the alerts file-mode detect
/// raises on it with the same config: the ground truth for the streaming path.
fn corpus_and_expected(
    dir: &Path,
    topics: &TestTopics,
    users: &str,
    days: &str,
) -> HashSet<String> {
    let logs = dir.join("logs");
    run_cyberlm(&[
        "simulate",
        "--users",
        users,
        "--days",
        days,
        "--seed",
        "3",
        "--out",
        logs.to_str().unwrap(),
    ]);
    let alerts = dir.join("expected-alerts.jsonl");
    run_cyberlm(&[
        "detect",
        logs.to_str().unwrap(),
        "--config",
        topics.config_str(),
        "--alerts",
        alerts.to_str().unwrap(),
        "--dead-letter",
        dir.join("dl.jsonl").to_str().unwrap(),
    ]);
    std::fs::read_to_string(alerts)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["finding_info"]["uid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Reads the alerts topic until every expected uid is there (or two minutes pass).
fn read_until_every_expected_alert(
    topics: &TestTopics,
    expected: &HashSet<String>,
) -> Vec<serde_json::Value> {
    topics.read("alerts", Duration::from_secs(120), |seen| {
        uid_counts(seen)
            .keys()
            .filter(|uid| expected.contains(*uid))
            .count()
            == expected.len()
    })
}

fn wait_for(
    topics: &TestTopics,
    topic: &str,
    count: usize,
    seconds: u64,
) -> Vec<serde_json::Value> {
    topics.read(topic, Duration::from_secs(seconds), |seen| {
        seen.len() >= count
    })
}

#[test]
fn replayed_incident_yields_exactly_the_expected_sigma_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let topics = TestTopics::create("replay", 6);
    let expected = corpus_and_expected(dir.path(), &topics, "20", "7");
    assert!(expected.len() > 20);
    topics.replay(&dir.path().join("logs"), &[]);
    let detect = topics.spawn_detect(&[]);
    let alerts = wait_for(&topics, "alerts", expected.len(), 90);
    let stdout = terminate(detect);
    let counts = uid_counts(&alerts);
    let got: HashSet<String> = counts.keys().cloned().collect();
    assert_eq!(got, expected, "detect said: {stdout}");
    assert!(
        counts.values().all(|&n| n == 1),
        "a clean run produces no duplicates"
    );
    // Keyed by user: every alert for one user sits in one partition.
    let mut partition_of: HashMap<String, i64> = HashMap::new();
    for alert in &alerts {
        let user = alert["evidences"][0]["actor"]["user"]["name"]
            .as_str()
            .unwrap_or("-")
            .to_string();
        let partition = alert["_partition"].as_i64().unwrap();
        assert_eq!(*partition_of.entry(user).or_insert(partition), partition);
    }
}

#[test]
fn malformed_messages_land_in_the_dead_letter_topic_with_their_reason() {
    let topics = TestTopics::create("deadletter", 1);
    let good = br#"{"eventTime":"2024-07-30T21:31:21Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","userIdentity":{"type":"IAMUser","userName":"m"}}"#.to_vec();
    let oversize = format!(
        "{{\"eventTime\":\"2024-07-30T21:31:22Z\",\"pad\":\"{}\"}}",
        "x".repeat(300 * 1024)
    )
    .into_bytes();
    topics.produce(
        "cloudtrail",
        &[
            ("m", b"not json".to_vec()),
            ("m", good),
            ("m", br#"{"eventName":"x"}"#.to_vec()),
            ("m", oversize),
        ],
    );
    topics.produce("azure", &[("u", br#"["an","array"]"#.to_vec())]);
    let detect = topics.spawn_detect(&[]);
    let dead = wait_for(&topics, "dead-letter", 4, 60);
    let alerts = wait_for(&topics, "alerts", 1, 30);
    terminate(detect);
    let mut reasons: Vec<(String, i64, String)> = dead
        .iter()
        .map(|d| {
            (
                d["input"].as_str().unwrap().to_string(),
                d["offset"].as_i64().unwrap(),
                d["error_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            (
                "deadletter-azure".to_string(),
                0,
                "not_an_object".to_string()
            ),
            (
                "deadletter-cloudtrail".to_string(),
                0,
                "not_json".to_string()
            ),
            (
                "deadletter-cloudtrail".to_string(),
                2,
                "missing_field".to_string()
            ),
            (
                "deadletter-cloudtrail".to_string(),
                3,
                "oversize".to_string()
            ),
        ]
    );
    assert!(
        dead.iter()
            .any(|d| d["error"] == "cloudtrail log has no eventTime field")
    );
    assert!(dead.iter().all(|d| d["partition"] == 0));
    assert_eq!(
        alerts.len(),
        1,
        "the good log between the bad ones is still judged"
    );
}

#[test]
fn out_of_order_input_across_topics_is_judged_in_event_time_order() {
    let topics = TestTopics::create("ordering", 1);
    // Every log fires a rule: StopLogging (CloudTrail) and lockouts (Entra ID).
    let trail = |second: u32| -> (&'static str, Vec<u8>) {
        ("m", format!(r#"{{"eventTime":"2024-07-30T21:31:{second:02}Z","eventID":"ct-{second}","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","userIdentity":{{"type":"IAMUser","userName":"m"}}}}"#).into_bytes())
    };
    let lockout = |second: u32| -> (&'static str, Vec<u8>) {
        ("m", format!(r#"{{"TimeGenerated":"2024-07-30T21:31:{second:02}Z","Id":"az-{second}","Category":"SignInLogs","UserPrincipalName":"m","ResultType":"50053"}}"#).into_bytes())
    };
    // CloudTrail arrives first and itself slightly out of order; Entra ID arrives later
    // with events in between. Disorder stays within the 5 s bound.
    topics.produce("cloudtrail", &[trail(10), trail(14), trail(12), trail(18)]);
    topics.produce(
        "azure",
        &[lockout(11), lockout(13), lockout(16), lockout(17)],
    );
    let detect = topics.spawn_detect(&[]);
    let alerts = wait_for(&topics, "alerts", 8, 60);
    terminate(detect);
    let ids: Vec<&str> = alerts
        .iter()
        .map(|a| a["evidences"][0]["data"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "ct-10", "az-11", "ct-12", "az-13", "ct-14", "az-16", "az-17", "ct-18"
        ]
    );
}

#[test]
fn sigkill_mid_stream_then_restart_loses_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let topics = TestTopics::create("sigkill", 6);
    let expected = corpus_and_expected(dir.path(), &topics, "40", "10");
    let mut first = topics.spawn_detect(&[]);
    // Replay at a steady rate while the first instance works, so the kill lands
    // mid-stream: about 10 s for the corpus's ~10,000 logs, slow enough that the alerts
    // reader (which may join its group late on a loaded machine) sees a third of them
    // before detect has judged them all.
    let replay = {
        let logs = dir.path().join("logs");
        let config = topics.config.clone();
        std::thread::spawn(move || {
            run_cyberlm(&[
                "replay",
                logs.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
                "--rate",
                "1000",
            ]);
        })
    };
    let partial = wait_for(&topics, "alerts", expected.len() / 3, 60);
    first.kill().unwrap();
    first.wait().unwrap();
    let seen_before_kill = uid_counts(&partial).len();
    assert!(
        seen_before_kill < expected.len(),
        "the kill came after the last alert: not mid-stream"
    );
    replay.join().unwrap();
    let second = topics.spawn_detect(&[]);
    let alerts = read_until_every_expected_alert(&topics, &expected);
    terminate(second);
    let counts = uid_counts(&alerts);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|uid| !counts.contains_key(*uid))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} expected alerts missing after restart",
        missing.len(),
        expected.len()
    );
    assert!(
        counts.keys().all(|uid| expected.contains(uid)),
        "no unexpected alerts"
    );
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    println!(
        "sigkill: {} expected alerts, {seen_before_kill} seen before the kill, {duplicates} duplicates after the restart",
        expected.len()
    );
}

#[test]
fn two_instances_in_one_group_share_the_work_and_survive_one_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let topics = TestTopics::create("group", 6);
    let expected = corpus_and_expected(dir.path(), &topics, "40", "10");
    let one = topics.spawn_detect(&[]);
    let two = topics.spawn_detect(&[]);
    std::thread::sleep(Duration::from_secs(5));
    topics.replay(&dir.path().join("logs"), &["--rate", "4000"]);
    // Stop one instance mid-stream; the other takes its partitions over.
    let stopped = terminate(one);
    let alerts = read_until_every_expected_alert(&topics, &expected);
    let survivor = terminate(two);
    let counts = uid_counts(&alerts);
    let missing = expected
        .iter()
        .filter(|uid| !counts.contains_key(*uid))
        .count();
    assert_eq!(missing, 0, "stopped: {stopped}\nsurvivor: {survivor}");
    let consumed = |out: &str| -> u64 {
        out.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        consumed(&stopped) > 0 && consumed(&survivor) > 0,
        "both instances worked: {stopped} / {survivor}"
    );
}

/// The GPT detector in the streaming path: every log the Kafka consumers merge is scored
/// once, in the same context as in file mode, so the same logs alert (none lost, none
/// scored twice). The threshold is loose (30% of benign logs) so that most logs' verdicts
/// are compared, not only a handful of alerts.
#[test]
fn gpt_detector_on_kafka_alerts_on_exactly_what_file_mode_does() {
    let dir = tempfile::tempdir().unwrap();
    let topics = TestTopics::create("gpt", 3);
    let history = dir.path().join("history");
    let model = dir.path().join("model");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    run_cyberlm(&[
        "simulate",
        "--users",
        "6",
        "--days",
        "2",
        "--seed",
        "3",
        "--activity-seed",
        "4",
        "--no-attacks",
        "--out",
        &path(&history),
    ]);
    train_and_calibrate_tiny(&history, &model, &[]);
    let mut config = std::fs::read_to_string(&topics.config).unwrap();
    config.push_str(&format!(
        "[gpt]\nmodel = {:?}\nalerts_per_10k = 3000\ngroup_window_s = 0\nmax_batch = 8\n",
        path(&model)
    ));
    std::fs::write(&topics.config, config).unwrap();

    let expected = corpus_and_expected(dir.path(), &topics, "6", "2");
    let expected_gpt = gpt_uids(&read_jsonl(&dir.path().join("expected-alerts.jsonl")));
    assert!(
        expected_gpt.len() > 20,
        "only {} GPT alerts in file mode",
        expected_gpt.len()
    );
    topics.replay(&dir.path().join("logs"), &[]);
    let detect = topics.spawn_detect(&[]);
    let alerts = read_until_every_expected_alert(&topics, &expected);
    let stdout = terminate(detect);
    let counts = uid_counts(&alerts);
    assert!(
        counts.values().all(|&n| n == 1),
        "a log was scored twice: {stdout}"
    );
    assert_eq!(gpt_uids(&alerts), expected_gpt, "detect said: {stdout}");
}

fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn gpt_uids(alerts: &[serde_json::Value]) -> HashSet<String> {
    alerts
        .iter()
        .filter(|alert| alert["finding_info"]["analytic"]["uid"] == "cyberlm-gpt")
        .map(|alert| alert["finding_info"]["uid"].as_str().unwrap().to_string())
        .collect()
}
