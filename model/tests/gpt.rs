//! The model's contract: the cache computes what a full recompute does, training learns,
//! checkpoints round-trip and resume exactly, scoring covers long logs, generation always
//! parses, and a broken checkpoint is an error, not a panic.

use std::sync::Arc;

use burn::prelude::*;
use model::checkpoint::{self, CheckpointError};
use model::corpus::{Corpus, TrainingLog};
use model::generate::{Prompt, SamplingConfig, generate};
use model::score::{ScoreRequest, score};
use model::train::{TrainConfig, TrainEvent, TrainRun, train};
use model::{Gpt, GptConfig, KvCache};
use operators::text_format::{Header, Shape, TextFormat};
use schemas::Source;

fn tiny(context: usize) -> GptConfig {
    GptConfig {
        context,
        ..GptConfig::preset("tiny").unwrap()
    }
}

fn logs(count: usize) -> Vec<TrainingLog> {
    let users = ["alice", "bob", "carol"];
    let events = ["ListBuckets", "GetObject", "DescribeInstances"];
    (0..count)
        .map(|i| {
            let user = users[i % users.len()];
            let event = events[(i / 3) % events.len()];
            let raw = format!(
                r#"{{"eventTime":"2024-07-30T{:02}:{:02}:00Z","eventSource":"s3.amazonaws.com","eventName":"{event}","userIdentity":{{"type":"IAMUser","userName":"{user}"}},"awsRegion":"eu-west-1"}}"#,
                8 + i / 60,
                i % 60
            );
            TrainingLog {
                envelope: schemas::decode(Source::CloudTrail, raw.as_bytes()).unwrap(),
                technique: None,
                detected: None,
            }
        })
        .collect()
}

fn train_config(steps: usize) -> TrainConfig {
    TrainConfig {
        steps,
        batch_size: 8,
        learning_rate: 3e-3,
        min_learning_rate: 3e-4,
        warmup_steps: 10,
        eval_every: 20,
        eval_windows: 8,
        patience: 0,
        ..TrainConfig::default()
    }
}

fn run_training(
    dir: &std::path::Path,
    corpus: &Corpus,
    config: GptConfig,
    train_config: TrainConfig,
    pause_at: Option<usize>,
) -> Vec<f32> {
    let mut losses = Vec::new();
    train(
        TrainRun {
            model: config,
            train: train_config,
            text_format: TextFormat::default(),
            corpus,
            validation: corpus,
            checkpoint_dir: dir,
            device: Device::flex(),
            pseudonyms: None,
            pause_at,
            start_from: None,
        },
        |event| {
            if let TrainEvent::Step { loss, .. } = event {
                losses.push(*loss);
            }
        },
    )
    .unwrap();
    losses
}

#[test]
fn cached_decoding_matches_a_full_recompute() {
    let device = Device::flex();
    device.seed(3);
    let model = Gpt::new(&tiny(64), &device);
    let tokens: Vec<i64> = (0..2 * 20).map(|i| (i * 37 % 256) as i64).collect();
    let full = model
        .forward(Tensor::from_data(
            TensorData::new(tokens.clone(), [2, 20]),
            &device,
        ))
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();

    // A prefill of 7 positions, one of 5, then one token at a time.
    let mut cache = KvCache::new(model.layers());
    let mut cached = vec![Vec::new(); 2];
    let mut position = 0;
    for step in [7usize, 5, 1, 1, 1, 1, 1, 1, 1, 1] {
        let chunk: Vec<i64> = (0..2)
            .flat_map(|row| tokens[row * 20 + position..row * 20 + position + step].to_vec())
            .collect();
        let logits = model.forward_cached(
            Tensor::from_data(TensorData::new(chunk, [2, step]), &device),
            &mut cache,
        );
        let values = logits.into_data().try_into_vec::<f32>().unwrap();
        let vocab = values.len() / (2 * step);
        for (row, out) in cached.iter_mut().enumerate() {
            out.extend_from_slice(&values[row * step * vocab..(row + 1) * step * vocab]);
        }
        position += step;
    }
    assert_eq!(cache.seen(), 20);
    let vocab = full.len() / 40;
    for (row, out) in cached.iter().enumerate() {
        let expected = &full[row * 20 * vocab..(row + 1) * 20 * vocab];
        let worst = expected
            .iter()
            .zip(out)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4,
            "row {row}: cached logits differ from the recompute by {worst}"
        );
    }
}

#[test]
fn random_weights_still_generate_valid_json_and_logs_of_the_shape() {
    let device = Device::flex();
    device.seed(11);
    let model = Gpt::new(&tiny(128), &device);
    let header = Header {
        user: Some("alice".into()),
        ..Header::default()
    };
    let shape = Arc::new(Shape::fit(logs(30).iter().map(|log| &log.envelope.json)));
    let mut prompts = vec![
        Prompt {
            source: Source::CloudTrail,
            header: header.clone(),
            json_prefix: String::new(),
            shape: None,
            benign: false,
        };
        12
    ];
    // Half of them held to the shape of the training logs.
    for prompt in &mut prompts[6..] {
        prompt.shape = Some(shape.clone());
    }
    prompts.push(Prompt {
        source: Source::Azure,
        header,
        json_prefix: r#"{"eventName":"Get"#.into(),
        shape: None,
        benign: false,
    });
    for seed in 0..3 {
        // 600 bytes at a context of 128: windows jump forward several times, pinning the
        // header for seeds 1 and 2.
        let format = TextFormat {
            pin_header: seed > 0,
            ..TextFormat::default()
        };
        let config = SamplingConfig {
            temperature: 1.5,
            seed,
            max_bytes: 600,
            ..SamplingConfig::default()
        };
        let generated = generate(&model, &prompts, &format, &config, 8, &device).unwrap();
        assert_eq!(generated.len(), prompts.len());
        if seed < 2 {
            // Each prompt samples from its own stream: batching and cores change nothing.
            let one_by_one = generate(&model, &prompts, &format, &config, 1, &device).unwrap();
            assert_eq!(one_by_one, generated);
        }
        for log in &generated {
            let (header, parsed) = TextFormat::default()
                .parse(&log.text)
                .unwrap_or_else(|| panic!("generated text does not parse: {}", log.text));
            assert!(parsed.is_object());
            assert_eq!(header.user.as_deref(), Some("alice"), "{}", log.text);
        }
        for log in &generated[6..12] {
            let (_, parsed) = TextFormat::default().parse(&log.text).unwrap();
            assert!(shape.admits(&parsed), "not of the shape: {}", log.text);
        }
        // A budget shorter than the shortest log of the shape ends in its completion.
        let tight = SamplingConfig {
            max_bytes: 5,
            ..config.clone()
        };
        let short = generate(&model, &prompts[6..7], &format, &tight, 1, &device).unwrap();
        let (_, parsed) = TextFormat::default().parse(&short[0].text).unwrap();
        assert!(shape.admits(&parsed), "{}", short[0].text);
        assert!(
            generated
                .last()
                .unwrap()
                .json
                .starts_with(r#"{"eventName":"Get"#)
        );
    }
}

/// The budget is where the cheapest completion takes over, not where a log is cut: a
/// technique whose logs all carry keys benign logs lack lengthens the completion once the
/// header names it, and the log still ends complete and of its technique's combinations.
#[test]
fn a_tight_budget_still_ends_in_a_complete_log_of_the_prompted_technique() {
    let device = Device::flex();
    device.seed(5);
    let model = Gpt::new(&tiny(64), &device);
    let benign: Vec<serde_json::Value> = (0..4)
        .map(|i| serde_json::json!({"eventName": format!("List{i}")}))
        .collect();
    let attack: Vec<serde_json::Value> = (0..4)
        .map(|i| {
            serde_json::json!({
                "eventName": "StopLogging",
                "requestParameters": {"name": "organisation-wide-trail-of-every-region"},
                "errorCode": format!("AccessDenied{}", i % 2),
                "sourceIPAddress": "203.0.113.7",
            })
        })
        .collect();
    let tagged = benign
        .iter()
        .map(|log| (log, ""))
        .chain(attack.iter().map(|log| (log, "t=T1562.008")));
    let shape = Arc::new(Shape::fit_tagged("t", tagged));
    let prompt = Prompt {
        source: Source::CloudTrail,
        header: Header {
            technique: Some("T1562.008".into()),
            ..Header::default()
        },
        json_prefix: String::new(),
        shape: Some(shape.clone()),
        benign: false,
    };
    let config = SamplingConfig {
        max_bytes: 5,
        ..SamplingConfig::default()
    };
    let generated = generate(
        &model,
        &vec![prompt; 4],
        &TextFormat::default(),
        &config,
        4,
        &device,
    )
    .unwrap();
    for log in &generated {
        let (_, parsed) = TextFormat::default()
            .parse(&log.text)
            .unwrap_or_else(|| panic!("cut short: {}", log.text));
        assert!(
            !log.finished_by_model,
            "5 bytes cannot hold it: {}",
            log.text
        );
        assert!(shape.admits(&parsed), "{}", log.text);
        assert_eq!(parsed["eventName"], "StopLogging", "{}", log.text);
        assert_eq!(
            parsed["requestParameters"]["name"], "organisation-wide-trail-of-every-region",
            "{}",
            log.text
        );
    }
}

#[test]
fn tiny_model_overfits_resumes_exactly_and_round_trips() {
    let corpus = Corpus::build(&TextFormat::default(), &logs(30));
    let config = tiny(128);

    // Uninterrupted: 60 steps.
    let whole = tempfile::tempdir().unwrap();
    let losses = run_training(
        whole.path(),
        &corpus,
        config.clone(),
        train_config(60),
        None,
    );
    let first = losses[0];
    let last = *losses.last().unwrap();
    assert!(
        first > 4.0,
        "an untrained byte model starts near ln(259) = 5.6, got {first}"
    );
    assert!(
        last < 1.2,
        "a tiny model must fit 30 near-identical logs: loss {first} -> {last}"
    );

    // Interrupted at 40 (a checkpoint), then resumed to 60.
    let split = tempfile::tempdir().unwrap();
    let before = run_training(
        split.path(),
        &corpus,
        config.clone(),
        train_config(60),
        Some(40),
    );
    assert_eq!(before.len(), 40);
    let after = run_training(
        split.path(),
        &corpus,
        config.clone(),
        train_config(60),
        None,
    );
    assert_eq!(before.len() + after.len(), 60);
    for (step, (a, b)) in losses[40..].iter().zip(&after).enumerate() {
        assert!(
            (a - b).abs() < 1e-3,
            "step {}: resumed loss {b} vs uninterrupted {a}",
            41 + step
        );
    }

    // The published weights score identically after a reload.
    let device = Device::flex();
    let loaded = checkpoint::load(whole.path(), &device).unwrap();
    let again = checkpoint::load(whole.path(), &device).unwrap();
    let text = TextFormat::default().render(
        &Header::of(&logs(1)[0].envelope, None),
        &logs(1)[0].envelope.json,
    );
    let request = [ScoreRequest {
        context: Vec::new(),
        text,
    }];
    let a = score(&loaded.model, &request, false, 4, &device);
    let b = score(&again.model, &request, false, 4, &device);
    assert_eq!(a[0].log_probs, b[0].log_probs);
    let per_byte = a[0].surprisal() / a[0].log_probs.len() as f32;
    assert!(
        per_byte < 1.2,
        "a trained model should find a training log unsurprising: {per_byte} nats/byte (training loss {last})"
    );
    assert!(
        a[0].fields
            .iter()
            .any(|field| field.path == "userIdentity.userName")
    );
}

#[test]
fn logs_longer_than_the_context_are_scored_whole() {
    let device = Device::flex();
    device.seed(5);
    let model = Gpt::new(&tiny(64), &device);
    let text = format!(
        r#"[cloudtrail u=alice] {{"requestParameters":{{"note":"{}"}}}}"#,
        "x".repeat(150)
    );
    let context: Vec<u32> = (0..100).map(|i| i % 200).collect();
    let short = ScoreRequest {
        context: context.clone(),
        text: r#"[cloudtrail] {"a":1}"#.into(),
    };
    let long = ScoreRequest {
        context,
        text: text.clone(),
    };
    let requests = [short, long];
    let plain = score(&model, &requests, false, 3, &device);
    let pinned = score(&model, &requests, true, 3, &device);
    for scores in [&plain, &pinned] {
        assert_eq!(scores[1].log_probs.len(), text.len() + 1);
        assert!(
            scores
                .iter()
                .all(|s| s.log_probs.iter().all(|p| p.is_finite() && *p < 0.0))
        );
        let note = scores[1]
            .fields
            .iter()
            .find(|f| f.path == "requestParameters.note")
            .unwrap();
        assert_eq!(note.bytes, r#""note":""#.len() + 150 + 1);
    }
    // The first window is the same either way; later ones read the header instead.
    assert_eq!(plain[0].log_probs, pinned[0].log_probs);
    assert_eq!(plain[1].log_probs[..20], pinned[1].log_probs[..20]);
    assert_ne!(plain[1].log_probs, pinned[1].log_probs);
}

#[test]
fn a_broken_checkpoint_is_an_error_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let missing = checkpoint::load(dir.path(), &device).unwrap_err();
    assert!(matches!(missing, CheckpointError::Io { .. }), "{missing}");

    std::fs::write(dir.path().join("manifest.json"), "{ not json").unwrap();
    let garbled = checkpoint::load(dir.path(), &device).unwrap_err();
    assert!(garbled.to_string().contains("manifest.json"), "{garbled}");

    let corpus = Corpus::build(&TextFormat::default(), &logs(6));
    let trained = tempfile::tempdir().unwrap();
    run_training(trained.path(), &corpus, tiny(64), train_config(2), None);
    std::fs::write(
        trained.path().join("model.safetensors"),
        b"\x10\x00\x00\x00garbage",
    )
    .unwrap();
    let corrupt = checkpoint::load(trained.path(), &device).unwrap_err();
    assert!(
        matches!(corrupt, CheckpointError::Weights { .. }),
        "{corrupt}"
    );
    assert!(
        corrupt.to_string().contains("model.safetensors"),
        "{corrupt}"
    );
}

#[test]
fn attention_in_blocks_matches_unblocked_attention() {
    use burn::module::Module;
    let device = Device::flex().autodiff();
    device.seed(9);
    let model = Gpt::new(&tiny(640), &device);
    let tokens: Vec<i64> = (0..600).map(|i| (i * 53 % 256) as i64).collect();
    let forward = |model: &Gpt, device: &Device| {
        model
            .forward(Tensor::from_data(
                TensorData::new(tokens.clone(), [1, 600]),
                device,
            ))
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    };
    // A fresh sequence longer than a block is attended in blocks, in training and in
    // inference alike; the reference feeds the same tokens through the KV cache in
    // pieces no longer than a block, whose attention is never split.
    let plain = Device::flex();
    let inference = model.valid();
    let mut cache = KvCache::new(inference.layers());
    let mut unblocked = Vec::new();
    for (start, length) in [(0, 200), (200, 150), (350, 250)] {
        let piece = tokens[start..start + length].to_vec();
        let logits = inference.forward_cached(
            Tensor::from_data(TensorData::new(piece, [1, length]), &plain),
            &mut cache,
        );
        unblocked.extend(logits.into_data().try_into_vec::<f32>().unwrap());
    }
    for (what, blocked) in [
        ("training", forward(&model, &device)),
        ("inference", forward(&inference, &plain)),
    ] {
        let worst = blocked
            .iter()
            .zip(&unblocked)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert_eq!(blocked.len(), unblocked.len());
        assert!(
            worst < 1e-4,
            "{what}: blocked attention differs from unblocked attention by {worst}"
        );
    }
}

#[test]
fn cached_decoding_matches_a_full_recompute_to_the_end_of_a_long_context() {
    // Decoding one token at a time after a prefill of half the context, to its end, as
    // generation does after a window jumps: every position's logits as a full recompute.
    let device = Device::flex();
    device.seed(4);
    let context = 1024;
    let model = Gpt::new(&tiny(context), &device);
    let tokens: Vec<i64> = (0..context).map(|i| (i * 131 % 251) as i64).collect();
    let full = model
        .forward(Tensor::from_data(
            TensorData::new(tokens.clone(), [1, context]),
            &device,
        ))
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let vocab = full.len() / context;
    let mut cache = KvCache::new(model.layers());
    let prefill = 513;
    let mut cached = model
        .forward_cached(
            Tensor::from_data(
                TensorData::new(tokens[..prefill].to_vec(), [1, prefill]),
                &device,
            ),
            &mut cache,
        )
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    for &token in &tokens[prefill..] {
        let logits = model.forward_cached(
            Tensor::from_data(TensorData::new(vec![token], [1, 1]), &device),
            &mut cache,
        );
        cached.extend(logits.into_data().try_into_vec::<f32>().unwrap());
    }
    for position in 0..context {
        let range = position * vocab..(position + 1) * vocab;
        let worst = full[range.clone()]
            .iter()
            .zip(&cached[range])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-3,
            "position {position}: cached logits off by {worst}"
        );
    }
}
