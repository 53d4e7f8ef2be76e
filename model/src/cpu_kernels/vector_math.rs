//! Branch-free `exp` and `erf` for f32 that the compiler vectorises. The kernels call
//! them from functions compiled for AVX-512 and AVX2 besides the baseline
//! (`multiversion`), chosen at run time, so one binary serves every x86-64 host.

/// Lanes the kernels' loops are written in (one AVX-512 register of f32), so the
/// compiler keeps them in vector registers.
pub(super) const LANES: usize = 16;

/// `e^x` for `x <= 0` to about 2 ulp, branch-free so it vectorises: `x = n·ln 2 + r`
/// with `|r| <= ln 2 / 2`, Cephes' degree-6 polynomial for `e^r`, and `2^n` built from
/// its exponent bits. Below -87 (where `e^x` leaves f32's normal range) it returns about
/// `e^-87`, which a softmax sum cannot tell from 0.
#[inline(always)]
pub(super) fn exp_of_non_positive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN_2_HIGH: f32 = 0.693_359_4;
    const LN_2_LOW: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer in two instructions.
    const ROUND: f32 = 12_582_912.0;
    let x = x.max(-87.0);
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
    // `shifted`'s low bits hold n itself: its bits are ROUND's plus n. Integer steps
    // only, since a float-to-int cast would not vectorise.
    let two_to_n = f32::from_bits(shifted.to_bits().wrapping_sub(ROUND.to_bits() - 127) << 23);
    polynomial * two_to_n
}

/// `erf(x)` to within 5e-7 (Abramowitz and Stegun 7.1.26, 1.5e-7 in exact arithmetic;
/// PyTorch's vectorised `erf` on the CPU too), branch-free so it vectorises.
#[inline(always)]
pub(super) fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152,
        1.061_405_4,
    ];
    let magnitude = x.abs();
    let t = 1.0 / (1.0 + P * magnitude);
    let polynomial = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    let value = 1.0 - polynomial * exp_of_non_positive(-magnitude * magnitude);
    value.copysign(x)
}

/// erf in f64 from its Taylor series (|x| < 3) and continued fraction (beyond): an
/// independent reference, exact to well below f32's precision.
#[cfg(test)]
pub(super) fn reference_erf(x: f64) -> f64 {
    let a = x.abs();
    let value = if a < 3.0 {
        let (mut term, mut sum, mut n) = (a, a, 0.0);
        while term.abs() > 1e-17 {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let mut fraction = 0.0;
        for k in (1..60).rev() {
            fraction = (k as f64 / 2.0) / (a + fraction);
        }
        1.0 - (-a * a).exp() / (std::f64::consts::PI.sqrt() * (a + fraction))
    };
    value.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_softmax_range() {
        let mut worst = 0.0f64;
        for i in 0..=100_000 {
            let x = -87.0 * f64::from(i) / 100_000.0;
            let ours = f64::from(exp_of_non_positive(x as f32));
            let exact = (x as f32 as f64).exp();
            worst = worst.max((ours - exact).abs() / exact);
        }
        assert!(worst < 5e-7, "largest relative error {worst}");
        assert_eq!(exp_of_non_positive(0.0), 1.0);
        assert!(exp_of_non_positive(-1e30) < 1e-37);
        assert!(exp_of_non_positive(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn erf_is_within_its_bound_of_libm() {
        let mut worst = 0.0f64;
        for i in -100_000..=100_000 {
            let x = 6.0 * i as f32 / 100_000.0;
            worst = worst.max((f64::from(erf(x)) - reference_erf(f64::from(x))).abs());
        }
        assert!(worst < 6e-7, "largest absolute error {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(20.0), 1.0);
        assert_eq!(erf(-20.0), -1.0);
    }
}
