//! Feed-forward compressor after Giannoulis, Massberg and Reiss, "Digital
//! Dynamic Range Compressor Design — A Tutorial and Analysis" (JAES 2012):
//! level detection in dB, a soft-knee static curve, and a smooth branching
//! peak detector on the gain (attack when the reduction grows, release when
//! it shrinks). Stereo-linked (one gain from the louder channel) or
//! mid/side (mid and side compressed separately); optional side-chain
//! high-pass so bass does not pump the mix.

use super::biquad::{Biquad, bilinear_pass};
use super::smoother::Smoother;
use super::{Processor, one_pole_coeff, vmath};
use crate::audio::AudioBlock;
use crate::session::chain::{CompressorConfig, LinkMode};
use crate::units::db_to_linear;

/// Static gain curve: output level minus input level, dB (≤ 0), for an
/// input level `x` dB, threshold `t` dB, ratio `r`, knee width `w` dB.
pub fn gain_computer(x: f64, t: f64, r: f64, w: f64) -> f64 {
    Curve::new(t, r, w).gain(x)
}

/// The static curve's settings in the form each sample needs: threshold,
/// half the knee, the slope over the threshold (1/R − 1) and the knee's
/// quadratic factor ((1/R − 1)/(2W), 0 with a hard knee).
#[derive(Debug, Clone, Copy)]
struct Curve {
    t: f64,
    half_w: f64,
    slope: f64,
    knee: f64,
}

impl Curve {
    fn new(t: f64, r: f64, w: f64) -> Self {
        let slope = 1.0 / r - 1.0;
        Self {
            t,
            half_w: w / 2.0,
            slope,
            knee: if w > 0.0 { slope / (2.0 * w) } else { 0.0 },
        }
    }

    /// Gain, dB (≤ 0), for input level `x` dB: 0 under the knee, the
    /// knee's quadratic inside it, the ratio's line over it. Written
    /// without branches, so a chunk of levels vectorizes.
    #[inline(always)]
    fn gain(&self, x: f64) -> f64 {
        let over = x - self.t;
        let k = over + self.half_w;
        let knee = self.knee * (k * k);
        let line = self.slope * over;
        let v = if self.knee != 0.0 && over.abs() <= self.half_w {
            knee
        } else {
            line
        };
        if over < -self.half_w { 0.0 } else { v }
    }
}

/// One sample of the smooth branching peak detector on the gain: the
/// envelope `env` (dB, ≤ 0) moves toward the static curve's gain `gc` by
/// the attack coefficient when the reduction grows, the release one when
/// it shrinks, and snaps to 0 dB within 1e-9 dB of it. The difference
/// from `gc` is taken while the branch is chosen, so each sample waits on
/// one multiply and one add, not two multiplies and an add.
/// With `FMA`, the multiply and add are one fused operation.
#[inline(always)]
fn envelope_step<const FMA: bool>(env: f64, gc: f64, attack: f64, release: f64) -> f64 {
    let k = if gc < env { attack } else { release };
    let e = if FMA {
        k.mul_add(env - gc, gc)
    } else {
        k * (env - gc) + gc
    };
    if e > -1e-9 { 0.0 } else { e }
}

/// [`envelope_step`] over a chunk of static-curve gains `g` (dB), each
/// replaced by the envelope after it, from envelope `env`: returns the
/// envelope after the chunk and its lowest value (dB). Where the CPU has
/// FMA, each step's multiply and add are one fused operation (one
/// rounding instead of two; the step waits on one instruction less).
fn envelope_chunk(g: &mut [f64], env: f64, attack: f64, release: f64) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the feature the function is compiled for.
        return unsafe { envelope_chunk_fma(g, env, attack, release) };
    }
    envelope_chunk_impl::<false>(g, env, attack, release)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn envelope_chunk_fma(g: &mut [f64], env: f64, attack: f64, release: f64) -> (f64, f64) {
    envelope_chunk_impl::<true>(g, env, attack, release)
}

#[inline(always)]
fn envelope_chunk_impl<const FMA: bool>(
    g: &mut [f64],
    mut env: f64,
    attack: f64,
    release: f64,
) -> (f64, f64) {
    let mut lowest = 0.0f64;
    for v in g.iter_mut() {
        env = envelope_step::<FMA>(env, *v, attack, release);
        *v = env;
        if env < lowest {
            lowest = env;
        }
    }
    (env, lowest)
}

/// dB to linear gain via `exp` (faster than `powf`); exactly 1.0 at 0 dB.
#[inline]
fn fast_db_to_linear(db: f64) -> f64 {
    if db == 0.0 {
        1.0
    } else {
        (db * (std::f64::consts::LN_10 / 20.0)).exp()
    }
}

/// One detector-and-gain path (a channel pair when linked, or mid or side).
#[derive(Debug, Clone, Copy)]
struct Path {
    env_db: f64,
    sc_hp: [Biquad; 2],
}

/// The compressor module.
#[derive(Debug, Clone)]
pub struct Compressor {
    rate: f64,
    channels: usize,
    cfg: CompressorConfig,
    threshold: Smoother,
    ratio: Smoother,
    knee: Smoother,
    makeup: Smoother,
    attack: f64,
    release: f64,
    paths: [Path; 2],
    gr_db: f64,
}

impl Compressor {
    /// A compressor for `channels` channels at `rate` Hz.
    pub fn new(cfg: &CompressorConfig, rate: u32, channels: usize) -> Self {
        let r = f64::from(rate);
        let mut c = Self {
            rate: r,
            channels,
            cfg: cfg.clone(),
            threshold: Smoother::new(cfg.threshold_db, 20.0, r),
            ratio: Smoother::new(cfg.ratio, 20.0, r),
            knee: Smoother::new(cfg.knee_db, 20.0, r),
            makeup: Smoother::new(db_to_linear(cfg.makeup_db), 20.0, r),
            attack: 0.0,
            release: 0.0,
            paths: [Path {
                env_db: 0.0,
                sc_hp: [Biquad::default(); 2],
            }; 2],
            gr_db: 0.0,
        };
        c.set_config(cfg);
        c
    }

    /// Apply new settings (continuous ones smoothed).
    pub fn set_config(&mut self, cfg: &CompressorConfig) {
        self.threshold.set(cfg.threshold_db);
        self.ratio.set(cfg.ratio);
        self.knee.set(cfg.knee_db);
        self.makeup.set(db_to_linear(cfg.makeup_db));
        self.attack = one_pole_coeff(cfg.attack_ms, self.rate);
        self.release = one_pole_coeff(cfg.release_ms, self.rate);
        let hp = if cfg.sidechain_hp_hz > 0.0 {
            bilinear_pass(
                true,
                cfg.sidechain_hp_hz,
                std::f64::consts::FRAC_1_SQRT_2,
                self.rate,
            )
        } else {
            super::biquad::Coeffs::IDENTITY
        };
        for p in &mut self.paths {
            for b in &mut p.sc_hp {
                if hp == super::biquad::Coeffs::IDENTITY {
                    // Not run while off: start from silence when back on.
                    b.reset();
                }
                b.c = hp;
            }
        }
        self.cfg = cfg.clone();
    }

    #[inline]
    /// Smoothed gain (dB, ≤ 0) for detector `level`. Levels under the knee
    /// (`quiet_below`, linear) skip the logarithm: their static gain is 0 dB.
    fn smooth_gain(
        &mut self,
        path: usize,
        level: f64,
        t: f64,
        r: f64,
        w: f64,
        quiet_below: f64,
    ) -> f64 {
        let lvl = level.abs();
        let gc = if lvl < quiet_below {
            0.0
        } else {
            Curve::new(t, r, w).gain(20.0 * (lvl + 1e-12).log10())
        };
        let p = &mut self.paths[path];
        p.env_db = envelope_step::<false>(p.env_db, gc, self.attack, self.release);
        p.env_db
    }

    /// Process two mutable channel slices (or one) with the given link.
    /// What the detector sees of the frame `(va, vb)`: mid and side
    /// (`ms`) or the two channels (linked), through the side-chain filter
    /// unless it is off (`sc_off`: an identity filter returns its input,
    /// and the level is taken as an absolute value, so even the sign of
    /// zero does not matter).
    #[inline(always)]
    fn sidechain(&mut self, ms: bool, sc_off: bool, va: f64, vb: f64) -> (f64, f64) {
        let (x, y) = if ms {
            (0.5 * (va + vb), 0.5 * (va - vb))
        } else {
            (va, vb)
        };
        if sc_off {
            return (x, y);
        }
        let (p, q) = if ms {
            ((0, 0), (1, 0))
        } else {
            ((0, 0), (0, 1))
        };
        (
            self.paths[p.0].sc_hp[p.1].tick(x),
            self.paths[q.0].sc_hp[q.1].tick(y),
        )
    }

    /// [`Compressor::run`] with every parameter at rest, a chunk at a time:
    /// the detector's levels, their static curve (logarithms a chunk at
    /// once, [`vmath`]), the envelope (sample by sample), the gains
    /// (exponentials a chunk at once), then the audio. The same steps as
    /// `run`, with fdlibm's logarithm and exponential in place of the C
    /// library's (equal to within 2 ulp).
    fn run_still(&mut self, block: &mut AudioBlock) {
        const CHUNK: usize = 256;
        let frames = block.frames;
        let ms = self.cfg.link == LinkMode::MidSide && self.channels == 2;
        let paths = if ms { 2 } else { 1 };
        let (t, r, w) = (
            self.threshold.current(),
            self.ratio.current(),
            self.knee.current(),
        );
        let curve = Curve::new(t, r, w);
        let quiet_below = 10f64.powf((t - w / 2.0) / 20.0) * 0.999;
        let sc_off = self.paths[0].sc_hp[0].c == super::biquad::Coeffs::IDENTITY;
        let mk = self.makeup.current();
        let (attack, release) = (self.attack, self.release);
        let mut max_gr = 0.0f64;
        let (first, rest) = block.channels.split_at_mut(1);
        let a = &mut first[0][..frames];
        let mut b = rest.first_mut().map(|v| &mut v[..frames]);
        let mut level = [[0.0f64; CHUNK]; 2];
        let mut lin = [[0.0f64; CHUNK]; 2];
        let mut pos = 0;
        while pos < frames {
            let n = CHUNK.min(frames - pos);
            let xa = &mut a[pos..pos + n];
            let mut xb = b.as_mut().map(|b| &mut b[pos..pos + n]);
            // The detector's levels (linked without the side-chain filter,
            // the common case, in a loop of its own so it vectorizes: the
            // louder channel's magnitude is the same taken before or after
            // the exact conversion to f64).
            match xb.as_ref() {
                Some(xb) if sc_off && !ms => {
                    for ((l, a), b) in level[0][..n].iter_mut().zip(&xa[..n]).zip(&xb[..n]) {
                        *l = f64::from(a.abs().max(b.abs()));
                    }
                }
                _ => {
                    for i in 0..n {
                        let va = f64::from(xa[i]);
                        let vb = xb.as_ref().map_or(0.0, |b| f64::from(b[i]));
                        let (d0, d1) = self.sidechain(ms, sc_off, va, vb);
                        if ms {
                            level[0][i] = d0.abs();
                            level[1][i] = d1.abs();
                        } else {
                            level[0][i] = d0.abs().max(d1.abs());
                        }
                    }
                }
            }
            for p in 0..paths {
                let lv = &level[p][..n];
                let g = &mut lin[p][..n];
                // The static curve, dB (nothing below the knee).
                for (g, l) in g.iter_mut().zip(lv) {
                    *g = l + 1e-12;
                }
                vmath::ln_slice(g);
                for (g, l) in g.iter_mut().zip(lv) {
                    let v = curve.gain(20.0 * (*g * std::f64::consts::LOG10_E));
                    *g = if *l < quiet_below { 0.0 } else { v };
                }
                // The envelope, sample by sample.
                let path = &mut self.paths[p];
                let (env, lowest) = envelope_chunk(g, path.env_db, attack, release);
                path.env_db = env;
                max_gr = max_gr.max(-lowest);
                // The gains, linear (exactly 1 at no reduction).
                let zero: [bool; CHUNK] = std::array::from_fn(|i| i < n && g[i] == 0.0);
                for v in g.iter_mut() {
                    *v *= std::f64::consts::LN_10 / 20.0;
                }
                vmath::exp_slice(g);
                for (v, z) in g.iter_mut().zip(zero) {
                    if z {
                        *v = 1.0;
                    }
                }
            }
            // The audio (linked stereo in a loop of its own, so it vectorizes).
            if let (false, Some(xb)) = (ms, xb.as_mut()) {
                for ((a, b), g) in xa.iter_mut().zip(xb.iter_mut()).zip(&lin[0][..n]) {
                    let l = g * mk;
                    *a = (f64::from(*a) * l) as f32;
                    *b = (f64::from(*b) * l) as f32;
                }
            } else {
                for i in 0..n {
                    let va = f64::from(xa[i]);
                    let vb = xb.as_ref().map_or(0.0, |b| f64::from(b[i]));
                    if ms {
                        let m = 0.5 * (va + vb);
                        let s = 0.5 * (va - vb);
                        let m2 = m * lin[0][i] * mk;
                        let s2 = s * lin[1][i] * mk;
                        xa[i] = (m2 + s2) as f32;
                        if let Some(b) = xb.as_mut() {
                            b[i] = (m2 - s2) as f32;
                        }
                    } else {
                        let l = lin[0][i] * mk;
                        xa[i] = (va * l) as f32;
                        if let Some(b) = xb.as_mut() {
                            b[i] = (vb * l) as f32;
                        }
                    }
                }
            }
            pos += n;
        }
        for p in &mut self.paths {
            p.sc_hp.iter_mut().for_each(Biquad::flush_denormals);
        }
        self.gr_db = max_gr;
    }

    fn run(&mut self, block: &mut AudioBlock) {
        let still = !(self.threshold.is_moving()
            || self.ratio.is_moving()
            || self.knee.is_moving()
            || self.makeup.is_moving());
        if still {
            self.run_still(block);
        } else {
            self.run_each(block);
        }
    }

    /// The compressor a sample at a time (parameters moving).
    fn run_each(&mut self, block: &mut AudioBlock) {
        let frames = block.frames;
        let mut max_gr = 0.0f64;
        let ms = self.cfg.link == LinkMode::MidSide && self.channels == 2;
        let (first, rest) = block.channels.split_at_mut(1);
        let a = &mut first[0][..frames];
        let mut b = rest.first_mut().map(|v| &mut v[..frames]);
        let moving = self.threshold.is_moving() || self.ratio.is_moving() || self.knee.is_moving();
        let quiet = |t: f64, w: f64| {
            if moving {
                0.0
            } else {
                10f64.powf((t - w / 2.0) / 20.0) * 0.999
            }
        };
        let mut quiet_below = quiet(self.threshold.current(), self.knee.current());
        // See `sidechain`.
        let sc_off = self.paths[0].sc_hp[0].c == super::biquad::Coeffs::IDENTITY;
        // Makeup at rest stays at its value: no smoothing per sample.
        let mk_still = !self.makeup.is_moving();
        let mk0 = self.makeup.current();
        for i in 0..frames {
            let (t, r, w) = if moving {
                (self.threshold.tick(), self.ratio.tick(), self.knee.tick())
            } else {
                (
                    self.threshold.current(),
                    self.ratio.current(),
                    self.knee.current(),
                )
            };
            if moving {
                quiet_below = 0.0;
            }
            let mk = if mk_still { mk0 } else { self.makeup.tick() };
            let xa = f64::from(a[i]);
            let xb = b.as_ref().map_or(0.0, |b| f64::from(b[i]));
            if ms {
                let m = 0.5 * (xa + xb);
                let s = 0.5 * (xa - xb);
                let (dm, ds) = self.sidechain(true, sc_off, xa, xb);
                let gm = self.smooth_gain(0, dm, t, r, w, quiet_below);
                let gs = self.smooth_gain(1, ds, t, r, w, quiet_below);
                max_gr = max_gr.max(-gm).max(-gs);
                let m2 = m * fast_db_to_linear(gm) * mk;
                let s2 = s * fast_db_to_linear(gs) * mk;
                a[i] = (m2 + s2) as f32;
                if let Some(b) = b.as_mut() {
                    b[i] = (m2 - s2) as f32;
                }
            } else {
                let (da, db) = self.sidechain(false, sc_off, xa, xb);
                let g = self.smooth_gain(0, da.abs().max(db.abs()), t, r, w, quiet_below);
                max_gr = max_gr.max(-g);
                let lin = fast_db_to_linear(g) * mk;
                a[i] = (xa * lin) as f32;
                if let Some(b) = b.as_mut() {
                    b[i] = (xb * lin) as f32;
                }
            }
        }
        for p in &mut self.paths {
            p.sc_hp.iter_mut().for_each(Biquad::flush_denormals);
        }
        self.gr_db = max_gr;
    }
}

impl Processor for Compressor {
    fn name(&self) -> &'static str {
        "compressor"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        if block.frames == 0 || block.channels.is_empty() {
            return;
        }
        self.run(block);
    }

    fn reset(&mut self) {
        for p in &mut self.paths {
            p.env_db = 0.0;
            p.sc_hp.iter_mut().for_each(Biquad::reset);
        }
        self.gr_db = 0.0;
    }

    fn gain_reduction_db(&self) -> f64 {
        self.gr_db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunked path (parameters at rest) and the sample-by-sample one
    /// give the same audio and gain reduction, linked and mid/side, with
    /// and without the side-chain filter.
    #[test]
    fn chunked_and_per_sample_paths_agree() {
        let n = 48_000;
        let signal: Vec<Vec<f32>> = (0..2)
            .map(|c| {
                (0..n)
                    .map(|i| {
                        let t = i as f32 / 48_000.0;
                        let env = 0.2 + 0.8 * (t * 3.0).sin().abs();
                        env * ((t * (220.0 + 110.0 * c as f32)).sin() * 0.7
                            + (t * 3000.0).sin() * 0.2)
                    })
                    .collect()
            })
            .collect();
        for link in [LinkMode::Stereo, LinkMode::MidSide] {
            for sc in [0.0, 120.0] {
                let cfg = CompressorConfig {
                    threshold_db: -20.0,
                    ratio: 4.0,
                    knee_db: 6.0,
                    makeup_db: 3.0,
                    link,
                    sidechain_hp_hz: sc,
                    ..CompressorConfig::default()
                };
                let mut a = Compressor::new(&cfg, 48_000, 2);
                let mut b = a.clone();
                let mut worst = 0.0f32;
                for start in (0..n).step_by(1000) {
                    let mut x = AudioBlock::new(2, 1000);
                    for (d, s) in x.channels.iter_mut().zip(&signal) {
                        d.copy_from_slice(&s[start..start + 1000]);
                    }
                    x.frames = 1000;
                    let mut y = x.clone();
                    a.run_still(&mut x);
                    b.run_each(&mut y);
                    for (p, q) in x.channels.iter().zip(&y.channels) {
                        for (u, v) in p.iter().zip(q) {
                            worst = worst.max((u - v).abs());
                        }
                    }
                    assert!((a.gr_db - b.gr_db).abs() < 1e-9, "{link:?} {sc}");
                }
                assert!(a.gr_db > 1.0, "{link:?} {sc}: compressing {}", a.gr_db);
                assert!(worst <= 1e-7, "{link:?} {sc}: {worst}");
            }
        }
    }

    #[test]
    fn static_curve_matches_the_formula() {
        // Hard knee: 10 dB over a −20 dB threshold at 4:1 comes out 2.5 dB over.
        assert!((gain_computer(-10.0, -20.0, 4.0, 0.0) - (-7.5)).abs() < 1e-12);
        assert_eq!(gain_computer(-30.0, -20.0, 4.0, 0.0), 0.0);
        // Soft knee: at the threshold, (1/R − 1)(W/2)²/(2W) = −0.5625 dB for R=4, W=6.
        assert!((gain_computer(-20.0, -20.0, 4.0, 6.0) + 0.5625).abs() < 1e-12);
        // Continuous at the knee edges.
        let e = 1e-9;
        for w in [6.0, 12.0] {
            let lo = -20.0 - w / 2.0;
            let hi = -20.0 + w / 2.0;
            assert!(
                (gain_computer(lo - e, -20.0, 4.0, w) - gain_computer(lo + e, -20.0, 4.0, w)).abs()
                    < 1e-6
            );
            assert!(
                (gain_computer(hi - e, -20.0, 4.0, w) - gain_computer(hi + e, -20.0, 4.0, w)).abs()
                    < 1e-6
            );
        }
    }
}
