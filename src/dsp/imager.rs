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

/// One output frame from mid `m` and side `s` (width applied): left and
/// right, with the correlation's energies `e` (lr, ll, rr) moved on by
/// one-pole coefficient `a` (`b` = 1 − a). With `FMA`, each energy's
/// multiply and add are fused.
#[inline(always)]
fn output<const FMA: bool>(m: f64, s: f64, e: &mut [f64; 3], a: f64, b: f64) -> (f32, f32) {
    let lo = m + s;
    let ro = m - s;
    let [lr, ll, rr] = e;
    if FMA {
        *lr = a.mul_add(*lr, b * lo * ro);
        *ll = a.mul_add(*ll, b * lo * lo);
        *rr = a.mul_add(*rr, b * ro * ro);
    } else {
        *lr = a * *lr + b * lo * ro;
        *ll = a * *ll + b * lo * lo;
        *rr = a * *rr + b * ro * ro;
    }
    (lo as f32, ro as f32)
}

/// `im` with its width at rest, over `l` and `r`: mid and side a chunk at
/// a time, the crossovers over the chunk (side by side), then the width
/// and the correlation. The same arithmetic as the sample-by-sample path
/// in `process`, except that with `FMA` each multiply and the add after
/// it are fused (the same to rounding; tested). With `WAVE` (only
/// compiled into [`run_still_wave`]), the crossovers run in a wavefront
/// over 256-bit vectors, the same as with `FMA` bit for bit.
#[inline(always)]
fn run_still<const FMA: bool, const WAVE: bool>(im: &mut Imager, l: &mut [f32], r: &mut [f32]) {
    const CHUNK: usize = 256;
    // The filters and the energies in locals (kept in registers).
    let (mut mid_x, mut side_x) = (im.mid_x, im.side_x);
    let mut e = [im.e_lr, im.e_ll, im.e_rr];
    let (w0, a) = (im.width.current(), im.corr_coeff);
    let b = 1.0 - a;
    let (mut mb, mut sb) = ([0.0f64; CHUNK], [0.0f64; CHUNK]);
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
        if im.bass_mono {
            #[cfg(target_arch = "x86_64")]
            if WAVE {
                // SAFETY: `WAVE` is only compiled into `run_still_wave`,
                // which runs only where the CPU has AVX and FMA.
                unsafe { mid_x.allpass_and_high_wave(&mut side_x, &mut mb[..n], &mut sb[..n]) };
            } else {
                mid_x.allpass_and_high::<FMA>(&mut side_x, &mut mb[..n], &mut sb[..n]);
            }
            #[cfg(not(target_arch = "x86_64"))]
            mid_x.allpass_and_high::<FMA>(&mut side_x, &mut mb[..n], &mut sb[..n]);
        }
        for ((x, y), (m, s)) in lc.iter_mut().zip(rc.iter_mut()).zip(mb.iter().zip(&sb)) {
            (*x, *y) = output::<FMA>(*m, s * w0, &mut e, a, b);
        }
    }
    (im.mid_x, im.side_x) = (mid_x, side_x);
    [im.e_lr, im.e_ll, im.e_rr] = e;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn run_still_fma(im: &mut Imager, l: &mut [f32], r: &mut [f32]) {
    run_still::<true, false>(im, l, r);
}

/// [`run_still`] with the crossovers' wavefront (AVX and FMA).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
fn run_still_wave(im: &mut Imager, l: &mut [f32], r: &mut [f32]) {
    run_still::<true, true>(im, l, r);
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
        let (l, r) = block.channels.split_at_mut(1);
        let (l, r) = (&mut l[0][..frames], &mut r[0][..frames]);
        // A width at rest stays at its value: no smoothing per sample.
        if !self.width.is_moving() {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx") {
                // SAFETY: the CPU has the features the function is compiled for.
                unsafe { run_still_wave(self, l, r) };
            } else if std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the feature the function is compiled for.
                unsafe { run_still_fma(self, l, r) };
            } else {
                run_still::<false, false>(self, l, r);
            }
            #[cfg(not(target_arch = "x86_64"))]
            run_still::<false, false>(self, l, r);
        } else {
            // The filters and the energies in locals (kept in registers).
            let (mut mid_x, mut side_x) = (self.mid_x, self.side_x);
            let mut e = [self.e_lr, self.e_ll, self.e_rr];
            let a = self.corr_coeff;
            for (x, y) in l.iter_mut().zip(r.iter_mut()) {
                let w = self.width.tick();
                let mut m = 0.5 * (f64::from(*x) + f64::from(*y));
                let mut s = 0.5 * (f64::from(*x) - f64::from(*y));
                if self.bass_mono {
                    let (ml, mh) = mid_x.split(m);
                    m = ml + mh;
                    s = side_x.high(s);
                }
                (*x, *y) = output::<false>(m, s * w, &mut e, a, 1.0 - a);
            }
            (self.mid_x, self.side_x) = (mid_x, side_x);
            [self.e_lr, self.e_ll, self.e_rr] = e;
        }
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
