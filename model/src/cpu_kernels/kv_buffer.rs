//! The keys and values decoding attends over, held on the host and appended in place.
//! A cache of burn tensors is concatenated anew at every step, which copies every
//! position it holds: `perf` put a third of generation's time in that copy.

/// Every head's keys and values, each `[heads, capacity, head_width]`, of which the first
/// `seen` positions per head are filled.
#[derive(Debug, Clone)]
pub struct KvBuffer {
    keys: Vec<f32>,
    values: Vec<f32>,
    heads: usize,
    head_width: usize,
    capacity: usize,
    seen: usize,
}

/// Positions a buffer first makes room for.
const FIRST_CAPACITY: usize = 64;

impl KvBuffer {
    /// An empty buffer for `heads` independent heads (batch rows times heads).
    pub fn new(heads: usize, head_width: usize) -> Self {
        KvBuffer {
            keys: Vec::new(),
            values: Vec::new(),
            heads,
            head_width,
            capacity: 0,
            seen: 0,
        }
    }

    /// Appends `new` positions of every head, `keys` and `values` given as
    /// `[heads, new, head_width]`. Room doubles when it runs out, so a sequence of `n`
    /// positions costs `O(n)` copying in all, not `O(n²)`.
    pub fn append(&mut self, keys: &[f32], values: &[f32], new: usize) {
        let d = self.head_width;
        assert_eq!(keys.len(), self.heads * new * d, "keys to append");
        assert_eq!(values.len(), self.heads * new * d, "values to append");
        if self.seen + new > self.capacity {
            let capacity = (self.seen + new).max(2 * self.capacity).max(FIRST_CAPACITY);
            self.keys = self.respaced(&self.keys, capacity);
            self.values = self.respaced(&self.values, capacity);
            self.capacity = capacity;
        }
        for head in 0..self.heads {
            let to = (head * self.capacity + self.seen) * d
                ..(head * self.capacity + self.seen + new) * d;
            let from = head * new * d..(head + 1) * new * d;
            self.keys[to.clone()].copy_from_slice(&keys[from.clone()]);
            self.values[to].copy_from_slice(&values[from]);
        }
        self.seen += new;
    }

    /// `buffer`'s filled positions laid out with room for `capacity` per head.
    fn respaced(&self, buffer: &[f32], capacity: usize) -> Vec<f32> {
        let d = self.head_width;
        let mut grown = vec![0.0; self.heads * capacity * d];
        for head in 0..self.heads {
            let filled = &buffer[head * self.capacity * d..][..self.seen * d];
            grown[head * capacity * d..][..self.seen * d].copy_from_slice(filled);
        }
        grown
    }

    /// Keys, `[heads, capacity, head_width]`.
    pub fn keys(&self) -> &[f32] {
        &self.keys
    }

    /// Values, `[heads, capacity, head_width]`.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Positions filled per head.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Positions from one head to the next.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Independent heads (batch rows times heads).
    pub fn heads(&self) -> usize {
        self.heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_positions_stay_in_order_per_head_as_room_grows() {
        let (heads, d) = (3, 2);
        let mut buffer = KvBuffer::new(heads, d);
        // Per head, position p holds (head, p) in keys and (head, -p) in values.
        let step = |from: usize, new: usize, sign: f32| -> Vec<f32> {
            (0..heads)
                .flat_map(|head| {
                    (from..from + new).flat_map(move |p| [head as f32, sign * p as f32])
                })
                .collect()
        };
        let mut seen = 0;
        for new in [5, 1, 70, 1, 1, 200] {
            buffer.append(&step(seen, new, 1.0), &step(seen, new, -1.0), new);
            seen += new;
        }
        assert_eq!(buffer.seen(), 278);
        assert!(buffer.capacity() >= 278);
        for head in 0..heads {
            for p in 0..seen {
                let at = (head * buffer.capacity() + p) * d;
                assert_eq!(buffer.keys()[at..at + d], [head as f32, p as f32]);
                assert_eq!(buffer.values()[at..at + d], [head as f32, -(p as f32)]);
            }
        }
    }
}
