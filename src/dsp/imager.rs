//! Stereo imager: mid/side width 0–200 %, phase-coherent bass mono, and a
//! correlation readout.
//!
//! Bass mono splits the side signal with a Linkwitz–Riley crossover and keeps
//! only its upper band, while the mid passes through the same crossover's
//! all-pass sum; above the crossover mid and side therefore share one phase
//! response, so the image does not smear. Correlation is the normalized
//! cross-correlation of left and right over about 300 ms.

use super::Processor;
use super::biquad::Crossover;
use super::smoother::Smoother;
use crate::audio::AudioBlock;
use crate::session::chain::ImagerConfig;

/// The stereo imager module (mono material passes untouched).
#[derive(Debug, Clone)]
pub struct Imager {
    rate: f64,
    width: Smoother,
    bass_mono: bool,
    mid_x: Crossover,
    side_x: Crossover,
    corr_coeff: f64,
    e_lr: f64,
    e_ll: f64,
    e_rr: f64,
}

impl Imager {
    /// An imager at `rate` Hz.
    pub fn new(cfg: &ImagerConfig, rate: u32) -> Self {
        let r = f64::from(rate);
        let f = if cfg.bass_mono_hz > 0.0 {
            cfg.bass_mono_hz
        } else {
            100.0
        };
        Self {
            rate: r,
            width: Smoother::new(cfg.width_pct / 100.0, 20.0, r),
            bass_mono: cfg.bass_mono_hz > 0.0,
            mid_x: Crossover::new(f, r),
            side_x: Crossover::new(f, r),
            corr_coeff: super::one_pole_coeff(300.0, r),
            e_lr: 0.0,
            e_ll: 0.0,
            e_rr: 0.0,
        }
    }

    /// Apply new settings (width smoothed).
    pub fn set_config(&mut self, cfg: &ImagerConfig) {
        self.width.set(cfg.width_pct / 100.0);
        self.bass_mono = cfg.bass_mono_hz > 0.0;
        if self.bass_mono {
            self.mid_x.set_freq(cfg.bass_mono_hz, self.rate);
            self.side_x.set_freq(cfg.bass_mono_hz, self.rate);
        }
    }

    /// Correlation of the output, −1 (out of phase) … +1 (mono).
    pub fn correlation(&self) -> f64 {
        let d = (self.e_ll * self.e_rr).sqrt();
        if d < 1e-20 {
            1.0
        } else {
            (self.e_lr / d).clamp(-1.0, 1.0)
        }
    }
}

/// The imager with the width at rest, over `l` and `r`: mid and side a
/// chunk at a time, the crossovers over the chunk (side by side), then
/// width `w0` and the correlation's energies `e` (lr, ll, rr; one-pole
/// coefficient `a`). The same arithmetic as the sample-by-sample loop in
/// `process`, except that with `FMA` each multiply and the add after it are
/// fused (to rounding the same; tested).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn run_still<const FMA: bool>(
    mid_x: &mut Crossover,
    side_x: &mut Crossover,
    bass_mono: bool,
    w0: f64,
    a: f64,
    e: &mut [f64; 3],
    l: &mut [f32],
    r: &mut [f32],
) {
    const CHUNK: usize = 256;
    let (mut mb, mut sb) = ([0.0f64; CHUNK], [0.0f64; CHUNK]);
    let [mut e_lr, mut e_ll, mut e_rr] = *e;
    let b = 1.0 - a;
    for (lc, rc) in l.chunks_mut(CHUNK).zip(r.chunks_mut(CHUNK)) {
        let n = lc.len();
        for ((m, s), (x, y)) in mb
            .iter_mut()
            .zip(sb.iter_mut())
            .zip(lc.iter().zip(rc.iter()))
        {
            *m = 0.5 * (f64::from(*x) + f64::from(*y));
            *s = 0.5 * (f64::from(*x) - f64::from(*y));
        }
        if bass_mono {
            mid_x.allpass_and_high::<FMA>(side_x, &mut mb[..n], &mut sb[..n]);
        }
        for ((x, y), (m, s)) in lc.iter_mut().zip(rc.iter_mut()).zip(mb.iter().zip(&sb)) {
            let s = s * w0;
            let lo = m + s;
            let ro = m - s;
            *x = lo as f32;
            *y = ro as f32;
            if FMA {
                e_lr = a.mul_add(e_lr, b * lo * ro);
                e_ll = a.mul_add(e_ll, b * lo * lo);
                e_rr = a.mul_add(e_rr, b * ro * ro);
            } else {
                e_lr = a * e_lr + b * lo * ro;
                e_ll = a * e_ll + b * lo * lo;
                e_rr = a * e_rr + b * ro * ro;
            }
        }
    }
    *e = [e_lr, e_ll, e_rr];
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
#[allow(clippy::too_many_arguments)]
fn run_still_fma(
    mid_x: &mut Crossover,
    side_x: &mut Crossover,
    bass_mono: bool,
    w0: f64,
    a: f64,
    e: &mut [f64; 3],
    l: &mut [f32],
    r: &mut [f32],
) {
    run_still::<true>(mid_x, side_x, bass_mono, w0, a, e, l, r);
}

impl Processor for Imager {
    fn name(&self) -> &'static str {
        "imager"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        if block.channels.len() != 2 {
            return;
        }
        let frames = block.frames;
        let a = self.corr_coeff;
        let (l, r) = block.channels.split_at_mut(1);
        // The filters and the correlation's energies in locals for the
        // loop (kept in registers), written back after it.
        let mut mid_x = self.mid_x;
        let mut side_x = self.side_x;
        let [mut e_lr, mut e_ll, mut e_rr] = [self.e_lr, self.e_ll, self.e_rr];
        // A width at rest stays at its value: no smoothing per sample.
        let still = !self.width.is_moving();
        let w0 = self.width.current();
        let bass_mono = self.bass_mono;
        if still {
            let mut e = [e_lr, e_ll, e_rr];
            let (lc, rc) = (&mut l[0][..frames], &mut r[0][..frames]);
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the feature the function is compiled for.
                unsafe { run_still_fma(&mut mid_x, &mut side_x, bass_mono, w0, a, &mut e, lc, rc) };
            } else {
                run_still::<false>(&mut mid_x, &mut side_x, bass_mono, w0, a, &mut e, lc, rc);
            }
            #[cfg(not(target_arch = "x86_64"))]
            run_still::<false>(&mut mid_x, &mut side_x, bass_mono, w0, a, &mut e, lc, rc);
            [e_lr, e_ll, e_rr] = e;
        }
        let moving = if still { 0 } else { frames };
        for (x, y) in l[0][..moving].iter_mut().zip(&mut r[0][..moving]) {
            let w = self.width.tick();
            let mut m = 0.5 * (f64::from(*x) + f64::from(*y));
            let mut s = 0.5 * (f64::from(*x) - f64::from(*y));
            if bass_mono {
                let (ml, mh) = mid_x.split(m);
                m = ml + mh;
                s = side_x.high(s);
            }
            s *= w;
            let lo = m + s;
            let ro = m - s;
            *x = lo as f32;
            *y = ro as f32;
            e_lr = a * e_lr + (1.0 - a) * lo * ro;
            e_ll = a * e_ll + (1.0 - a) * lo * lo;
            e_rr = a * e_rr + (1.0 - a) * ro * ro;
        }
        [self.e_lr, self.e_ll, self.e_rr] = [e_lr, e_ll, e_rr];
        self.mid_x = mid_x;
        self.side_x = side_x;
        self.mid_x.flush();
        self.side_x.flush();
    }

    fn reset(&mut self) {
        self.mid_x.reset();
        self.side_x.reset();
        self.e_lr = 0.0;
        self.e_ll = 0.0;
        self.e_rr = 0.0;
    }
}
