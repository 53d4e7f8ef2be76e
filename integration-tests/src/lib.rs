//! Shared helpers for cyberlm's end-to-end tests: where the shared data and the built
//! binary are. The tests themselves live in `tests/`.

use std::path::PathBuf;

pub mod kafka;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests sits inside the repository")
        .to_path_buf()
}

/// `../shared/data` beside the checkout: real third-party logs and Sigma rules.
pub fn shared_data() -> PathBuf {
    repo_root().join("../shared/data")
}

/// The Sigma rules folder of the shared data.
pub fn sigma_rules() -> PathBuf {
    shared_data().join("sigma/rules")
}

/// Lines of a JSONL file under the shared data, each parsed, with the inner event taken
/// from `unwrap` (`log` for the Panther tests, `event` for Stratus) where given.
pub fn shared_events(relative: &str, unwrap: Option<&str>) -> Vec<serde_json::Value> {
    let path = shared_data().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("shared data is JSON");
            match unwrap {
                Some(key) => row[key].clone(),
                None => row,
            }
        })
        .collect()
}

/// The `cyberlm` binary cargo built beside this test (`target/<profile>/cyberlm`). The
/// pipeline package's own integration tests make cargo build it in the same run.
pub fn cyberlm_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let bin = profile_dir.join(format!("cyberlm{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p pipeline` first)",
        bin.display()
    );
    bin
}

/// Trains the `tiny` model for ten steps on the logs in `logs` into `model`, and
/// calibrates it on the same logs (with `calibrate_args` added): a model the GPT
/// detector can load, in seconds.
pub fn train_and_calibrate_tiny(
    logs: &std::path::Path,
    model: &std::path::Path,
    calibrate_args: &[&str],
) {
    let (logs, model) = (
        logs.to_str().expect("utf-8 path"),
        model.to_str().expect("utf-8 path"),
    );
    run_cyberlm(&[
        "train",
        logs,
        "--out",
        model,
        "--preset",
        "tiny",
        "--steps",
        "10",
        "--eval-every",
        "10",
        "--batch-size",
        "4",
    ]);
    let mut calibrate = vec!["calibrate", logs, "--model", model];
    calibrate.extend_from_slice(calibrate_args);
    run_cyberlm(&calibrate);
}

/// Runs `cyberlm` with `args` in the repository root and returns its standard output;
/// panics with its standard error if it fails.
pub fn run_cyberlm(args: &[&str]) -> String {
    let output = std::process::Command::new(cyberlm_bin())
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("cyberlm starts");
    assert!(
        output.status.success(),
        "cyberlm {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
