//! True-peak limiter: the last module before dither.
//!
//! Structure (after Geraint Luff, "Designing a straightforward limiter",
//! Signalsmith Audio): the audio is delayed by the lookahead; a detector
//! estimates the true peak of every inter-sample interval with the same ×4
//! polyphase interpolator as the analyzer (×2 at 96 kHz and up, ×1 at
//! 192 kHz and up), and each sample's required gain is
//! `min(1, ceiling / peak)` over the intervals on both sides of it. That
//! gain goes through a sliding minimum over the lookahead window (monotonic
//! deque, O(1) per sample), a release stage that can only rise slowly, and a
//! moving average as long as the lookahead. Every value averaged for a given
//! sample is at most that sample's required gain, so the gain has finished
//! falling when the peak arrives and the ceiling holds; the moving average
//! keeps the gain smooth, which keeps distortion low.
//!
//! The detector aims 0.2 dB under the ceiling. Measured here: lathe's
//! analyzer (48-tap-per-phase interpolator, in agreement with a 128-tap
//! reference to 0.003 dB on band-limited material) never reads over the
//! ceiling with a 0.02 dB margin, but ffmpeg's `ebur128=peak=true` reads up
//! to 0.15 dB higher than an ideal interpolator on dense 44.1/48 kHz
//! masters (its 4× upsampler lets images through). The margin makes the
//! guarantee hold for both meters, also after dither.
//! Release is fixed or program-dependent (auto): short after isolated
//! peaks, up to twice as long under sustained limiting, which avoids pumping.

use super::Processor;
use crate::audio::AudioBlock;
use crate::audio::interp::{
    Phases, TAPS_PER_PHASE, abs_max, design, interp_peaks, l1_bound, oversampling_for,
};
use crate::session::chain::LimiterConfig;
use crate::units::db_to_linear;

/// Safety margin under the ceiling the detector aims at, dB.
pub const CEILING_MARGIN_DB: f64 = 0.2;
/// Delay of the detector's interpolator, frames.
const DETECT_DELAY: usize = TAPS_PER_PHASE / 2 - 1;
const HIST: usize = TAPS_PER_PHASE;
/// Frames the detector handles at once.
const CHUNK: usize = 64;

/// How hard a limiter worked over what it processed: the peak and the
/// time-weighted gain reduction. Mergeable across tracks and parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitingStats {
    /// Frames processed.
    pub frames: u64,
    /// Frames with more than 3 dB of gain reduction.
    pub frames_over_3db: u64,
    /// Frames with more than 6 dB of gain reduction.
    pub frames_over_6db: u64,
    /// Smallest gain applied, linear (1.0: never reduced).
    pub min_gain: f64,
    /// Sum over frames of the gain reduction, dB (for the mean).
    pub sum_gr_db: f64,
}

impl Default for LimitingStats {
    fn default() -> Self {
        Self {
            frames: 0,
            frames_over_3db: 0,
            frames_over_6db: 0,
            min_gain: 1.0,
            sum_gr_db: 0.0,
        }
    }
}

/// Linear gains below which the reduction exceeds 3 dB and 6 dB.
const GAIN_3DB: f64 = 0.707_945_784_384_137_9;
const GAIN_6DB: f64 = 0.501_187_233_627_272_3;

impl LimitingStats {
    /// The largest gain reduction at any moment, dB (0 when never limited).
    pub fn peak_gr_db(&self) -> f64 {
        (-20.0 * self.min_gain.log10()).max(0.0)
    }

    /// The gain reduction averaged over time, dB.
    pub fn mean_gr_db(&self) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            self.sum_gr_db / self.frames as f64
        }
    }

    /// The share of the time with more than 3 dB of reduction, 0..=1.
    pub fn share_over_3db(&self) -> f64 {
        self.frames_over_3db as f64 / self.frames.max(1) as f64
    }

    /// The share of the time with more than 6 dB of reduction, 0..=1.
    pub fn share_over_6db(&self) -> f64 {
        self.frames_over_6db as f64 / self.frames.max(1) as f64
    }

    /// Add `other`'s frames (another part or track).
    pub fn merge(&mut self, other: &LimitingStats) {
        self.frames += other.frames;
        self.frames_over_3db += other.frames_over_3db;
        self.frames_over_6db += other.frames_over_6db;
        self.min_gain = self.min_gain.min(other.min_gain);
        self.sum_gr_db += other.sum_gr_db;
    }

    /// The warning for heavy limiting: "heavy limiting: more than 3 dB of
    /// gain reduction 45 % of the time, more than 6 dB 8 % (peak 14.0 dB)".
    pub fn heavy_text(&self) -> String {
        format!(
            "heavy limiting: more than 3 dB of gain reduction {:.0} % of the time, more than 6 dB {:.0} % (peak {:.1} dB)",
            self.share_over_3db() * 100.0,
            self.share_over_6db() * 100.0,
            self.peak_gr_db()
        )
    }

    /// Whether the limiter worked hard enough to warn about: more than 3 dB
    /// of reduction for over 10 % of the time, or more than 6 dB for over
    /// 1 % of it (transient peaks alone do not count).
    pub fn is_heavy(&self) -> bool {
        self.share_over_3db() > HEAVY_SHARE_OVER_3DB || self.share_over_6db() > HEAVY_SHARE_OVER_6DB
    }

    #[inline]
    fn add(&mut self, g: f64) {
        self.frames += 1;
        if g < 1.0 {
            self.min_gain = self.min_gain.min(g);
            self.sum_gr_db -= 20.0 * g.log10();
            self.frames_over_3db += u64::from(g < GAIN_3DB);
            self.frames_over_6db += u64::from(g < GAIN_6DB);
        }
    }
}

/// [`LimitingStats::is_heavy`]: more than 3 dB of reduction for over this
/// share of the time.
pub const HEAVY_SHARE_OVER_3DB: f64 = 0.10;
/// [`LimitingStats::is_heavy`]: more than 6 dB of reduction for over this
/// share of the time.
pub const HEAVY_SHARE_OVER_6DB: f64 = 0.01;

/// The true-peak limiter module.
#[derive(Debug, Clone)]
pub struct Limiter {
    rate: f64,
    cfg: LimiterConfig,
    ceiling: f64,
    lookahead: usize,
    phases: Phases,
    /// Per channel: the last HIST − 1 samples, then room for a chunk.
    hist: Vec<Vec<f32>>,
    peaks: Vec<f32>,
    tmp: Vec<f32>,
    /// The gain of each frame of the chunk being processed.
    gains: Vec<f64>,
    gain_bound: f32,
    prev_peak: f64,
    /// Monotonic deque of (index, required gain) for the sliding minimum.
    held: SlidingMin,
    smoother: GainSmoother,
    release_coeff: f64,
    sustained_gr_db: f64,
    sustain_coeff: f64,
    index: u64,
    delay: Vec<Vec<f32>>,
    delay_len: usize,
    delay_pos: usize,
    gr_db: f64,
    stats: LimitingStats,
}

impl Limiter {
    /// A limiter for `channels` channels at `rate` Hz.
    pub fn new(cfg: &LimiterConfig, rate: u32, channels: usize) -> Self {
        let r = f64::from(rate);
        let lookahead = ((cfg.lookahead_ms * 0.001 * r).round() as usize).max(1);
        let mut l = Self {
            rate: r,
            cfg: cfg.clone(),
            ceiling: 1.0,
            lookahead,
            gain_bound: l1_bound(&design(oversampling_for(rate))),
            phases: design(oversampling_for(rate)),
            hist: vec![vec![0.0; HIST - 1 + CHUNK]; channels],
            peaks: vec![0.0; CHUNK],
            tmp: vec![0.0; CHUNK],
            gains: vec![1.0; CHUNK],
            prev_peak: 0.0,
            held: SlidingMin::new(lookahead + 1),
            smoother: GainSmoother::new(lookahead),
            release_coeff: 0.0,
            sustained_gr_db: 0.0,
            sustain_coeff: super::one_pole_coeff(1000.0, r),
            index: 0,
            delay: vec![vec![0.0; lookahead + DETECT_DELAY]; channels],
            delay_len: lookahead + DETECT_DELAY,
            delay_pos: 0,
            gr_db: 0.0,
            stats: LimitingStats::default(),
        };
        l.set_config(cfg);
        l
    }

    /// Apply new ceiling and release settings (lookahead is fixed at creation).
    pub fn set_config(&mut self, cfg: &LimiterConfig) {
        self.ceiling = db_to_linear(cfg.ceiling_dbtp - CEILING_MARGIN_DB);
        self.cfg = cfg.clone();
        self.update_release();
    }

    /// The ceiling in dBTP.
    pub fn ceiling_dbtp(&self) -> f64 {
        self.cfg.ceiling_dbtp
    }

    /// How hard the limiter has worked since it was made or reset.
    pub fn stats(&self) -> LimitingStats {
        self.stats
    }

    /// Start counting [`Limiter::stats`] afresh (e.g. after a warm-up).
    pub fn reset_stats(&mut self) {
        self.stats = LimitingStats::default();
    }

    fn update_release(&mut self) {
        let ms = if self.cfg.auto_release {
            let k = (self.sustained_gr_db / 6.0).clamp(0.0, 1.0);
            self.cfg.release_ms * (0.5 + 1.5 * k)
        } else {
            self.cfg.release_ms
        };
        self.release_coeff = super::one_pole_coeff(ms, self.rate);
    }
}

/// The sliding minimum of the limiter's required gain: a monotonic deque
/// of (index, value) in a ring, O(1) per step (the planner's limiter model
/// runs the same one).
#[derive(Debug, Clone, Default)]
pub struct SlidingMin {
    idx: Vec<u64>,
    val: Vec<f64>,
    head: usize,
    len: usize,
}

impl SlidingMin {
    /// A deque holding up to `cap` (≥ 1) entries: the window length + 1.
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            idx: vec![0; cap],
            val: vec![1.0; cap],
            head: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn wrap(&self, i: usize) -> usize {
        if i >= self.idx.len() {
            i - self.idx.len()
        } else {
            i
        }
    }

    /// Add value `v` at `index`, dropping the values behind it that are
    /// not smaller (they can never be the minimum again).
    #[inline(always)]
    pub fn push(&mut self, index: u64, v: f64) {
        while self.len > 0 && self.val[self.wrap(self.head + self.len - 1)] >= v {
            self.len -= 1;
        }
        let slot = self.wrap(self.head + self.len);
        self.idx[slot] = index;
        self.val[slot] = v;
        self.len += 1;
    }

    /// Forget the entries before `oldest`.
    #[inline(always)]
    pub fn expire_before(&mut self, oldest: u64) {
        while self.len > 0 && self.idx[self.head] < oldest {
            self.head = self.wrap(self.head + 1);
            self.len -= 1;
        }
    }

    /// The minimum of the window (1 when empty: no reduction).
    #[inline(always)]
    pub fn min(&self) -> f64 {
        if self.len > 0 {
            self.val[self.head]
        } else {
            1.0
        }
    }

    /// Whether the deque holds exactly one entry, of value `v`.
    pub fn is_single(&self, v: f64) -> bool {
        self.len == 1 && self.val[self.head] == v
    }

    /// Move the single entry's index to `index` (a run of equal values
    /// pushed at once).
    pub fn restamp(&mut self, index: u64) {
        self.idx[self.head] = index;
    }

    /// Empty.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// The limiter's gain after the sliding minimum of the required gain: a
/// release stage that can only rise slowly, then a moving average over
/// the lookahead (the planner's limiter model runs the same steps).
#[derive(Debug, Clone, Default)]
pub struct GainSmoother {
    released: f64,
    ring: Vec<f64>,
    pos: usize,
    sum: f64,
    /// Steps since the released gain was last below 1.
    calm: usize,
}

impl GainSmoother {
    /// A smoother averaging over `len` (≥ 1) steps, at rest (gain 1).
    pub fn new(len: usize) -> Self {
        let len = len.max(1);
        Self {
            released: 1.0,
            ring: vec![1.0; len],
            pos: 0,
            sum: len as f64,
            calm: len,
        }
    }

    /// Whether at rest: nothing released or averaged below gain 1.
    pub fn at_rest(&self) -> bool {
        self.released == 1.0 && self.calm >= self.ring.len() && self.sum == self.ring.len() as f64
    }

    /// `n` steps at rest (each would return exactly 1): only the position
    /// moves.
    pub fn rest(&mut self, n: usize) {
        self.pos = (self.pos + n) % self.ring.len();
        self.calm = self.calm.saturating_add(n);
    }

    /// Back to rest (gain 1).
    pub fn reset(&mut self) {
        self.released = 1.0;
        self.ring.iter_mut().for_each(|v| *v = 1.0);
        self.pos = 0;
        self.sum = self.ring.len() as f64;
        self.calm = self.ring.len();
    }

    /// One step: the sliding minimum `held` (linear gain) and the release
    /// coefficient for this step; returns the smoothed gain (linear, ≤ 1).
    #[inline(always)]
    pub fn step(&mut self, held: f64, coeff: f64) -> f64 {
        let rel = 1.0 - (1.0 - self.released) * coeff;
        self.released = held.min(rel);
        self.calm = if self.released == 1.0 {
            self.calm.saturating_add(1)
        } else {
            0
        };
        self.sum += self.released - self.ring[self.pos];
        self.ring[self.pos] = self.released;
        self.pos += 1;
        let len = self.ring.len();
        if self.pos == len {
            // Re-add now and then, so rounding cannot drift.
            self.pos = 0;
            self.sum = self.ring.iter().sum();
        }
        (self.sum / len as f64).min(1.0)
    }
}

/// Swap `x` through the delay-line run `line` (each sample out of the line
/// is replaced by the incoming one) and scale what comes out by `g`.
#[inline]
fn delay_apply(line: &mut [f32], x: &mut [f32], g: &[f64]) {
    for ((d, v), g) in line.iter_mut().zip(x.iter_mut()).zip(g) {
        let out = *d;
        *d = *v;
        *v = (f64::from(out) * g) as f32;
    }
}

impl Limiter {
    /// [`Processor::process`] compiled for AVX2 (the same arithmetic, wider
    /// lanes for the delay line and the checks).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn process_avx2(&mut self, block: &mut AudioBlock) {
        self.process_impl(block);
    }

    #[inline(always)]
    fn process_impl(&mut self, block: &mut AudioBlock) {
        let frames = block.frames;
        let mut min_gain = 1.0f64;
        let dlen = self.delay_len;
        let hist = HIST - 1;
        let mut i = 0;
        while i < frames {
            let chunk = (frames - i).min(CHUNK);
            self.update_release();
            // Detector for the whole chunk: per frame, the true peak (all
            // channels) of the interval starting DETECT_DELAY + 1 frames earlier.
            self.peaks[..chunk].iter_mut().for_each(|p| *p = 0.0);
            for (h, ch) in self.hist.iter_mut().zip(block.channels.iter()) {
                h[hist..hist + chunk].copy_from_slice(&ch[i..i + chunk]);
                // Only peaks over the ceiling matter; if none is possible
                // (largest sample × the interpolator's L1 bound), skip.
                let window_max = abs_max(&h[..hist + chunk]);
                if f64::from(window_max * self.gain_bound) > self.ceiling {
                    interp_peaks(&h[..hist + chunk], &self.phases, &mut self.tmp[..chunk]);
                    for (p, t) in self.peaks[..chunk].iter_mut().zip(&self.tmp[..chunk]) {
                        *p = p.max(*t);
                    }
                }
                h.copy_within(chunk..chunk + hist, 0);
            }
            // The gain for each frame of the chunk (the serial part: sliding
            // minimum, release, moving average), then statistics and the
            // delayed audio times the gain, channel by channel.
            let mut chunk_min = 1.0f64;
            // At rest (no reduction held, released or averaged) and no peak
            // over the ceiling in the chunk: every step below would give
            // exactly 1, so give 1 and move the state on (the sliding
            // minimum holds one entry of 1, now the chunk's last frame).
            let at_rest = self.held.is_single(1.0)
                && self.smoother.at_rest()
                && self.prev_peak <= self.ceiling
                && self.peaks[..chunk]
                    .iter()
                    .fold(true, |ok, &p| ok & (f64::from(p) <= self.ceiling));
            if at_rest {
                self.index += chunk as u64;
                self.held.restamp(self.index - 1);
                self.prev_peak = f64::from(self.peaks[chunk - 1]);
                self.smoother.rest(chunk);
                self.gains[..chunk].iter_mut().for_each(|g| *g = 1.0);
                self.stats.frames += chunk as u64;
            } else {
                // Locals, so the recurrences stay in registers.
                let mut held = std::mem::take(&mut self.held);
                let mut prev_peak = self.prev_peak;
                let mut smoother = std::mem::take(&mut self.smoother);
                let mut index = self.index;
                let (ceiling, coeff) = (self.ceiling, self.release_coeff);
                let window = self.lookahead as u64;
                for (g, &peak) in self.gains[..chunk].iter_mut().zip(&self.peaks[..chunk]) {
                    let peak = f64::from(peak);
                    let p = peak.max(prev_peak);
                    prev_peak = peak;
                    let need = if p > ceiling { ceiling / p } else { 1.0 };
                    held.push(index, need);
                    held.expire_before(index + 1 - window.min(index + 1));
                    index += 1;
                    *g = smoother.step(held.min(), coeff);
                }
                self.held = held;
                self.prev_peak = prev_peak;
                self.smoother = smoother;
                self.index = index;
            }
            if !at_rest {
                for &g in &self.gains[..chunk] {
                    chunk_min = chunk_min.min(g);
                    self.stats.add(g);
                }
            }
            // Delay the audio and apply the gain meant for the delayed
            // sample, in straight runs of the delay line.
            let mut done = 0;
            let mut dp = self.delay_pos;
            while done < chunk {
                let n = (chunk - done).min(dlen - dp);
                for (line, ch) in self.delay.iter_mut().zip(block.channels.iter_mut()) {
                    delay_apply(
                        &mut line[dp..dp + n],
                        &mut ch[i + done..i + done + n],
                        &self.gains[done..done + n],
                    );
                }
                done += n;
                dp = if dp + n == dlen { 0 } else { dp + n };
            }
            self.delay_pos = dp;
            min_gain = min_gain.min(chunk_min);
            let gr = -20.0 * chunk_min.log10();
            let k = self.sustain_coeff.powi(chunk as i32);
            self.sustained_gr_db = k * self.sustained_gr_db + (1.0 - k) * gr;
            i += chunk;
        }
        self.gr_db = -20.0 * min_gain.log10();
    }
}

impl Processor for Limiter {
    fn name(&self) -> &'static str {
        "limiter"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has the feature the function is compiled for.
                unsafe { self.process_avx2(block) };
                return;
            }
        }
        self.process_impl(block);
    }

    fn reset(&mut self) {
        for h in &mut self.hist {
            h.iter_mut().for_each(|v| *v = 0.0);
        }
        self.prev_peak = 0.0;
        self.held.clear();
        self.smoother.reset();
        self.delay
            .iter_mut()
            .for_each(|l| l.iter_mut().for_each(|v| *v = 0.0));
        self.delay_pos = 0;
        self.gr_db = 0.0;
        self.sustained_gr_db = 0.0;
        self.stats = LimitingStats::default();
    }

    fn latency(&self) -> usize {
        self.lookahead + DETECT_DELAY
    }

    fn gain_reduction_db(&self) -> f64 {
        self.gr_db
    }
}
