//! Hum removal by subtraction: the hum's harmonics are measured frame by
//! frame and subtracted, so nothing but the hum is touched.
//!
//! By default only the hum that is there: the plan layer measures the
//! audio at the module's input (`analysis::hum`: the exact mains frequency
//! and which harmonics stand above the music) and the module removes
//! those alone; fixed `freq_hz`/`harmonics` override.
//!
//! Why not notches: a notch filter shifts the phase of everything near it,
//! and 50 Hz away from a 3 Hz-wide notch that is still about −30 dB of
//! error on the music (measured: −56 dBFS of error at 200 Hz on piano-like
//! music at −30 dBFS there). Here each frame of one second (Hann window,
//! half-overlapping) yields each harmonic's amplitude and phase by
//! correlation with a complex sinusoid at its exact frequency; the
//! harmonics are rebuilt, windowed again and subtracted (the windows sum
//! to one, so a steady hum cancels exactly and a drifting one is followed
//! frame by frame). Music leaks into an estimate only through the
//! window's sidelobes: about −100 dB 50 Hz away, so music at a harmonic
//! that carries no hum is left alone and music between the harmonics is
//! not shifted in phase. Music within about 2 Hz of a hum harmonic goes
//! with the hum, as with any hum removal. Latency: one frame (1 s).
//! Allocation-free while processing.

use super::Processor;
use crate::audio::AudioBlock;
use crate::session::chain::HumConfig;

/// Most harmonics removed.
const MAX: usize = 8;

/// One channel's state.
#[derive(Debug, Clone)]
struct Channel {
    /// The last `len` input samples (ring).
    input: Vec<f64>,
    /// The estimate to subtract, overlap-added (ring, `len` long).
    estimate: Vec<f64>,
}

/// The hum removal module.
#[derive(Debug, Clone)]
pub struct Hum {
    rate: f64,
    /// Frame length, samples (about 1 s, even).
    len: usize,
    /// Where the next input sample goes in the rings.
    pos: usize,
    /// Samples since the last frame was measured.
    since: usize,
    window: Vec<f64>,
    window_sum: f64,
    /// Angular frequency of each harmonic removed, rad/sample.
    omega: [f64; MAX],
    count: usize,
    channels: Vec<Channel>,
    /// Samples seen (until the first frame is full, nothing is measured).
    seen: usize,
}

impl Hum {
    /// A hum remover for `channels` channels at `rate` Hz.
    pub fn new(cfg: &HumConfig, rate: u32, channels: usize) -> Self {
        let len = ((rate as usize) / 2) * 2;
        let window: Vec<f64> = crate::audio::hann(len).collect();
        let window_sum = window.iter().sum();
        let mut h = Self {
            rate: f64::from(rate),
            len,
            pos: 0,
            since: 0,
            window,
            window_sum,
            omega: [0.0; MAX],
            count: 0,
            channels: vec![
                Channel {
                    input: vec![0.0; len],
                    estimate: vec![0.0; len],
                };
                channels
            ],
            seen: 0,
        };
        h.set_config(cfg);
        h
    }

    /// Apply new settings (allocates nothing).
    pub fn set_config(&mut self, cfg: &HumConfig) {
        let nyq = self.rate * 0.45;
        let (all, n) = cfg.notches();
        let mut count = 0;
        for (_, f) in all[..n].iter().filter(|(_, f)| *f < nyq) {
            self.omega[count] = std::f64::consts::TAU * f / self.rate;
            count += 1;
        }
        self.count = count;
    }

    /// How many harmonics are removed.
    pub fn notch_count(&self) -> usize {
        self.count
    }

    /// Measure the frame that just completed in `ch` and overlap-add its
    /// windowed hum estimate.
    fn measure(&mut self, c: usize) {
        let len = self.len;
        let start = self.pos; // the oldest sample of the frame
        let Channel { input, estimate } = &mut self.channels[c];
        for &w0 in &self.omega[..self.count] {
            // Correlate with e^{-jωn}, n from the frame's start.
            let (rs, ri) = (w0.cos(), -w0.sin());
            let (mut pr, mut pi) = (1.0f64, 0.0f64);
            let (mut cr, mut ci) = (0.0f64, 0.0f64);
            for (n, w) in self.window.iter().enumerate() {
                let x = input[(start + n) % len] * w;
                cr += x * pr;
                ci += x * pi;
                (pr, pi) = advance(pr, pi, rs, ri, n);
            }
            // The hum's amplitude and phase: A·e^{jφ} = 2·c / Σw.
            let (ar, ai) = (2.0 * cr / self.window_sum, 2.0 * ci / self.window_sum);
            // Rebuild Re(A e^{jφ} e^{jωn}), window it, add it in.
            let (rs, ri) = (w0.cos(), w0.sin());
            let (mut pr, mut pi) = (1.0f64, 0.0f64);
            for (n, w) in self.window.iter().enumerate() {
                estimate[(start + n) % len] += w * (ar * pr - ai * pi);
                (pr, pi) = advance(pr, pi, rs, ri, n);
            }
        }
    }
}

/// The phasor `pr + j·pi` turned by `rs + j·ri` (step `n` of a frame),
/// brought back onto the unit circle every 4,096 steps.
#[inline]
fn advance(pr: f64, pi: f64, rs: f64, ri: f64, n: usize) -> (f64, f64) {
    let (mut r, mut i) = (pr * rs - pi * ri, pr * ri + pi * rs);
    if n % 4096 == 4095 {
        let m = (r * r + i * i).sqrt();
        r /= m;
        i /= m;
    }
    (r, i)
}

impl Processor for Hum {
    fn name(&self) -> &'static str {
        "hum"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        let len = self.len;
        let hop = len / 2;
        for i in 0..block.frames {
            let p = self.pos;
            for (ch, st) in block.channels.iter_mut().zip(self.channels.iter_mut()) {
                // Out goes the sample `len` ago, less its finished estimate.
                let out = st.input[p] - st.estimate[p];
                st.estimate[p] = 0.0;
                st.input[p] = f64::from(ch[i]);
                ch[i] = out as f32;
            }
            self.pos = (p + 1) % len;
            self.seen = self.seen.saturating_add(1);
            self.since += 1;
            if self.since == hop {
                self.since = 0;
                if self.count > 0 && self.seen >= len {
                    for c in 0..self.channels.len() {
                        self.measure(c);
                    }
                }
            }
        }
    }

    fn reset(&mut self) {
        for ch in &mut self.channels {
            ch.input.iter_mut().for_each(|v| *v = 0.0);
            ch.estimate.iter_mut().for_each(|v| *v = 0.0);
        }
        self.pos = 0;
        self.since = 0;
        self.seen = 0;
    }

    fn latency(&self) -> usize {
        self.len
    }
}
