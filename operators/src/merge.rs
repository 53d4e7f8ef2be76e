//! k-way merge by event time across inputs (topics × partitions) with a watermark.
//!
//! Each input's watermark is the latest event time it has shown minus the configured
//! bounded out-of-orderness; the merge's watermark is the minimum over the inputs that
//! are not idle (Arroyo's `Watermark::{EventTime, Idle}` rule). Events wait in a heap
//! until the watermark passes them, then leave in event-time order. An input that has
//! been silent for the idle timeout stops holding the watermark back, and so does, much
//! sooner, one the reader has seen reach the end of what its source holds (caught up:
//! its next log is still being written, so it will be newer than what waits here); when
//! every input is idle, everything buffered is released.
//!
//! A security log is never dropped: an event older than one already emitted cannot be
//! put in order any more, so it is emitted at once, marked late, and counted. When more
//! than `max_buffered` events wait (an input stalls while others race ahead), the oldest
//! is released early rather than growing memory without bound, and counted as forced.
//!
//! Watermark alignment keeps that from happening: [`EventTimeMerge::is_ahead`] tells the
//! reader which inputs have run more than `max_drift_ms` of event time ahead of the
//! slowest active one, so it stops reading them (Flink's watermark alignment) and their
//! logs wait in the source, not in this buffer.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

/// Merge settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeConfig {
    /// How far behind the newest event of an input its events may arrive and still be
    /// merged in order, in milliseconds.
    pub max_out_of_orderness_ms: i64,
    /// Processing time after which a silent input stops holding the watermark, in
    /// milliseconds.
    pub idle_timeout_ms: i64,
    /// Processing time after which an input that reached the end of its source (see
    /// [`EventTimeMerge::caught_up`]) stops holding the watermark, in milliseconds.
    pub caught_up_idle_ms: i64,
    /// Most events held back before the oldest is released early.
    pub max_buffered: usize,
    /// How far (event time, ms) an input may run ahead of the slowest active input before
    /// the reader should stop reading it.
    pub max_drift_ms: i64,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig {
            max_out_of_orderness_ms: 5_000,
            idle_timeout_ms: 2_000,
            caught_up_idle_ms: 200,
            max_buffered: 50_000,
            max_drift_ms: 30_000,
        }
    }
}

/// The merge's watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watermark {
    /// Every event at or before this time (epoch ms) may be emitted.
    EventTime(i64),
    /// No input is active: nothing holds events back.
    Idle,
}

/// An event leaving the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged<K, T> {
    /// The input it came from.
    pub input: K,
    /// Its event time, epoch ms.
    pub event_time_ms: i64,
    /// Older than an event already emitted, so out of order.
    pub late: bool,
    /// The payload.
    pub item: T,
}

#[derive(Debug)]
struct InputState {
    newest_ms: Option<i64>,
    last_seen_at_ms: i64,
    caught_up_at_ms: Option<i64>,
}

/// Which inputs hold back what: every active input holds the watermark; a caught-up one
/// still does for a moment, but waiting for it before reading the others would stall
/// them all (at the end of a backlog, once per partition), so it does not hold reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holding {
    Watermark,
    Reading,
}

impl InputState {
    fn new(now_ms: i64) -> Self {
        InputState {
            newest_ms: None,
            last_seen_at_ms: now_ms,
            caught_up_at_ms: None,
        }
    }

    fn is_active(&self, config: &MergeConfig, now_ms: i64) -> bool {
        now_ms - self.last_seen_at_ms < config.idle_timeout_ms
            && self
                .caught_up_at_ms
                .is_none_or(|at| now_ms - at < config.caught_up_idle_ms)
    }
}

struct Entry<K, T> {
    time: i64,
    seq: u64,
    input: K,
    item: T,
}

impl<K, T> PartialEq for Entry<K, T> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl<K, T> Eq for Entry<K, T> {}
impl<K, T> PartialOrd for Entry<K, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K, T> Ord for Entry<K, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// Counters a merge keeps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MergeStats {
    /// Events emitted out of order, marked late.
    pub late: u64,
    /// Events released before the watermark passed them because the buffer was full.
    pub forced: u64,
}

/// The merge operator. `K` names an input (e.g. `(topic, partition)`).
pub struct EventTimeMerge<K, T> {
    config: MergeConfig,
    inputs: HashMap<K, InputState>,
    heap: BinaryHeap<Reverse<Entry<K, T>>>,
    seq: u64,
    newest_emitted_ms: Option<i64>,
    stats: MergeStats,
}

impl<K: Clone + Eq + Hash, T> EventTimeMerge<K, T> {
    /// An empty merge.
    pub fn new(config: MergeConfig) -> Self {
        EventTimeMerge {
            config,
            inputs: HashMap::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            newest_emitted_ms: None,
            stats: MergeStats::default(),
        }
    }

    /// Declares an input before its first event (an assigned partition), so it holds the
    /// watermark until it shows an event or goes idle.
    pub fn register(&mut self, input: K, now_ms: i64) {
        self.inputs.entry(input).or_insert(InputState::new(now_ms));
    }

    /// Forgets an input (a revoked partition): it no longer holds the watermark. Its
    /// buffered events stay and are emitted in order.
    pub fn remove(&mut self, input: &K) {
        self.inputs.remove(input);
    }

    /// Notes that `input` is alive without an event (e.g. the consumer reached the end of
    /// its partition), resetting its idle clock.
    pub fn touch(&mut self, input: &K, now_ms: i64) {
        if let Some(state) = self.inputs.get_mut(input) {
            state.last_seen_at_ms = now_ms;
        }
    }

    /// Notes that the reader has reached the end of what `input`'s source holds (Kafka's
    /// end of partition): unless a new event arrives first, it stops holding the
    /// watermark after `caught_up_idle_ms` instead of the full idle timeout.
    pub fn caught_up(&mut self, input: &K, now_ms: i64) {
        if let Some(state) = self.inputs.get_mut(input) {
            state.last_seen_at_ms = now_ms;
            state.caught_up_at_ms = Some(now_ms);
        }
    }

    /// Resets the idle clock of every input that [`Self::is_ahead`]: the reader is not
    /// reading them, so their silence says nothing about them.
    pub fn touch_ahead(&mut self, now_ms: i64) {
        let Some(limit) = self.read_limit(now_ms) else {
            return;
        };
        for state in self.inputs.values_mut() {
            if state.newest_ms.is_some_and(|newest| newest > limit) {
                state.last_seen_at_ms = now_ms;
            }
        }
    }

    /// Resets every input's idle clock: while the consumer itself holds back (backpressure),
    /// silence says nothing about the inputs, and treating them as idle would release the
    /// whole buffer out of order.
    pub fn touch_all(&mut self, now_ms: i64) {
        for state in self.inputs.values_mut() {
            state.last_seen_at_ms = now_ms;
        }
    }

    /// Adds an event. Returns it at once, marked late, if it is older than an event
    /// already emitted; otherwise buffers it.
    pub fn push(
        &mut self,
        input: K,
        event_time_ms: i64,
        item: T,
        now_ms: i64,
    ) -> Option<Merged<K, T>> {
        let state = self
            .inputs
            .entry(input.clone())
            .or_insert(InputState::new(now_ms));
        state.last_seen_at_ms = now_ms;
        state.caught_up_at_ms = None;
        state.newest_ms = Some(
            state
                .newest_ms
                .map_or(event_time_ms, |newest| newest.max(event_time_ms)),
        );
        if self
            .newest_emitted_ms
            .is_some_and(|newest| event_time_ms < newest)
        {
            self.stats.late += 1;
            return Some(Merged {
                input,
                event_time_ms,
                late: true,
                item,
            });
        }
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            time: event_time_ms,
            seq: self.seq,
            input,
            item,
        }));
        None
    }

    /// The watermark at processing time `now_ms`.
    pub fn watermark(&self, now_ms: i64) -> Watermark {
        self.slowest(now_ms, Holding::Watermark)
            .map_or(Watermark::Idle, |slowest| {
                Watermark::EventTime(slowest.saturating_sub(self.config.max_out_of_orderness_ms))
            })
    }

    /// The newest event time of the input furthest behind among those `holding` counts
    /// (`i64::MIN` while one of them has shown no event yet); `None` when there are none.
    fn slowest(&self, now_ms: i64, holding: Holding) -> Option<i64> {
        self.inputs
            .values()
            .filter(|state| {
                state.is_active(&self.config, now_ms)
                    && (holding == Holding::Watermark || state.caught_up_at_ms.is_none())
            })
            .map(|state| state.newest_ms.unwrap_or(i64::MIN))
            .min()
    }

    /// The newest event time an input may have shown and still be read: `max_drift_ms`
    /// past the slowest input there is something to read from; `None` when all are idle.
    fn read_limit(&self, now_ms: i64) -> Option<i64> {
        self.slowest(now_ms, Holding::Reading)
            .map(|slowest| slowest.saturating_add(self.config.max_drift_ms))
    }

    /// Whether `input` has run more than `max_drift_ms` ahead of the slowest active input
    /// that has not caught up: reading more of it now would only fill the buffer. The
    /// slowest input is never ahead, so a reader that skips the inputs ahead always has
    /// one to read.
    pub fn is_ahead(&self, input: &K, now_ms: i64) -> bool {
        self.ahead(now_ms)(input)
    }

    /// [`Self::is_ahead`] for many inputs at one processing time, computing the limit
    /// once (the reader asks for every queue on every read).
    pub fn ahead(&self, now_ms: i64) -> impl Fn(&K) -> bool + '_ {
        let limit = self.read_limit(now_ms);
        move |input| {
            let newest = self.inputs.get(input).and_then(|state| state.newest_ms);
            matches!((newest, limit), (Some(newest), Some(limit)) if newest > limit)
        }
    }

    /// The next event the watermark releases, in event-time order, or `None`.
    pub fn pop_ready(&mut self, now_ms: i64) -> Option<Merged<K, T>> {
        let oldest = self.heap.peek()?.0.time;
        let forced = self.heap.len() > self.config.max_buffered;
        let released = match self.watermark(now_ms) {
            Watermark::Idle => true,
            Watermark::EventTime(watermark) => oldest <= watermark,
        };
        if !released && !forced {
            return None;
        }
        if forced && !released {
            self.stats.forced += 1;
        }
        let Reverse(entry) = self.heap.pop()?;
        self.newest_emitted_ms = Some(
            self.newest_emitted_ms
                .map_or(entry.time, |newest| newest.max(entry.time)),
        );
        Some(Merged {
            input: entry.input,
            event_time_ms: entry.time,
            late: false,
            item: entry.item,
        })
    }

    /// Releases everything buffered, in order (end of input, shutdown).
    pub fn drain(&mut self) -> Vec<Merged<K, T>> {
        let mut out = Vec::with_capacity(self.heap.len());
        while let Some(Reverse(entry)) = self.heap.pop() {
            self.newest_emitted_ms = Some(
                self.newest_emitted_ms
                    .map_or(entry.time, |newest| newest.max(entry.time)),
            );
            out.push(Merged {
                input: entry.input,
                event_time_ms: entry.time,
                late: false,
                item: entry.item,
            });
        }
        out
    }

    /// Events waiting.
    pub fn buffered(&self) -> usize {
        self.heap.len()
    }

    /// Late and forced counts so far.
    pub fn stats(&self) -> MergeStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config(bound: i64) -> MergeConfig {
        MergeConfig {
            max_out_of_orderness_ms: bound,
            idle_timeout_ms: 1_000,
            caught_up_idle_ms: 100,
            max_buffered: 10_000,
            max_drift_ms: 100,
        }
    }

    #[test]
    fn inputs_more_than_the_drift_ahead_of_the_slowest_are_ahead() {
        let mut merge = EventTimeMerge::new(config(10));
        merge.register("new", 0);
        merge.push("slow", 1_000, (), 0);
        merge.push("near", 1_100, (), 0);
        merge.push("far", 1_101, (), 0);
        // "new" has shown nothing yet, so it is the slowest: everything else waits for it.
        assert!(merge.is_ahead(&"slow", 0));
        assert!(!merge.is_ahead(&"new", 0));
        merge.remove(&"new");
        assert!(!merge.is_ahead(&"slow", 0));
        assert!(!merge.is_ahead(&"near", 0));
        assert!(merge.is_ahead(&"far", 0));
        // Once "slow" is idle it stops holding the others back.
        merge.push("near", 1_200, (), 1_500);
        merge.push("far", 1_201, (), 1_500);
        assert!(!merge.is_ahead(&"far", 1_500));
        assert!(!merge.is_ahead(&"unknown", 1_500));
        // A caught-up input holds nobody back from being read, even before it goes idle.
        merge.push("behind", 1_000, (), 1_500);
        assert!(merge.is_ahead(&"far", 1_500));
        merge.caught_up(&"behind", 1_500);
        assert!(!merge.is_ahead(&"far", 1_500));
    }

    #[test]
    fn watermark_table() {
        // (events per input as (input, time), processing time of the query, expected)
        type Case<'a> = (&'a [(u8, i64)], i64, Watermark);
        let cases: &[Case] = &[
            (&[], 0, Watermark::Idle),
            (&[(0, 100)], 0, Watermark::EventTime(90)),
            (&[(0, 100), (1, 50)], 0, Watermark::EventTime(40)),
            (&[(0, 100), (1, 50), (1, 200)], 0, Watermark::EventTime(90)),
            // Both inputs idle after the timeout: nothing holds events back.
            (&[(0, 100), (1, 50)], 5_000, Watermark::Idle),
        ];
        for (events, now, expected) in cases {
            let mut merge = EventTimeMerge::new(config(10));
            for (input, time) in *events {
                merge.push(*input, *time, (), 0);
            }
            assert_eq!(merge.watermark(*now), *expected, "{events:?} at {now}");
        }
    }

    #[test]
    fn a_registered_silent_input_holds_the_watermark_until_idle() {
        let mut merge = EventTimeMerge::new(config(10));
        merge.register("quiet", 0);
        merge.push("busy", 1_000, "a", 0);
        assert_eq!(merge.watermark(500), Watermark::EventTime(i64::MIN));
        assert!(merge.pop_ready(500).is_none());
        // Past the idle timeout only "busy" counts... and it went idle too, so all flows.
        merge.push("busy", 1_020, "b", 1_500);
        assert_eq!(merge.watermark(1_500), Watermark::EventTime(1_010));
        assert_eq!(merge.pop_ready(1_500).map(|m| m.item), Some("a"));
        assert!(merge.pop_ready(1_500).is_none());
    }

    #[test]
    fn a_caught_up_input_stops_holding_the_watermark_soon_unless_it_speaks() {
        let mut merge = EventTimeMerge::new(config(10));
        merge.push("busy", 1_000, "a", 0);
        merge.push("sparse", 500, "b", 0);
        merge.caught_up(&"sparse", 0);
        assert_eq!(merge.watermark(50), Watermark::EventTime(490));
        // Past caught_up_idle_ms (100), long before the idle timeout (1,000).
        assert_eq!(merge.watermark(150), Watermark::EventTime(990));
        // A new event makes it an ordinary active input again.
        merge.push("sparse", 600, "c", 150);
        assert_eq!(merge.watermark(300), Watermark::EventTime(590));
    }

    #[test]
    fn events_behind_the_output_are_emitted_late_and_counted() {
        let mut merge = EventTimeMerge::new(config(0));
        merge.push(0, 100, "on time", 0);
        assert_eq!(merge.pop_ready(0).map(|m| m.item), Some("on time"));
        let late = merge.push(1, 50, "late", 0).unwrap();
        assert!(late.late);
        assert_eq!(merge.stats().late, 1);
    }

    #[test]
    fn a_full_buffer_releases_the_oldest_early() {
        let mut merge = EventTimeMerge::new(MergeConfig {
            max_buffered: 2,
            ..config(10)
        });
        merge.register("stalled", 0);
        for time in [5, 3, 4] {
            merge.push("racing", time, time, 0);
        }
        assert_eq!(merge.pop_ready(0).map(|m| m.item), Some(3));
        assert!(merge.pop_ready(0).is_none());
        assert_eq!(merge.stats().forced, 1);
    }

    proptest! {
        /// Random interleavings of inputs whose events are disordered by up to `jitter`:
        /// nothing is lost or duplicated, the non-late output is ordered, and an event is
        /// late exactly when something newer was emitted before it.
        #[test]
        fn merge_orders_and_never_loses(
            streams in prop::collection::vec(prop::collection::vec((0i64..10_000, 0i64..400), 0..60), 1..5),
            order in prop::collection::vec(0usize..5, 0..300),
            bound in 0i64..500,
            max_buffered in 1usize..200,
        ) {
            let mut merge = EventTimeMerge::new(MergeConfig { max_out_of_orderness_ms: bound, idle_timeout_ms: 50, caught_up_idle_ms: 10, max_buffered, max_drift_ms: 0 });
            // Each stream: increasing base times with jitter subtracted.
            let mut pending: Vec<Vec<(i64, u32)>> = Vec::new();
            let mut id = 0u32;
            for stream in &streams {
                let mut base = 0;
                let mut events = Vec::new();
                for (step, jitter) in stream {
                    base += step;
                    events.push((base - jitter, id));
                    id += 1;
                }
                events.reverse();
                pending.push(events);
            }
            let mut out = Vec::new();
            let mut now = 0;
            let mut picks = order.into_iter().chain(std::iter::repeat_n(0, 10_000));
            while pending.iter().any(|p| !p.is_empty()) {
                let choice = picks.next().unwrap_or(0) % pending.len();
                let index = (0..pending.len()).map(|i| (choice + i) % pending.len()).find(|&i| !pending[i].is_empty()).unwrap();
                let (time, id) = pending[index].pop().unwrap();
                now += 1;
                if let Some(late) = merge.push(index, time, id, now) { out.push(late); }
                while let Some(ready) = merge.pop_ready(now) { out.push(ready); }
            }
            now += 1_000;
            while let Some(ready) = merge.pop_ready(now) { out.push(ready); }
            out.extend(merge.drain());

            let mut ids: Vec<u32> = out.iter().map(|m| m.item).collect();
            ids.sort_unstable();
            prop_assert_eq!(ids, (0..id).collect::<Vec<_>>());
            let mut newest = i64::MIN;
            for merged in &out {
                prop_assert_eq!(merged.late, merged.event_time_ms < newest);
                if !merged.late { newest = newest.max(merged.event_time_ms); }
            }
            prop_assert_eq!(merge.stats().late as usize, out.iter().filter(|m| m.late).count());
        }

        /// A reader that skips the inputs `is_ahead` names never sees a late event or a
        /// forced release when every input is disordered by no more than the bound, however
        /// far apart the inputs' event times are.
        #[test]
        fn aligned_reading_merges_without_late_events(
            streams in prop::collection::vec(prop::collection::vec((0i64..10_000, 0i64..100), 1..60), 1..5),
            offsets in prop::collection::vec(0i64..1_000_000, 5),
            picks in prop::collection::vec(0usize..5, 300),
            drift in 0i64..5_000,
        ) {
            let bound = 100;
            let mut merge = EventTimeMerge::new(MergeConfig { max_out_of_orderness_ms: bound, idle_timeout_ms: i64::MAX / 2, caught_up_idle_ms: i64::MAX / 2, max_buffered: usize::MAX, max_drift_ms: drift });
            let mut pending: Vec<Vec<i64>> = streams.iter().zip(&offsets).map(|(stream, offset)| {
                let mut base = *offset;
                let mut events: Vec<i64> = stream.iter().map(|(step, jitter)| { base += step; base - jitter }).collect();
                events.reverse();
                events
            }).collect();
            for input in 0..pending.len() { merge.register(input, 0); }
            let total: usize = pending.iter().map(Vec::len).sum();
            let mut out = Vec::new();
            let mut picks = picks.into_iter().cycle();
            for now in 0.. {
                let readable: Vec<usize> = (0..pending.len()).filter(|i| !pending[*i].is_empty() && !merge.is_ahead(i, now)).collect();
                let Some(&input) = readable.get(picks.next().unwrap_or(0) % readable.len().max(1)) else { break };
                let time = pending[input].pop().unwrap();
                if let Some(late) = merge.push(input, time, time, now) { out.push(late); }
                if pending[input].is_empty() { merge.remove(&input); }
                while let Some(ready) = merge.pop_ready(now) { out.push(ready); }
            }
            out.extend(merge.drain());
            prop_assert_eq!(out.len(), total);
            prop_assert_eq!(merge.stats(), MergeStats::default());
            prop_assert!(out.windows(2).all(|pair| pair[0].event_time_ms <= pair[1].event_time_ms));
        }
    }
}
