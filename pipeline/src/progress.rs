//! Progress bars for long-running commands, quiet when standard error is not a terminal.

use indicatif::{ProgressBar, ProgressStyle};

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
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

fn styled(total: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}
