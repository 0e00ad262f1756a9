//! Streaming sample-rate conversion, time-aligned with its input.
//!
//! The converter is rubato's FFT resampler ([`rubato::Fft`], f64) framed by a
//! steep linear-phase Kaiser-windowed FIR low-pass (fast convolution with
//! `realfft`) at the higher of the two rates. The FIR sets the band edges of
//! a mastering-grade converter, relative to the lower rate `r`: flat to
//! `0.4535 r` (20 kHz at 44.1 kHz) within ±0.0001 dB, ≥ 110 dB down from
//! `0.4762 r` (21 kHz at 44.1 kHz). rubato's own anti-alias filter sits above
//! that, near the Nyquist frequency. Both filters' delays are removed exactly
//! (whole frames), so an impulse at t = 1.000 s comes out at 1.000 s, and the
//! output has `round(input_frames × out_rate / in_rate)` frames.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler as _};

use super::AudioBlock;
use crate::audio::bessel_i0;
use crate::error::{LatheError, Result};

/// Stopband attenuation of the band-limiting FIR, in dB.
const STOPBAND_DB: f64 = 110.0;
/// Passband edge as a fraction of the lower sample rate (20 kHz at 44.1 kHz).
const PASS_FRACTION: f64 = 20_000.0 / 44_100.0;
/// Stopband edge as a fraction of the lower sample rate (21 kHz at 44.1 kHz).
const STOP_FRACTION: f64 = 21_000.0 / 44_100.0;

/// Run the real-time converter `rs` over the first `frames` frames of
/// the planar `input` into `output` (both with `input.len()` channels),
/// without allocating: the step the engine's output converter and the
/// remote listener both take. Returns the frames written, None when
/// rubato refuses the buffers.
pub fn process_planar(
    rs: &mut rubato::Async<f32>,
    input: &[Vec<f32>],
    frames: usize,
    output: &mut [Vec<f32>],
) -> Option<usize> {
    let channels = input.len();
    let max_out = output.first().map_or(0, Vec::len);
    let inp = SequentialSliceOfVecs::new(input, channels, frames).ok()?;
    let mut outp = SequentialSliceOfVecs::new_mut(output, channels, max_out).ok()?;
    rs.process_into_buffer(&inp, &mut outp, None)
        .ok()
        .map(|(_, written)| written)
}

/// Design a linear-phase low-pass FIR (Kaiser-windowed sinc, odd length)
/// passing up to `pass_hz` and `STOPBAND_DB` down from `stop_hz`, at `rate` Hz.
pub fn design_lowpass(pass_hz: f64, stop_hz: f64, rate: f64) -> Vec<f64> {
    let a = STOPBAND_DB;
    let beta = 0.1102 * (a - 8.7);
    let dw = 2.0 * std::f64::consts::PI * (stop_hz - pass_hz) / rate;
    let mut n = ((a - 7.95) / (2.285 * dw)).ceil() as usize + 1;
    if n.is_multiple_of(2) {
        n += 1;
    }
    let fc = (pass_hz + stop_hz) / 2.0 / rate; // cycles per sample
    let mid = (n - 1) as f64 / 2.0;
    let i0b = bessel_i0(beta);
    let mut taps: Vec<f64> = (0..n)
        .map(|i| {
            let t = i as f64 - mid;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
            };
            let r = t / mid;
            let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0b;
            sinc * w
        })
        .collect();
    let dc: f64 = taps.iter().sum();
    for t in &mut taps {
        *t /= dc;
    }
    taps
}

/// Streaming multi-channel FIR by overlap-save fast convolution. Its group
/// delay is removed: output frame `i` lines up with input frame `i`.
struct FastFir {
    fft: Arc<dyn RealToComplex<f64>>,
    ifft: Arc<dyn ComplexToReal<f64>>,
    spectrum: Vec<Complex<f64>>,
    size: usize,
    taps_len: usize,
    /// Per channel: the time-domain window (taps_len − 1 history + new input).
    window: Vec<Vec<f64>>,
    filled: usize,
    time_buf: Vec<f64>,
    freq_buf: Vec<Complex<f64>>,
    scratch_out: Vec<f64>,
    /// Output frames still to drop (the group delay).
    to_drop: usize,
}

impl FastFir {
    fn new(taps: &[f64], channels: usize) -> Self {
        let taps_len = taps.len();
        let size = (taps_len * 4).next_power_of_two().max(1024);
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(size);
        let ifft = planner.plan_fft_inverse(size);
        let mut padded = vec![0.0; size];
        padded[..taps_len].copy_from_slice(taps);
        let mut spectrum = fft.make_output_vec();
        // Forward transform of the taps; the length check cannot fail here.
        let _ = fft.process(&mut padded, &mut spectrum);
        let norm = 1.0 / size as f64;
        for c in &mut spectrum {
            *c *= norm;
        }
        Self {
            time_buf: vec![0.0; size],
            freq_buf: fft.make_output_vec(),
            scratch_out: vec![0.0; size],
            fft,
            ifft,
            spectrum,
            size,
            taps_len,
            window: vec![vec![0.0; size]; channels],
            filled: taps_len - 1,
            to_drop: (taps_len - 1) / 2,
        }
    }

    fn hop(&self) -> usize {
        self.size - (self.taps_len - 1)
    }

    /// Push planar input (all channels the same length); append filtered output.
    fn push(&mut self, input: &[Vec<f64>], out: &mut [Vec<f64>]) {
        let len = input.first().map_or(0, Vec::len);
        let mut pos = 0;
        while pos < len {
            let n = (self.size - self.filled).min(len - pos);
            for (w, x) in self.window.iter_mut().zip(input) {
                w[self.filled..self.filled + n].copy_from_slice(&x[pos..pos + n]);
            }
            self.filled += n;
            pos += n;
            if self.filled == self.size {
                self.run_block(self.hop(), out);
            }
        }
    }

    fn run_block(&mut self, valid: usize, out: &mut [Vec<f64>]) {
        let keep = self.taps_len - 1;
        for (w, o) in self.window.iter_mut().zip(out.iter_mut()) {
            self.time_buf.copy_from_slice(w);
            let _ = self.fft.process(&mut self.time_buf, &mut self.freq_buf);
            for (f, h) in self.freq_buf.iter_mut().zip(&self.spectrum) {
                *f *= h;
            }
            let _ = self.ifft.process(&mut self.freq_buf, &mut self.scratch_out);
            let produced = &self.scratch_out[keep..keep + valid];
            let skip = self.to_drop.min(valid);
            o.extend_from_slice(&produced[skip..]);
            // Slide: the last taps_len − 1 input samples become history.
            w.copy_within(self.size - keep.., 0);
        }
        self.to_drop -= self.to_drop.min(valid);
        self.filled = keep;
    }
}

/// A streaming, latency-compensated sample-rate converter.
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    channels: usize,
    pre: Option<FastFir>,
    post: Option<FastFir>,
    rubato: Fft<f64>,
    chunk: usize,
    /// Input waiting for a whole rubato chunk.
    pending: Vec<Vec<f64>>,
    stage_a: Vec<Vec<f64>>,
    stage_b: Vec<Vec<f64>>,
    rub_out: Vec<Vec<f64>>,
    rub_drop: usize,
    in_frames: u64,
    out_frames: u64,
}

impl Resampler {
    /// A converter from `in_rate` Hz to `out_rate` Hz for `channels` channels.
    pub fn new(in_rate: u32, out_rate: u32, channels: usize) -> Result<Self> {
        if in_rate == 0 || out_rate == 0 || channels == 0 {
            return Err(LatheError::Invalid(format!(
                "cannot convert {in_rate} Hz to {out_rate} Hz with {channels} channels"
            )));
        }
        let low = f64::from(in_rate.min(out_rate));
        let taps = design_lowpass(
            low * PASS_FRACTION,
            low * STOP_FRACTION,
            f64::from(in_rate.max(out_rate)),
        );
        let (pre, post) = if out_rate < in_rate {
            (Some(FastFir::new(&taps, channels)), None)
        } else {
            (None, Some(FastFir::new(&taps, channels)))
        };
        let chunk = 4096;
        let rubato = Fft::<f64>::new_custom(
            in_rate as usize,
            out_rate as usize,
            chunk,
            1,
            channels,
            rubato::WindowFunction::BlackmanHarris2,
            FixedSync::Input,
        )
        .map_err(|e| LatheError::Invalid(format!("resampler: {e}")))?;
        let max_out = rubato.output_frames_max();
        let rub_drop = rubato.output_delay();
        Ok(Self {
            in_rate,
            out_rate,
            channels,
            pre,
            post,
            chunk,
            pending: vec![Vec::with_capacity(chunk); channels],
            stage_a: vec![Vec::new(); channels],
            stage_b: vec![Vec::new(); channels],
            rub_out: vec![vec![0.0; max_out]; channels],
            rubato,
            rub_drop,
            in_frames: 0,
            out_frames: 0,
        })
    }

    /// Input rate in Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Output rate in Hz.
    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    fn feed(&mut self, input: &[Vec<f64>], out: &mut [Vec<f32>]) -> Result<()> {
        // Stage 1: optional band-limiting before a downsample.
        let src: Vec<Vec<f64>> = match self.pre.as_mut() {
            Some(fir) => {
                for s in &mut self.stage_a {
                    s.clear();
                }
                fir.push(input, &mut self.stage_a);
                std::mem::take(&mut self.stage_a)
            }
            None => input.to_vec(),
        };
        // Stage 2: rubato in whole chunks.
        for s in &mut self.stage_b {
            s.clear();
        }
        let len = src.first().map_or(0, Vec::len);
        let mut pos = 0;
        while pos < len {
            let need = self.chunk - self.pending[0].len();
            let n = need.min(len - pos);
            for (p, s) in self.pending.iter_mut().zip(&src) {
                p.extend_from_slice(&s[pos..pos + n]);
            }
            pos += n;
            if self.pending[0].len() == self.chunk {
                let inp = SequentialSliceOfVecs::new(&self.pending, self.channels, self.chunk)
                    .map_err(|e| LatheError::Invalid(format!("resampler input: {e}")))?;
                let max_out = self.rub_out[0].len();
                let mut outp =
                    SequentialSliceOfVecs::new_mut(&mut self.rub_out, self.channels, max_out)
                        .map_err(|e| LatheError::Invalid(format!("resampler output: {e}")))?;
                let (_, produced) = self
                    .rubato
                    .process_into_buffer(&inp, &mut outp, None)
                    .map_err(|e| LatheError::Invalid(format!("resampler: {e}")))?;
                let skip = self.rub_drop.min(produced);
                self.rub_drop -= skip;
                for (b, r) in self.stage_b.iter_mut().zip(&self.rub_out) {
                    b.extend_from_slice(&r[skip..produced]);
                }
                for p in &mut self.pending {
                    p.clear();
                }
            }
        }
        if self.pre.is_some() {
            self.stage_a = src;
        }
        // Stage 3: optional image removal after an upsample.
        let result: &[Vec<f64>] = match self.post.as_mut() {
            Some(fir) => {
                for s in &mut self.stage_a {
                    s.clear();
                }
                fir.push(&self.stage_b, &mut self.stage_a);
                &self.stage_a
            }
            None => &self.stage_b,
        };
        for (o, r) in out.iter_mut().zip(result) {
            o.extend(r.iter().map(|&v| v as f32));
        }
        self.out_frames += result.first().map_or(0, Vec::len) as u64;
        Ok(())
    }

    /// Convert the valid frames of `input`, appending converted frames to
    /// `out` (one `Vec` per channel). Output lags input by a bounded amount;
    /// [`finish`](Self::finish) delivers the rest.
    pub fn process(&mut self, input: &AudioBlock, out: &mut [Vec<f32>]) -> Result<()> {
        let planar: Vec<Vec<f64>> = input
            .channels
            .iter()
            .map(|c| c[..input.frames].iter().map(|&v| f64::from(v)).collect())
            .collect();
        self.in_frames += input.frames as u64;
        self.feed(&planar, out)
    }

    /// Flush: append the remaining output so that the total number of output
    /// frames is `round(input_frames × out_rate / in_rate)`.
    pub fn finish(&mut self, out: &mut [Vec<f32>]) -> Result<()> {
        let expected = (self.in_frames as f64 * f64::from(self.out_rate) / f64::from(self.in_rate))
            .round() as u64;
        let start_len: Vec<usize> = out.iter().map(Vec::len).collect();
        let zeros = vec![vec![0.0f64; self.chunk]; self.channels];
        let mut guard = 0;
        while self.out_frames < expected && guard < 10_000 {
            self.feed(&zeros, out)?;
            guard += 1;
        }
        let excess = (self.out_frames - expected.min(self.out_frames)) as usize;
        for (o, start) in out.iter_mut().zip(start_len) {
            let keep = o.len().saturating_sub(excess).max(start);
            o.truncate(keep);
        }
        self.out_frames = expected;
        Ok(())
    }
}

/// Convert a whole planar buffer (convenience for tests and short clips).
pub fn resample_all(input: &[Vec<f32>], in_rate: u32, out_rate: u32) -> Result<Vec<Vec<f32>>> {
    let channels = input.len();
    let mut rs = Resampler::new(in_rate, out_rate, channels)?;
    let mut out = vec![Vec::new(); channels];
    let block_len = 8192;
    let frames = input.first().map_or(0, Vec::len);
    let mut block = AudioBlock::new(channels, block_len);
    let mut pos = 0;
    while pos < frames {
        let n = block_len.min(frames - pos);
        for (b, i) in block.channels.iter_mut().zip(input) {
            b[..n].copy_from_slice(&i[pos..pos + n]);
        }
        block.frames = n;
        rs.process(&block, &mut out)?;
        pos += n;
    }
    rs.finish(&mut out)?;
    Ok(out)
}
