//! Running the built `cyberlm` binary from the repository root, for the CLI tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cyberlm` with `args`.
pub fn cyberlm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cyberlm"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .output()
        .unwrap()
}

/// Its stdout, after asserting it succeeded (its stderr is the failure message).
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A path as a command-line argument.
pub fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}
