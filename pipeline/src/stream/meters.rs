//! Metric handles the engine updates per log, looked up once.

use std::time::Instant;

use schemas::Source;

/// Per-input and per-source handles, and the latency histograms.
pub struct Meters {
    /// `cyberlm_consumed_total{topic}`, by the input's first index (topic or file),
    /// filled in as inputs show up.
    consumed: Vec<Option<metrics::Counter>>,
    /// `cyberlm_watermark_seconds{source}`, in [`Source::ALL`] order.
    pub watermark: Vec<metrics::Gauge>,
    /// `cyberlm_late_events_total{source}`, in [`Source::ALL`] order.
    pub late: Vec<metrics::Counter>,
    /// `cyberlm_merge_forced_total`: logs released before the watermark passed them
    /// because the merge buffer was full.
    pub forced: metrics::Counter,
    /// `cyberlm_merge_wait_seconds`: read → released by the watermark.
    pub merge_wait: metrics::Histogram,
    latency: Latency,
}

/// The latency histograms, cheap to clone into a delivery's future.
#[derive(Clone)]
pub struct Latency {
    end_to_end: metrics::Histogram,
    processing: metrics::Histogram,
    replay_to_verdict: metrics::Histogram,
}

impl Meters {
    /// Registers the handles.
    pub fn new() -> Self {
        Meters {
            consumed: Vec::new(),
            watermark: Source::ALL
                .iter()
                .map(|s| metrics::gauge!("cyberlm_watermark_seconds", "source" => s.name()))
                .collect(),
            late: Source::ALL
                .iter()
                .map(|s| metrics::counter!("cyberlm_late_events_total", "source" => s.name()))
                .collect(),
            forced: metrics::counter!("cyberlm_merge_forced_total"),
            merge_wait: metrics::histogram!("cyberlm_merge_wait_seconds"),
            latency: Latency {
                end_to_end: metrics::histogram!("cyberlm_end_to_end_latency_seconds"),
                processing: metrics::histogram!("cyberlm_processing_latency_seconds"),
                replay_to_verdict: metrics::histogram!("cyberlm_replay_to_verdict_seconds"),
            },
        }
    }

    /// `cyberlm_consumed_total` of the input group `index`, named `name`.
    pub fn consumed(&mut self, index: usize, name: &str) -> &metrics::Counter {
        if self.consumed.len() <= index {
            self.consumed.resize(index + 1, None);
        }
        self.consumed[index].get_or_insert_with(
            || metrics::counter!("cyberlm_consumed_total", "topic" => name.to_string()),
        )
    }

    /// The latency histograms.
    pub fn latency(&self) -> Latency {
        self.latency.clone()
    }

    /// Records the latencies of a log whose verdict is delivered now.
    pub fn verdict(&self, event_time_ms: i64, consumed_at: Instant, replayed_at_ms: Option<i64>) {
        self.latency
            .verdict(event_time_ms, consumed_at, replayed_at_ms);
    }
}

impl Latency {
    /// Records the latencies of a log whose verdict is delivered now.
    pub fn verdict(&self, event_time_ms: i64, consumed_at: Instant, replayed_at_ms: Option<i64>) {
        let now = chrono::Utc::now().timestamp_millis();
        self.end_to_end
            .record((now - event_time_ms) as f64 / 1000.0);
        self.processing.record(consumed_at.elapsed().as_secs_f64());
        if let Some(replayed) = replayed_at_ms {
            self.replay_to_verdict
                .record((now - replayed) as f64 / 1000.0);
        }
    }
}
