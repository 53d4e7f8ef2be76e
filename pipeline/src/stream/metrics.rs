//! The Prometheus endpoint. Metric names follow `cyberlm_<name>_<unit>[_total]`:
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `cyberlm_consumed_total` | topic | messages read |
//! | `cyberlm_produced_total` | topic | alerts and dead letters delivered |
//! | `cyberlm_consumer_lag_messages` | topic, partition | from librdkafka statistics |
//! | `cyberlm_watermark_seconds` | source | newest event time seen, epoch seconds |
//! | `cyberlm_late_events_total` | source | events merged out of order (still judged) |
//! | `cyberlm_merge_forced_total` | – | logs released early because the merge was full |
//! | `cyberlm_dead_letters_total` | error_type | undecodable logs |
//! | `cyberlm_alerts_total` | severity, detector | findings produced |
//! | `cyberlm_end_to_end_latency_seconds` | – | verdict time − event time |
//! | `cyberlm_processing_latency_seconds` | – | verdict time − consume time |
//! | `cyberlm_merge_wait_seconds` | – | release by the watermark − consume time |
//! | `cyberlm_detector_queue_seconds` | – | detectors start − release |
//! | `cyberlm_detection_seconds` | – | time in the detectors, per log |
//! | `cyberlm_replay_to_verdict_seconds` | – | verdict time − replay time (replayed logs) |

use std::net::SocketAddr;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusBuilder;

/// Serves `/metrics` on `listen`.
pub fn install_prometheus(listen: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(listen)
        .install()
        .with_context(|| format!("failed to serve Prometheus metrics on {listen}"))
}
