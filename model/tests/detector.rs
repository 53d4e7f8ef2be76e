//! The GPT detector end to end on a tiny model: trained on users with fixed habits and
//! calibrated on their benign logs, it alerts on a log that breaks a habit, names the
//! field and the value it expected, groups a burst into one alert, switches to a newly
//! published version only once it is complete, and refuses a calibration measured on
//! other weights.

use burn::prelude::*;
use model::GptConfig;
use model::checkpoint::{self, CalibrationFile, CheckpointError};
use model::corpus::{Corpus, TrainingLog};
use model::detector::{GptDetector, GptDetectorConfig};
use model::deviation::{ContextMode, DeviationConfig, DeviationScorer};
use model::registry::Registry;
use model::train::{TrainConfig, TrainEvent, TrainRun, train};
use operators::Detector;
use operators::calibration::CalibrationBuilder;
use operators::entity_evidence::EvidenceSettings;
use operators::text_format::TextFormat;
use schemas::{Envelope, Source};

const USERS: [(&str, &str); 3] = [
    ("alice", "eu-west-1"),
    ("bob", "us-east-1"),
    ("carol", "ap-south-1"),
];
const EVENTS: [&str; 2] = ["GetObject", "ListBuckets"];

/// Ids of one width: this tiny model learns absolute positions, and a log one byte
/// shorter than usual shifts the next one to positions it has hardly seen.
fn log(minute: usize, user: &str, region: &str, event: &str) -> Envelope {
    let time = chrono::DateTime::parse_from_rfc3339("2024-07-30T08:00:00Z").unwrap()
        + chrono::Duration::minutes(minute as i64);
    let raw = format!(
        r#"{{"eventTime":"{}","eventID":"{user}-{minute:05}","eventSource":"s3.amazonaws.com","eventName":"{event}","userIdentity":{{"type":"IAMUser","userName":"{user}"}},"awsRegion":"{region}"}}"#,
        time.format("%Y-%m-%dT%H:%M:%SZ")
    );
    schemas::decode(Source::CloudTrail, raw.as_bytes()).unwrap()
}

/// Each user always works in their own region.
fn habitual(from_minute: usize, count: usize) -> Vec<Envelope> {
    (0..count)
        .map(|i| {
            let (user, region) = USERS[i % USERS.len()];
            log(
                from_minute + i,
                user,
                region,
                EVENTS[(i / 3) % EVENTS.len()],
            )
        })
        .collect()
}

/// Trains the tiny test model on the habitual logs into `dir` (from the weights in
/// `start_from`, when given); returns the first step's loss.
fn train_tiny(dir: &std::path::Path, steps: usize, start_from: Option<&std::path::Path>) -> f32 {
    let training: Vec<TrainingLog> = habitual(0, 120)
        .into_iter()
        .map(|envelope| TrainingLog {
            envelope,
            technique: None,
            detected: None,
        })
        .collect();
    let corpus = Corpus::build(&TextFormat::default(), &training);
    let mut first_loss = f32::NAN;
    train(
        TrainRun {
            // Long enough for two of these logs: the model must have read logs after
            // others (at later positions) to score one after its user's previous logs.
            model: GptConfig {
                context: 512,
                ..GptConfig::preset("tiny").unwrap()
            },
            train: TrainConfig {
                steps,
                batch_size: 8,
                learning_rate: 3e-3,
                min_learning_rate: 3e-4,
                warmup_steps: 10,
                eval_every: 50,
                eval_windows: 8,
                patience: 0,
                ..TrainConfig::default()
            },
            text_format: TextFormat::default(),
            corpus: &corpus,
            validation: &corpus,
            checkpoint_dir: dir,
            device: Device::flex(),
            pseudonyms: None,
            pause_at: None,
            start_from,
        },
        |event| {
            if let TrainEvent::Step { step: 1, loss, .. } = event {
                first_loss = *loss;
            }
        },
    )
    .unwrap();
    first_loss
}

/// The scoring settings the tests calibrate and detect with.
const SCORING: DeviationConfig = DeviationConfig {
    context: ContextMode::User,
    context_tokens: 512,
    batch_windows: 8,
    max_users: 100_000,
};

/// Calibrates the model in `dir` on the habitual logs, as `cyberlm calibrate` does.
fn calibrate_tiny(dir: &std::path::Path) {
    let device = Device::flex();
    let loaded = checkpoint::load(dir, &device).unwrap();
    let mut scorer = DeviationScorer::new(
        loaded.model,
        loaded.manifest.text_format,
        device.clone(),
        SCORING,
    );
    let benign = habitual(0, 120);
    let refs: Vec<&Envelope> = benign.iter().collect();
    let mut builder = CalibrationBuilder::default();
    for (envelope, deviation) in benign.iter().zip(scorer.score(&refs)) {
        // Volatile fields (eventTime, eventID) never count.
        assert!(deviation.fields.iter().all(|f| f.path != "eventID"));
        let kind = deviation.calibration_kind();
        builder.add(&deviation.scored(envelope, &kind));
    }
    let weights = checkpoint::weights_fingerprint(dir).unwrap();
    checkpoint::save_calibration(
        dir,
        &CalibrationFile {
            weights,
            context: SCORING.context,
            context_tokens: SCORING.context_tokens,
            logs: 120,
            calibration: builder.fit(1_000, Some(EvidenceSettings::default())),
        },
    )
    .unwrap();
}

#[test]
fn the_detector_alerts_on_a_broken_habit_and_says_what_it_expected() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    train_tiny(dir.path(), 150, None);
    calibrate_tiny(dir.path());

    let mut detector = GptDetector::load(
        dir.path(),
        &device,
        8,
        GptDetectorConfig {
            alerts_per_10k: 10.0,
            ..GptDetectorConfig::default()
        },
    )
    .unwrap();
    // Habits as usual, then alice in a region nobody works in, twice. (The same hours
    // as in training: this tiny model has seen no other weekday or hour.)
    let mut stream = habitual(0, 30);
    stream.push(log(31, "alice", "sa-east-1", "GetObject"));
    stream.push(log(33, "alice", "sa-east-1", "GetObject"));
    let refs: Vec<&Envelope> = stream.iter().collect();
    let findings = detector.detect_batch(&refs);
    assert_eq!(findings.len(), stream.len());

    let benign_alerts: usize = findings[..30].iter().map(Vec::len).sum();
    assert_eq!(benign_alerts, 0, "alerts on habitual logs");
    let alert = findings[30].first().expect("the broken habit must alert");
    let ocsf = alert.to_ocsf();
    assert_eq!(ocsf["finding_info"]["analytic"]["uid"], "cyberlm-gpt");
    let fields = ocsf["unmapped"]["cyberlm"]["fields"].as_array().unwrap();
    let region = fields
        .iter()
        .find(|field| field["field"] == "awsRegion")
        .unwrap_or_else(|| panic!("awsRegion is not among the most surprising: {fields:?}"));
    assert_eq!(region["observed"], "\"sa-east-1\"");
    assert_eq!(region["expected"], "\"eu-west-1\"", "{fields:?}");
    assert!(
        ocsf["unmapped"]["cyberlm"]["tail_probability"]
            .as_f64()
            .unwrap()
            <= 1e-3,
        "{ocsf}"
    );
    // The second anomaly two minutes later is grouped into the first alert.
    assert!(findings[31].is_empty());
    assert_eq!(detector.grouped(), 1);

    // A new version is published into the directory while the detector runs: weights
    // first, then (later) their calibration. Until the calibration matches the weights
    // the detector keeps the version it has; then it switches between two batches.
    let first_version = detector.version().to_string();
    let next = tempfile::tempdir().unwrap();
    train_tiny(next.path(), 20, None);
    for file in ["model.safetensors", "manifest.json"] {
        std::fs::copy(next.path().join(file), dir.path().join(file)).unwrap();
    }
    let batch: Vec<&Envelope> = refs[..6].to_vec();
    assert_eq!(detector.detect_batch(&batch).len(), 6);
    assert_eq!(
        detector.version(),
        first_version,
        "switched without a calibration"
    );
    let mut stale: CalibrationFile = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("calibration.json")).unwrap(),
    )
    .unwrap();
    checkpoint::save_calibration(dir.path(), &stale).unwrap();
    assert_eq!(detector.detect_batch(&batch).len(), 6);
    assert_eq!(
        detector.version(),
        first_version,
        "switched to weights of another calibration"
    );
    stale.weights = checkpoint::weights_fingerprint(dir.path()).unwrap();
    checkpoint::save_calibration(dir.path(), &stale).unwrap();
    assert_eq!(detector.detect_batch(&batch).len(), 6);
    assert_eq!(detector.version(), stale.weights);
    assert_ne!(detector.version(), first_version);

    // A calibration of other weights is refused.
    let path = dir.path().join("calibration.json");
    let mut file: CalibrationFile =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    file.weights = "0000000000000000".to_string();
    checkpoint::save_calibration(dir.path(), &file).unwrap();
    let error = GptDetector::load(dir.path(), &device, 8, GptDetectorConfig::default())
        .err()
        .expect("a stale calibration must be refused");
    assert!(matches!(error, CheckpointError::Calibration { .. }));
    assert!(error.to_string().contains("cyberlm calibrate"), "{error}");
}

#[test]
fn a_detector_on_a_registry_switches_to_each_version_published_there() {
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::new(root.path());
    let lock = registry.lock().unwrap();
    let device = Device::flex();
    let (first, first_dir) = registry.new_candidate(&lock).unwrap();
    let scratch_loss = train_tiny(&first_dir, 30, None);
    calibrate_tiny(&first_dir);
    registry.publish(&first, &lock).unwrap();
    let mut detector =
        GptDetector::load(root.path(), &device, 8, GptDetectorConfig::default()).unwrap();
    assert!(
        detector.version().starts_with("v0001+"),
        "{}",
        detector.version()
    );

    // A fine-tuned candidate starts where the published version ended.
    let (second, second_dir) = registry.new_candidate(&lock).unwrap();
    let fine_tune_loss = train_tiny(&second_dir, 10, Some(&registry.version_dir(&first)));
    assert!(
        fine_tune_loss < scratch_loss * 0.8,
        "fine-tuning started at loss {fine_tune_loss}, training from scratch at {scratch_loss}"
    );
    calibrate_tiny(&second_dir);
    let logs = habitual(0, 6);
    let batch: Vec<&Envelope> = logs.iter().collect();
    assert_eq!(detector.detect_batch(&batch).len(), 6);
    assert!(
        detector.version().starts_with("v0001+"),
        "a candidate is not published"
    );

    registry.publish(&second, &lock).unwrap();
    assert_eq!(detector.detect_batch(&batch).len(), 6);
    assert!(
        detector.version().starts_with("v0002+"),
        "{}",
        detector.version()
    );
    registry.point_at(&first).unwrap();
    assert_eq!(detector.detect_batch(&batch).len(), 6);
    assert!(
        detector.version().starts_with("v0001+"),
        "a rollback is a switch too"
    );

    // Fine-tuning a model of another shape is refused, naming the checkpoint.
    let other = tempfile::tempdir().unwrap();
    let corpus = Corpus::build(&TextFormat::default(), &[]);
    let error = train(
        TrainRun {
            model: GptConfig {
                context: 256,
                ..GptConfig::preset("tiny").unwrap()
            },
            train: TrainConfig::default(),
            text_format: TextFormat::default(),
            corpus: &corpus,
            validation: &corpus,
            checkpoint_dir: other.path(),
            device: Device::flex(),
            pseudonyms: None,
            pause_at: None,
            start_from: Some(&registry.version_dir(&first)),
        },
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(error, CheckpointError::Mismatch { .. }), "{error}");
}
