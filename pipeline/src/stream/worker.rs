//! The detector worker: a dedicated thread that runs the detectors over batches of logs
//! in the order the merge released them and starts producing their alerts, so rule
//! evaluation (and, with [4/7], model scoring) never blocks the Kafka consumer.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use operators::Detector;
use schemas::Envelope;
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
pub fn spawn(
    mut detectors: Vec<Box<dyn Detector>>,
    sink: Arc<dyn RecordSink>,
    mut batches: mpsc::UnboundedReceiver<Vec<Judgement>>,
    verdicts: mpsc::UnboundedSender<Verdict>,
) -> std::io::Result<JoinHandle<u64>> {
    std::thread::Builder::new().name("cyberlm-detectors".to_string()).spawn(move || {
        let mut alerts = 0;
        let queue_wait = metrics::histogram!("cyberlm_detector_queue_seconds");
        let detection = metrics::histogram!("cyberlm_detection_seconds");
        while let Some(batch) = batches.blocking_recv() {
            for judgement in batch {
                let started = Instant::now();
                queue_wait.record((started - judgement.released_at).as_secs_f64());
                let mut deliveries = Vec::new();
                for detector in detectors.iter_mut() {
                    for finding in detector.detect(&judgement.envelope) {
                        metrics::counter!("cyberlm_alerts_total", "severity" => finding.severity.caption(),
                            "detector" => detector.name().to_string())
                        .increment(1);
                        alerts += 1;
                        let payload = finding.to_ocsf().to_string();
                        deliveries.push(sink.send(judgement.envelope.key(), &payload, judgement.replayed_at_ms));
                    }
                }
                detection.record(started.elapsed().as_secs_f64());
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
        alerts
    })
}
