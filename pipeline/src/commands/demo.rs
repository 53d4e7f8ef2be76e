//! `cyberlm demo`: the whole story on files, no broker. One simulated organisation over
//! three stretches of its life: a GPT trains from scratch on the first, is calibrated on
//! the second, and judges the third, which holds the attack scenarios it never saw,
//! beside the Sigma rules and a novelty baseline. Prints the GPT's alerts with their
//! explanations and every detector's figures.
//!
//! Each step is a `cyberlm` command, printed before it runs, so the demo doubles as the
//! recipe to follow on one's own logs.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use serde_json::Value;

use crate::cli::{Cli, DemoArgs};
use crate::commands::eval::detection::GPT_ALERTS;

/// Days of benign activity the model trains on.
const TRAIN_DAYS: u32 = 14;
/// Days of benign activity it is calibrated on: a full week, so that every weekday's
/// hours are known.
const CALIBRATION_DAYS: u32 = 7;
/// GPT alerts printed in full.
const ALERTS_SHOWN: usize = 8;

/// `cyberlm demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let out = args.out.to_string_lossy().into_owned();
    let (train, calib, test, model, eval) = (
        format!("{out}/train"),
        format!("{out}/calib"),
        format!("{out}/test"),
        format!("{out}/model"),
        format!("{out}/eval"),
    );
    let start = args.start;
    let calib_start = start + chrono::Days::new(TRAIN_DAYS.into());
    let test_start = calib_start + chrono::Days::new(CALIBRATION_DAYS.into());
    let (users, seed) = (args.users.to_string(), args.seed.to_string());
    let config: Vec<String> = args
        .config
        .iter()
        .flat_map(|path| ["--config".to_string(), path.to_string_lossy().into_owned()])
        .collect();

    println!(
        "1/4 one organisation of {users} people (seed {seed}), three stretches of its life: \
         {TRAIN_DAYS} days to train on, the next {CALIBRATION_DAYS} to calibrate on, then {} \
         days with attacks the model never sees",
        args.days
    );
    let stretches = [
        (&train, start, TRAIN_DAYS, "101", false),
        (&calib, calib_start, CALIBRATION_DAYS, "202", false),
        (&test, test_start, args.days, "303", true),
    ];
    for (dir, first_day, days, activity_seed, attacks) in stretches {
        let (first_day, days) = (first_day.to_string(), days.to_string());
        let mut command = vec![
            "simulate",
            "--users",
            &users,
            "--seed",
            &seed,
            "--activity-seed",
            activity_seed,
            "--start",
            &first_day,
            "--days",
            &days,
            "--out",
            dir,
        ];
        if !attacks {
            command.extend(["--no-attacks", "--no-travel"]);
        }
        cyberlm(&command)?;
    }

    println!(
        "2/4 a GPT learns the organisation's raw logs from scratch (`tiny`: `small` scores too \
         slowly on a CPU for a demo; at most {} s)",
        args.train_budget_s
    );
    // From scratch every time: `train` resumes a run it finds in its folder, and a demo
    // run by an older cyberlm (another text format) would be refused.
    if std::path::Path::new(&model).exists() {
        std::fs::remove_dir_all(&model)
            .with_context(|| format!("cannot clear the demo's previous model in {model}"))?;
    }
    let (steps, budget) = (args.steps.to_string(), args.train_budget_s.to_string());
    let eval_every = (args.steps / 4).max(1).to_string();
    let warmup = (args.steps / 20).max(1).to_string();
    let mut command = vec![
        "train",
        &train,
        "--out",
        &model,
        "--preset",
        "tiny",
        "--context",
        "1024",
        "--batch-size",
        "8",
        "--steps",
        &steps,
        "--warmup-steps",
        &warmup,
        "--eval-every",
        &eval_every,
        "--time-budget-s",
        &budget,
    ];
    command.extend(config.iter().map(String::as_str));
    cyberlm(&command)?;

    println!("3/4 calibrate: how surprising benign logs it never trained on are");
    let mut command = vec!["calibrate", &calib, "--model", &model];
    command.extend(config.iter().map(String::as_str));
    cyberlm(&command)?;

    println!(
        "4/4 the held-out stretch through the GPT detector (as `detect` runs it), the Sigma \
         rules and a novelty baseline"
    );
    let mut command = vec![
        "eval",
        "detection",
        &test,
        "--model",
        &model,
        "--history",
        &train,
        "--history",
        &calib,
        "--out",
        &eval,
    ];
    command.extend(config.iter().map(String::as_str));
    cyberlm(&command)?;

    print_alerts(&args.out.join("eval").join(GPT_ALERTS))?;
    println!(
        "Every step above is a command to run on your own logs; `cyberlm detect {test} \
         --config gpt.toml` (with [gpt] model = \"{model}\") runs the same detectors on files \
         or, with --kafka, on the topics."
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs one `cyberlm` command in this process, printed first.
fn cyberlm(args: &[&str]) -> anyhow::Result<()> {
    println!("    $ cyberlm {}", args.join(" "));
    let cli = Cli::try_parse_from(std::iter::once("cyberlm").chain(args.iter().copied()))
        .with_context(|| format!("the demo built a bad command: cyberlm {}", args.join(" ")))?;
    let code = crate::cli::run(cli)?;
    anyhow::ensure!(
        code == ExitCode::SUCCESS,
        "cyberlm {} did not succeed",
        args[0]
    );
    Ok(())
}

/// The GPT detector's alerts, the first few in full.
fn print_alerts(path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the GPT alerts at {}", path.display()))?;
    let alerts: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    println!(
        "The GPT detector raised {} alerts ({}); the first {}:",
        alerts.len(),
        path.display(),
        alerts.len().min(ALERTS_SHOWN)
    );
    for alert in alerts.iter().take(ALERTS_SHOWN) {
        let info = &alert["finding_info"];
        println!(
            "  [{}] {}",
            alert["severity"].as_str().unwrap_or("?"),
            info["title"].as_str().unwrap_or("?")
        );
        if let Some(desc) = info["desc"].as_str() {
            println!("      {desc}");
        }
    }
    Ok(())
}
