//! Metric handles the engine updates per log, looked up once.

use std::time::Instant;

use schemas::Source;

/// Per-topic and per-source handles, and the latency histograms.
pub struct Meters {
    /// `cyberlm_consumed_total{topic}`, by topic index.
    pub consumed: Vec<metrics::Counter>,
    /// `cyberlm_watermark_seconds{source}`, by source index.
    pub watermark: Vec<metrics::Gauge>,
    /// `cyberlm_late_events_total{source}`, by source index.
    pub late: Vec<metrics::Counter>,
    /// `cyberlm_merge_forced_total`: logs released before the watermark passed them
    /// because the merge buffer was full.
    pub forced: metrics::Counter,
    end_to_end: metrics::Histogram,
    processing: metrics::Histogram,
    replay_to_verdict: metrics::Histogram,
}

impl Meters {
    /// Handles for `topics` (in [`Source::ALL`] order).
    pub fn new(topics: &[String]) -> Self {
        Meters {
            consumed: topics
                .iter()
                .map(|t| metrics::counter!("cyberlm_consumed_total", "topic" => t.clone()))
                .collect(),
            watermark: Source::ALL
                .iter()
                .map(|s| metrics::gauge!("cyberlm_watermark_seconds", "source" => s.name()))
                .collect(),
            late: Source::ALL
                .iter()
                .map(|s| metrics::counter!("cyberlm_late_events_total", "source" => s.name()))
                .collect(),
            forced: metrics::counter!("cyberlm_merge_forced_total"),
            end_to_end: metrics::histogram!("cyberlm_end_to_end_latency_seconds"),
            processing: metrics::histogram!("cyberlm_processing_latency_seconds"),
            replay_to_verdict: metrics::histogram!("cyberlm_replay_to_verdict_seconds"),
        }
    }

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
