//! Natural logarithm and exponential over slices, written so the compiler
//! can run several values at once (no table lookups, no branches in the
//! loop; AVX2 where the CPU has it): the compressor's level detector and
//! gain take a logarithm and an exponential per sample, which the C
//! library computes one at a time.
//!
//! The methods are fdlibm's (Sun Microsystems' freely distributable libm,
//! the basis of most C libraries' `log` and `exp`): `ln` reduces to a
//! mantissa in [√2/2, √2) and evaluates a minimax polynomial in
//! s = f/(2 + f); `exp` reduces by k·ln 2 (rounded to nearest) and
//! evaluates a rational form of a minimax polynomial. Both are within
//! 1 ulp of the exact result in fdlibm; here the integer steps are done
//! in floating point so that they vectorize, which is exact for the
//! values involved. The tests check them against the standard library to
//! a few parts in 10¹⁶ over their whole range.

// fdlibm's constants, written as it publishes them.
#![allow(clippy::excessive_precision)]

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const LG1: f64 = 6.666_666_666_666_735_130e-1;
const LG2: f64 = 3.999_999_999_940_941_908e-1;
const LG3: f64 = 2.857_142_874_366_239_149e-1;
const LG4: f64 = 2.222_219_843_214_978_396e-1;
const LG5: f64 = 1.818_357_216_161_805_012e-1;
const LG6: f64 = 1.531_383_769_920_937_332e-1;
const LG7: f64 = 1.479_819_860_511_658_591e-1;
const P1: f64 = 1.666_666_666_666_660_190_37e-1;
const P2: f64 = -2.777_777_777_701_559_338_42e-3;
const P3: f64 = 6.613_756_321_437_934_361_17e-5;
const P4: f64 = -1.653_390_220_546_525_153_90e-6;
const P5: f64 = 4.138_136_797_057_238_460_39e-8;
/// 2⁵²: adding it to a non-negative integer below 2⁵² puts the integer in
/// the low mantissa bits.
const TWO52: f64 = 4_503_599_627_370_496.0;
/// 1.5 · 2⁵²: adding and subtracting it rounds to the nearest integer.
const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// ln x for a positive, finite, normal `x` (anything else: see [`ln_slice`]).
#[inline(always)]
fn ln_kernel(x: f64) -> f64 {
    let bits = x.to_bits();
    // The biased exponent as a float: 2⁵² + E − (2⁵² + 1023).
    let mut k = f64::from_bits(TWO52.to_bits() | (bits >> 52)) - (TWO52 + 1023.0);
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > std::f64::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    k = if big { k + 1.0 } else { k };
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// eˣ for `x` in [−700, 700] (clamped there; see [`exp_slice`]).
#[inline(always)]
fn exp_kernel(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
    let k = (x * std::f64::consts::LOG2_E + ROUNDER) - ROUNDER;
    let hi = x - k * LN2_HI;
    let lo = k * LN2_LO;
    let r = hi - lo;
    let t = r * r;
    let c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    // 2^k from its biased exponent (1 ≤ k + 1023 ≤ 2046 here).
    let scale = f64::from_bits(((k + 1023.0 + TWO52).to_bits() & 0x7ff) << 52);
    y * scale
}

#[inline(always)]
fn ln_impl(x: &mut [f64]) {
    for v in x.iter_mut() {
        *v = ln_kernel(*v);
    }
}

#[inline(always)]
fn exp_impl(x: &mut [f64]) {
    for v in x.iter_mut() {
        *v = exp_kernel(*v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn ln_avx2(x: &mut [f64]) {
    ln_impl(x);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn exp_avx2(x: &mut [f64]) {
    exp_impl(x);
}

/// Replace each value by its natural logarithm. Values that are not
/// positive, finite and normal take the standard library's `ln` (so zero
/// gives −∞ and negatives NaN, as there).
pub fn ln_slice(x: &mut [f64]) {
    // Positive, finite and normal is [MIN_POSITIVE, MAX] (NaN fails both
    // comparisons); checked without stopping early, so the check vectorizes.
    let ok = x.iter().fold(true, |ok, v| {
        ok & (*v >= f64::MIN_POSITIVE) & (*v <= f64::MAX)
    });
    if !ok {
        x.iter_mut().for_each(|v| *v = v.ln());
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has the feature the function is compiled for.
            unsafe { ln_avx2(x) };
            return;
        }
    }
    ln_impl(x);
}

/// Replace each value by its exponential. Values outside [−700, 700] (or
/// not finite) take the standard library's `exp`.
pub fn exp_slice(x: &mut [f64]) {
    // NaN fails the comparison; checked without stopping early, so the
    // check vectorizes.
    let ok = x.iter().fold(true, |ok, v| ok & (v.abs() <= 700.0));
    if !ok {
        x.iter_mut().for_each(|v| *v = v.exp());
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has the feature the function is compiled for.
            unsafe { exp_avx2(x) };
            return;
        }
    }
    exp_impl(x);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative difference in units of 2⁻⁵² (about one ulp).
    fn ulps(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs() / f64::EPSILON
    }

    #[test]
    fn ln_agrees_with_the_standard_library() {
        let mut worst = 0.0f64;
        let mut x = 1e-300f64;
        let mut xs = Vec::new();
        while x < 1e300 {
            xs.push(x);
            x *= 1.000_37;
        }
        // Near 1, where the logarithm is small and relative errors show.
        xs.extend((1..20_000).map(|i| 1.0 + (i as f64 - 10_000.0) * 1e-5));
        let mut got = xs.clone();
        ln_slice(&mut got);
        for (g, x) in got.iter().zip(&xs) {
            let want = x.ln();
            if want.abs() > 1e-3 {
                worst = worst.max(ulps(*g, want));
            } else {
                assert!((g - want).abs() <= 4e-19, "ln {x}: {g} vs {want}");
            }
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        // The odd values behave as the standard library's.
        let mut odd = [0.0, -1.0, f64::INFINITY, 5e-324, 2.0];
        ln_slice(&mut odd);
        assert_eq!(odd[0], f64::NEG_INFINITY);
        assert!(odd[1].is_nan());
        assert_eq!(odd[2], f64::INFINITY);
        assert_eq!(odd[3], 5e-324f64.ln());
        assert!(ulps(odd[4], 2f64.ln()) <= 1.0);
    }

    #[test]
    fn exp_agrees_with_the_standard_library() {
        let mut worst = 0.0f64;
        let xs: Vec<f64> = (0..2_000_001).map(|i| -700.0 + i as f64 * 0.0007).collect();
        let mut got = xs.clone();
        exp_slice(&mut got);
        for (g, x) in got.iter().zip(&xs) {
            worst = worst.max(ulps(*g, x.exp()));
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        let mut odd = [-800.0, f64::NAN, 0.0, f64::NEG_INFINITY];
        exp_slice(&mut odd);
        assert_eq!(odd[0], (-800f64).exp());
        assert!(odd[1].is_nan());
        assert_eq!(odd[2], 1.0);
        assert_eq!(odd[3], 0.0);
    }
}
