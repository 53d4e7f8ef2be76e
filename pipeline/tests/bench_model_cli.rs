//! `bench-model` writes what the PyTorch reference (`bench/gpt_reference.py`) reads to
//! train on the same windows from the same weights, and reports every step's loss so the
//! two can be compared step by step: the layout of both files is the contract checked here.

use std::fs;

mod common;
use common::{cyberlm, ok, path, simulate};

/// Steps bench-model runs before it starts timing.
const WARM_UP: usize = 3;

#[test]
fn bench_model_exports_the_windows_and_weights_the_reference_starts_from() {
    let tiny = model::GptConfig::preset("tiny").expect("a preset");
    let (layers, width, context, vocab) = (tiny.layers, tiny.width, tiny.context, tiny.vocab_size);
    let pad = i64::from(model::Special::Pad as u16);
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    simulate(&logs, 3, 1, &[]);
    let (windows, init) = (
        dir.path().join("w.bin"),
        dir.path().join("init.safetensors"),
    );
    let report = ok(&cyberlm(&[
        "bench-model",
        path(&logs),
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--generate",
        "1",
        "--generate-bytes",
        "2",
        "--dropout",
        "0",
        "--export-windows",
        path(&windows),
        "--export-init",
        path(&init),
    ]));
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();

    // Every step's loss, warm-up included; a fresh model is close to uniform over the
    // vocabulary, so the first is close to ln 259.
    let losses: Vec<f64> = report["losses"]
        .as_array()
        .expect("losses")
        .iter()
        .map(|loss| loss.as_f64().expect("a number"))
        .collect();
    assert_eq!(losses.len(), WARM_UP + 2);
    assert!((losses[0] - (vocab as f64).ln()).abs() < 0.2, "{losses:?}");
    assert_eq!(report["final_loss"].as_f64(), losses.last().copied());

    // Windows: for each batch and window, `context` int64 inputs then as many targets;
    // each target is the next input wherever both are real bytes.
    let tokens: Vec<i64> = fs::read(&windows)
        .unwrap()
        .chunks_exact(8)
        .map(|bytes| i64::from_le_bytes(bytes.try_into().unwrap()))
        .collect();
    assert_eq!(tokens.len(), (WARM_UP + 2) * 2 * 2 * context);
    let mut followed = 0;
    for window in tokens.chunks_exact(2 * context) {
        let (inputs, targets) = window.split_at(context);
        assert!(window.iter().all(|&id| (0..vocab as i64).contains(&id)));
        for position in 0..context - 1 {
            if targets[position] != pad && inputs[position + 1] != pad {
                assert_eq!(targets[position], inputs[position + 1], "{position}");
                followed += 1;
            }
        }
    }
    assert!(
        followed > context,
        "too few real bytes to check: {followed}"
    );

    // Initial weights: safetensors (an 8-byte header length, a JSON header, the data)
    // with burn's names and a linear layer's weight as [inputs, outputs].
    let bytes = fs::read(&init).unwrap();
    let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + length]).unwrap();
    let shape = |name: &str| -> Vec<usize> {
        let entry = &header[name];
        assert_eq!(entry["dtype"], "F32", "{name}");
        serde_json::from_value(entry["shape"].clone()).expect(name)
    };
    assert_eq!(shape("token_embedding.weight"), [vocab, width]);
    assert_eq!(shape("position_embedding.weight"), [context, width]);
    assert_eq!(shape("blocks.1.attention.qkv.weight"), [width, 3 * width]);
    assert_eq!(shape("blocks.1.mlp.project.weight"), [4 * width, width]);
    assert_eq!(shape("final_norm.gamma"), [width]);
    assert_eq!(shape("head.weight"), [width, vocab]);
    let tensors: Vec<&String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|name| *name != "__metadata__")
        .collect();
    // Per block: two norms, qkv, output, expand and project, each with two tensors.
    assert_eq!(tensors.len(), 2 + layers * 12 + 2 + 2, "{tensors:?}");
    let elements: usize = tensors
        .iter()
        .map(|name| shape(name).iter().product::<usize>())
        .sum();
    assert_eq!(bytes.len() - 8 - length, 4 * elements);
}
