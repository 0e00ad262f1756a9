//! Reference matching: an EQ curve that moves a track's long-term mid and
//! side spectra toward a reference's, applied by a long FIR filter.
//!
//! **Curve** ([`design_curve`]): the track's and the reference's
//! loudness-normalized spectra (`analysis::longterm`, measured by the plan
//! layer before the chain is built) are each smoothed over
//! `smoothing_oct` octaves (mean power in a window of that width on the
//! log grid); their difference in dB is clamped to −`max_cut_db` …
//! +`max_boost_db`, faded to 0 dB over half an octave outside
//! `low_hz`–`high_hz` (raised cosine), and scaled by `amount_pct`. The
//! side's difference is also scaled by how much side the track has at that
//! frequency: fully corrected where its side is within 20 dB of its mid,
//! not at all where it is 30 dB or more below (no boosting near-mono side
//! noise), then by `side_amount_pct`.
//!
//! **Filter**: the curve sampled on a 16,384-point grid (44.1/48 kHz;
//! longer at higher rates, about 0.34 s), as a linear-phase FIR (zero-phase
//! response, centred and Hann-windowed; latency half its length) or a
//! minimum-phase one (homomorphic: folded real cepstrum of the log
//! magnitude on a grid four times finer). It runs on mid and side by
//! uniformly partitioned overlap-save convolution in 1,024-frame blocks
//! (FFT size 2,048), so the module's latency is 1,024 frames plus the
//! filter's delay. Everything is designed and allocated in
//! [`MatchEq::new`] (off the audio thread); `process` never allocates.
//! Without an analysis, or with a flat curve, the module is a plain delay
//! of the same latency.

use std::sync::Arc;

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

use super::{DelayLine, Processor};
use crate::audio::AudioBlock;
use crate::audio::longterm::{GRID_LOW_HZ, GRID_POINTS, MatchAnalysis, PER_OCTAVE, grid_hz};
use crate::session::chain::{MatchConfig, MatchPhase};

/// Convolution block, frames.
pub const BLOCK: usize = 1024;
/// Below this side-to-mid ratio (dB) the side is not corrected at all.
const SIDE_FLOOR_DB: f64 = -30.0;
/// From this side-to-mid ratio (dB) up the side is fully corrected.
const SIDE_FULL_DB: f64 = -20.0;

/// A designed match curve on the analysis grid (`analysis::longterm::grid_hz`).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchCurve {
    /// Mid gain per grid point, dB.
    pub mid_db: Vec<f64>,
    /// Side gain per grid point, dB.
    pub side_db: Vec<f64>,
}

impl MatchCurve {
    /// A curve of 0 dB everywhere.
    pub fn flat() -> Self {
        Self {
            mid_db: vec![0.0; GRID_POINTS],
            side_db: vec![0.0; GRID_POINTS],
        }
    }

    /// Whether every point is within 0.001 dB of 0.
    pub fn is_flat(&self) -> bool {
        self.mid_db
            .iter()
            .chain(&self.side_db)
            .all(|v| v.abs() < 1e-3)
    }

    /// The mid (or side) gain at `hz`, dB, interpolated on the log grid
    /// (held beyond its ends).
    pub fn at(&self, hz: f64, side: bool) -> f64 {
        let v = if side { &self.side_db } else { &self.mid_db };
        let x = (hz.max(1e-3) / GRID_LOW_HZ).log2() * PER_OCTAVE as f64;
        if x <= 0.0 {
            return v[0];
        }
        let i = x.floor() as usize;
        if i + 1 >= GRID_POINTS {
            return v[GRID_POINTS - 1];
        }
        let t = x - i as f64;
        v[i] * (1.0 - t) + v[i + 1] * t
    }
}

/// Mean power over ±`half` grid points around each point, skipping empty
/// ones (0 where all are empty).
fn smooth(v: &[f64], half: usize) -> Vec<f64> {
    (0..v.len())
        .map(|g| {
            let lo = g.saturating_sub(half);
            let hi = (g + half + 1).min(v.len());
            let (sum, n) = v[lo..hi]
                .iter()
                .filter(|x| **x > 0.0)
                .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
            if n == 0 { 0.0 } else { sum / n as f64 }
        })
        .collect()
}

/// Weight of the matched band at `hz`: 1 inside `low`–`high`, a raised
/// cosine to 0 over half an octave outside.
fn band_weight(hz: f64, low: f64, high: f64) -> f64 {
    let over = if hz < low {
        (low / hz).log2() / 0.5
    } else if hz > high {
        (hz / high).log2() / 0.5
    } else {
        0.0
    };
    if over >= 1.0 {
        0.0
    } else {
        0.5 * (1.0 + (std::f64::consts::PI * over).cos())
    }
}

/// The curve `cfg` asks for from `a` (see the module docs).
pub fn design_curve(cfg: &MatchConfig, a: &MatchAnalysis) -> MatchCurve {
    let half = ((cfg.smoothing_oct * PER_OCTAVE as f64) / 2.0)
        .round()
        .max(0.0) as usize;
    let (tm, ts) = (smooth(&a.track.mid, half), smooth(&a.track.side, half));
    let (rm, rs) = (
        smooth(&a.reference.mid, half),
        smooth(&a.reference.side, half),
    );
    let db = |r: f64, t: f64| {
        if r > 0.0 && t > 0.0 {
            (10.0 * (r / t).log10()).clamp(-cfg.max_cut_db, cfg.max_boost_db)
        } else {
            0.0
        }
    };
    let amount = cfg.amount_pct / 100.0;
    let side_amount = cfg.side_amount_pct.unwrap_or(cfg.amount_pct) / 100.0;
    let mut curve = MatchCurve::flat();
    for g in 0..GRID_POINTS {
        let w = band_weight(grid_hz(g), cfg.low_hz, cfg.high_hz);
        curve.mid_db[g] = db(rm[g], tm[g]) * w * amount;
        let ratio = if tm[g] > 0.0 && ts[g] > 0.0 {
            10.0 * (ts[g] / tm[g]).log10()
        } else {
            f64::NEG_INFINITY
        };
        let ws = ((ratio - SIDE_FLOOR_DB) / (SIDE_FULL_DB - SIDE_FLOOR_DB)).clamp(0.0, 1.0);
        curve.side_db[g] = db(rs[g], ts[g]) * w * ws * side_amount;
    }
    curve
}

/// FIR length for `rate` Hz: about 0.34 s, a power of two.
pub fn fir_len(rate: u32) -> usize {
    let want = (f64::from(rate) * 0.34) as usize;
    want.next_power_of_two().clamp(4 * BLOCK, 1 << 17)
}

/// The module's latency at `rate` Hz for `phase`, frames.
pub fn latency_for(rate: u32, phase: MatchPhase) -> usize {
    BLOCK
        + match phase {
            MatchPhase::Linear => fir_len(rate) / 2,
            MatchPhase::Minimum => 0,
        }
}

/// The FIR taps realizing the mid (or side) of `curve` at `rate` Hz.
pub fn design_fir(curve: &MatchCurve, side: bool, rate: u32, phase: MatchPhase) -> Vec<f64> {
    let n = fir_len(rate);
    let mut planner = RealFftPlanner::<f64>::new();
    match phase {
        MatchPhase::Linear => {
            let inv = planner.plan_fft_inverse(n);
            let mut spec: Vec<Complex<f64>> = (0..=n / 2)
                .map(|k| {
                    let hz = k as f64 * f64::from(rate) / n as f64;
                    Complex::new(10f64.powf(curve.at(hz, side) / 20.0), 0.0)
                })
                .collect();
            let mut h0 = inv.make_output_vec();
            // The lengths are the plan's own: this cannot fail.
            let _ = inv.process(&mut spec, &mut h0);
            crate::audio::hann(n)
                .enumerate()
                .map(|(i, w)| h0[(i + n / 2) % n] / n as f64 * w)
                .collect()
        }
        MatchPhase::Minimum => {
            let m = 4 * n;
            let fwd = planner.plan_fft_forward(m);
            let inv = planner.plan_fft_inverse(m);
            let mut logmag: Vec<Complex<f64>> = (0..=m / 2)
                .map(|k| {
                    let hz = k as f64 * f64::from(rate) / m as f64;
                    Complex::new(curve.at(hz, side) / 20.0 * std::f64::consts::LN_10, 0.0)
                })
                .collect();
            let mut cep = inv.make_output_vec();
            let _ = inv.process(&mut logmag, &mut cep);
            // Fold the real cepstrum onto positive quefrencies.
            for (i, c) in cep.iter_mut().enumerate() {
                *c /= m as f64;
                if i > 0 && i < m / 2 {
                    *c *= 2.0;
                } else if i > m / 2 {
                    *c = 0.0;
                }
            }
            let mut spec = fwd.make_output_vec();
            let _ = fwd.process(&mut cep, &mut spec);
            let last = spec.len() - 1;
            for (k, s) in spec.iter_mut().enumerate() {
                *s = s.exp();
                if k == 0 || k == last {
                    s.im = 0.0;
                }
            }
            let mut h = inv.make_output_vec();
            let _ = inv.process(&mut spec, &mut h);
            let fade = n / 8;
            (0..n)
                .map(|i| {
                    let w = if i + fade >= n {
                        let t = (i + fade - n) as f64 / fade as f64;
                        0.5 + 0.5 * (std::f64::consts::PI * t).cos()
                    } else {
                        1.0
                    };
                    h[i] / m as f64 * w
                })
                .collect()
        }
    }
}

/// One channel of uniformly partitioned overlap-save convolution, in f32
/// with the spectra kept as separate real and imaginary parts (so the
/// multiply-accumulate runs in vector lanes).
#[derive(Debug, Clone)]
struct Convolver {
    /// The filter's partitions, transformed (each `BLOCK + 1` bins): real, imaginary.
    parts: Vec<(Vec<f32>, Vec<f32>)>,
    /// Transformed input blocks, newest at `head` (frequency-domain delay line).
    fdl: Vec<(Vec<f32>, Vec<f32>)>,
    head: usize,
    /// The last two input blocks.
    window: Vec<f32>,
    spec: Vec<Complex<f32>>,
    acc_re: Vec<f32>,
    acc_im: Vec<f32>,
    time: Vec<f32>,
    /// Input being collected and output being handed out.
    input: Vec<f32>,
    output: Vec<f32>,
}

fn split(c: &[Complex<f32>]) -> (Vec<f32>, Vec<f32>) {
    (
        c.iter().map(|v| v.re).collect(),
        c.iter().map(|v| v.im).collect(),
    )
}

impl Convolver {
    fn new(taps: &[f64], fwd: &Arc<dyn realfft::RealToComplex<f32>>) -> Self {
        let norm = 1.0 / (2 * BLOCK) as f64;
        let parts: Vec<(Vec<f32>, Vec<f32>)> = taps
            .chunks(BLOCK)
            .map(|c| {
                let mut t = vec![0.0f32; 2 * BLOCK];
                for (d, v) in t.iter_mut().zip(c) {
                    // The inverse transform's 1/N folded into the taps.
                    *d = (v * norm) as f32;
                }
                let mut out = fwd.make_output_vec();
                let _ = fwd.process(&mut t, &mut out);
                split(&out)
            })
            .collect();
        let p = parts.len();
        Self {
            parts,
            fdl: vec![(vec![0.0; BLOCK + 1], vec![0.0; BLOCK + 1]); p],
            head: 0,
            window: vec![0.0; 2 * BLOCK],
            spec: vec![Complex::new(0.0, 0.0); BLOCK + 1],
            acc_re: vec![0.0; BLOCK + 1],
            acc_im: vec![0.0; BLOCK + 1],
            time: vec![0.0; 2 * BLOCK],
            input: vec![0.0; BLOCK],
            output: vec![0.0; BLOCK],
        }
    }

    /// Convolve the collected input block; the result replaces `output`.
    fn run(
        &mut self,
        fwd: &dyn realfft::RealToComplex<f32>,
        inv: &dyn realfft::ComplexToReal<f32>,
        scratch: &mut [Complex<f32>],
    ) {
        let p = self.parts.len();
        self.window.copy_within(BLOCK.., 0);
        self.window[BLOCK..].copy_from_slice(&self.input);
        self.time.copy_from_slice(&self.window);
        self.head = (self.head + 1) % p;
        let _ = fwd.process_with_scratch(&mut self.time, &mut self.spec, scratch);
        let (re, im) = &mut self.fdl[self.head];
        for ((r, i), c) in re.iter_mut().zip(im.iter_mut()).zip(&self.spec) {
            *r = c.re;
            *i = c.im;
        }
        self.acc_re.iter_mut().for_each(|a| *a = 0.0);
        self.acc_im.iter_mut().for_each(|a| *a = 0.0);
        for (j, (hr, hi)) in self.parts.iter().enumerate() {
            let (xr, xi) = &self.fdl[(self.head + p - j) % p];
            let n = self.acc_re.len();
            let (ar, ai) = (&mut self.acc_re[..n], &mut self.acc_im[..n]);
            let (xr, xi, hr, hi) = (&xr[..n], &xi[..n], &hr[..n], &hi[..n]);
            for k in 0..n {
                ar[k] += xr[k] * hr[k] - xi[k] * hi[k];
                ai[k] += xr[k] * hi[k] + xi[k] * hr[k];
            }
        }
        let last = self.spec.len() - 1;
        for (k, c) in self.spec.iter_mut().enumerate() {
            *c = Complex::new(self.acc_re[k], self.acc_im[k]);
        }
        self.spec[0].im = 0.0;
        self.spec[last].im = 0.0;
        let _ = inv.process_with_scratch(&mut self.spec, &mut self.time, scratch);
        self.output.copy_from_slice(&self.time[BLOCK..]);
    }

    fn reset(&mut self) {
        for (r, i) in &mut self.fdl {
            r.iter_mut().for_each(|v| *v = 0.0);
            i.iter_mut().for_each(|v| *v = 0.0);
        }
        self.window.iter_mut().for_each(|v| *v = 0.0);
        self.input.iter_mut().for_each(|v| *v = 0.0);
        self.output.iter_mut().for_each(|v| *v = 0.0);
    }
}

/// The reference-matching module (see the module docs).
#[derive(Clone)]
pub struct MatchEq {
    /// Mid (or mono) and side convolvers; empty when the curve is flat.
    conv: Vec<Convolver>,
    fwd: Arc<dyn realfft::RealToComplex<f32>>,
    inv: Arc<dyn realfft::ComplexToReal<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Position in the current block.
    pos: usize,
    channels: usize,
    /// The plain delay used when the curve is flat.
    delay: DelayLine,
    latency: usize,
    curve: MatchCurve,
}

impl std::fmt::Debug for MatchEq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchEq")
            .field("latency", &self.latency)
            .field("flat", &self.conv.is_empty())
            .finish()
    }
}

impl MatchEq {
    /// Design the module for `channels` channels at `rate` Hz.
    pub fn new(cfg: &MatchConfig, rate: u32, channels: usize) -> Self {
        let curve = cfg
            .analysis
            .as_ref()
            .map_or_else(MatchCurve::flat, |a| design_curve(cfg, a));
        let latency = latency_for(rate, cfg.phase);
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(2 * BLOCK);
        let inv = planner.plan_fft_inverse(2 * BLOCK);
        let scratch_len = fwd.get_scratch_len().max(inv.get_scratch_len());
        let conv = if curve.is_flat() {
            Vec::new()
        } else {
            let sides: &[bool] = if channels == 2 {
                &[false, true]
            } else {
                &[false]
            };
            sides
                .iter()
                .map(|s| Convolver::new(&design_fir(&curve, *s, rate, cfg.phase), &fwd))
                .collect()
        };
        let delay = DelayLine::new(channels, if conv.is_empty() { latency } else { 0 });
        Self {
            conv,
            fwd,
            inv,
            scratch: vec![Complex::new(0.0, 0.0); scratch_len],
            pos: 0,
            channels,
            delay,
            latency,
            curve,
        }
    }

    /// The curve in use (flat without an analysis).
    pub fn curve(&self) -> &MatchCurve {
        &self.curve
    }
}

impl Processor for MatchEq {
    fn name(&self) -> &'static str {
        "match"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        if self.conv.is_empty() {
            self.delay.process(block);
            return;
        }
        let stereo = self.channels == 2 && block.channels.len() >= 2;
        for i in 0..block.frames {
            let p = self.pos;
            if stereo {
                let (l, r) = (
                    f64::from(block.channels[0][i]),
                    f64::from(block.channels[1][i]),
                );
                self.conv[0].input[p] = ((l + r) * 0.5) as f32;
                self.conv[1].input[p] = ((l - r) * 0.5) as f32;
                let (m, s) = (
                    f64::from(self.conv[0].output[p]),
                    f64::from(self.conv[1].output[p]),
                );
                block.channels[0][i] = (m + s) as f32;
                block.channels[1][i] = (m - s) as f32;
            } else {
                self.conv[0].input[p] = block.channels[0][i];
                block.channels[0][i] = self.conv[0].output[p];
            }
            self.pos += 1;
            if self.pos == BLOCK {
                self.pos = 0;
                for c in &mut self.conv {
                    c.run(self.fwd.as_ref(), self.inv.as_ref(), &mut self.scratch);
                }
            }
        }
    }

    fn reset(&mut self) {
        for c in &mut self.conv {
            c.reset();
        }
        self.delay.reset();
        self.pos = 0;
    }

    fn latency(&self) -> usize {
        self.latency
    }
}
