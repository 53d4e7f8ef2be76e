//! Detection metrics: how well a detector's scores separate attack logs from benign ones,
//! and how its alerts fare.
//!
//! PR-AUC is average precision (the area under the precision–recall step curve, as
//! scikit-learn computes it); ROC-AUC is the Mann–Whitney statistic with ties counted
//! half. False alerts are per 10,000 benign logs, the rate a SOC feels.

use serde::Serialize;

/// One judged log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    /// Higher means more suspicious.
    pub score: f64,
    /// The label.
    pub malicious: bool,
    /// Whether the detector alerted.
    pub alerted: bool,
}

/// The figures of one detector on one set of logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionMetrics {
    /// Logs judged.
    pub logs: usize,
    /// Attack logs among them.
    pub malicious: usize,
    /// Alerts raised.
    pub alerts: usize,
    /// Alerts on benign logs.
    pub false_alerts: usize,
    /// Share of alerts that are on attack logs.
    pub precision: f64,
    /// Share of attack logs alerted.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// False alerts per 10,000 benign logs.
    pub false_alerts_per_10k: f64,
    /// Area under the precision–recall curve of the score (average precision).
    pub pr_auc: f64,
    /// Area under the ROC curve of the score.
    pub roc_auc: f64,
    /// The best recall any score threshold reaches with at most 1 false alert per
    /// 10,000 benign logs.
    pub recall_at_1_per_10k: f64,
}

/// Computes the metrics of `judged`.
pub fn evaluate(judged: &[Judged]) -> DetectionMetrics {
    let malicious = judged.iter().filter(|j| j.malicious).count();
    let benign = judged.len() - malicious;
    let alerts = judged.iter().filter(|j| j.alerted).count();
    let true_alerts = judged.iter().filter(|j| j.alerted && j.malicious).count();
    let false_alerts = alerts - true_alerts;
    let precision = ratio(true_alerts, alerts);
    let recall = ratio(true_alerts, malicious);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    DetectionMetrics {
        logs: judged.len(),
        malicious,
        alerts,
        false_alerts,
        precision,
        recall,
        f1,
        false_alerts_per_10k: 10_000.0 * ratio(false_alerts, benign),
        pr_auc: average_precision(judged),
        roc_auc: roc_auc(judged),
        recall_at_1_per_10k: recall_at_false_rate(judged, 1.0),
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The precision–recall curve: (recall, precision) at each distinct score threshold,
/// from the highest score down.
pub fn pr_curve(judged: &[Judged]) -> Vec<(f64, f64)> {
    let malicious = judged.iter().filter(|j| j.malicious).count();
    let mut points = Vec::new();
    for (true_positives, predicted) in thresholds(judged) {
        points.push((
            ratio(true_positives, malicious),
            ratio(true_positives, predicted),
        ));
    }
    points
}

/// (true positives, predicted positives) at each distinct score, highest first.
fn thresholds(judged: &[Judged]) -> Vec<(usize, usize)> {
    let mut sorted: Vec<&Judged> = judged.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    let (mut true_positives, mut predicted) = (0, 0);
    for (index, row) in sorted.iter().enumerate() {
        predicted += 1;
        true_positives += usize::from(row.malicious);
        let last_of_tie = sorted
            .get(index + 1)
            .is_none_or(|next| next.score != row.score);
        if last_of_tie {
            out.push((true_positives, predicted));
        }
    }
    out
}

/// Average precision: Σ (Rₙ − Rₙ₋₁) · Pₙ over thresholds.
fn average_precision(judged: &[Judged]) -> f64 {
    let mut previous_recall = 0.0;
    let mut area = 0.0;
    for (recall, precision) in pr_curve(judged) {
        area += (recall - previous_recall) * precision;
        previous_recall = recall;
    }
    area
}

/// The best recall at a score threshold with at most `per_10k` false alerts per 10,000
/// benign logs.
fn recall_at_false_rate(judged: &[Judged], per_10k: f64) -> f64 {
    let malicious = judged.iter().filter(|j| j.malicious).count();
    let benign = judged.len() - malicious;
    let allowed = per_10k * benign as f64 / 10_000.0;
    thresholds(judged)
        .into_iter()
        .filter(|&(true_positives, predicted)| (predicted - true_positives) as f64 <= allowed)
        .map(|(true_positives, _)| ratio(true_positives, malicious))
        .fold(0.0, f64::max)
}

/// ROC-AUC as the probability that an attack log outscores a benign one (ties half).
fn roc_auc(judged: &[Judged]) -> f64 {
    let mut sorted: Vec<&Judged> = judged.iter().collect();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    let malicious = sorted.iter().filter(|j| j.malicious).count();
    let benign = sorted.len() - malicious;
    if malicious == 0 || benign == 0 {
        return 0.0;
    }
    // Sum of the (tie-averaged) ranks of the attack logs.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start;
        while end < sorted.len() && sorted[end].score == sorted[start].score {
            end += 1;
        }
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let in_tie = sorted[start..end].iter().filter(|j| j.malicious).count();
        rank_sum += average_rank * in_tie as f64;
        start = end;
    }
    let m = malicious as f64;
    (rank_sum - m * (m + 1.0) / 2.0) / (m * benign as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(scores: &[(f64, bool)], threshold: f64) -> Vec<Judged> {
        scores
            .iter()
            .map(|&(score, malicious)| Judged {
                score,
                malicious,
                alerted: score >= threshold,
            })
            .collect()
    }

    #[test]
    fn a_perfect_separation_scores_one() {
        let judged = rows(&[(0.1, false), (0.2, false), (0.8, true), (0.9, true)], 0.5);
        let metrics = evaluate(&judged);
        assert_eq!(
            (metrics.precision, metrics.recall, metrics.f1),
            (1.0, 1.0, 1.0)
        );
        assert_eq!((metrics.pr_auc, metrics.roc_auc), (1.0, 1.0));
        assert_eq!(metrics.false_alerts_per_10k, 0.0);
        assert_eq!(metrics.recall_at_1_per_10k, 1.0);
    }

    #[test]
    fn matches_hand_computed_figures() {
        // Ranked: 0.9 (attack), 0.8 (benign), 0.7 (attack), 0.1 (benign).
        let judged = rows(
            &[(0.9, true), (0.8, false), (0.7, true), (0.1, false)],
            0.75,
        );
        let metrics = evaluate(&judged);
        // Alerts at >= 0.75: one attack, one benign.
        assert_eq!((metrics.alerts, metrics.false_alerts), (2, 1));
        assert_eq!((metrics.precision, metrics.recall), (0.5, 0.5));
        assert_eq!(metrics.false_alerts_per_10k, 5_000.0);
        // AP = 0.5 * 1 + 0.5 * 2/3.
        assert!((metrics.pr_auc - (0.5 + 1.0 / 3.0)).abs() < 1e-12);
        // Pairs (attack, benign): (0.9 > 0.8), (0.9 > 0.1), (0.7 < 0.8), (0.7 > 0.1): 3/4.
        assert!((metrics.roc_auc - 0.75).abs() < 1e-12);
        // With no false alert allowed, only the top attack: recall 0.5.
        assert_eq!(metrics.recall_at_1_per_10k, 0.5);
    }

    #[test]
    fn ties_count_half_and_a_constant_score_is_chance() {
        let judged = rows(&[(1.0, true), (1.0, false), (1.0, true), (1.0, false)], 2.0);
        let metrics = evaluate(&judged);
        assert!((metrics.roc_auc - 0.5).abs() < 1e-12);
        assert!((metrics.pr_auc - 0.5).abs() < 1e-12);
        assert_eq!(metrics.alerts, 0);
        assert_eq!(metrics.f1, 0.0);
    }
}
