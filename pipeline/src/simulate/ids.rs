//! Random identifiers in the shapes the sources use, drawn from the simulation's seeded
//! RNG so that a seed always gives the same logs.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A lower-case GUID (`8-4-4-4-12`).
pub fn guid(rng: &mut ChaCha8Rng) -> String {
    let a: u128 = rng.random();
    let hex = format!("{a:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// `len` lower-case hex digits.
pub fn hex(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// `len` upper-case letters and digits, as AWS access key ids and request ids use.
pub fn alnum_upper(rng: &mut ChaCha8Rng, len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}
