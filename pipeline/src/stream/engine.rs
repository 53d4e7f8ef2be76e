//! The detect loop, the same for every source and sink.
//!
//! One task owns the source, the decoder, the merge and the position tracker; a worker
//! thread owns the detectors ([`super::worker`]). Each decoded log enters the merge keyed
//! by its input (topic partition, file); logs the watermark releases go to the worker in
//! event-time order, in batches; each verdict comes back with the deliveries of its
//! alerts, and the log counts as finished when they are acknowledged (at once for "no
//! alert"). Undecodable logs go to the dead-letter sink and finish when that is
//! acknowledged. Only positions below every unfinished one are confirmed to the source
//! (Kafka stores them as offsets to commit), so a crash re-reads but never skips a log
//! (at-least-once). Reading pauses while `max_in_flight` logs await verdicts: memory
//! stays bounded and the backlog waits in the source.
//!
//! The loop chooses which inputs to read: one that has run more than `max_drift_ms` of
//! event time ahead of the slowest is not read until the others catch up (watermark
//! alignment). Without it, a Kafka backlog is fetched partition by partition in whatever
//! order the broker answers, the merge buffer fills with one partition's future, and the
//! others' logs arrive late.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use operators::Detector;
use operators::merge::{EventTimeMerge, MergeConfig, Merged};
use operators::offsets::OffsetTracker;
use operators::pii::PiiHasher;
use serde_json::Value;
use tokio::sync::mpsc;

use super::meters::Meters;
use super::worker::{self, Judgement, Verdict};
use super::{Input, LogSource, RawRecord, RecordSink, SourceEvent};

/// Header replay stamps on each message: wall-clock epoch ms when it was produced.
pub const REPLAYED_AT_HEADER: &str = "cyberlm-replayed-at";

/// Logs in flight before reading pauses, by default. Decoded logs are what detect's
/// memory holds: 20,000 peaked at 353–491 MiB on a 1M-log Kafka backlog, 10,000 at
/// 288–368 MiB with the same throughput.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 10_000;

/// Loop settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// The event-time merge.
    pub merge: MergeConfig,
    /// Logs read but without a delivered verdict before reading pauses.
    pub max_in_flight: usize,
    /// Logs the detectors judge together at most (a model scores a batch far faster than
    /// its logs one at a time; a smaller one bounds how long a verdict waits).
    pub micro_batch: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            merge: MergeConfig::default(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            micro_batch: 1024,
        }
    }
}

/// Where verdicts go.
#[derive(Clone)]
pub struct Sinks {
    /// OCSF Detection Findings.
    pub alerts: Arc<dyn RecordSink>,
    /// Logs that do not decode, with where they came from and why.
    pub dead_letters: Arc<dyn RecordSink>,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct EngineReport {
    /// Logs read.
    pub consumed: u64,
    /// Alerts produced.
    pub alerts: u64,
    /// Dead letters produced.
    pub dead_letters: u64,
    /// Logs merged out of order.
    pub late: u64,
}

type Finish = Pin<Box<dyn Future<Output = anyhow::Result<(Input, i64)>> + Send>>;

struct Engine {
    dead_letters: Arc<dyn RecordSink>,
    meters: Meters,
    merge: EventTimeMerge<Input, Judgement>,
    tracker: OffsetTracker<Input>,
    finishing: FuturesUnordered<Finish>,
    batch: Vec<Judgement>,
    to_worker: Option<mpsc::UnboundedSender<Vec<Judgement>>>,
    dirty: BTreeSet<Input>,
    pii: Option<PiiHasher>,
    started: Instant,
    report: EngineReport,
}

/// Runs detect over `source` until it is exhausted (files) or `shutdown` resolves
/// (Kafka), then drains: every buffered log is judged, every delivery awaited, and the
/// final positions confirmed.
pub async fn run<S: LogSource>(
    mut source: S,
    sinks: Sinks,
    config: EngineConfig,
    pii: Option<PiiHasher>,
    detectors: Vec<Box<dyn Detector>>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<EngineReport> {
    let (to_worker, batches) = mpsc::unbounded_channel();
    let (verdict_sender, mut verdicts) = mpsc::unbounded_channel();
    let worker = worker::spawn(
        detectors,
        sinks.alerts.clone(),
        config.micro_batch,
        batches,
        verdict_sender,
    )
    .map_err(|error| anyhow::anyhow!("failed to start the detector worker thread: {error}"))?;
    let mut engine = Engine {
        dead_letters: sinks.dead_letters.clone(),
        meters: Meters::new(),
        merge: EventTimeMerge::new(config.merge),
        tracker: OffsetTracker::new(),
        finishing: FuturesUnordered::new(),
        batch: Vec::new(),
        to_worker: Some(to_worker),
        dirty: BTreeSet::new(),
        pii,
        started: Instant::now(),
        report: EngineReport::default(),
    };
    for input in source.initial_inputs() {
        engine.merge.register(input, 0);
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    let mut failure = None;
    tokio::pin!(shutdown);
    loop {
        let accepting = engine.tracker.in_flight() < config.max_in_flight;
        let now = engine.now_ms();
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(verdict) = verdicts.recv() => engine.on_verdict(verdict),
            Some(done) = engine.finishing.next(), if !engine.finishing.is_empty() => {
                let (input, position) = done?;
                engine.finished(input, position);
            }
            event = source.next(not(engine.merge.ahead(now))), if accepting => match event {
                SourceEvent::Record(record) => engine.on_record(&source, record),
                SourceEvent::CaughtUp(input) => {
                    let now = engine.now_ms();
                    engine.merge.caught_up(&input, now);
                }
                SourceEvent::Finished(input) => engine.merge.remove(&input),
                SourceEvent::Assigned(input) => {
                    let now = engine.now_ms();
                    engine.merge.register(input, now);
                }
                SourceEvent::Revoked(input) => {
                    // Its buffered logs are still judged here; the new owner re-reads
                    // from the last stored offset: duplicates, never gaps.
                    engine.merge.remove(&input);
                    engine.tracker.forget(&input);
                    engine.dirty.remove(&input);
                }
                SourceEvent::Exhausted => break,
                SourceEvent::Failed(error) => {
                    failure = Some(error);
                    break;
                }
                SourceEvent::Nothing => {}
            },
            _ = ticker.tick() => {
                let now = engine.now_ms();
                if accepting {
                    // Inputs held back by alignment are silent because we do not read
                    // them, not because they are idle.
                    engine.merge.touch_ahead(now);
                } else {
                    // Likewise for every input while reading pauses.
                    engine.merge.touch_all(now);
                }
                // Confirming is cheap but not free; a few times a second is plenty for
                // a one-second auto-commit.
                engine.confirm(&mut source);
            }
        }
        engine.release_ready();
    }
    tracing::info!(
        message = "Draining: judging buffered logs and waiting for deliveries.",
        buffered = engine.merge.buffered(),
        in_flight = engine.tracker.in_flight()
    );
    for merged in engine.merge.drain() {
        engine.dispatch(merged);
    }
    engine.flush_batch();
    // Closing the channel lets the worker finish its queue and stop.
    engine.to_worker = None;
    while let Some(verdict) = verdicts.recv().await {
        engine.on_verdict(verdict);
    }
    engine.report.alerts = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the detector worker panicked"))?;
    while let Some(done) = engine.finishing.next().await {
        let (input, position) = done?;
        engine.finished(input, position);
    }
    sinks.alerts.flush()?;
    sinks.dead_letters.flush()?;
    engine.confirm(&mut source);
    source.close();
    engine.report.late = engine.merge.stats().late;
    match failure {
        Some(error) => Err(error),
        None => Ok(engine.report),
    }
}

/// The inputs a test rejects.
fn not<K>(test: impl Fn(&K) -> bool) -> impl Fn(&K) -> bool {
    move |input| !test(input)
}

impl Engine {
    fn now_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    fn on_record(&mut self, source: &impl LogSource, record: RawRecord) {
        let RawRecord {
            input,
            position,
            source: decode_as,
            key,
            payload,
            replayed_at_ms,
        } = record;
        self.report.consumed += 1;
        self.meters
            .consumed(input.0, source.name(input))
            .increment(1);
        self.tracker.started(input, position);
        match schemas::decode_from(decode_as, &payload) {
            Ok(mut envelope) => {
                if let Some(pii) = &self.pii {
                    pii.apply(&mut envelope);
                }
                let time = envelope.event_time_ms();
                let kind = envelope.source.index();
                self.meters.watermark[kind].set(time as f64 / 1000.0);
                let consumed_at = Instant::now();
                let judgement = Judgement {
                    input,
                    position,
                    envelope,
                    consumed_at,
                    // Set when the merge releases it.
                    released_at: consumed_at,
                    replayed_at_ms,
                };
                let now = self.now_ms();
                if let Some(late) = self.merge.push(input, time, judgement, now) {
                    self.meters.late[kind].increment(1);
                    self.dispatch(late);
                }
            }
            Err(error) => {
                let mut letter = source.locate(input, position);
                letter.insert("error_type".into(), error.kind().into());
                letter.insert("error".into(), error.to_string().into());
                letter.insert(
                    "raw".into(),
                    String::from_utf8_lossy(&payload).into_owned().into(),
                );
                tracing::debug!(message = "Sent a log to the dead letters.", input = source.name(input), position, %error);
                metrics::counter!("cyberlm_dead_letters_total", "error_type" => error.kind())
                    .increment(1);
                self.report.dead_letters += 1;
                let delivery = self.dead_letters.send(
                    key.as_deref().unwrap_or_default(),
                    &Value::Object(letter).to_string(),
                    None,
                );
                self.finishing.push(Box::pin(async move {
                    delivery.await?;
                    Ok((input, position))
                }));
            }
        }
    }

    fn release_ready(&mut self) {
        let now = self.now_ms();
        let forced_before = self.merge.stats().forced;
        while let Some(merged) = self.merge.pop_ready(now) {
            self.dispatch(merged);
        }
        self.meters
            .forced
            .increment(self.merge.stats().forced - forced_before);
        self.flush_batch();
    }

    fn dispatch(&mut self, merged: Merged<Input, Judgement>) {
        let mut judgement = merged.item;
        judgement.released_at = Instant::now();
        self.meters
            .merge_wait
            .record((judgement.released_at - judgement.consumed_at).as_secs_f64());
        self.batch.push(judgement);
    }

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        if let Some(to_worker) = &self.to_worker
            && to_worker.send(batch).is_err()
        {
            tracing::error!(
                message = "The detector worker stopped; logs stay unconfirmed and will be re-read."
            );
        }
    }

    fn on_verdict(&mut self, verdict: Verdict) {
        let Verdict {
            input,
            position,
            event_time_ms,
            consumed_at,
            replayed_at_ms,
            deliveries,
            envelope,
        } = verdict;
        drop(envelope);
        if deliveries.is_empty() {
            self.meters
                .verdict(event_time_ms, consumed_at, replayed_at_ms);
            self.finished(input, position);
            return;
        }
        let latency = self.meters.latency();
        self.finishing.push(Box::pin(async move {
            for delivery in deliveries {
                delivery.await?;
            }
            latency.verdict(event_time_ms, consumed_at, replayed_at_ms);
            Ok((input, position))
        }));
    }

    fn finished(&mut self, input: Input, position: i64) {
        self.tracker.finished(&input, position);
        self.dirty.insert(input);
    }

    fn confirm(&mut self, source: &mut impl LogSource) {
        if self.dirty.is_empty() {
            return;
        }
        let positions: Vec<(Input, i64)> = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|input| Some((input, self.tracker.committable(&input)?)))
            .collect();
        source.confirm(&positions);
    }
}
