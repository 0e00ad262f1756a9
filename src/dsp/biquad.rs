//! Second-order sections: coefficient design and a transposed direct form II
//! filter in f64.
//!
//! EQ bands use **magnitude-matched** designs after Martin Vicanek, "Matched
//! Second Order Digital Filters" (2016): poles by the matched-z transform of
//! the analog prototype's poles, numerator chosen so the digital magnitude
//! equals the analog one at DC, at the Nyquist frequency and at the centre
//! frequency. Unlike the bilinear transform this does not cramp bells and
//! shelves near Nyquist, so a 16 kHz bell at 44.1 kHz has the shape it has
//! at 96 kHz. Crossovers use the bilinear transform (RBJ cookbook), whose
//! Linkwitz–Riley low and high outputs sum to an exact all-pass.

use std::f64::consts::PI;

/// Normalized biquad coefficients (`a0 = 1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coeffs {
    /// Feed-forward coefficient for x\[n\].
    pub b0: f64,
    /// Feed-forward coefficient for x\[n−1\].
    pub b1: f64,
    /// Feed-forward coefficient for x\[n−2\].
    pub b2: f64,
    /// Feedback coefficient for y\[n−1\].
    pub a1: f64,
    /// Feedback coefficient for y\[n−2\].
    pub a2: f64,
}

impl Coeffs {
    /// The identity filter.
    pub const IDENTITY: Self = Self {
        b0: 1.0,
        b1: 0.0,
        b2: 0.0,
        a1: 0.0,
        a2: 0.0,
    };

    /// Magnitude response at `freq` Hz for sample rate `rate` Hz (linear).
    pub fn magnitude(&self, freq: f64, rate: f64) -> f64 {
        let w = 2.0 * PI * freq / rate;
        let (c1, s1, c2, s2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
        let nr = self.b0 + self.b1 * c1 + self.b2 * c2;
        let ni = -(self.b1 * s1 + self.b2 * s2);
        let dr = 1.0 + self.a1 * c1 + self.a2 * c2;
        let di = -(self.a1 * s1 + self.a2 * s2);
        ((nr * nr + ni * ni) / (dr * dr + di * di)).sqrt()
    }
}

/// The analog second-order prototypes lathe designs from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prototype {
    /// Low-pass, `q` resonance.
    LowPass,
    /// High-pass.
    HighPass,
    /// Peaking bell with `gain_db` at the centre.
    Bell {
        /// Gain at the centre frequency, dB.
        gain_db: f64,
    },
    /// Low shelf reaching `gain_db` below the corner.
    LowShelf {
        /// Shelf gain, dB.
        gain_db: f64,
    },
    /// High shelf reaching `gain_db` above the corner.
    HighShelf {
        /// Shelf gain, dB.
        gain_db: f64,
    },
}

/// Squared magnitude of the analog prototype at normalized frequency
/// `x = f / f0`.
pub fn analog_mag2(proto: Prototype, q: f64, x: f64) -> f64 {
    let x2 = x * x;
    match proto {
        Prototype::LowPass => 1.0 / ((1.0 - x2).powi(2) + (x / q).powi(2)),
        Prototype::HighPass => x2 * x2 / ((1.0 - x2).powi(2) + (x / q).powi(2)),
        Prototype::Bell { gain_db } => {
            let a = 10f64.powf(gain_db / 40.0);
            ((1.0 - x2).powi(2) + (x * a / q).powi(2))
                / ((1.0 - x2).powi(2) + (x / (a * q)).powi(2))
        }
        Prototype::LowShelf { gain_db } => {
            let a = 10f64.powf(gain_db / 40.0);
            let sa = a.sqrt();
            a * a * ((a - x2).powi(2) + (sa * x / q).powi(2))
                / ((1.0 - a * x2).powi(2) + (sa * x / q).powi(2))
        }
        Prototype::HighShelf { gain_db } => {
            let a = 10f64.powf(gain_db / 40.0);
            let sa = a.sqrt();
            a * a * ((1.0 - a * x2).powi(2) + (sa * x / q).powi(2))
                / ((a - x2).powi(2) + (sa * x / q).powi(2))
        }
    }
}

/// Matched-z poles for an analog pole pair of natural frequency `w0`
/// (rad/sample) and damping `zeta`: returns (a1, a2).
fn matched_poles(w0: f64, zeta: f64) -> (f64, f64) {
    let r = (-zeta * w0).exp();
    let a2 = r * r;
    let a1 = if zeta < 1.0 {
        -2.0 * r * (w0 * (1.0 - zeta * zeta).sqrt()).cos()
    } else {
        -2.0 * r * (w0 * (zeta * zeta - 1.0).sqrt()).cosh()
    };
    (a1, a2)
}

/// Magnitude-matched design (Vicanek 2016) of `proto` at `f0` Hz, quality
/// `q`, for sample rate `rate` Hz. `f0` is limited to 0.49 × `rate`.
pub fn matched(proto: Prototype, f0: f64, q: f64, rate: f64) -> Coeffs {
    let f0 = f0.clamp(1.0, 0.49 * rate);
    let q = q.max(0.05);
    let w0 = 2.0 * PI * f0 / rate;
    // Pole pair of the prototype's denominator.
    let (pw, zeta) = match proto {
        Prototype::LowPass | Prototype::HighPass => (w0, 1.0 / (2.0 * q)),
        Prototype::Bell { gain_db } => {
            let a = 10f64.powf(gain_db / 40.0);
            (w0, 1.0 / (2.0 * q * a))
        }
        Prototype::LowShelf { gain_db } => {
            let a = 10f64.powf(gain_db / 40.0);
            (w0 / a.sqrt(), 1.0 / (2.0 * q))
        }
        Prototype::HighShelf { gain_db } => {
            let a = 10f64.powf(gain_db / 40.0);
            (w0 * a.sqrt(), 1.0 / (2.0 * q))
        }
    };
    let (a1, a2) = matched_poles(pw.min(PI * 0.999), zeta);
    // |D(e^jw)|² = A0 φ0 + A1 φ1 + A2 φ2 with φ1 = sin²(w/2), φ0 = 1 − φ1, φ2 = 4 φ0 φ1.
    let big_a0 = (1.0 + a1 + a2).powi(2);
    let big_a1 = (1.0 - a1 + a2).powi(2);
    let big_a2 = -4.0 * a2;
    let phis = |w: f64| {
        let p1 = (w / 2.0).sin().powi(2);
        let p0 = 1.0 - p1;
        (p0, p1, 4.0 * p0 * p1)
    };
    let den = |w: f64| {
        let (p0, p1, p2) = phis(w);
        big_a0 * p0 + big_a1 * p1 + big_a2 * p2
    };
    // Analog targets at DC, Nyquist and the match point (in x = f/f0).
    let target = |w: f64| analog_mag2(proto, q, (w / w0).max(1e-12));
    // DC and the centre (or 0.9 × Nyquist, if lower) are matched exactly;
    // the remaining degree of freedom is fitted by least squares to the
    // analog magnitude (relative error) on a log grid from f0/8 to Nyquist,
    // which spreads the unavoidable biquad error thinly instead of leaving
    // it all between the last match point and Nyquist.
    let b0_sq = if matches!(proto, Prototype::HighPass) {
        0.0
    } else {
        target(0.0) * den(0.0)
    };
    let wm = w0.min(0.9 * PI);
    let (pm0, pm1, pm2) = phis(wm);
    let rhs_m = target(wm) * den(wm) - b0_sq * pm0;
    // B1 = (rhs_m − B2·pm2)/pm1: residual at w is (rhs − p1·rhs_m/pm1) − B2·(p2 − p1·pm2/pm1).
    let (mut num, mut dnm) = (0.0, 0.0);
    let w_lo = (w0 / 8.0).min(PI / 16.0);
    let steps = 64;
    for k in 0..=steps {
        let w = w_lo * (PI / w_lo).powf(k as f64 / steps as f64);
        let (p0, p1, p2) = phis(w);
        let t = target(w) * den(w);
        if t <= 1e-12 {
            continue;
        }
        let wt = 1.0 / (t * t);
        let y = t - b0_sq * p0 - p1 * rhs_m / pm1;
        let g = p2 - p1 * pm2 / pm1;
        num += wt * g * y;
        dnm += wt * g * g;
    }
    let b2_big = if dnm > 1e-300 { num / dnm } else { 0.0 };
    let b1_sq = (rhs_m - b2_big * pm2) / pm1;
    let sb0 = b0_sq.max(0.0).sqrt();
    let sb1 = b1_sq.max(0.0).sqrt();
    let w = 0.5 * (sb0 + sb1);
    let disc = (w * w + b2_big).max(0.0);
    let b0 = 0.5 * (w + disc.sqrt());
    let b1 = 0.5 * (sb0 - sb1);
    let b2 = if b0.abs() > 1e-300 {
        -b2_big / (4.0 * b0)
    } else {
        0.0
    };
    Coeffs { b0, b1, b2, a1, a2 }
}

/// Bilinear-transform (RBJ cookbook) low-pass or high-pass at `f0` Hz, `q`.
pub fn bilinear_pass(high: bool, f0: f64, q: f64, rate: f64) -> Coeffs {
    let w0 = 2.0 * PI * f0.clamp(1.0, 0.49 * rate) / rate;
    let (s, c) = w0.sin_cos();
    let alpha = s / (2.0 * q);
    let a0 = 1.0 + alpha;
    let (b0, b1, b2) = if high {
        ((1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0)
    } else {
        ((1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0)
    };
    Coeffs {
        b0: b0 / a0,
        b1: b1 / a0,
        b2: b2 / a0,
        a1: -2.0 * c / a0,
        a2: (1.0 - alpha) / a0,
    }
}

/// Bilinear-transform notch at `f0` Hz with quality `q`.
pub fn notch(f0: f64, q: f64, rate: f64) -> Coeffs {
    let w0 = 2.0 * PI * f0.clamp(1.0, 0.49 * rate) / rate;
    let (s, c) = w0.sin_cos();
    let alpha = s / (2.0 * q);
    let a0 = 1.0 + alpha;
    Coeffs {
        b0: 1.0 / a0,
        b1: -2.0 * c / a0,
        b2: 1.0 / a0,
        a1: -2.0 * c / a0,
        a2: (1.0 - alpha) / a0,
    }
}

/// Q values of the second-order sections of an `order`-th order Butterworth
/// filter (order 2, 4 or 8).
pub fn butterworth_qs(order: usize) -> &'static [f64] {
    match order {
        2 => &[std::f64::consts::FRAC_1_SQRT_2],
        4 => &[0.541_196_100_146_197, 1.306_562_964_876_376_8],
        _ => &[
            0.509_795_579_104_159_2,
            0.601_344_886_935_045_3,
            0.899_976_223_136_415_6,
            2.562_915_447_741_506,
        ],
    }
}

/// One biquad with its own state (transposed direct form II, f64).
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    /// Coefficients in use.
    pub c: Coeffs,
    s1: f64,
    s2: f64,
}

impl Default for Biquad {
    fn default() -> Self {
        Self::new(Coeffs::IDENTITY)
    }
}

impl Biquad {
    /// A filter with coefficients `c` and silent state.
    pub fn new(c: Coeffs) -> Self {
        Self {
            c,
            s1: 0.0,
            s2: 0.0,
        }
    }

    /// Filter one sample.
    #[inline]
    pub fn tick(&mut self, x: f64) -> f64 {
        self.tick_with::<false>(x)
    }

    /// Filter one sample; with `FMA`, each multiply and the add after it
    /// are one fused operation (call it so only where the CPU has FMA and
    /// the caller is compiled for it, or it is slow).
    #[inline(always)]
    pub fn tick_with<const FMA: bool>(&mut self, x: f64) -> f64 {
        let c = &self.c;
        if FMA {
            let y = c.b0.mul_add(x, self.s1);
            self.s1 = (-c.a1).mul_add(y, c.b1.mul_add(x, self.s2));
            self.s2 = (-c.a2).mul_add(y, c.b2 * x);
            return y;
        }
        let y = c.b0 * x + self.s1;
        self.s1 = c.b1 * x - c.a1 * y + self.s2;
        self.s2 = c.b2 * x - c.a2 * y;
        y
    }

    /// Flush denormal state to zero (call once per block).
    #[inline]
    pub fn flush_denormals(&mut self) {
        if self.s1.abs() < 1e-25 {
            self.s1 = 0.0;
        }
        if self.s2.abs() < 1e-25 {
            self.s2 = 0.0;
        }
    }

    /// Clear the state.
    pub fn reset(&mut self) {
        self.s1 = 0.0;
        self.s2 = 0.0;
    }

    /// The state `[s1, s2]`.
    pub fn state(&self) -> [f64; 2] {
        [self.s1, self.s2]
    }

    /// Set the state `[s1, s2]`.
    pub fn set_state(&mut self, s: [f64; 2]) {
        [self.s1, self.s2] = s;
    }
}

/// One section of a two-channel cascade ([`cascade_pair`]): a biquad per
/// channel (left or mid, right or side), each channel filtered or passed
/// through unchanged.
#[derive(Debug, Clone, Copy)]
pub struct PairSection {
    /// The two channels' filters (coefficients and state).
    pub filters: [Biquad; 2],
    /// Whether each channel is filtered (a channel not filtered passes
    /// through; its filter's state is then meaningless).
    pub active: [bool; 2],
}

/// Sections run together by the cascade kernel (their states stay in
/// registers).
const GROUP: usize = 4;
/// Frames per pass of a group over the audio (kept in the L1 cache).
const CHUNK: usize = 1024;

/// Run two channels through `sections` in series, both channels side by
/// side and each sample through a group of sections before the next, so
/// the sections' recurrences overlap instead of waiting on each other. The
/// result is bit for bit what [`Biquad::tick`] gives section after section
/// with the samples stored as f32 between sections (the arithmetic and its
/// order per section are the same), except that a −0.0 sample may come out
/// as +0.0.
///
/// Where the CPU has FMA, each section's multiplies and adds are fused
/// (one rounding instead of two, and half the operations): the result then
/// differs from section after section by the f64 rounding, which reaches
/// the f32 samples only where it crosses a rounding boundary (within
/// 1e-6, tested). Where it also has AVX, two sections share each 256-bit
/// vector in a wavefront ([`cascade_wave`]), with the same result bit for
/// bit.
pub fn cascade_pair(sections: &mut [PairSection], left: &mut [f32], right: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { cascade_pair_wave(sections, left, right) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the feature the function is compiled for.
        unsafe { cascade_pair_fma(sections, left, right) };
        return;
    }
    cascade_pair_impl::<false>(sections, left, right);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn cascade_pair_fma(sections: &mut [PairSection], left: &mut [f32], right: &mut [f32]) {
    cascade_pair_impl::<true>(sections, left, right);
}

/// [`cascade_pair`] with fused operations, two sections to a 256-bit
/// vector in a wavefront ([`cascade_wave`]): the same arithmetic as
/// [`cascade_pair_fma`], so the same result bit for bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
fn cascade_pair_wave(sections: &mut [PairSection], left: &mut [f32], right: &mut [f32]) {
    by_chunk_and_group(sections, left, right, |group, l, r| match group {
        [a] => cascade_group::<1, true>([a], l, r),
        [_, _] => cascade_wave::<2>(group, l, r),
        [_, _, _] => cascade_wave::<3>(group, l, r),
        _ => cascade_wave::<4>(group, l, r),
    });
}

/// Run `group` over each chunk of the samples ([`CHUNK`] frames, kept in
/// the L1 cache) for each group of [`GROUP`] sections in turn.
#[inline(always)]
fn by_chunk_and_group(
    sections: &mut [PairSection],
    left: &mut [f32],
    right: &mut [f32],
    mut group: impl FnMut(&mut [PairSection], &mut [f32], &mut [f32]),
) {
    let n = left.len().min(right.len());
    let mut pos = 0;
    while pos < n {
        let k = CHUNK.min(n - pos);
        let (l, r) = (&mut left[pos..pos + k], &mut right[pos..pos + k]);
        for sections in sections.chunks_mut(GROUP) {
            group(sections, l, r);
        }
        pos += k;
    }
}

/// Two to four sections over two channels in a wavefront: each 256-bit
/// vector holds two sections' two channels, and section `k` works on the
/// sample `2k` steps behind the first section's, so that every section's
/// input was made two steps earlier and the sections compute side by side
/// instead of each waiting on the one before. Per lane the arithmetic is
/// [`cascade_group`]'s fused one (f32 between sections), so the result is
/// the same bit for bit; the steps filling and emptying the wavefront
/// leave the sections not yet (or no longer) at work unchanged.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
#[inline]
fn cascade_wave<const COUNT: usize>(
    sections: &mut [PairSection],
    left: &mut [f32],
    right: &mut [f32],
) {
    use std::arch::x86_64::*;
    let count = COUNT.min(sections.len());
    let n = left.len().min(right.len());
    // Missing sections pass their input through.
    let identity = PairSection {
        filters: [Biquad::new(Coeffs::IDENTITY); 2],
        active: [false; 2],
    };
    let sec: [PairSection; 4] =
        std::array::from_fn(|k| if k < count { sections[k] } else { identity });
    // Vector v: lanes [left, right] of section 2v, then of section 2v + 1.
    let quad = |v: usize, f: &dyn Fn(&Biquad) -> f64| {
        let (a, b) = (&sec[2 * v], &sec[2 * v + 1]);
        _mm256_set_pd(
            f(&b.filters[1]),
            f(&b.filters[0]),
            f(&a.filters[1]),
            f(&a.filters[0]),
        )
    };
    let b0: [__m256d; 2] = std::array::from_fn(|v| quad(v, &|b| b.c.b0));
    let b1: [__m256d; 2] = std::array::from_fn(|v| quad(v, &|b| b.c.b1));
    let b2: [__m256d; 2] = std::array::from_fn(|v| quad(v, &|b| b.c.b2));
    let a1: [__m256d; 2] = std::array::from_fn(|v| quad(v, &|b| b.c.a1));
    let a2: [__m256d; 2] = std::array::from_fn(|v| quad(v, &|b| b.c.a2));
    let mut s1: [__m256d; 2] = std::array::from_fn(|v| quad(v, &|b| b.s1));
    let mut s2: [__m256d; 2] = std::array::from_fn(|v| quad(v, &|b| b.s2));
    let lane = |on: bool| if on { f64::from_bits(u64::MAX) } else { 0.0 };
    let active: [__m256d; 2] = std::array::from_fn(|v| {
        let (a, b) = (&sec[2 * v], &sec[2 * v + 1]);
        _mm256_set_pd(
            lane(b.active[1]),
            lane(b.active[0]),
            lane(a.active[1]),
            lane(a.active[0]),
        )
    });
    // The last section's output: its vector and its half.
    let (last_v, last_hi) = ((COUNT - 1) / 2, (COUNT - 1) % 2 == 1);
    let lag = 2 * (COUNT - 1);
    // Each vector's output one and two steps ago.
    let zero = _mm256_setzero_pd();
    let (mut out1, mut out2) = ([zero; 2], [zero; 2]);
    let all_active = sec.iter().take(count).all(|s| s.active == [true, true]);
    // `masked`: filling or emptying the wavefront; `all`: every section
    // filters both channels (no pass-through to blend in).
    let mut step = |t: usize, masked: bool, all: bool| {
        let x = if t < n {
            _mm_set_pd(f64::from(right[t]), f64::from(left[t]))
        } else {
            _mm_setzero_pd()
        };
        let input = [
            _mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(x), _mm256_castpd256_pd128(out2[0])),
            _mm256_permute2f128_pd::<0x21>(out2[0], out2[1]),
        ];
        let mut out = [zero; 2];
        for v in 0..2 {
            let x = input[v];
            let y = _mm256_fmadd_pd(b0[v], x, s1[v]);
            let n1 = _mm256_fnmadd_pd(a1[v], y, _mm256_fmadd_pd(b1[v], x, s2[v]));
            let n2 = _mm256_fnmadd_pd(a2[v], y, _mm256_mul_pd(b2[v], x));
            if masked {
                // Only the sections whose sample this step is in the run.
                let at = |k: usize| t >= 2 * k && t - 2 * k < n;
                let (k0, k1) = (2 * v, 2 * v + 1);
                let m = _mm256_set_pd(lane(at(k1)), lane(at(k1)), lane(at(k0)), lane(at(k0)));
                s1[v] = _mm256_blendv_pd(s1[v], n1, m);
                s2[v] = _mm256_blendv_pd(s2[v], n2, m);
            } else {
                s1[v] = n1;
                s2[v] = n2;
            }
            // Stored as f32 between sections, as section by section.
            let y = _mm256_cvtps_pd(_mm256_cvtpd_ps(y));
            // (Padding sections' outputs are never read.)
            out[v] = if all {
                y
            } else {
                _mm256_blendv_pd(x, y, active[v])
            };
        }
        if !masked || (t >= lag && t - lag < n) {
            let o = out[last_v];
            let h = if last_hi {
                _mm256_extractf128_pd::<1>(o)
            } else {
                _mm256_castpd256_pd128(o)
            };
            left[t - lag] = _mm_cvtsd_f64(h) as f32;
            right[t - lag] = _mm_cvtsd_f64(_mm_unpackhi_pd(h, h)) as f32;
        }
        out2 = out1;
        out1 = out;
    };
    let fill = lag.min(n + lag);
    for t in 0..fill {
        step(t, true, false);
    }
    if all_active {
        for t in lag..n {
            step(t, false, true);
        }
    } else {
        for t in lag..n {
            step(t, false, false);
        }
    }
    for t in lag.max(n)..n + lag {
        step(t, true, false);
    }
    let lanes = |q: __m256d| {
        let (lo, hi) = (_mm256_castpd256_pd128(q), _mm256_extractf128_pd::<1>(q));
        let high = |h: __m128d| _mm_cvtsd_f64(_mm_unpackhi_pd(h, h));
        [_mm_cvtsd_f64(lo), high(lo), _mm_cvtsd_f64(hi), high(hi)]
    };
    let st = [lanes(s1[0]), lanes(s1[1]), lanes(s2[0]), lanes(s2[1])];
    for (k, s) in sections.iter_mut().enumerate().take(count) {
        let (v, half) = (k / 2, 2 * (k % 2));
        for ch in 0..2 {
            if s.active[ch] {
                s.filters[ch].set_state([st[v][half + ch], st[2 + v][half + ch]]);
            }
        }
    }
}

/// [`cascade_pair`]'s body; `FMA` fuses each multiply with its add.
#[inline(always)]
fn cascade_pair_impl<const FMA: bool>(
    sections: &mut [PairSection],
    left: &mut [f32],
    right: &mut [f32],
) {
    by_chunk_and_group(sections, left, right, |group, l, r| match group {
        [a] => cascade_group::<1, FMA>([a], l, r),
        [a, b] => cascade_group::<2, FMA>([a, b], l, r),
        [a, b, c] => cascade_group::<3, FMA>([a, b, c], l, r),
        [a, b, c, d] => cascade_group::<4, FMA>([a, b, c, d], l, r),
        _ => {}
    });
}

/// `N` sections over two channels, SSE2 (part of every x86-64): one lane per
/// channel. With `FMA` (only inlined where the CPU has it), each multiply
/// and the add or subtraction after it are one fused operation.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn cascade_group<const N: usize, const FMA: bool>(
    sections: [&mut PairSection; N],
    left: &mut [f32],
    right: &mut [f32],
) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86-64 baseline; no pointers are used.
    unsafe {
        let pair = |f: &dyn Fn(&Biquad) -> f64, s: &PairSection| {
            _mm_set_pd(f(&s.filters[1]), f(&s.filters[0]))
        };
        let b0: [__m128d; N] = std::array::from_fn(|i| pair(&|b| b.c.b0, sections[i]));
        let b1: [__m128d; N] = std::array::from_fn(|i| pair(&|b| b.c.b1, sections[i]));
        let b2: [__m128d; N] = std::array::from_fn(|i| pair(&|b| b.c.b2, sections[i]));
        let a1: [__m128d; N] = std::array::from_fn(|i| pair(&|b| b.c.a1, sections[i]));
        let a2: [__m128d; N] = std::array::from_fn(|i| pair(&|b| b.c.a2, sections[i]));
        let mut s1: [__m128d; N] = std::array::from_fn(|i| pair(&|b| b.s1, sections[i]));
        let mut s2: [__m128d; N] = std::array::from_fn(|i| pair(&|b| b.s2, sections[i]));
        let lane = |on: bool| if on { f64::from_bits(u64::MAX) } else { 0.0 };
        let mask: [__m128d; N] = std::array::from_fn(|i| {
            let a = sections[i].active;
            _mm_set_pd(lane(a[1]), lane(a[0]))
        });
        let all_active = sections.iter().all(|s| s.active == [true, true]);
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let mut x = _mm_set_pd(f64::from(*r), f64::from(*l));
            for i in 0..N {
                let y = if FMA {
                    // y = b0·x + s1; s1 = (b1·x + s2) − a1·y; s2 = b2·x − a2·y.
                    let y = _mm_fmadd_pd(b0[i], x, s1[i]);
                    s1[i] = _mm_fnmadd_pd(a1[i], y, _mm_fmadd_pd(b1[i], x, s2[i]));
                    s2[i] = _mm_fnmadd_pd(a2[i], y, _mm_mul_pd(b2[i], x));
                    y
                } else {
                    let y = _mm_add_pd(_mm_mul_pd(b0[i], x), s1[i]);
                    s1[i] = _mm_add_pd(
                        _mm_sub_pd(_mm_mul_pd(b1[i], x), _mm_mul_pd(a1[i], y)),
                        s2[i],
                    );
                    s2[i] = _mm_sub_pd(_mm_mul_pd(b2[i], x), _mm_mul_pd(a2[i], y));
                    y
                };
                // Stored as f32 between sections, as section by section.
                let y = _mm_cvtps_pd(_mm_cvtpd_ps(y));
                x = if all_active {
                    y
                } else {
                    _mm_or_pd(_mm_and_pd(mask[i], y), _mm_andnot_pd(mask[i], x))
                };
            }
            *l = _mm_cvtsd_f64(x) as f32;
            *r = _mm_cvtsd_f64(_mm_unpackhi_pd(x, x)) as f32;
        }
        for (i, s) in sections.into_iter().enumerate() {
            let mut a = [0.0; 2];
            let mut b = [0.0; 2];
            a[0] = _mm_cvtsd_f64(s1[i]);
            a[1] = _mm_cvtsd_f64(_mm_unpackhi_pd(s1[i], s1[i]));
            b[0] = _mm_cvtsd_f64(s2[i]);
            b[1] = _mm_cvtsd_f64(_mm_unpackhi_pd(s2[i], s2[i]));
            for ch in 0..2 {
                if s.active[ch] {
                    s.filters[ch].set_state([a[ch], b[ch]]);
                }
            }
        }
    }
}

/// `N` sections over two channels, one sample at a time.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn cascade_group<const N: usize, const FMA: bool>(
    mut sections: [&mut PairSection; N],
    left: &mut [f32],
    right: &mut [f32],
) {
    for (l, r) in left.iter_mut().zip(right.iter_mut()) {
        for s in sections.iter_mut() {
            for (ch, v) in [&mut *l, &mut *r].into_iter().enumerate() {
                if s.active[ch] {
                    *v = s.filters[ch].tick(f64::from(*v)) as f32;
                }
            }
        }
    }
}

/// A 4th-order Linkwitz–Riley crossover for one channel: low and high outputs
/// that sum to a 2nd-order all-pass.
#[derive(Debug, Clone, Copy)]
pub struct Crossover {
    lp: [Biquad; 2],
    hp: [Biquad; 2],
}

impl Crossover {
    /// A crossover at `f` Hz for `rate` Hz.
    pub fn new(f: f64, rate: f64) -> Self {
        let q = std::f64::consts::FRAC_1_SQRT_2;
        let lp = Biquad::new(bilinear_pass(false, f, q, rate));
        let hp = Biquad::new(bilinear_pass(true, f, q, rate));
        Self {
            lp: [lp, lp],
            hp: [hp, hp],
        }
    }

    /// Move the crossover to `f` Hz (keeps state).
    pub fn set_freq(&mut self, f: f64, rate: f64) {
        let q = std::f64::consts::FRAC_1_SQRT_2;
        let l = bilinear_pass(false, f, q, rate);
        let h = bilinear_pass(true, f, q, rate);
        for b in &mut self.lp {
            b.c = l;
        }
        for b in &mut self.hp {
            b.c = h;
        }
    }

    /// Split one sample into (low, high).
    #[inline]
    pub fn split(&mut self, x: f64) -> (f64, f64) {
        let l0 = self.lp[0].tick(x);
        let l = self.lp[1].tick(l0);
        let h0 = self.hp[0].tick(x);
        let h = self.hp[1].tick(h0);
        (l, h)
    }

    /// The high output alone (the low filters are not run).
    #[inline]
    pub fn high(&mut self, x: f64) -> f64 {
        let h0 = self.hp[0].tick(x);
        self.hp[1].tick(h0)
    }

    /// For each `m[i]`, the sum of its low and high outputs (an all-pass);
    /// for each `s[i]`, the high output of `side`: what [`Crossover::split`]
    /// and [`Crossover::high`] give sample by sample (the low and high
    /// filters of `self` run side by side in SSE2 lanes on x86-64). Bit for
    /// bit without `FMA`; with it, each multiply and the add after it are
    /// fused (equal to rounding, tested), for callers compiled for FMA on
    /// a CPU that has it.
    #[inline(always)]
    pub fn allpass_and_high<const FMA: bool>(
        &mut self,
        side: &mut Crossover,
        m: &mut [f64],
        s: &mut [f64],
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: SSE2 is part of the x86-64 baseline; no pointers are used.
            unsafe {
                let pair = |k: usize, f: &dyn Fn(&Biquad) -> f64| {
                    _mm_set_pd(f(&self.hp[k]), f(&self.lp[k]))
                };
                let c: [[__m128d; 5]; 2] = std::array::from_fn(|k| {
                    [
                        pair(k, &|b| b.c.b0),
                        pair(k, &|b| b.c.b1),
                        pair(k, &|b| b.c.b2),
                        pair(k, &|b| b.c.a1),
                        pair(k, &|b| b.c.a2),
                    ]
                });
                let mut s1 = [pair(0, &|b| b.s1), pair(1, &|b| b.s1)];
                let mut s2 = [pair(0, &|b| b.s2), pair(1, &|b| b.s2)];
                let mut side_hp = side.hp;
                for (mv, sv) in m.iter_mut().zip(s.iter_mut()) {
                    let mut x = _mm_set1_pd(*mv);
                    for k in 0..2 {
                        let [b0, b1, b2, a1, a2] = c[k];
                        x = if FMA {
                            let y = _mm_fmadd_pd(b0, x, s1[k]);
                            s1[k] = _mm_fnmadd_pd(a1, y, _mm_fmadd_pd(b1, x, s2[k]));
                            s2[k] = _mm_fnmadd_pd(a2, y, _mm_mul_pd(b2, x));
                            y
                        } else {
                            let y = _mm_add_pd(_mm_mul_pd(b0, x), s1[k]);
                            s1[k] =
                                _mm_add_pd(_mm_sub_pd(_mm_mul_pd(b1, x), _mm_mul_pd(a1, y)), s2[k]);
                            s2[k] = _mm_sub_pd(_mm_mul_pd(b2, x), _mm_mul_pd(a2, y));
                            y
                        };
                    }
                    *mv = _mm_cvtsd_f64(x) + _mm_cvtsd_f64(_mm_unpackhi_pd(x, x));
                    let h0 = side_hp[0].tick_with::<FMA>(*sv);
                    *sv = side_hp[1].tick_with::<FMA>(h0);
                }
                side.hp = side_hp;
                for k in 0..2 {
                    let lo = |v: __m128d| _mm_cvtsd_f64(v);
                    let hi = |v: __m128d| _mm_cvtsd_f64(_mm_unpackhi_pd(v, v));
                    self.lp[k].set_state([lo(s1[k]), lo(s2[k])]);
                    self.hp[k].set_state([hi(s1[k]), hi(s2[k])]);
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        for (mv, sv) in m.iter_mut().zip(s.iter_mut()) {
            let (l, h) = self.split(*mv);
            *mv = l + h;
            *sv = side.high(*sv);
        }
    }

    /// [`Crossover::allpass_and_high`] with fused operations, in a wavefront
    /// over 256-bit vectors: one vector holds the first section of the low,
    /// high and side filters, another their second section, two samples
    /// behind, so the two sections compute side by side. Per lane the
    /// arithmetic is `allpass_and_high::<true>`'s, so the result is the same
    /// bit for bit.
    ///
    /// # Safety
    /// The CPU must have AVX and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx,fma")]
    pub unsafe fn allpass_and_high_wave(
        &mut self,
        side: &mut Crossover,
        m: &mut [f64],
        s: &mut [f64],
    ) {
        use std::arch::x86_64::*;
        let n = m.len().min(s.len());
        // Section k's lanes: low, high, side, and an idle fourth.
        let quad = |k: usize, f: &dyn Fn(&Biquad) -> f64| {
            _mm256_set_pd(0.0, f(&side.hp[k]), f(&self.hp[k]), f(&self.lp[k]))
        };
        let coeffs = |k: usize| {
            [
                quad(k, &|b| b.c.b0),
                quad(k, &|b| b.c.b1),
                quad(k, &|b| b.c.b2),
                quad(k, &|b| b.c.a1),
                quad(k, &|b| b.c.a2),
            ]
        };
        let c = [coeffs(0), coeffs(1)];
        let mut s1 = [quad(0, &|b| b.s1), quad(1, &|b| b.s1)];
        let mut s2 = [quad(0, &|b| b.s2), quad(1, &|b| b.s2)];
        let zero = _mm256_setzero_pd();
        let (mut out1, mut out2) = (zero, zero);
        let lane = |on: bool| if on { f64::from_bits(u64::MAX) } else { 0.0 };
        let mut step = |t: usize, masked: bool| {
            let x = if t < n {
                _mm256_set_pd(0.0, s[t], m[t], m[t])
            } else {
                zero
            };
            let input = [x, out2];
            let mut y = [zero; 2];
            for k in 0..2 {
                let [b0, b1, b2, a1, a2] = c[k];
                let x = input[k];
                y[k] = _mm256_fmadd_pd(b0, x, s1[k]);
                let n1 = _mm256_fnmadd_pd(a1, y[k], _mm256_fmadd_pd(b1, x, s2[k]));
                let n2 = _mm256_fnmadd_pd(a2, y[k], _mm256_mul_pd(b2, x));
                if masked {
                    // Only the sections whose sample this step is in the run.
                    let at = t >= 2 * k && t - 2 * k < n;
                    let on = _mm256_set1_pd(lane(at));
                    s1[k] = _mm256_blendv_pd(s1[k], n1, on);
                    s2[k] = _mm256_blendv_pd(s2[k], n2, on);
                } else {
                    s1[k] = n1;
                    s2[k] = n2;
                }
            }
            if !masked || (t >= 2 && t - 2 < n) {
                let lo = _mm256_castpd256_pd128(y[1]);
                let hi = _mm256_extractf128_pd::<1>(y[1]);
                m[t - 2] = _mm_cvtsd_f64(lo) + _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo));
                s[t - 2] = _mm_cvtsd_f64(hi);
            }
            out2 = out1;
            out1 = y[0];
        };
        for t in 0..2.min(n + 2) {
            step(t, true);
        }
        for t in 2..n {
            step(t, false);
        }
        for t in 2.max(n)..n + 2 {
            step(t, true);
        }
        let lanes = |q: __m256d| {
            let (lo, hi) = (_mm256_castpd256_pd128(q), _mm256_extractf128_pd::<1>(q));
            [
                _mm_cvtsd_f64(lo),
                _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo)),
                _mm_cvtsd_f64(hi),
            ]
        };
        for k in 0..2 {
            let (a, b) = (lanes(s1[k]), lanes(s2[k]));
            self.lp[k].set_state([a[0], b[0]]);
            self.hp[k].set_state([a[1], b[1]]);
            side.hp[k].set_state([a[2], b[2]]);
        }
    }

    /// Flush denormals.
    pub fn flush(&mut self) {
        for b in self.lp.iter_mut().chain(self.hp.iter_mut()) {
            b.flush_denormals();
        }
    }

    /// Clear the state.
    pub fn reset(&mut self) {
        for b in self.lp.iter_mut().chain(self.hp.iter_mut()) {
            b.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crossover kernel gives bit for bit what `split` and `high` give
    /// sample by sample, its state carried from one call to the next.
    #[test]
    fn allpass_and_high_match_split_and_high() {
        let (mut mid, mut side) = (
            Crossover::new(120.0, 48_000.0),
            Crossover::new(120.0, 48_000.0),
        );
        let (mut mid_ref, mut side_ref) = (mid, side);
        for call in 0..3 {
            let (m0, s0) = crossover_inputs(call, 1000);
            let (mut m, mut s) = (m0.clone(), s0.clone());
            mid.allpass_and_high::<false>(&mut side, &mut m, &mut s);
            for i in 0..m0.len() {
                let (l, h) = mid_ref.split(m0[i]);
                assert_eq!((l + h).to_bits(), m[i].to_bits(), "mid {i}");
                assert_eq!(side_ref.high(s0[i]).to_bits(), s[i].to_bits(), "side {i}");
            }
        }
    }

    /// A mid and a side signal of `len` samples for call `call`.
    fn crossover_inputs(call: usize, len: usize) -> (Vec<f64>, Vec<f64>) {
        let m = (0..len)
            .map(|i| ((i * 7 + call) as f64 * 0.013).sin())
            .collect();
        let s = (0..len)
            .map(|i| ((i * 3 + call) as f64 * 0.031).cos() * 0.2)
            .collect();
        (m, s)
    }

    /// The crossovers' wavefront (where the CPU has AVX and FMA) gives bit
    /// for bit what the fused crossover gives, for runs shorter than its
    /// fill and longer, its state carried from one call to the next.
    #[test]
    fn wavefront_crossover_equals_the_fused_one_bit_for_bit() {
        #[cfg(target_arch = "x86_64")]
        if crate::audio::has_fma() && std::is_x86_feature_detected!("avx") {
            let (mut mid, mut side) = (
                Crossover::new(120.0, 48_000.0),
                Crossover::new(95.0, 48_000.0),
            );
            let (mut mid_ref, mut side_ref) = (mid, side);
            for (call, len) in [1, 2, 3, 5, 1000, 4097].into_iter().enumerate() {
                let (m0, s0) = crossover_inputs(call, len);
                let (mut m, mut s) = (m0.clone(), s0.clone());
                let (mut mr, mut sr) = (m0, s0);
                // SAFETY: the CPU has AVX and FMA.
                unsafe { mid.allpass_and_high_wave(&mut side, &mut m, &mut s) };
                mid_ref.allpass_and_high::<true>(&mut side_ref, &mut mr, &mut sr);
                for (got, want) in [(&m, &mr), (&s, &sr)] {
                    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                        assert_eq!(g.to_bits(), w.to_bits(), "run {len}, sample {i}");
                    }
                }
                for (a, b) in [(&mid, &mid_ref), (&side, &side_ref)] {
                    for (p, q) in a.lp.iter().chain(&a.hp).zip(b.lp.iter().chain(&b.hp)) {
                        assert_eq!(p.state(), q.state(), "run {len}");
                    }
                }
            }
            return;
        }
        println!("skipped: this CPU lacks AVX or FMA, the wavefront crossover does not run");
    }

    /// The fused crossover (used where the CPU has FMA) stays within
    /// rounding of the plain one, which is bit for bit the sample-by-sample
    /// filters (above): outputs within 1e-12, and not all equal, so the
    /// fused arithmetic did run.
    #[test]
    fn fused_allpass_and_high_stay_within_rounding() {
        let has_fma = crate::audio::has_fma();
        if !has_fma {
            println!("no FMA on this CPU: only the plain crossover runs (tested above)");
            return;
        }
        let (mut mid, mut side) = (
            Crossover::new(120.0, 48_000.0),
            Crossover::new(120.0, 48_000.0),
        );
        let (mut mid_ref, mut side_ref) = (mid, side);
        let mut differs = false;
        for call in 0..3 {
            let (m0, s0) = crossover_inputs(call, 5000);
            let (mut m, mut s) = (m0.clone(), s0.clone());
            let (mut mr, mut sr) = (m0, s0);
            mid.allpass_and_high::<true>(&mut side, &mut m, &mut s);
            mid_ref.allpass_and_high::<false>(&mut side_ref, &mut mr, &mut sr);
            for (got, want) in [(&m, &mr), (&s, &sr)] {
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!((g - w).abs() <= 1e-12, "{g} {w}");
                    differs |= g != w;
                }
            }
        }
        assert!(differs, "the fused crossover gave the plain one's bits");
    }

    /// A xorshift generator of uniform values in [0, 1).
    fn uniform(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// `count` random sections (bells, high-passes, shelves, low-passes),
    /// each channel filtered three times in four.
    fn random_sections(count: usize, rnd: &mut impl FnMut() -> f64) -> Vec<PairSection> {
        (0..count)
            .map(|k| {
                let f = 30.0 * 600f64.powf(rnd());
                let proto = match k % 4 {
                    0 => Prototype::Bell {
                        gain_db: 12.0 * rnd() - 6.0,
                    },
                    1 => Prototype::HighPass,
                    2 => Prototype::HighShelf { gain_db: 3.0 },
                    _ => Prototype::LowPass,
                };
                let c = matched(proto, f, 0.5 + rnd(), 48_000.0);
                let on = |x: f64| x > 0.25;
                PairSection {
                    filters: [Biquad::new(c), Biquad::new(c)],
                    active: [on(rnd()), on(rnd())],
                }
            })
            .collect()
    }

    /// Random stereo input and the same through `reference` section after
    /// section (f32 between sections): (left, right, wanted left and right).
    fn section_by_section(
        reference: &mut [PairSection],
        len: usize,
        rnd: &mut impl FnMut() -> f64,
    ) -> (Vec<f32>, Vec<f32>, [Vec<f32>; 2]) {
        let input: Vec<[f32; 2]> = (0..len)
            .map(|_| [(rnd() - 0.5) as f32, (rnd() - 0.5) as f32 * 0.3])
            .collect();
        let l: Vec<f32> = input.iter().map(|x| x[0]).collect();
        let r: Vec<f32> = input.iter().map(|x| x[1]).collect();
        let mut want = [l.clone(), r.clone()];
        for s in reference {
            for (ch, w) in want.iter_mut().enumerate() {
                if s.active[ch] {
                    for v in w.iter_mut() {
                        *v = s.filters[ch].tick(f64::from(*v)) as f32;
                    }
                }
            }
        }
        (l, r, want)
    }

    /// The cascade kernel (its plain form) gives bit for bit what the
    /// filters give section after section (f32 between sections), for 1 to
    /// 10 sections (whole groups and a part group), channels filtered or
    /// passed through, runs longer than its chunk, state carried from one
    /// call to the next.
    #[test]
    fn cascade_pair_matches_section_by_section() {
        let mut rnd = uniform(0x2545_f491_4f6c_dd1d);
        for count in 1..=10 {
            let mut sections = random_sections(count, &mut rnd);
            let mut reference = sections.clone();
            for len in [1, 700, 2500] {
                let (mut l, mut r, want) = section_by_section(&mut reference, len, &mut rnd);
                cascade_pair_impl::<false>(&mut sections, &mut l, &mut r);
                for (got, want) in [(&l, &want[0]), (&r, &want[1])] {
                    for (i, (g, w)) in got.iter().zip(want).enumerate() {
                        assert_eq!(g.to_bits(), w.to_bits(), "{count} sections, sample {i}");
                    }
                }
                for (a, b) in sections.iter().zip(&reference) {
                    for ch in 0..2 {
                        if a.active[ch] {
                            assert_eq!(a.filters[ch].state(), b.filters[ch].state());
                        }
                    }
                }
            }
        }
    }

    /// The wavefront cascade (where the CPU has AVX and FMA) gives bit for
    /// bit what the fused cascade gives a sample at a time: 1 to 10
    /// sections (some channels passed through, or none), runs shorter than the wavefront's fill and longer than a
    /// chunk, state carried from one call to the next.
    #[test]
    fn wavefront_cascade_equals_the_fused_one_bit_for_bit() {
        #[cfg(target_arch = "x86_64")]
        if crate::audio::has_fma() && std::is_x86_feature_detected!("avx") {
            let mut rnd = uniform(0x0123_4567_89ab_cdef);
            for (count, all) in (1..=10).flat_map(|c| [(c, false), (c, true)]) {
                let mut wave = random_sections(count, &mut rnd);
                if all {
                    // Every channel filtered: the kernel's loop without pass-through.
                    wave.iter_mut().for_each(|s| s.active = [true, true]);
                }
                let mut fused = wave.clone();
                let mut reference = wave.clone();
                for len in [1, 3, 5, 6, 7, 700, 2500] {
                    let (l, r, _) = section_by_section(&mut reference, len, &mut rnd);
                    let (mut wl, mut wr) = (l.clone(), r.clone());
                    let (mut fl, mut fr) = (l, r);
                    // SAFETY: the CPU has AVX and FMA.
                    unsafe {
                        cascade_pair_wave(&mut wave, &mut wl, &mut wr);
                        cascade_pair_fma(&mut fused, &mut fl, &mut fr);
                    }
                    for (got, want) in [(&wl, &fl), (&wr, &fr)] {
                        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                            assert_eq!(g.to_bits(), w.to_bits(), "{count} sections, {len}: {i}");
                        }
                    }
                    for (a, b) in wave.iter().zip(&fused) {
                        for ch in (0..2).filter(|&ch| a.active[ch]) {
                            assert_eq!(a.filters[ch].state(), b.filters[ch].state());
                        }
                    }
                }
            }
            return;
        }
        println!("skipped: this CPU lacks AVX or FMA, the wavefront cascade does not run");
    }

    /// The cascade as dispatched (fused where the CPU has FMA) stays within
    /// rounding of section after section: samples within 1e-6, states
    /// within 1e-9 relative; with FMA the states must differ somewhere, or
    /// the fused kernel did not run.
    #[test]
    fn fused_cascade_stays_within_rounding_of_section_by_section() {
        let fused = crate::audio::has_fma();
        if !fused {
            println!("no FMA on this CPU: the cascade is the plain one, tested bit for bit");
        }
        let mut rnd = uniform(0x9e37_79b9_7f4a_7c15);
        let mut differs = false;
        for count in [3, 8, 10] {
            let mut sections = random_sections(count, &mut rnd);
            let mut reference = sections.clone();
            for len in [700, 48_000] {
                let (mut l, mut r, want) = section_by_section(&mut reference, len, &mut rnd);
                cascade_pair(&mut sections, &mut l, &mut r);
                for (got, want) in [(&l, &want[0]), (&r, &want[1])] {
                    for (i, (g, w)) in got.iter().zip(want).enumerate() {
                        assert!(
                            (g - w).abs() <= 1e-6,
                            "{count} sections, sample {i}: {g} {w}"
                        );
                    }
                }
                for (a, b) in sections.iter().zip(&reference) {
                    for ch in (0..2).filter(|&ch| a.active[ch]) {
                        let (p, q) = (a.filters[ch].state(), b.filters[ch].state());
                        for (u, v) in p.iter().zip(&q) {
                            assert!((u - v).abs() <= 1e-9 * (1.0 + v.abs()), "{u} {v}");
                            differs |= u != v;
                        }
                    }
                }
            }
        }
        assert_eq!(differs, fused, "the fused kernel ran where the CPU has FMA");
    }

    fn db(x: f64) -> f64 {
        20.0 * x.log10()
    }

    /// Magnitude-matched designs follow the analog prototype at 44.1 and
    /// 96 kHz, including near Nyquist where the bilinear transform cramps.
    #[test]
    fn matched_designs_follow_the_analog_prototype() {
        let protos = [
            (Prototype::Bell { gain_db: 6.0 }, 1000.0, 1.0),
            (Prototype::Bell { gain_db: -9.0 }, 8000.0, 2.0),
            (Prototype::Bell { gain_db: 4.0 }, 16_000.0, 0.7),
            (Prototype::LowShelf { gain_db: 3.0 }, 120.0, 0.707),
            (Prototype::HighShelf { gain_db: -4.0 }, 10_000.0, 0.707),
            (Prototype::HighShelf { gain_db: 3.0 }, 16_000.0, 0.707),
            (Prototype::LowPass, 15_000.0, 0.707),
            (Prototype::HighPass, 30.0, 0.707),
        ];
        for rate in [44_100.0, 96_000.0] {
            for (proto, f0, q) in protos {
                let c = matched(proto, f0, q, rate);
                let mut worst = 0.0f64;
                let mut f = 20.0;
                while f < 20_000.0 {
                    let want = 10.0 * analog_mag2(proto, q, f / f0).log10();
                    let got = db(c.magnitude(f, rate));
                    // Compare only where the response is within 40 dB of unity
                    // (deep stopbands are matched in shape, not to 0.x dB).
                    if want > -40.0 {
                        worst = worst.max((got - want).abs());
                    }
                    f *= 1.02;
                }
                // Measured: ≤ 0.244 dB at 44.1 kHz (a 15 kHz low-pass, a 16 kHz
                // bell), ≤ 0.05 dB at 96 kHz; a bilinear design is off by
                // several dB near Nyquist at 44.1 kHz.
                let tol = if rate < 50_000.0 { 0.25 } else { 0.05 };
                assert!(
                    worst < tol,
                    "{proto:?} {f0} Hz q {q} at {rate} Hz: worst error {worst:.3} dB"
                );
                // Exact at the centre for bells.
                if let Prototype::Bell { gain_db } = proto {
                    assert!((db(c.magnitude(f0, rate)) - gain_db).abs() < 0.01);
                }
            }
        }
    }

    #[test]
    fn linkwitz_riley_sums_flat() {
        let rate = 48_000.0;
        let mut x = Crossover::new(1000.0, rate);
        // Impulse response of low + high, then its spectrum magnitude.
        let n = 8192;
        let mut h = vec![0.0; n];
        for (i, v) in h.iter_mut().enumerate() {
            let (l, hi) = x.split(if i == 0 { 1.0 } else { 0.0 });
            *v = l + hi;
        }
        for f in [20.0, 200.0, 1000.0, 5000.0, 20_000.0] {
            let w = 2.0 * PI * f / rate;
            let (mut re, mut im) = (0.0, 0.0);
            for (k, v) in h.iter().enumerate() {
                re += v * (w * k as f64).cos();
                im -= v * (w * k as f64).sin();
            }
            let m = db((re * re + im * im).sqrt());
            assert!(m.abs() < 0.01, "LR4 sum at {f} Hz is {m:.4} dB");
        }
    }
}
