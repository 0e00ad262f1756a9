//! The true-peak interpolator (ITU-R BS.1770-4 Annex 2) shared by the meter
//! (`analysis::truepeak`) and the limiter (`dsp::limiter`):
//! oversample ×4 below 96 kHz, ×2 below 192 kHz, ×1 above, with a polyphase
//! FIR interpolator.
//!
//! The interpolator is a Kaiser-windowed sinc (β = 5.65) with 48 taps per
//! phase, cut off exactly at the original Nyquist frequency so phase 0 passes
//! the samples through unchanged (only the other phases are computed). It is
//! much longer than the 12-tap-per-phase example filter in BS.1770's annex:
//! on dense, band-limited 44.1 kHz masters, 16 taps per phase under-read the
//! true peak by up to 0.14 dB against a 128-tap reference; 48 taps agree with
//! it to 0.003 dB.

use super::bessel_i0;

/// Taps per polyphase branch.
pub const TAPS_PER_PHASE: usize = 48;
const KAISER_BETA: f64 = 5.65;

/// Oversampling factor BS.1770 asks for at `rate` Hz.
pub fn oversampling_for(rate: u32) -> usize {
    if rate < 96_000 {
        4
    } else if rate < 192_000 {
        2
    } else {
        1
    }
}

/// Polyphase branches (phases 1..L) of the interpolator for factor `l`,
/// each `TAPS_PER_PHASE` long, in the order they multiply the history
/// (oldest sample first).
pub fn design(l: usize) -> Vec<[f32; TAPS_PER_PHASE]> {
    let n = l * TAPS_PER_PHASE;
    let center = (TAPS_PER_PHASE / 2 * l) as f64;
    let half = n as f64 / 2.0;
    let i0b = bessel_i0(KAISER_BETA);
    let proto: Vec<f64> = (0..n)
        .map(|i| {
            let t = (i as f64 - center) / l as f64;
            let sinc = if t == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t)
            };
            let r = (i as f64 - center) / half;
            sinc * bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / i0b
        })
        .collect();
    (1..l)
        .map(|p| {
            let mut taps = [0f32; TAPS_PER_PHASE];
            // Output at time (m + p/l) uses x[m - k] with prototype index p + k*l.
            // Reverse so index 0 multiplies the oldest sample of the window.
            for (k, t) in taps.iter_mut().enumerate() {
                let idx = p + (TAPS_PER_PHASE - 1 - k) * l;
                *t = proto.get(idx).copied().unwrap_or(0.0) as f32;
            }
            taps
        })
        .collect()
}

/// For each window `buf[i..i + TAPS_PER_PHASE]`, the largest absolute value
/// among its phase-0 sample (`buf[i + TAPS_PER_PHASE/2 − 1]`) and the
/// interpolated points of `phases`, written to `out[i]`
/// (`out.len() == buf.len() + 1 − TAPS_PER_PHASE`). Vectorized across
/// outputs; uses AVX2/FMA when the CPU has them.
pub fn interp_peaks(buf: &[f32], phases: &[[f32; TAPS_PER_PHASE]], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features this function is compiled for.
            unsafe { interp_peaks_avx2(buf, phases, out) };
            return;
        }
    }
    interp_peaks_impl::<false>(buf, phases, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn interp_peaks_avx2(buf: &[f32], phases: &[[f32; TAPS_PER_PHASE]], out: &mut [f32]) {
    interp_peaks_impl::<true>(buf, phases, out);
}

/// With `FMA`, each tap is one fused multiply-add (half the operations,
/// one rounding instead of two); without, a multiply and an add.
#[inline(always)]
fn interp_peaks_impl<const FMA: bool>(
    buf: &[f32],
    phases: &[[f32; TAPS_PER_PHASE]],
    out: &mut [f32],
) {
    let n = (buf.len() + 1)
        .saturating_sub(TAPS_PER_PHASE)
        .min(out.len());
    let mid = TAPS_PER_PHASE / 2 - 1;
    for (o, s) in out[..n].iter_mut().zip(&buf[mid..mid + n]) {
        *o = s.abs();
    }
    // The phases side by side (×4: three, ×2: one), so their sums run as
    // independent chains and share the loads; each phase still adds its
    // taps in order, so the result is the same as one phase at a time.
    match phases {
        [a, b, c] => phase_peaks::<3, FMA>(buf, [a, b, c], &mut out[..n]),
        [a] => phase_peaks::<1, FMA>(buf, [a], &mut out[..n]),
        _ => {
            for ph in phases {
                phase_peaks::<1, FMA>(buf, [ph], &mut out[..n]);
            }
        }
    }
}

/// Raise `out[i]` to the largest |interpolated value| of phases `ph` in
/// window `buf[i..i + TAPS_PER_PHASE]`.
#[inline(always)]
fn phase_peaks<const P: usize, const FMA: bool>(
    buf: &[f32],
    ph: [&[f32; TAPS_PER_PHASE]; P],
    out: &mut [f32],
) {
    let mac = |a: f32, h: f32, x: f32| if FMA { h.mul_add(x, a) } else { a + h * x };
    // Sixteen outputs at once: two AVX2 vectors per phase, so six sums
    // are in flight (each waits on its previous tap).
    const LANES: usize = 16;
    let n = out.len();
    let mut i = 0;
    while i + LANES <= n {
        let mut acc = [[0f32; LANES]; P];
        for k in 0..TAPS_PER_PHASE {
            let xs = &buf[i + k..i + k + LANES];
            for (acc, ph) in acc.iter_mut().zip(&ph) {
                let h = ph[k];
                for (a, x) in acc.iter_mut().zip(xs) {
                    *a = mac(*a, h, *x);
                }
            }
        }
        for acc in &acc {
            for (o, a) in out[i..i + LANES].iter_mut().zip(acc) {
                *o = o.max(a.abs());
            }
        }
        i += LANES;
    }
    while i < n {
        for ph in &ph {
            let acc = ph
                .iter()
                .zip(&buf[i..i + TAPS_PER_PHASE])
                .fold(0.0f32, |a, (h, x)| mac(a, *h, *x));
            out[i] = out[i].max(acc.abs());
        }
        i += 1;
    }
}

/// The largest absolute value in `x` (0 for none; NaN ignored), in
/// independent lanes so it vectorizes.
#[inline]
pub fn abs_max(x: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, v) in lanes.iter_mut().zip(c) {
            let a = v.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    let mut m = 0f32;
    for v in chunks.remainder().iter().map(|v| v.abs()).chain(lanes) {
        m = if v > m { v } else { m };
    }
    m
}

/// The largest L1 norm of the phases (at least 1): no interpolated value
/// exceeds the window's largest absolute sample times this (plus a hair for
/// f32 rounding).
pub fn l1_bound(phases: &[[f32; TAPS_PER_PHASE]]) -> f32 {
    phases
        .iter()
        .map(|p| p.iter().map(|v| v.abs()).sum::<f32>())
        .fold(1.0f32, f32::max)
        * 1.0001
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused taps (used where the CPU has FMA) and the plain ones read
    /// the same peaks to f32 rounding, and the phases come out symmetric as
    /// the prototype is (phase 3 is phase 1 reversed, phase 2 its own
    /// mirror).
    #[test]
    fn fused_and_plain_taps_agree() {
        let phases = design(4);
        for k in 0..TAPS_PER_PHASE {
            assert_eq!(phases[2][k], phases[0][TAPS_PER_PHASE - 1 - k]);
            assert_eq!(phases[1][k], phases[1][TAPS_PER_PHASE - 1 - k]);
        }
        let buf: Vec<f32> = (0..2000)
            .map(|i| (i as f32 * 0.7).sin() * 0.6 + (i as f32 * 2.9).cos() * 0.3)
            .collect();
        let n = buf.len() + 1 - TAPS_PER_PHASE;
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        interp_peaks_impl::<true>(&buf, &phases, &mut a);
        interp_peaks_impl::<false>(&buf, &phases, &mut b);
        let mut worst = 0.0f32;
        for (x, y) in a.iter().zip(&b) {
            worst = worst.max((x - y).abs());
        }
        assert!(worst < 1e-6, "{worst}");
        let peak = a.iter().fold(0.0f32, |m, v| m.max(*v));
        assert!(peak > 0.8, "{peak}");
    }
}
