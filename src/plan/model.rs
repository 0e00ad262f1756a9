//! A fast model of "loudness after the gain and the true-peak limiter",
//! so the gain search needs few exact passes.
//!
//! While a track is spooled, lathe keeps a summary of it in pieces of
//! [`STEP`] frames (each 10 ms loudness sub-block cut from its start): the
//! largest true peak the limiter's detector sees in the piece, and the
//! piece's channel-weighted K-filtered energy. [`LimiterModel::summary`]
//! runs the limiter's gain computer (sliding minimum over the lookahead,
//! release, moving average) over the pieces instead of the frames, and
//! takes each piece's energy times the square of its gain as the energy
//! of the limited piece (exact where the gain is constant over the
//! K-filter's memory, close elsewhere). That is about a hundred times less
//! work than a pass over the audio, and typically within a few hundredths
//! of a LU of it; the planner measures the difference at every exact pass
//! and corrects the model with it ([`Corrections`]), so its searches land
//! on the exact answer in one or two exact passes instead of three to five.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use super::spool::Spool;
use crate::analysis::loudness::{LoudnessSummary, subblock_start};
use crate::audio::AudioBlock;
use crate::audio::interp::{Phases, TAPS_PER_PHASE, design, interp_peaks, oversampling_for};
use crate::dsp::limiter::{CEILING_MARGIN_DB, GainSmoother, SlidingMin};
use crate::error::Result;
use crate::session::chain::LimiterConfig;
use crate::units::db_to_linear;

/// Frames per piece of the summary (at 48 kHz, 3,000 pieces a second:
/// 24 kB a second of audio for the two figures).
pub const STEP: usize = 16;

/// Gating blocks: 400 ms (40 sub-blocks of 10 ms) every 100 ms, as BS.1770.
const GATE_SUBS: usize = 40;
/// Short-term blocks: 3 s (300 sub-blocks).
const SHORT_SUBS: usize = 300;
const HOP_SUBS: u64 = 10;
/// Steps of the program-dependent release's table.
const AUTO_STEPS: usize = 256;
/// Frames the detector handles at once.
const CHUNK: usize = 64;

/// Walks the pieces: each 10 ms sub-block cut into [`STEP`]-frame pieces
/// from its start, the last one shorter.
#[derive(Debug, Clone)]
struct Pieces {
    rate: u32,
    sub: u64,
    pos: u64,
    sub_end: u64,
}

impl Pieces {
    fn new(rate: u32) -> Self {
        Self {
            rate,
            sub: 0,
            pos: 0,
            sub_end: subblock_start(1, rate),
        }
    }

    /// The next piece: (frames, whether it closes its sub-block).
    #[inline]
    fn next_piece(&mut self) -> (u64, bool) {
        let n = (self.sub_end - self.pos).min(STEP as u64);
        self.pos += n;
        if self.pos == self.sub_end {
            self.sub += 1;
            self.sub_end = subblock_start(self.sub + 1, self.rate);
            (n, true)
        } else {
            (n, false)
        }
    }

    /// Number of pieces in `frames` frames.
    fn count(rate: u32, frames: u64) -> usize {
        let mut p = Self::new(rate);
        let mut n = 0;
        while p.pos < frames {
            p.next_piece();
            n += 1;
        }
        n
    }
}

/// Records each piece's largest true peak (all channels) as the limiter's
/// detector sees it, while a track is spooled.
#[derive(Debug, Clone)]
pub struct PeakRecorder {
    phases: Phases,
    /// Per channel: the last TAPS_PER_PHASE − 1 samples, then room for a chunk.
    hist: Vec<Vec<f32>>,
    tmp: Vec<f32>,
    peaks: Vec<f32>,
    /// Detector outputs so far (output `k` is the interval after frame `k − 24`).
    outputs: u64,
    pieces: Pieces,
    piece_end: u64,
    current: f32,
    out: Vec<f32>,
    frames: u64,
}

/// Detector outputs before the one for the interval after frame 0.
const DETECT_LAG: u64 = TAPS_PER_PHASE as u64 / 2;

impl PeakRecorder {
    /// A recorder for `channels` channels at `rate` Hz.
    pub fn new(rate: u32, channels: usize) -> Self {
        let mut pieces = Pieces::new(rate);
        let (n, _) = pieces.next_piece();
        Self {
            phases: design(oversampling_for(rate)),
            hist: vec![vec![0.0; TAPS_PER_PHASE - 1 + CHUNK]; channels],
            tmp: vec![0.0; CHUNK],
            peaks: vec![0.0; CHUNK],
            outputs: 0,
            pieces,
            piece_end: n,
            current: 0.0,
            out: Vec::new(),
            frames: 0,
        }
    }

    /// Feed the next block of the spooled signal.
    pub fn push(&mut self, block: &AudioBlock) {
        self.frames += block.frames as u64;
        self.feed(&block.channels, block.frames);
    }

    fn feed(&mut self, channels: &[Vec<f32>], frames: usize) {
        let hist = TAPS_PER_PHASE - 1;
        let mut i = 0;
        while i < frames {
            let chunk = (frames - i).min(CHUNK);
            self.peaks[..chunk].iter_mut().for_each(|p| *p = 0.0);
            for (h, ch) in self.hist.iter_mut().zip(channels) {
                h[hist..hist + chunk].copy_from_slice(&ch[i..i + chunk]);
                interp_peaks(&h[..hist + chunk], &self.phases, &mut self.tmp[..chunk]);
                for (p, t) in self.peaks[..chunk].iter_mut().zip(&self.tmp[..chunk]) {
                    *p = p.max(*t);
                }
                h.copy_within(chunk..chunk + hist, 0);
            }
            // The detector's first outputs precede frame 0: skip them.
            let mut f = (DETECT_LAG.saturating_sub(self.outputs) as usize).min(chunk);
            self.outputs += f as u64;
            // Then each piece's stretch of the chunk at once.
            while f < chunk {
                let m = self.outputs - DETECT_LAG;
                if m >= self.piece_end {
                    self.out.push(self.current);
                    self.current = 0.0;
                    let (n, _) = self.pieces.next_piece();
                    self.piece_end += n;
                    continue;
                }
                let take = ((self.piece_end - m) as usize).min(chunk - f);
                self.current = self.peaks[f..f + take]
                    .iter()
                    .fold(self.current, |a, p| a.max(*p));
                f += take;
                self.outputs += take as u64;
            }
            i += chunk;
        }
    }

    /// The peaks of the pieces completed since the last call.
    pub fn take(&mut self) -> Vec<f32> {
        std::mem::take(&mut self.out)
    }

    /// The peaks of the pieces not yet taken, up to the end of what was
    /// pushed (`Pieces` of all `frames` pushed in all).
    pub fn finish(mut self) -> Vec<f32> {
        // Flush the interpolator's delay with silence.
        let zeros = vec![vec![0.0f32; DETECT_LAG as usize]; self.hist.len()];
        self.feed(&zeros, DETECT_LAG as usize);
        self.out.push(self.current);
        self.out
    }
}

/// Writes the summary's pieces (peak, energy) to a spool of their own as
/// they complete, so memory stays flat however long the track.
pub struct SummaryWriter {
    spool: Spool,
    peaks: VecDeque<f32>,
    energy: VecDeque<f32>,
    block: AudioBlock,
}

impl SummaryWriter {
    /// A writer spooling to `dir`.
    pub fn create(dir: &Path) -> Result<Self> {
        Ok(Self {
            spool: Spool::create(dir, 2)?,
            peaks: VecDeque::new(),
            energy: VecDeque::new(),
            block: AudioBlock::new(2, READ_PIECES),
        })
    }

    /// Add pieces' peaks and energies as they come (in order; the two may
    /// run apart by a few pieces).
    pub fn add(&mut self, peaks: &[f32], energy: &[f32]) -> Result<()> {
        self.peaks.extend(peaks);
        self.energy.extend(energy);
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        loop {
            let n = self.peaks.len().min(self.energy.len()).min(READ_PIECES);
            if n == 0 {
                return Ok(());
            }
            for (i, (p, e)) in self
                .peaks
                .drain(..n)
                .zip(self.energy.drain(..n))
                .enumerate()
            {
                self.block.channels[0][i] = p;
                self.block.channels[1][i] = e;
            }
            self.block.frames = n;
            self.spool.write(&self.block)?;
        }
    }

    /// The model of a track of `frames` frames at `rate` Hz, from the last
    /// peaks and energies (missing pieces are silent ones).
    pub fn finish(
        mut self,
        rate: u32,
        frames: u64,
        peaks: &[f32],
        energy: &[f32],
    ) -> Result<LimiterModel> {
        self.peaks.extend(peaks);
        self.energy.extend(energy);
        let pieces = Pieces::count(rate, frames) as u64;
        let have = self.spool.frames();
        let left = pieces.saturating_sub(have) as usize;
        self.peaks.resize(left, 0.0);
        self.energy.resize(left, 0.0);
        self.flush()?;
        self.spool.finish()?;
        Ok(LimiterModel {
            rate,
            frames,
            spool: self.spool,
        })
    }
}

/// Pieces read at once by the model.
const READ_PIECES: usize = 8192;

/// The summary of a spooled track the model runs on (in a spool of its
/// own: 8 bytes a piece, 0.5 bytes a frame, read through at each use).
pub struct LimiterModel {
    rate: u32,
    frames: u64,
    /// Per piece: the largest detector peak (linear) and the
    /// channel-weighted K-filtered energy (sum of squares).
    spool: Spool,
}

impl std::fmt::Debug for LimiterModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimiterModel")
            .field("frames", &self.frames)
            .field("pieces", &self.spool.frames())
            .finish()
    }
}

impl LimiterModel {
    /// Frames summarized.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The modelled loudness summary (gating and short-term blocks) of the track
    /// after `gain_db` into a limiter set as `cfg`, its energy scaled by
    /// `correction_db` (dB, see [`Corrections`]).
    pub fn summary(
        &self,
        cfg: &LimiterConfig,
        gain_db: f64,
        correction_db: f64,
    ) -> Result<LoudnessSummary> {
        let mut out = LoudnessSummary::default();
        let n = self.spool.frames() as usize;
        if n == 0 {
            return Ok(out);
        }
        let mut reader = self.spool.reader()?;
        let mut block = AudioBlock::new(2, READ_PIECES);
        let mut at = 0;
        let rate = f64::from(self.rate);
        let ceiling = db_to_linear(cfg.ceiling_dbtp - CEILING_MARGIN_DB);
        let gain = db_to_linear(gain_db);
        // The correction is in LU: a power ratio of 10^(dB/10).
        let power_gain = (gain * db_to_linear(correction_db)).powi(2);
        let lookahead = ((cfg.lookahead_ms * 0.001 * rate).round() as usize).max(1);
        let w = lookahead.div_ceil(STEP).max(1);
        // Limiter state.
        let mut held = SlidingMin::new(w + 2);
        let mut sustained_db = 0.0f64;
        let mut smoother = GainSmoother::new(w);
        // Energies of the pieces read but not yet given their gain.
        let mut energies = vec![0.0f32; w + 1];
        let (mut in_slot, mut out_slot) = (0usize, 0usize);
        let release_frames = |ms: f64| ms * 0.001 * rate;
        let sustain_k = (-((STEP * SUSTAIN_PIECES) as f64) / release_frames(1000.0)).exp();
        let mut countdown = SUSTAIN_PIECES;
        let fixed_coeff = (-(STEP as f64) / release_frames(cfg.release_ms)).exp();
        // Program-dependent release: the coefficient of a whole piece for
        // each 1/256 of the release's range (sustained reduction 0..6 dB).
        let auto_coeffs: Vec<f64> = if cfg.auto_release {
            (0..=AUTO_STEPS)
                .map(|i| {
                    let ms = cfg.release_ms * (0.5 + 1.5 * i as f64 / AUTO_STEPS as f64);
                    (-(STEP as f64) / release_frames(ms)).exp()
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut auto_coeff = auto_coeffs.first().copied().unwrap_or(fixed_coeff);
        // Loudness state.
        let mut pieces = Pieces::new(self.rate);
        let mut sub_e = 0.0f64;
        let mut sub_n = 0u64;
        // The last 3 s of sub-blocks: 400 ms gating blocks and 3 s
        // short-term blocks end at each 100 ms hop.
        let mut ring_e = vec![0.0f64; SHORT_SUBS];
        let mut ring_n = vec![0u64; SHORT_SUBS];
        let mut subs = 0u64;
        for b in 0..n + w {
            if b < n {
                if at == block.frames {
                    reader.read(&mut block)?;
                    at = 0;
                }
                energies[in_slot] = block.channels[1][at];
                in_slot = if in_slot == w { 0 } else { in_slot + 1 };
                let p = f64::from(block.channels[0][at]) * gain;
                at += 1;
                let need = if p > ceiling { ceiling / p } else { 1.0 };
                held.push(b as u64, need);
            }
            if b < w {
                continue;
            }
            let o = b - w;
            held.expire_before(o as u64);
            let (frames, closes) = pieces.next_piece();
            let coeff = if cfg.auto_release {
                let k = (sustained_db / 6.0).clamp(0.0, 1.0);
                if frames == STEP as u64 {
                    auto_coeff
                } else {
                    let ms = cfg.release_ms * (0.5 + 1.5 * k);
                    (-(frames as f64) / release_frames(ms)).exp()
                }
            } else if frames == STEP as u64 {
                fixed_coeff
            } else {
                (-(frames as f64) / release_frames(cfg.release_ms)).exp()
            };
            let g = smoother.step(held.min(), coeff);
            // The sustained reduction (1 s) moves every SUSTAIN_PIECES
            // pieces, from the gain then: the release's program dependence
            // is the same, and the pieces between do not wait on the
            // logarithm (the summary runs several times as fast).
            if cfg.auto_release {
                countdown -= 1;
            }
            if countdown == 0 {
                countdown = SUSTAIN_PIECES;
                sustained_db = if g < 1.0 {
                    sustain_k * sustained_db + (1.0 - sustain_k) * reduction_db(g)
                } else {
                    sustained_db * sustain_k
                };
                let k = (sustained_db / 6.0).clamp(0.0, 1.0);
                auto_coeff = auto_coeffs[(k * AUTO_STEPS as f64 + 0.5) as usize];
            }
            sub_e += f64::from(energies[out_slot]) * g * g;
            out_slot = if out_slot == w { 0 } else { out_slot + 1 };
            sub_n += frames;
            if closes || o + 1 == n {
                let slot = (subs % SHORT_SUBS as u64) as usize;
                ring_e[slot] = sub_e * power_gain;
                ring_n[slot] = sub_n;
                subs += 1;
                if subs.is_multiple_of(HOP_SUBS) {
                    let last = |len: usize| {
                        let (mut e, mut k) = (0.0, 0u64);
                        for j in 1..=len {
                            let i = (slot + SHORT_SUBS + 1 - j) % SHORT_SUBS;
                            e += ring_e[i];
                            k += ring_n[i];
                        }
                        e / k as f64
                    };
                    if subs >= GATE_SUBS as u64 {
                        out.gating.add(last(GATE_SUBS));
                    }
                    if subs >= SHORT_SUBS as u64 {
                        out.short_term.add(last(SHORT_SUBS));
                    }
                }
                sub_e = 0.0;
                sub_n = 0;
            }
        }
        Ok(out)
    }
}

/// Pieces between updates of the model's sustained reduction.
const SUSTAIN_PIECES: usize = 4;

/// Gain reduction of linear gain `g` (0 < g ≤ 1), dB, to about 0.001 dB
/// (what the model's program-dependent release needs, cheaper than
/// `log10`): the exponent, plus ln of the mantissa m ∈ [1, 2) by its
/// series in t = (m − 1)/(m + 1) < 1/3, to t⁷.
#[inline]
fn reduction_db(g: f64) -> f64 {
    let bits = g.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let ln_m = 2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (0.2 + t2 / 7.0)));
    // −20·log10(g) = −20·(e·ln 2 + ln m)/ln 10.
    -20.0 * (e as f64 * std::f64::consts::LN_2 + ln_m) / std::f64::consts::LN_10
}

/// What the exact passes taught about the model of one track: the
/// difference exact − model (LU) at each headroom (ceiling − gain, dB)
/// measured. The model moves dB for dB with gain and ceiling together, so
/// the difference depends on the headroom alone; between points it is
/// interpolated linearly, outside them held.
#[derive(Debug, Default)]
pub struct Corrections {
    points: Mutex<Vec<(f64, f64)>>,
}

impl Corrections {
    /// The correction at headroom `headroom_db`, LU (0 before any exact pass).
    pub fn at(&self, headroom_db: f64) -> f64 {
        let Ok(p) = self.points.lock() else {
            return 0.0;
        };
        interpolate(&p, headroom_db)
    }

    /// Learn that the exact loudness exceeded the model's by `delta_lu` at
    /// headroom `headroom_db`.
    pub fn learn(&self, headroom_db: f64, delta_lu: f64) {
        if !delta_lu.is_finite() || !headroom_db.is_finite() {
            return;
        }
        if let Ok(mut p) = self.points.lock() {
            // A point this close replaces the old one.
            p.retain(|(h, _)| (h - headroom_db).abs() > 0.005);
            p.push((headroom_db, delta_lu));
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    }
}

/// Piecewise-linear interpolation through sorted `points`, held at the ends.
fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    match points {
        [] => 0.0,
        [only] => only.1,
        _ => {
            let i = points.partition_point(|p| p.0 < x);
            if i == 0 {
                return points[0].1;
            }
            if i == points.len() {
                return points[i - 1].1;
            }
            let (a, b) = (points[i - 1], points[i]);
            let t = (x - a.0) / (b.0 - a.0);
            a.1 + t * (b.1 - a.1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_reduction_matches_log10() {
        for k in 1..=2000 {
            let g = f64::from(k) / 2000.0;
            let want = -20.0 * g.log10();
            assert!(
                (reduction_db(g) - want).abs() < 0.001,
                "{g}: {} vs {want}",
                reduction_db(g)
            );
        }
    }
}
