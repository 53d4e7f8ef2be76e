//! Drawing a fixed number of items in proportion to their weights, by quota rather than
//! independently: `generate`'s users and hours ([`crate::commands::generate`]), and the
//! real logs `eval generation` draws the same way to tell what a perfect model would
//! score at that count.

use rand::Rng;
use rand::seq::SliceRandom;

/// `count` indices into `weights`, each as often as its share of the total says, to
/// within one (systematic sampling: `count` evenly spaced points from a random offset
/// along the weights laid end to end), in a random order. Empty where every weight is 0.
pub fn by_quota(weights: &[u32], count: usize, rng: &mut impl Rng) -> Vec<usize> {
    let total: u64 = weights.iter().copied().map(u64::from).sum();
    if total == 0 || count == 0 {
        return Vec::new();
    }
    let step = total as f64 / count as f64;
    let offset = rng.random::<f64>() * step;
    let mut drawn = Vec::with_capacity(count);
    let (mut index, mut end) = (0, f64::from(weights[0]));
    for point in (0..count).map(|i| offset + i as f64 * step) {
        while (point >= end || weights[index] == 0) && index + 1 < weights.len() {
            index += 1;
            end += f64::from(weights[index]);
        }
        drawn.push(index);
    }
    drawn.shuffle(rng);
    drawn
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn quotas_hold_each_share_to_within_one_in_a_random_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let weights = [50, 0, 30, 15, 5, 1];
        for count in [1, 7, 100, 1024] {
            let drawn = by_quota(&weights, count, &mut rng);
            assert_eq!(drawn.len(), count);
            for (index, &weight) in weights.iter().enumerate() {
                let times = drawn.iter().filter(|&&d| d == index).count() as f64;
                let share = count as f64 * f64::from(weight) / 101.0;
                assert!(
                    (times - share).abs() < 1.0,
                    "index {index} drawn {times} times of {count}, its share {share:.2}"
                );
            }
        }
        // Shuffled: 100 draws do not come out as 50 zeros first.
        let drawn = by_quota(&weights, 100, &mut rng);
        assert!(drawn[..50].iter().any(|&d| d != 0), "{drawn:?}");
        assert!(by_quota(&[0, 0], 5, &mut rng).is_empty());
        assert!(by_quota(&weights, 0, &mut rng).is_empty());
    }
}
