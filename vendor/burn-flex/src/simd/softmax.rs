//! A vectorised `e^x` for f32, and the other per-element steps of a softmax row (cyberlm's
//! patch: upstream calls the C library's scalar `expf` once an element, which was a tenth
//! of cyberlm's CPU training time, in the attention backward's recomputed probabilities
//! and the loss's softmax, and scales and masks attention's rows one branchy element at a
//! time).
//!
//! Branch-free so the compiler vectorises it, compiled for AVX-512 and AVX2 besides the
//! baseline (`multiversion`) and chosen at run time. `x = n·ln 2 + r` with
//! `|r| <= ln 2 / 2`, Cephes' degree-6 polynomial for `e^r` (about 1 ulp), and `2^n` as
//! the product of two powers of two built from exponent bits, so results below f32's
//! normal range round to subnormals and those above it to infinity, as `expf`'s do. NaN
//! stays NaN, `e^-inf` is 0, `e^inf` is infinity.

use multiversion::multiversion;

/// Lanes the loops are written in (one AVX-512 register of f32).
const LANES: usize = 16;

#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = core::f32::consts::LOG2_E;
    const LN_2_HIGH: f32 = 0.693_359_4;
    const LN_2_LOW: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer in two instructions.
    const ROUND: f32 = 12_582_912.0;
    // e^-104 is below half the smallest subnormal, e^89 above f32's largest value.
    let x = x.clamp(-104.0, 89.0);
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN_2_HIGH - n * LN_2_LOW;
    let polynomial =
        (((((1.987_569_2e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
            + 1.666_666_5e-1)
            * r
            + 0.5)
            * r
            * r
            + r
            + 1.0;
    // `shifted`'s bits are ROUND's plus n (integer steps only: a float-to-int cast would
    // not vectorise). n is in [-150, 129]; each half of it is a normal power of two.
    let n = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let half = n >> 1;
    // Wrapping: a NaN's bits make no sense of n, and its result is NaN whatever they are.
    let power = |k: i32| f32::from_bits((k.wrapping_add(127) as u32) << 23);
    polynomial * power(half) * power(n.wrapping_sub(half))
}

/// `x = e^x` for every element.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub fn exp_inplace_f32(values: &mut [f32]) {
    for x in values.iter_mut() {
        *x = exp(*x);
    }
}

/// `x = e^(x - shift)` for every element, returning their sum: a softmax row's
/// numerators and denominator.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub fn exp_shifted_sum_f32(values: &mut [f32], shift: f32) -> f32 {
    let mut sums = [0.0f32; LANES];
    let mut chunks = values.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (x, sum) in chunk.iter_mut().zip(sums.iter_mut()) {
            *x = exp(*x - shift);
            *sum += *x;
        }
    }
    let mut total: f32 = sums.iter().sum();
    for x in chunks.into_remainder() {
        *x = exp(*x - shift);
        total += *x;
    }
    total
}

/// `x = x · scale`, or -inf where `hidden` is non-zero, returning the largest: a softmax
/// row's scaled and masked scores and their maximum.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub fn scale_mask_max_f32(values: &mut [f32], hidden: Option<&[u8]>, scale: f32) -> f32 {
    #[inline(always)]
    fn step(x: &mut f32, hide: bool, scale: f32, max: &mut f32) {
        *x = if hide { f32::NEG_INFINITY } else { *x * scale };
        *max = max.max(*x);
    }
    let mut maxima = [f32::NEG_INFINITY; LANES];
    let mut chunks = values.chunks_exact_mut(LANES);
    match hidden {
        Some(hidden) => {
            let mut hidden_chunks = hidden.chunks_exact(LANES);
            for (chunk, hide) in (&mut chunks).zip(&mut hidden_chunks) {
                for ((x, &hide), max) in chunk.iter_mut().zip(hide).zip(maxima.iter_mut()) {
                    step(x, hide != 0, scale, max);
                }
            }
            let tail = chunks.into_remainder();
            for (x, &hide) in tail.iter_mut().zip(hidden_chunks.remainder()) {
                step(x, hide != 0, scale, &mut maxima[0]);
            }
        }
        None => {
            for chunk in &mut chunks {
                for (x, max) in chunk.iter_mut().zip(maxima.iter_mut()) {
                    step(x, false, scale, max);
                }
            }
            for x in chunks.into_remainder() {
                step(x, false, scale, &mut maxima[0]);
            }
        }
    }
    maxima.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_expf_across_the_range() {
        let mut worst = 0.0f64;
        let mut x = -110.0f32;
        while x < 90.0 {
            let exact = (x as f64).exp();
            let got = exp(x) as f64;
            if exact > f32::MIN_POSITIVE as f64 && exact < f32::MAX as f64 {
                worst = worst.max(((got - exact) / exact).abs());
            }
            x += 0.013;
        }
        assert!(worst < 3e-7, "{worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
    }
}
