//! The detector worker: a dedicated thread that runs the detectors over batches of logs
//! in the order the merge released them and starts producing their alerts, so rule
//! evaluation (and, with [4/7], model scoring) never blocks the Kafka consumer.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use operators::Detector;
use schemas::{DetectionFinding, Envelope};
use tokio::sync::mpsc;

use super::{Delivery, Input, RecordSink};

/// A log released by the merge, on its way to the detectors.
pub struct Judgement {
    /// Its input.
    pub input: Input,
    /// Its position in the input.
    pub position: i64,
    /// The log.
    pub envelope: Envelope,
    /// When it was read.
    pub consumed_at: Instant,
    /// When the merge released it to the detectors.
    pub released_at: Instant,
    /// When replay produced it, if it was replayed.
    pub replayed_at_ms: Option<i64>,
}

/// A log's verdict: the deliveries of its alerts (none for "no alert").
pub struct Verdict {
    /// Its input.
    pub input: Input,
    /// Its position in the input.
    pub position: i64,
    /// Event time, for latency metrics.
    pub event_time_ms: i64,
    /// When it was read.
    pub consumed_at: Instant,
    /// When replay produced it.
    pub replayed_at_ms: Option<i64>,
    /// One per alert.
    pub deliveries: Vec<Delivery>,
    /// The log, handed back to be freed on the thread that allocated it: mimalloc frees
    /// across threads slowly, and the decoding thread would keep faulting in fresh pages
    /// (measured: a tenth of the worker's time, and page zeroing on the reader's side).
    pub envelope: Envelope,
}

/// Starts the worker. It ends when `batches` closes, returning the number of alerts.
///
/// Logs are judged in micro-batches of at most `micro_batch`: what the engine has
/// released so far, never waiting for more, so a batch grows only while the detectors
/// are busy and latency stays bounded at low rates.
pub fn spawn(
    mut detectors: Vec<Box<dyn Detector>>,
    sink: Arc<dyn RecordSink>,
    micro_batch: usize,
    mut batches: mpsc::UnboundedReceiver<Vec<Judgement>>,
    verdicts: mpsc::UnboundedSender<Verdict>,
) -> std::io::Result<JoinHandle<u64>> {
    let micro_batch = micro_batch.max(1);
    std::thread::Builder::new().name("cyberlm-detectors".to_string()).spawn(move || {
        let mut alerts = 0;
        let queue_wait = metrics::histogram!("cyberlm_detector_queue_seconds");
        let detection = metrics::histogram!("cyberlm_detection_seconds");
        let batch_logs = metrics::histogram!("cyberlm_detection_batch_logs");
        let mut pending: std::collections::VecDeque<Judgement> = std::collections::VecDeque::new();
        let mut versions: Vec<Option<String>> = detectors.iter().map(|d| d.version().map(str::to_string)).collect();
        for (detector, version) in detectors.iter().zip(&versions) {
            if let Some(version) = version {
                metrics::gauge!("cyberlm_model_info", "detector" => detector.name().to_string(), "version" => version.clone()).set(1.0);
            }
        }
        loop {
            if pending.is_empty() {
                match batches.blocking_recv() {
                    Some(batch) => pending.extend(batch),
                    None => return alerts,
                }
            }
            while pending.len() < micro_batch {
                match batches.try_recv() {
                    Ok(batch) => pending.extend(batch),
                    Err(_) => break,
                }
            }
            let batch: Vec<Judgement> = pending.drain(..pending.len().min(micro_batch)).collect();
            let started = Instant::now();
            for judgement in &batch {
                queue_wait.record((started - judgement.released_at).as_secs_f64());
            }
            let envelopes: Vec<&Envelope> = batch.iter().map(|judgement| &judgement.envelope).collect();
            let mut findings: Vec<Vec<(usize, DetectionFinding)>> = (0..batch.len()).map(|_| Vec::new()).collect();
            for (index, detector) in detectors.iter_mut().enumerate() {
                for (found, log_findings) in findings.iter_mut().zip(detector.detect_batch(&envelopes)) {
                    found.extend(log_findings.into_iter().map(|finding| (index, finding)));
                }
            }
            drop(envelopes);
            detection.record(started.elapsed().as_secs_f64());
            note_version_switches(&detectors, &mut versions);
            batch_logs.record(batch.len() as f64);
            for (judgement, found) in batch.into_iter().zip(findings) {
                let mut deliveries = Vec::with_capacity(found.len());
                for (index, finding) in found {
                    metrics::counter!("cyberlm_alerts_total", "severity" => finding.severity.caption(),
                        "detector" => detectors[index].name().to_string())
                    .increment(1);
                    alerts += 1;
                    let payload = finding.to_ocsf().to_string();
                    deliveries.push(sink.send(judgement.envelope.key(), &payload, judgement.replayed_at_ms));
                }
                let verdict = Verdict {
                    input: judgement.input,
                    position: judgement.position,
                    event_time_ms: judgement.envelope.event_time_ms(),
                    envelope: judgement.envelope,
                    consumed_at: judgement.consumed_at,
                    replayed_at_ms: judgement.replayed_at_ms,
                    deliveries,
                };
                if verdicts.send(verdict).is_err() {
                    // The engine is gone; nothing will store offsets any more.
                    return alerts;
                }
            }
        }
    })
}

/// Points `cyberlm_model_info` at each detector's current version after a switch.
fn note_version_switches(detectors: &[Box<dyn Detector>], versions: &mut [Option<String>]) {
    for (detector, known) in detectors.iter().zip(versions.iter_mut()) {
        let current = detector.version();
        if current == known.as_deref() {
            continue;
        }
        let name = detector.name().to_string();
        if let Some(old) = known.take() {
            metrics::gauge!("cyberlm_model_info", "detector" => name.clone(), "version" => old)
                .set(0.0);
        }
        if let Some(new) = current {
            metrics::gauge!("cyberlm_model_info", "detector" => name.clone(), "version" => new.to_string()).set(1.0);
            metrics::counter!("cyberlm_model_switches_total", "detector" => name).increment(1);
        }
        *known = current.map(str::to_string);
    }
}
