//! Which offset of a partition may be committed.
//!
//! The merge reorders events, so verdicts for a partition finish out of offset order.
//! An offset is safe to commit only when every earlier offset of its partition has its
//! verdict (alert produced, or "no alert"); committing later would lose the logs in
//! between if the process died. This tracker answers that question.

use std::collections::{BTreeMap, BTreeSet};

/// In-flight offsets per partition.
#[derive(Debug, Default)]
pub struct OffsetTracker<P: Ord> {
    pending: BTreeMap<P, BTreeSet<i64>>,
    highest: BTreeMap<P, i64>,
}

impl<P: Ord + Clone> OffsetTracker<P> {
    /// An empty tracker.
    pub fn new() -> Self {
        OffsetTracker {
            pending: BTreeMap::new(),
            highest: BTreeMap::new(),
        }
    }

    /// A message at `offset` was read and awaits its verdict.
    pub fn started(&mut self, partition: P, offset: i64) {
        self.pending
            .entry(partition.clone())
            .or_default()
            .insert(offset);
        let highest = self.highest.entry(partition).or_insert(offset);
        *highest = (*highest).max(offset);
    }

    /// The message at `offset` has its verdict.
    pub fn finished(&mut self, partition: &P, offset: i64) {
        if let Some(pending) = self.pending.get_mut(partition) {
            pending.remove(&offset);
        }
    }

    /// The offset to commit for `partition` (Kafka's "next offset to read"): the oldest
    /// message still waiting, or one past the newest when none waits.
    pub fn committable(&self, partition: &P) -> Option<i64> {
        match self
            .pending
            .get(partition)
            .and_then(|pending| pending.first())
        {
            Some(oldest) => Some(*oldest),
            None => self.highest.get(partition).map(|highest| highest + 1),
        }
    }

    /// Messages still waiting, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.pending.values().map(BTreeSet::len).sum()
    }

    /// Forgets a partition (revoked).
    pub fn forget(&mut self, partition: &P) {
        self.pending.remove(partition);
        self.highest.remove(partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_up_to_the_oldest_unfinished_offset() {
        let mut tracker = OffsetTracker::new();
        assert_eq!(tracker.committable(&0), None);
        for offset in 10..15 {
            tracker.started(0, offset);
        }
        tracker.finished(&0, 12);
        tracker.finished(&0, 11);
        assert_eq!(tracker.committable(&0), Some(10));
        tracker.finished(&0, 10);
        assert_eq!(tracker.committable(&0), Some(13));
        tracker.finished(&0, 13);
        tracker.finished(&0, 14);
        assert_eq!(tracker.committable(&0), Some(15));
        assert_eq!(tracker.in_flight(), 0);
    }
}
