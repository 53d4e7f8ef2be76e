//! Whether a retrained candidate may replace the published version: both are measured
//! on the same held-out logs, and the candidate is published only if it is no worse.

use serde::Serialize;

/// One model's figures on the held-out logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// Mean loss (nats per byte) on the held-out slice of the recorded logs.
    pub validation_loss: f32,
    /// Held-out synthetic logs of the anticipated events.
    pub anticipated_logs: usize,
    /// Of those, the ones the GPT detector alerts on: false alerts to come.
    pub anticipated_alerts: usize,
    /// Labelled attack logs held out (recorded ones in the held-out slice and `--attacks`).
    pub attack_logs: usize,
    /// Of those, the ones the GPT detector alerts on.
    pub attacks_alerted: usize,
}

impl Measured {
    /// Share of attack logs alerted on, `None` without attack logs.
    pub fn recall(&self) -> Option<f64> {
        (self.attack_logs > 0).then(|| self.attacks_alerted as f64 / self.attack_logs as f64)
    }
}

/// How much worse a candidate may be and still count as no worse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    /// Relative increase of the validation loss tolerated (sampling noise of the slice).
    pub max_loss_increase: f64,
    /// Drop of recall tolerated, as a share (0.02: two points).
    pub max_recall_drop: f64,
}

/// The decision, with every reason behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Publish the candidate.
    pub publish: bool,
    /// One line per check, passed or failed.
    pub reasons: Vec<String>,
}

/// Compares the candidate with the current version.
pub fn decide(current: &Measured, candidate: &Measured, limits: &Limits) -> Decision {
    let mut publish = true;
    let mut reasons = Vec::new();
    let mut check = |passed: bool, reason: String| {
        publish &= passed;
        reasons.push(format!(
            "{} {reason}",
            if passed { "pass:" } else { "FAIL:" }
        ));
    };

    let allowed = f64::from(current.validation_loss) * (1.0 + limits.max_loss_increase);
    check(
        f64::from(candidate.validation_loss) <= allowed,
        format!(
            "validation loss {:.4} against {:.4} (at most {allowed:.4})",
            candidate.validation_loss, current.validation_loss
        ),
    );
    if candidate.validation_loss.is_nan() {
        check(
            false,
            "the candidate's validation loss is not a number".into(),
        );
    }

    if candidate.anticipated_logs > 0 {
        check(
            candidate.anticipated_alerts <= current.anticipated_alerts,
            format!(
                "alerts on {} held-out anticipated logs: {} against {}",
                candidate.anticipated_logs,
                candidate.anticipated_alerts,
                current.anticipated_alerts
            ),
        );
    }

    match (current.recall(), candidate.recall()) {
        (Some(before), Some(after)) => check(
            after >= before - limits.max_recall_drop - 1e-12,
            format!(
                "recall on {} labelled attack logs {:.3} against {before:.3} (at least {:.3})",
                candidate.attack_logs,
                after,
                before - limits.max_recall_drop
            ),
        ),
        _ => reasons.push(
            "not checked: recall (no labelled attack logs held out; give --labels or --attacks)"
                .into(),
        ),
    }
    Decision { publish, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(loss: f32, alerts: usize, caught: usize) -> Measured {
        Measured {
            validation_loss: loss,
            anticipated_logs: 40,
            anticipated_alerts: alerts,
            attack_logs: 100,
            attacks_alerted: caught,
        }
    }

    const LIMITS: Limits = Limits {
        max_loss_increase: 0.02,
        max_recall_drop: 0.02,
    };

    #[test]
    fn a_candidate_no_worse_on_every_check_is_published() {
        let current = measured(0.50, 12, 90);
        let decision = decide(&current, &measured(0.505, 1, 88), &LIMITS);
        assert!(decision.publish, "{:?}", decision.reasons);
        assert_eq!(decision.reasons.len(), 3);
        assert!(decision.reasons.iter().all(|r| r.starts_with("pass:")));
    }

    #[test]
    fn any_worse_check_keeps_the_current_version_and_says_which() {
        let current = measured(0.50, 12, 90);
        for (candidate, failing) in [
            (measured(0.52, 1, 90), "validation loss"),
            (measured(0.50, 13, 90), "anticipated"),
            (measured(0.50, 1, 87), "recall"),
            (measured(f32::NAN, 1, 90), "validation loss"),
        ] {
            let decision = decide(&current, &candidate, &LIMITS);
            assert!(!decision.publish, "{candidate:?}");
            let failed: Vec<&String> = decision
                .reasons
                .iter()
                .filter(|r| r.starts_with("FAIL"))
                .collect();
            assert!(failed.iter().any(|r| r.contains(failing)), "{failed:?}");
        }
    }

    #[test]
    fn without_attack_logs_recall_is_reported_unchecked() {
        let mut current = measured(0.5, 3, 0);
        current.attack_logs = 0;
        let decision = decide(&current, &current.clone(), &LIMITS);
        assert!(decision.publish);
        assert!(
            decision
                .reasons
                .iter()
                .any(|r| r.starts_with("not checked: recall"))
        );
    }
}
