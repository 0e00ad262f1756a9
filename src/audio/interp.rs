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

/// The interpolator's polyphase branches (phases 1..L), each
/// `TAPS_PER_PHASE` long in the order they multiply the history (oldest
/// sample first), with their folded form where they have the ×4
/// symmetry (worked out once, here, not per call). Reads as the slice of
/// branches.
#[derive(Debug, Clone)]
pub struct Phases {
    taps: Vec<[f32; TAPS_PER_PHASE]>,
    folded: Option<Folded>,
}

impl Phases {
    /// Branches `taps`, folded if they have the symmetry.
    pub fn new(taps: Vec<[f32; TAPS_PER_PHASE]>) -> Self {
        let folded = match &taps[..] {
            [a, b, c] => Folded::new(a, b, c),
            _ => None,
        };
        Self { taps, folded }
    }
}

impl std::ops::Deref for Phases {
    type Target = [[f32; TAPS_PER_PHASE]];
    fn deref(&self) -> &Self::Target {
        &self.taps
    }
}

/// The interpolator's branches for factor `l` (see [`Phases`]).
pub fn design(l: usize) -> Phases {
    Phases::new(design_taps(l))
}

/// Polyphase branches (phases 1..L) of the interpolator for factor `l`.
fn design_taps(l: usize) -> Vec<[f32; TAPS_PER_PHASE]> {
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
pub fn interp_peaks(buf: &[f32], phases: &Phases, out: &mut [f32]) {
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
unsafe fn interp_peaks_avx2(buf: &[f32], phases: &Phases, out: &mut [f32]) {
    interp_peaks_impl::<true>(buf, phases, out);
}

/// With `FMA`, each tap is one fused multiply-add (half the operations,
/// one rounding instead of two); without, a multiply and an add.
#[inline(always)]
fn interp_peaks_impl<const FMA: bool>(buf: &[f32], phases: &Phases, out: &mut [f32]) {
    let n = (buf.len() + 1)
        .saturating_sub(TAPS_PER_PHASE)
        .min(out.len());
    let mid = TAPS_PER_PHASE / 2 - 1;
    for (o, s) in out[..n].iter_mut().zip(&buf[mid..mid + n]) {
        *o = s.abs();
    }
    // ×4: the three phases folded on their symmetry (half the multiplies,
    // `Folded`). Otherwise the phases side by side (×2: one), so their
    // sums run as independent chains and share the loads; each phase
    // still adds its taps in order, as one phase at a time would.
    if let Some(f) = &phases.folded {
        folded_peaks::<FMA>(buf, f, &mut out[..n]);
        return;
    }
    match &phases.taps[..] {
        [a, b, c] => phase_peaks::<3, FMA>(buf, [a, b, c], &mut out[..n]),
        [a] => phase_peaks::<1, FMA>(buf, [a], &mut out[..n]),
        _ => {
            for ph in phases.iter() {
                phase_peaks::<1, FMA>(buf, [ph], &mut out[..n]);
            }
        }
    }
}

/// Half the taps of a phase.
const HALF: usize = TAPS_PER_PHASE / 2;

/// The ×4 interpolator's three phases folded on their symmetry (phase 3 is
/// phase 1 reversed, phase 2 its own mirror): with the window's ends
/// paired, `u_k = x_k + x_{47−k}` and `v_k = x_k − x_{47−k}`, phase 1 plus
/// phase 3 is `Σ (h1_k + h1_{47−k}) u_k`, phase 1 minus phase 3 is
/// `Σ (h1_k − h1_{47−k}) v_k` and phase 2 is `Σ h2_k u_k` (k < 24). The
/// larger of |phase 1| and |phase 3| is half the sum of those two
/// magnitudes. Half the multiplies of three phases apart.
#[derive(Debug, Clone)]
struct Folded {
    sum: [f32; HALF],
    diff: [f32; HALF],
    mid: [f32; HALF],
}

impl Folded {
    /// The folded taps, or None unless the phases have that symmetry.
    fn new(
        a: &[f32; TAPS_PER_PHASE],
        b: &[f32; TAPS_PER_PHASE],
        c: &[f32; TAPS_PER_PHASE],
    ) -> Option<Self> {
        let mirror = |k: usize| TAPS_PER_PHASE - 1 - k;
        let symmetric = (0..TAPS_PER_PHASE).all(|k| c[k] == a[mirror(k)] && b[k] == b[mirror(k)]);
        symmetric.then(|| Self {
            sum: std::array::from_fn(|k| a[k] + a[mirror(k)]),
            diff: std::array::from_fn(|k| a[k] - a[mirror(k)]),
            mid: std::array::from_fn(|k| b[k]),
        })
    }
}

/// Raise `out[i]` to the largest |interpolated value| of the folded phases
/// `f` in window `buf[i..i + TAPS_PER_PHASE]` (as [`phase_peaks`] does with
/// the three phases, to f32 rounding).
#[inline(always)]
fn folded_peaks<const FMA: bool>(buf: &[f32], f: &Folded, out: &mut [f32]) {
    let mac = |a: f32, h: f32, x: f32| if FMA { h.mul_add(x, a) } else { a + h * x };
    let peak = |s: f32, d: f32, m: f32| (0.5 * (s.abs() + d.abs())).max(m.abs());
    // Sixteen outputs at once: two AVX2 vectors per sum, six sums in flight.
    const LANES: usize = 16;
    let n = out.len();
    let mut i = 0;
    while i + LANES <= n {
        let mut s = [0f32; LANES];
        let mut d = [0f32; LANES];
        let mut m = [0f32; LANES];
        for k in 0..HALF {
            let lo = &buf[i + k..i + k + LANES];
            let j = TAPS_PER_PHASE - 1 - k;
            let hi = &buf[i + j..i + j + LANES];
            for l in 0..LANES {
                let u = lo[l] + hi[l];
                let v = lo[l] - hi[l];
                s[l] = mac(s[l], f.sum[k], u);
                d[l] = mac(d[l], f.diff[k], v);
                m[l] = mac(m[l], f.mid[k], u);
            }
        }
        for (l, o) in out[i..i + LANES].iter_mut().enumerate() {
            *o = o.max(peak(s[l], d[l], m[l]));
        }
        i += LANES;
    }
    while i < n {
        let (mut s, mut d, mut m) = (0f32, 0f32, 0f32);
        for k in 0..HALF {
            let (lo, hi) = (buf[i + k], buf[i + TAPS_PER_PHASE - 1 - k]);
            s = mac(s, f.sum[k], lo + hi);
            d = mac(d, f.diff[k], lo - hi);
            m = mac(m, f.mid[k], lo + hi);
        }
        out[i] = out[i].max(peak(s, d, m));
        i += 1;
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

    /// The folded ×4 interpolator reads the peaks the three phases read
    /// apart (to f32 rounding), in the sixteen-wide body and the tail,
    /// plain and fused; phases without the symmetry are not folded.
    #[test]
    fn folded_phases_read_the_peaks_of_the_three() {
        let phases = design(4);
        let [a, b, c] = [&phases[0], &phases[1], &phases[2]];
        assert!(Folded::new(a, b, c).is_some() && phases.folded.is_some());
        let mut skewed = *c;
        skewed[3] += 1e-3;
        assert!(Folded::new(a, b, &skewed).is_none());
        let mut seed = 0x1234_5678_9abc_def1u64;
        let buf: Vec<f32> = (0..3000)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let noise = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                (i as f32 * 1.9).sin() * 0.5 + noise * 0.4
            })
            .collect();
        // 2953 outputs: whole groups of sixteen and a tail of nine.
        let n = buf.len() + 1 - TAPS_PER_PHASE;
        let mut want = vec![0.0; n];
        let mid = TAPS_PER_PHASE / 2 - 1;
        for (o, s) in want.iter_mut().zip(&buf[mid..]) {
            *o = s.abs();
        }
        phase_peaks::<3, false>(&buf, [a, b, c], &mut want);
        let has_fma = crate::audio::has_fma();
        for fused in [false, true] {
            let mut got = vec![0.0; n];
            if fused {
                if !has_fma {
                    println!("no FMA on this CPU: the fused fold is not tested");
                    continue;
                }
                interp_peaks_impl::<true>(&buf, &phases, &mut got);
            } else {
                interp_peaks_impl::<false>(&buf, &phases, &mut got);
            }
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 1e-6, "fused {fused}: {worst}");
            // Interpolation finds points above the samples.
            let over = got
                .iter()
                .zip(&buf[mid..])
                .filter(|(g, s)| **g > s.abs())
                .count();
            assert!(over > n / 2, "{over} of {n}");
        }
    }
}
