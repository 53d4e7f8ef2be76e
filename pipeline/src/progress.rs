//! Progress bars for long-running commands. Where standard error is not a terminal (cron,
//! a Kubernetes job, `nohup`, CI) indicatif draws nothing, so each bar then reports
//! itself as a log line every [`LOG_EVERY`] instead.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressStyle};

/// How often a bar reports in the log when no terminal shows it.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// A bar of `total` steps labelled `what`.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = styled(
        total,
        "{msg:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
    );
    bar.set_message(what.to_string());
    bar
}

/// A bar for a loop of `total` steps that reports its own figures in the message
/// (loss, throughput), with an ETA.
pub fn steps_bar(total: u64, what: &str) -> ProgressBar {
    let bar = styled(total, "{prefix:>10} [{bar:30}] {pos}/{len} {msg} eta {eta}");
    bar.set_prefix(what.to_string());
    bar
}

/// A counter for a stream of unknown length: how many `what` so far, and how fast.
pub fn counter(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} {msg} ({per_sec}, {elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    log_when_unseen(&bar);
    bar
}

fn styled(total: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    log_when_unseen(&bar);
    bar
}

/// Where standard error is not a terminal, logs `bar`'s progress every [`LOG_EVERY`] from a
/// thread that ends with the bar (finished or dropped).
fn log_when_unseen(bar: &ProgressBar) {
    if std::io::stderr().is_terminal() {
        return;
    }
    let bar = bar.downgrade();
    let reporter = move || {
        loop {
            std::thread::sleep(LOG_EVERY);
            let Some(bar) = bar.upgrade() else { return };
            if bar.is_finished() {
                return;
            }
            tracing::info!("{}", progress_line(&bar));
        }
    };
    // Without the thread the command still runs, only silently.
    let _ = std::thread::Builder::new()
        .name("progress-log".into())
        .spawn(reporter);
}

/// `progress: training 120/2200 loss 0.912 12.9k tok/s, eta 41 minutes` or, for a stream
/// of unknown length, `progress: logs judged 5120 (170/s)`.
fn progress_line(bar: &ProgressBar) -> String {
    // A steps bar names its work in the prefix and its figures in the message; the others
    // name the work in the message.
    let (prefix, message) = (bar.prefix(), bar.message());
    let (what, figures) = if prefix.is_empty() {
        (message, String::new())
    } else if message.is_empty() {
        (prefix, message)
    } else {
        (prefix, format!(" {message}"))
    };
    match bar.length() {
        Some(total) => format!(
            "progress: {what} {}/{total}{figures}, eta {}",
            bar.position(),
            eta(bar.position(), total, bar.elapsed())
        ),
        None => format!(
            "progress: {what} {}{figures} ({:.0}/s)",
            bar.position(),
            bar.per_sec()
        ),
    }
}

/// The time left at the average pace so far. indicatif's own estimate follows the
/// recent pace, which a bar moved in large steps (64 generated logs at a time) reads as
/// no progress at all: "eta 4326077 years".
fn eta(position: u64, total: u64, elapsed: std::time::Duration) -> String {
    match position {
        0 => "unknown".to_string(),
        done => {
            let left = total.saturating_sub(done) as f64 / done as f64;
            HumanDuration(elapsed.mul_f64(left)).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_names_the_work_its_figures_and_what_is_left() {
        let training = steps_bar(2200, "training");
        training.set_position(120);
        training.set_message("loss 0.912 12.9k tok/s");
        let line = progress_line(&training);
        assert!(
            line.starts_with("progress: training 120/2200 loss 0.912 12.9k tok/s, eta "),
            "{line}"
        );
        let scoring = bar(1000, "scoring");
        scoring.set_position(10);
        let line = progress_line(&scoring);
        assert!(
            line.starts_with("progress: scoring 10/1000, eta "),
            "{line}"
        );
        let stream = ProgressBar::new_spinner();
        stream.set_message("logs judged");
        stream.set_position(5120);
        let line = progress_line(&stream);
        assert!(line.starts_with("progress: logs judged 5120 ("), "{line}");
    }

    #[test]
    fn the_eta_is_the_average_pace_so_far() {
        let minute = std::time::Duration::from_secs(60);
        assert_eq!(eta(64, 256, minute), "3 minutes");
        assert_eq!(eta(256, 256, minute), "0 seconds");
        assert_eq!(eta(0, 256, minute), "unknown");
    }
}
