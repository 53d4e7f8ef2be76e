//! Running the built `cyberlm` binary from the repository root, for the CLI tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cyberlm` with `args`.
pub fn cyberlm(args: &[&str]) -> Output {
    cyberlm_with_env(args, &[])
}

/// Runs `cyberlm` with `args` and the environment variables `env` set.
pub fn cyberlm_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cyberlm"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .envs(env.iter().copied())
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

/// Simulates `users` people for `days` days into `out`, with `extra` flags.
pub fn simulate(out: &Path, users: u32, days: u32, extra: &[&str]) {
    let (users, days) = (users.to_string(), days.to_string());
    let mut args = vec![
        "simulate",
        "--users",
        &users,
        "--days",
        &days,
        "--out",
        path(out),
    ];
    args.extend(extra);
    ok(&cyberlm(&args));
}
