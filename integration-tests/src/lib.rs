//! Shared helpers for cyberlm's end-to-end tests: where the shared data and the built
//! binary are. The tests themselves live in `tests/`.

use std::path::PathBuf;

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
