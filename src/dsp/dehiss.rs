//! De-hisser: STFT noise reduction with a Wiener gain and the
//! decision-directed a-priori SNR estimate (Ephraim & Malah, 1984; α 0.98),
//! which avoids the musical noise of plain spectral subtraction. Where a
//! bin holds nothing but noise the gain settles at `reduction_db` below
//! unity, so the hiss drops by what the setting says; where music stands
//! above the noise the gain is unity to within its SNR.
//!
//! What keeps the music is the noise floor: the plan layer learns it from
//! the track before the chain is built (`analysis::noise`: each bin's
//! quiet moments, held under an envelope that lets music-filled bass bins
//! rise at most 1 dB an octave above the floor the treble reveals; or a
//! passage of noise alone, `profile_start_s`..`profile_end_s`) and hands it
//! in through [`DehissConfig::profile`]. Without one (a chain built outside
//! the plan) the floor is tracked as it goes by minimum statistics (after
//! Martin, 2001: the minimum of the smoothed periodogram over about 1.5 s,
//! bias-corrected, median across ±8 bins), which overestimates it under
//! dense music and so takes some of the music with the hiss.
//!
//! Frames of [`crate::audio::noise::frame_len`] (2048 samples up to
//! 64 kHz) with 75 % overlap, Hann windows for analysis and synthesis;
//! latency is one frame. Allocation-free while processing.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::Processor;
use crate::audio::AudioBlock;
use crate::session::chain::DehissConfig;

const SMOOTH: f32 = 0.8;
const DD_ALPHA: f32 = 0.98;
/// Bias correction of the minimum of an 0.8-smoothed periodogram (set
/// empirically; Martin's analytic correction is about this for 0.8 smoothing).
const MIN_BIAS: f32 = 2.0;
const SUBWINDOWS: usize = 8;
/// Half-width of the median across frequency, bins.
const MEDIAN_HALF: usize = 8;

#[derive(Clone)]
struct ChannelState {
    input: Vec<f32>,
    output: Vec<f32>,
    hop_out: Vec<f32>,
    smoothed: Vec<f32>,
    sub_min: Vec<f32>,
    mins: Vec<Vec<f32>>,
    prev_gain: Vec<f32>,
    prev_gamma: Vec<f32>,
    raw_noise: Vec<f32>,
    noise: Vec<f32>,
}

/// The de-hisser module.
#[derive(Clone)]
pub struct Dehiss {
    size: usize,
    hop: usize,
    pos: usize,
    frames_seen: usize,
    sub_len: usize,
    sub_count: usize,
    floor: f32,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    spec: Vec<Complex<f32>>,
    scratch_f: Vec<Complex<f32>>,
    scratch_i: Vec<Complex<f32>>,
    chans: Vec<ChannelState>,
    /// The noise floor comes from a learnt profile (not tracked).
    fixed: bool,
}

impl std::fmt::Debug for Dehiss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dehiss")
            .field("size", &self.size)
            .field("floor", &self.floor)
            .finish()
    }
}

impl Dehiss {
    /// A de-hisser for `channels` channels at `rate` Hz.
    pub fn new(cfg: &DehissConfig, rate: u32, channels: usize) -> Self {
        let size = crate::audio::noise::frame_len(rate);
        let hop = size / 4;
        let bins = size / 2 + 1;
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(size);
        let ifft = planner.plan_fft_inverse(size);
        // Hann analysis (low leakage, so a loud tone does not mask its
        // neighbourhood's noise floor) × Hann synthesis = Hann², which sums
        // to 1.5 at 75 % overlap.
        let window: Vec<f32> = crate::audio::hann(size).map(|w| w as f32).collect();
        // About 1.5 s of frames for the minimum search, in SUBWINDOWS parts.
        let frames_15s = (1.5 * f64::from(rate) / hop as f64).ceil() as usize;
        let sub_len = frames_15s.div_ceil(SUBWINDOWS).max(1);
        let chan = ChannelState {
            input: vec![0.0; size],
            output: vec![0.0; size],
            hop_out: vec![0.0; hop],
            smoothed: vec![0.0; bins],
            sub_min: vec![f32::MAX; bins],
            mins: vec![vec![f32::MAX; bins]; SUBWINDOWS],
            prev_gain: vec![1.0; bins],
            prev_gamma: vec![1.0; bins],
            raw_noise: vec![0.0; bins],
            noise: vec![0.0; bins],
        };
        let mut d = Self {
            size,
            hop,
            pos: 0,
            frames_seen: 0,
            sub_len,
            sub_count: 0,
            floor: 1.0,
            window,
            time: fft.make_input_vec(),
            spec: fft.make_output_vec(),
            scratch_f: fft.make_scratch_vec(),
            scratch_i: ifft.make_scratch_vec(),
            fft,
            ifft,
            chans: vec![chan; channels],
            fixed: false,
        };
        if let Some(p) = &cfg.profile
            && p.frame == size
            && p.power.len() == channels
            && p.power.iter().all(|c| c.len() == bins)
        {
            for (ch, power) in d.chans.iter_mut().zip(&p.power) {
                ch.noise.copy_from_slice(power);
            }
            d.fixed = true;
        }
        d.set_config(cfg);
        d
    }

    /// Apply new settings.
    pub fn set_config(&mut self, cfg: &DehissConfig) {
        self.floor = 10f32.powf(-(cfg.reduction_db as f32) / 20.0);
    }

    fn run_frame(&mut self) {
        let bins = self.size / 2 + 1;
        let norm = 1.0 / (self.size as f32 * 1.5);
        let new_sub = self.sub_count + 1 >= self.sub_len;
        for ch in &mut self.chans {
            for ((t, x), w) in self.time.iter_mut().zip(&ch.input).zip(&self.window) {
                *t = x * w;
            }
            let _ =
                self.fft
                    .process_with_scratch(&mut self.time, &mut self.spec, &mut self.scratch_f);
            if !self.fixed {
                track_floor(ch, &self.spec, self.frames_seen == 0);
            }
            let bias = if self.fixed { 1.0 } else { MIN_BIAS };
            for k in 0..bins {
                let p = self.spec[k].norm_sqr();
                let noise = (ch.noise[k] * bias).max(1e-20);
                let gamma = p / noise;
                let xi = DD_ALPHA * ch.prev_gain[k] * ch.prev_gain[k] * ch.prev_gamma[k]
                    + (1.0 - DD_ALPHA) * (gamma - 1.0).max(0.0);
                let g = (xi / (1.0 + xi)).max(self.floor);
                ch.prev_gain[k] = g;
                ch.prev_gamma[k] = gamma;
                self.spec[k] *= g * norm;
            }
            // The DC and Nyquist bins must be real for the inverse transform.
            self.spec[0].im = 0.0;
            self.spec[bins - 1].im = 0.0;
            let _ =
                self.ifft
                    .process_with_scratch(&mut self.spec, &mut self.time, &mut self.scratch_i);
            for ((o, t), w) in ch.output.iter_mut().zip(&self.time).zip(&self.window) {
                *o += t * w;
            }
            ch.hop_out.copy_from_slice(&ch.output[..self.hop]);
            ch.output.copy_within(self.hop.., 0);
            let n = self.size;
            ch.output[n - self.hop..].iter_mut().for_each(|v| *v = 0.0);
            ch.input.copy_within(self.hop.., 0);
            if new_sub {
                ch.mins.rotate_left(1);
                if let Some(last) = ch.mins.last_mut() {
                    last.copy_from_slice(&ch.sub_min);
                }
                ch.sub_min.iter_mut().for_each(|v| *v = f32::MAX);
            }
        }
        self.sub_count = if new_sub { 0 } else { self.sub_count + 1 };
        self.frames_seen += 1;
    }
}

/// Track the noise floor by minimum statistics (no learnt profile): the
/// minimum of the smoothed periodogram over about 1.5 s, then the median
/// across ±[`MEDIAN_HALF`] bins.
fn track_floor(ch: &mut ChannelState, spec: &[Complex<f32>], first: bool) {
    let bins = ch.noise.len();
    for k in 0..bins {
        let p = spec[k].norm_sqr();
        let s = if first {
            p
        } else {
            SMOOTH * ch.smoothed[k] + (1.0 - SMOOTH) * p
        };
        ch.smoothed[k] = s;
        ch.sub_min[k] = ch.sub_min[k].min(s);
        let mut noise = ch.sub_min[k];
        for m in &ch.mins {
            noise = noise.min(m[k]);
        }
        ch.raw_noise[k] = noise;
    }
    // A steady tone is as "minimal" as noise in its own bins; hiss is
    // smooth across frequency, a tone is not, so take the median of
    // the floor over ±MEDIAN_HALF bins.
    for k in 0..bins {
        let lo = k.saturating_sub(MEDIAN_HALF);
        let hi = (k + MEDIAN_HALF + 1).min(bins);
        let mut win = [f32::MAX; 2 * MEDIAN_HALF + 1];
        let len = hi - lo;
        win[..len].copy_from_slice(&ch.raw_noise[lo..hi]);
        let (_, med, _) = win[..len].select_nth_unstable_by(len / 2, f32::total_cmp);
        ch.noise[k] = *med;
    }
}

impl Processor for Dehiss {
    fn name(&self) -> &'static str {
        "dehiss"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        let frames = block.frames;
        let base = self.size - self.hop;
        for f in 0..frames {
            let pos = self.pos;
            for (ch, st) in block.channels.iter_mut().zip(&mut self.chans) {
                let x = ch[f];
                ch[f] = st.hop_out[pos];
                st.input[base + pos] = x;
            }
            self.pos += 1;
            if self.pos == self.hop {
                self.pos = 0;
                self.run_frame();
            }
        }
    }

    fn reset(&mut self) {
        for ch in &mut self.chans {
            ch.input.iter_mut().for_each(|v| *v = 0.0);
            ch.output.iter_mut().for_each(|v| *v = 0.0);
            ch.hop_out.iter_mut().for_each(|v| *v = 0.0);
            ch.prev_gain.iter_mut().for_each(|v| *v = 1.0);
            ch.prev_gamma.iter_mut().for_each(|v| *v = 1.0);
        }
        self.pos = 0;
    }

    fn latency(&self) -> usize {
        self.size
    }
}
