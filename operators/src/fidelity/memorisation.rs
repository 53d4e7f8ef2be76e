//! Memorisation: how close each generated log comes to the closest real one.
//!
//! Logs are compared on their behaviour: the compact JSON without volatile fields (a
//! generated `eventID` never matches, which would hide a copied log), cut into tokens
//! (keys and values between JSON punctuation). Three measures, as the seed reports them
//! and one more: exact copies, ROUGE-1 F1 and cosine similarity of token counts to the
//! nearest real log, and the distance to the closest record (1 − cosine), whose
//! distribution for held-out real logs says how close an unseen real log comes anyway.

use std::collections::{HashMap, HashSet};

use schemas::Source;
use serde::Serialize;
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

use super::fields::without_volatile;

/// A log as a bag of tokens: interned token ids with their counts, sorted by id.
#[derive(Debug, Clone)]
struct Bag {
    counts: Vec<(u32, u32)>,
    /// Tokens in all, known to the index or not.
    length: u32,
    /// Euclidean norm of the count vector.
    norm: f64,
}

/// How close one log comes to the real logs of its source.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Nearest {
    /// Identical, volatile fields aside, to a real log.
    pub exact_copy: bool,
    /// The highest ROUGE-1 F1 to any real log.
    pub rouge1: f64,
    /// The highest cosine similarity of token counts to any real log.
    pub cosine: f64,
}

impl Nearest {
    /// Distance to the closest record: 1 − the highest cosine similarity.
    pub fn distance(&self) -> f64 {
        1.0 - self.cosine
    }
}

/// The real logs of one source, ready for nearest-neighbour look-ups.
#[derive(Debug, Default)]
pub struct RealLogIndex {
    vocabulary: HashMap<String, u32>,
    bags: Vec<Bag>,
    copies: HashSet<u64>,
}

impl RealLogIndex {
    /// Indexes the real logs of `source`.
    pub fn build<'a>(source: Source, real: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut index = RealLogIndex::default();
        for log in real {
            let text = behaviour_text(source, log);
            index.copies.insert(xxh3_64(text.as_bytes()));
            let bag = index.learn(&text);
            index.bags.push(bag);
        }
        index
    }

    /// Real logs indexed.
    pub fn len(&self) -> usize {
        self.bags.len()
    }

    /// Whether no real log is indexed.
    pub fn is_empty(&self) -> bool {
        self.bags.is_empty()
    }

    /// The nearest real log to `log` (of the same source) by each measure.
    pub fn nearest(&self, source: Source, log: &Value) -> Nearest {
        let text = behaviour_text(source, log);
        let query = self.query(&text);
        let (mut rouge1, mut cosine) = (0.0f64, 0.0f64);
        for real in &self.bags {
            let (overlap, dot) = overlap_and_dot(&query, real);
            let lengths = f64::from(query.length + real.length);
            if lengths > 0.0 {
                rouge1 = rouge1.max(2.0 * overlap / lengths);
            }
            let norms = query.norm * real.norm;
            if norms > 0.0 {
                cosine = cosine.max(dot / norms);
            }
        }
        Nearest {
            exact_copy: self.copies.contains(&xxh3_64(text.as_bytes())),
            rouge1,
            cosine: cosine.min(1.0),
        }
    }

    /// The bag of `text`'s tokens, giving new tokens ids.
    fn learn(&mut self, text: &str) -> Bag {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for token in tokens(text) {
            let next = self.vocabulary.len() as u32;
            let id = *self.vocabulary.entry(token.to_string()).or_insert(next);
            *counts.entry(id).or_insert(0) += 1;
        }
        Bag::new(counts, &HashMap::new())
    }

    /// The bag of `text`'s tokens as a query: tokens no real log holds match nothing
    /// but still count towards its length and norm.
    fn query(&self, text: &str) -> Bag {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        let mut unknown: HashMap<&str, u32> = HashMap::new();
        for token in tokens(text) {
            match self.vocabulary.get(token) {
                Some(&id) => *counts.entry(id).or_insert(0) += 1,
                None => *unknown.entry(token).or_insert(0) += 1,
            }
        }
        Bag::new(counts, &unknown)
    }
}

impl Bag {
    fn new(counts: HashMap<u32, u32>, unknown: &HashMap<&str, u32>) -> Self {
        let mut counts: Vec<(u32, u32)> = counts.into_iter().collect();
        counts.sort_unstable();
        let all = || {
            counts
                .iter()
                .map(|&(_, c)| c)
                .chain(unknown.values().copied())
        };
        Bag {
            length: all().sum(),
            norm: all().map(|c| f64::from(c).powi(2)).sum::<f64>().sqrt(),
            counts,
        }
    }
}

/// The clipped token overlap (ROUGE-1's numerator) and the dot product of two bags.
fn overlap_and_dot(a: &Bag, b: &Bag) -> (f64, f64) {
    let (mut i, mut j) = (0, 0);
    let (mut overlap, mut dot) = (0u64, 0u64);
    while i < a.counts.len() && j < b.counts.len() {
        let ((id_a, count_a), (id_b, count_b)) = (a.counts[i], b.counts[j]);
        match id_a.cmp(&id_b) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                overlap += u64::from(count_a.min(count_b));
                dot += u64::from(count_a) * u64::from(count_b);
                i += 1;
                j += 1;
            }
        }
    }
    (overlap as f64, dot as f64)
}

/// The compact JSON of `log` without its volatile fields.
fn behaviour_text(source: Source, log: &Value) -> String {
    without_volatile(source, log).to_string()
}

/// Keys and values: the runs of text between JSON punctuation and whitespace.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| matches!(c, '{' | '}' | '[' | ']' | '"' | ',' | ':') || c.is_whitespace())
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn copies_ignore_volatile_fields_and_similarities_are_exact() {
        let real = [
            json!({"eventID": "1", "eventName": "GetObject", "bucket": "a"}),
            json!({"eventID": "2", "eventName": "PutObject", "bucket": "b"}),
        ];
        let index = RealLogIndex::build(Source::CloudTrail, &real);
        assert_eq!(index.len(), 2);

        let copy = index.nearest(
            Source::CloudTrail,
            &json!({"eventID": "9", "eventName": "GetObject", "bucket": "a"}),
        );
        assert!(copy.exact_copy);
        assert!((copy.rouge1 - 1.0).abs() < 1e-12 && (copy.cosine - 1.0).abs() < 1e-12);
        assert!(copy.distance().abs() < 1e-12);

        // Tokens: eventName GetObject bucket c (4) against eventName GetObject bucket a:
        // overlap 3, ROUGE-1 F1 = 2·3/8, cosine = 3/4.
        let near = index.nearest(
            Source::CloudTrail,
            &json!({"eventName": "GetObject", "bucket": "c"}),
        );
        assert!(!near.exact_copy);
        assert!((near.rouge1 - 0.75).abs() < 1e-12, "{}", near.rouge1);
        assert!((near.cosine - 0.75).abs() < 1e-12, "{}", near.cosine);

        let far = index.nearest(Source::CloudTrail, &json!({"x": "y"}));
        assert_eq!((far.rouge1, far.cosine, far.exact_copy), (0.0, 0.0, false));
    }

    #[test]
    fn repeated_tokens_are_clipped_in_rouge_and_weighted_in_cosine() {
        let real = [json!({"a": "a"})]; // tokens: a a
        let index = RealLogIndex::build(Source::Confluence, &real);
        let nearest = index.nearest(Source::Confluence, &json!({"a": "b"})); // a b
        // overlap min(2,1) = 1: F1 = 2/4; cosine = (2·1)/(2·√2).
        assert!((nearest.rouge1 - 0.5).abs() < 1e-12);
        assert!((nearest.cosine - 1.0 / 2f64.sqrt()).abs() < 1e-12);
    }
}
