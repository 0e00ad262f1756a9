//! The codec check: what AAC, MP3 or Opus do to a master. Each codec's
//! round trip ([`crate::io::lossy`]) is decoded to float without clamping,
//! aligned to the source by cross-correlation (each codec adds its own
//! delay), and measured as it streams:
//!
//! - the decoded sample peak and true peak (lathe's BS.1770 interpolator);
//! - overs per channel, as Apple's `afclip` counts them: **on-sample**
//!   (a decoded sample beyond full scale) and **inter-sample** (an
//!   interpolated point beyond full scale between two samples that are
//!   not), with the first few times;
//! - the loudness change (decoded − source, integrated, over the aligned
//!   span) and the level of the codec's artifacts (decoded − source, in
//!   LUFS);
//! - the trim: how far to lower the ceiling so the decoded true peak stays
//!   under it (a codec's peak excess follows the input's level closely).
//!
//! The codecs of one check run in parallel threads.

use std::path::{Path, PathBuf};

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

mod report;

pub use report::{format_table, to_json};

use super::loudness::LoudnessMeter;
use super::truepeak::{
    Phases, TAPS_PER_PHASE, TruePeakMeter, abs_max, design, interp_peaks, l1_bound,
};
use crate::error::Result;
use crate::io::AudioSource;
use crate::io::lossy::{self, CodecSpec, RateReader};
use crate::units::linear_to_db;

/// Frames of the source used to find the codec's delay (~5.2 s at
/// 44.1 kHz), compared with as many decoded frames plus [`MAX_DELAY`] on
/// each side: one 2¹⁹-point FFT.
pub const ALIGN_FRAMES: usize = (1 << 18) - 2 * MAX_DELAY;
/// The largest codec delay looked for, either way, frames.
pub const MAX_DELAY: usize = 16_384;
/// Over times kept per channel.
pub const FIRST_OVERS: usize = 5;
/// Lags whose correlation is within this fraction of the best one's count
/// as tied.
pub const TIE: f64 = 0.002;
/// Correlation under which the alignment is reported as uncertain.
const MIN_CORRELATION: f64 = 0.5;

/// One over: where and how far above full scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Over {
    /// Time in the source, seconds.
    pub time_s: f64,
    /// Channel (0 = left).
    pub channel: usize,
    /// True for an inter-sample over, false for an on-sample one.
    pub inter_sample: bool,
    /// Level above full scale, dB.
    pub level_db: f64,
}

/// Over counts of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverCounts {
    /// Decoded samples beyond full scale.
    pub on_sample: u64,
    /// Sample intervals whose interpolated signal goes beyond full scale
    /// while both samples stay within it.
    pub inter_sample: u64,
}

/// What one codec does to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct CodecReport {
    /// The codec and bit rate.
    pub codec: CodecSpec,
    /// What encoded and decoded it (library or program, version).
    pub encoder: String,
    /// The rate it ran at, Hz.
    pub rate: u32,
    /// The codec's delay found by alignment, frames at `rate`.
    pub delay_frames: i64,
    /// Normalized cross-correlation at that delay (1 = identical shape).
    pub correlation: f64,
    /// The source's true peak at the coding rate, dBTP.
    pub source_true_peak_dbtp: f64,
    /// The decoded true peak, dBTP.
    pub true_peak_dbtp: f64,
    /// The decoded sample peak, dBFS.
    pub sample_peak_dbfs: f64,
    /// Overs per channel.
    pub overs: Vec<OverCounts>,
    /// The first overs of each channel (up to [`FIRST_OVERS`] each), in
    /// time order.
    pub first_overs: Vec<Over>,
    /// The source's integrated loudness over the compared span, LUFS.
    pub source_lufs: f64,
    /// Decoded − source integrated loudness, LU.
    pub loudness_change_lu: f64,
    /// Loudness of what the codec added and removed (decoded − source),
    /// LUFS.
    pub artifacts_lufs: f64,
    /// The ceiling the trim is figured against, dBTP.
    pub ceiling_dbtp: f64,
    /// Lower the master's ceiling by this much for the decoded true peak to
    /// stay under `ceiling_dbtp`, dB (0: no trim needed).
    pub trim_db: f64,
}

impl CodecReport {
    /// All overs of every channel.
    pub fn total_overs(&self) -> u64 {
        self.overs
            .iter()
            .map(|o| o.on_sample + o.inter_sample)
            .sum()
    }
}

/// Check the file at `path` through each codec of `specs` (in parallel);
/// `ceiling_dbtp` is what the decoded true peak should stay under. A codec
/// that cannot run (its encoder missing) gives its own error; the others
/// still run.
pub fn check_file(
    path: &Path,
    specs: &[CodecSpec],
    ceiling_dbtp: f64,
) -> Vec<(CodecSpec, Result<CodecReport>)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .iter()
            .map(|&spec| (spec, s.spawn(move || check(path, spec, ceiling_dbtp))))
            .collect();
        handles
            .into_iter()
            .map(|(spec, h)| {
                let r = h.join().unwrap_or_else(|_| {
                    Err(crate::error::LatheError::Invalid(format!(
                        "{}: {spec}: the check stopped unexpectedly",
                        path.display()
                    )))
                });
                (spec, r)
            })
            .collect()
    })
}

/// Check the file at `path` through one codec.
pub fn check(path: &Path, spec: CodecSpec, ceiling_dbtp: f64) -> Result<CodecReport> {
    let encoder = spec.encoder().map_err(|why| {
        crate::error::LatheError::Invalid(format!("{}: {spec}: {why}", path.display()))
    })?;
    let info = crate::io::open_source(path)?.info().clone();
    let rate = spec.coding_rate(info.sample_rate);
    let mut cmp = Comparer::new(
        path,
        rate,
        info.channels,
        &info.channel_weights,
        spec.expected_delay(),
    )?;
    lossy::round_trip(spec, path, &mut |block| cmp.push(block))?;
    cmp.finish()?;
    Ok(cmp.report(spec, encoder, ceiling_dbtp))
}

/// The file at `path` through `spec` and back, aligned to the file (the
/// codec's delay found by cross-correlation and removed), converted back
/// to `rate` Hz and cut or padded to `frames`; with the delay found
/// (frames at the coding rate). For the interface's codec preview.
pub fn decode_aligned(
    path: &Path,
    spec: CodecSpec,
    rate: u32,
    frames: usize,
) -> Result<(Vec<Vec<f32>>, i64)> {
    let info = crate::io::open_source(path)?.info().clone();
    let coding = spec.coding_rate(info.sample_rate);
    let mut decoded: Vec<Vec<f32>> = vec![Vec::new(); info.channels];
    lossy::round_trip(spec, path, &mut |b| {
        for (d, c) in decoded.iter_mut().zip(b) {
            d.extend_from_slice(c);
        }
        Ok(())
    })?;
    let mut reader = RateReader::open(path, coding)?;
    let mut reference: Vec<Vec<f32>> = vec![Vec::new(); info.channels];
    while reference[0].len() < ALIGN_FRAMES {
        match reader.next_block()? {
            Some(b) => {
                for (r, c) in reference.iter_mut().zip(b) {
                    r.extend_from_slice(c);
                }
            }
            None => break,
        }
    }
    let expected = spec.expected_delay();
    let delay = head_delay(&reference, &decoded, expected).map_or(expected, |f| f.0);
    let shifted: Vec<Vec<f32>> = decoded
        .into_iter()
        .map(|c| {
            if delay >= 0 {
                c[(delay as usize).min(c.len())..].to_vec()
            } else {
                let mut v = vec![0.0; delay.unsigned_abs() as usize];
                v.extend_from_slice(&c);
                v
            }
        })
        .collect();
    let mut out = if coding == rate {
        shifted
    } else {
        crate::io::resample::resample_all(&shifted, coding, rate)?
    };
    for o in &mut out {
        o.resize(frames, 0.0);
    }
    Ok((out, delay))
}

/// "1 over", "12 overs".
pub fn overs_text(n: u64) -> String {
    if n == 1 {
        "1 over".to_string()
    } else {
        format!("{n} overs")
    }
}

/// The trim that keeps a decoded true peak of `true_peak_dbtp` under
/// `ceiling_dbtp`, dB (≤ 0, rounded away from zero to 0.1 dB).
pub fn trim_for(true_peak_dbtp: f64, ceiling_dbtp: f64) -> f64 {
    let excess = true_peak_dbtp - ceiling_dbtp;
    if excess > 0.0 {
        -(excess * 10.0 - 1e-9).ceil() / 10.0
    } else {
        0.0
    }
}

/// The delay of `decoded` against `reference`, frames (positive: the
/// decoded signal comes later), searched within ±`max_delay`, with its
/// normalized cross-correlation; `None` if either is silent. A periodic
/// signal (a steady tone) correlates almost equally at every period: of
/// the lags within [`TIE`] of the best, the one nearest `expected` wins.
pub fn find_delay(
    reference: &[f32],
    decoded: &[f32],
    max_delay: usize,
    expected: i64,
) -> Option<(i64, f64)> {
    let er: f64 = reference.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let ed: f64 = decoded.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    if er <= 0.0 || ed <= 0.0 {
        return None;
    }
    let n = (reference.len() + decoded.len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let spectrum = |x: &[f32]| {
        let mut buf = x.to_vec();
        buf.resize(n, 0.0);
        let mut out = fwd.make_output_vec();
        fwd.process(&mut buf, &mut out).ok()?;
        Some(out)
    };
    let r = spectrum(reference)?;
    let d = spectrum(decoded)?;
    let mut prod: Vec<Complex<f32>> = r.iter().zip(&d).map(|(a, b)| a.conj() * b).collect();
    // The first and last bins of a real signal's spectrum are real.
    if let Some(first) = prod.first_mut() {
        first.im = 0.0;
    }
    if let Some(last) = prod.last_mut() {
        last.im = 0.0;
    }
    let mut corr = vec![0.0; n];
    inv.process(&mut prod, &mut corr).ok()?;
    let max = max_delay.min(n / 2 - 1) as i64;
    let at = |lag: i64| f64::from(corr[lag.rem_euclid(n as i64) as usize]);
    let top = (-max..=max).map(at).fold(f64::NEG_INFINITY, f64::max);
    let lag = (-max..=max)
        .filter(|&l| at(l) >= top - TIE * top.abs())
        .min_by_key(|&l| (l - expected).abs())?;
    Some((lag, at(lag) / n as f64 / (er * ed).sqrt()))
}

/// The codec's delay from the start of a stream: the channels summed,
/// the first [`ALIGN_FRAMES`] of `reference` against the first
/// [`ALIGN_FRAMES`] + [`MAX_DELAY`] of `decoded` (see [`find_delay`]).
fn head_delay(reference: &[Vec<f32>], decoded: &[Vec<f32>], expected: i64) -> Option<(i64, f64)> {
    let mono = |planar: &[Vec<f32>], most: usize| -> Vec<f32> {
        let len = planar.first().map_or(0, |c| c.len().min(most));
        (0..len)
            .map(|i| planar.iter().map(|c| c[i]).sum())
            .collect()
    };
    let r = mono(reference, ALIGN_FRAMES);
    let d = mono(decoded, ALIGN_FRAMES + MAX_DELAY);
    find_delay(&r, &d, MAX_DELAY, expected)
}

/// True peak, sample peak and overs of one channel, streaming.
#[derive(Debug, Clone)]
pub struct PeakOverMeter {
    phases: Phases,
    bound: f32,
    /// The last `TAPS_PER_PHASE − 1` samples, then the new ones.
    buf: Vec<f32>,
    scratch: Vec<f32>,
    /// Index of the next sample pushed.
    next: u64,
    /// Largest interpolated or sample magnitude.
    true_peak: f32,
    sample_peak: f32,
    counts: OverCounts,
    /// (sample index, inter-sample, magnitude), the first [`FIRST_OVERS`].
    first: Vec<(u64, bool, f32)>,
}

impl PeakOverMeter {
    /// A meter for a channel at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        let phases = design(super::truepeak::oversampling_for(rate));
        Self {
            bound: l1_bound(&phases),
            phases,
            buf: vec![0.0; TAPS_PER_PHASE - 1],
            scratch: Vec::new(),
            next: 0,
            true_peak: 0.0,
            sample_peak: 0.0,
            counts: OverCounts::default(),
            first: Vec::new(),
        }
    }

    fn note(&mut self, index: u64, inter: bool, value: f32) {
        if self.first.len() < FIRST_OVERS {
            self.first.push((index, inter, value));
        }
    }

    /// Feed samples.
    pub fn push(&mut self, x: &[f32]) {
        for part in x.chunks(512) {
            for (k, &v) in part.iter().enumerate() {
                if v.abs() > 1.0 {
                    self.counts.on_sample += 1;
                    self.note(self.next + k as u64, false, v.abs());
                }
            }
            self.sample_peak = self.sample_peak.max(abs_max(part));
            self.interpolate(part);
            self.next += part.len() as u64;
        }
    }

    /// Push the last samples through the interpolator (call once, at the
    /// end of the stream).
    pub fn finish(&mut self) {
        let zeros = [0f32; TAPS_PER_PHASE / 2];
        self.interpolate(&zeros);
    }

    /// Interpolate where an over or a new true peak is possible: no point
    /// of a window exceeds its largest sample times the interpolator's L1
    /// norm, so other windows are skipped (exact).
    fn interpolate(&mut self, part: &[f32]) {
        let hist = TAPS_PER_PHASE - 1;
        self.buf.truncate(hist);
        self.buf.extend_from_slice(part);
        let limit = self.true_peak.min(1.0);
        if abs_max(&self.buf) * self.bound > limit {
            let n = part.len();
            self.scratch.resize(n, 0.0);
            interp_peaks(&self.buf, &self.phases, &mut self.scratch);
            // Window i is centred on buf[i + 23], the sample with index
            // next − 24 + i; its points lie between it and buf[i + 24].
            let half = TAPS_PER_PHASE / 2;
            for i in 0..n {
                let p = self.scratch[i];
                self.true_peak = self.true_peak.max(p);
                if p > 1.0 && self.buf[i + half - 1].abs() <= 1.0 && self.buf[i + half].abs() <= 1.0
                {
                    self.counts.inter_sample += 1;
                    let at = (self.next + i as u64).saturating_sub(half as u64);
                    self.note(at, true, p);
                }
            }
        }
        let len = self.buf.len();
        self.buf.copy_within(len - hist.., 0);
        self.buf.truncate(hist);
    }

    /// Largest true-peak value, linear.
    pub fn true_peak(&self) -> f64 {
        f64::from(self.true_peak.max(self.sample_peak))
    }

    /// Largest sample magnitude, linear.
    pub fn sample_peak(&self) -> f64 {
        f64::from(self.sample_peak)
    }

    /// The over counts.
    pub fn counts(&self) -> OverCounts {
        self.counts
    }
}

/// Compares a codec's decoded stream with the source as it arrives.
struct Comparer {
    path: PathBuf,
    rate: u32,
    channels: usize,
    reference: RateReader,
    /// Reference frames read but not yet compared; `ref_q[c][0]` is frame
    /// `ref_start`.
    ref_q: Vec<Vec<f32>>,
    ref_start: u64,
    ref_done: bool,
    /// Decoded frames held until the delay is known.
    head: Vec<Vec<f32>>,
    delay: Option<(i64, f64)>,
    /// Index of the next decoded frame to compare.
    dec_next: u64,
    /// The codec's documented delay, frames (breaks ties).
    expected: i64,
    peaks: Vec<PeakOverMeter>,
    ref_peak: Vec<TruePeakMeter>,
    dec_loud: LoudnessMeter,
    ref_loud: LoudnessMeter,
    diff_loud: LoudnessMeter,
    scratch: [Vec<Vec<f32>>; 3],
}

impl Comparer {
    fn new(
        path: &Path,
        rate: u32,
        channels: usize,
        weights: &[f64],
        expected: i64,
    ) -> Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            rate,
            channels,
            reference: RateReader::open(path, rate)?,
            ref_q: vec![Vec::new(); channels],
            ref_start: 0,
            ref_done: false,
            head: vec![Vec::new(); channels],
            delay: None,
            dec_next: 0,
            expected,
            peaks: (0..channels).map(|_| PeakOverMeter::new(rate)).collect(),
            ref_peak: (0..channels).map(|_| TruePeakMeter::new(rate)).collect(),
            dec_loud: LoudnessMeter::new(rate, weights),
            ref_loud: LoudnessMeter::new(rate, weights),
            diff_loud: LoudnessMeter::new(rate, weights),
            scratch: std::array::from_fn(|_| vec![Vec::new(); channels]),
        })
    }

    /// Read reference frames until frame `end` (exclusive) is held or the
    /// reference ends.
    fn fill_reference(&mut self, end: u64) -> Result<()> {
        while !self.ref_done && self.ref_start + (self.ref_q[0].len() as u64) < end {
            match self.reference.next_block()? {
                Some(block) => {
                    for (q, c) in self.ref_q.iter_mut().zip(block) {
                        q.extend_from_slice(c);
                    }
                    for (m, c) in self.ref_peak.iter_mut().zip(block) {
                        m.push(c);
                    }
                }
                None => self.ref_done = true,
            }
        }
        Ok(())
    }

    fn push(&mut self, block: &[Vec<f32>]) -> Result<()> {
        if block.len() != self.channels {
            return Err(crate::error::LatheError::Invalid(format!(
                "{}: the decoder returned {} channels for {}",
                self.path.display(),
                block.len(),
                self.channels
            )));
        }
        for (m, c) in self.peaks.iter_mut().zip(block) {
            m.push(c);
        }
        if self.delay.is_some() {
            return self.compare(block);
        }
        for (h, c) in self.head.iter_mut().zip(block) {
            h.extend_from_slice(c);
        }
        if self.head[0].len() >= ALIGN_FRAMES + MAX_DELAY {
            self.align()?;
        }
        Ok(())
    }

    /// Find the delay from the held decoded frames, then compare them.
    fn align(&mut self) -> Result<()> {
        self.fill_reference(ALIGN_FRAMES as u64)?;
        self.delay = Some(head_delay(&self.ref_q, &self.head, self.expected).unwrap_or((0, 0.0)));
        let head = std::mem::take(&mut self.head);
        self.compare(&head)
    }

    /// Compare decoded frames (the next ones after `dec_next`) with the
    /// reference at the delay.
    fn compare(&mut self, block: &[Vec<f32>]) -> Result<()> {
        let delay = self.delay.map_or(0, |d| d.0);
        let n = block[0].len() as u64;
        let first = self.dec_next as i64 - delay;
        self.dec_next += n;
        // Reference frames [lo, hi) meet decoded frames [lo + delay, …).
        let lo = first.max(0) as u64;
        let hi = (first + n as i64).max(0) as u64;
        if hi <= lo {
            return Ok(());
        }
        self.fill_reference(hi)?;
        let held = self.ref_start + self.ref_q[0].len() as u64;
        let hi = hi.min(held);
        if hi <= lo || lo < self.ref_start {
            return Ok(());
        }
        let r0 = (lo - self.ref_start) as usize;
        let d0 = (lo as i64 - first) as usize;
        let len = (hi - lo) as usize;
        let [dec, refr, diff] = &mut self.scratch;
        for c in 0..self.channels {
            let d = &block[c][d0..d0 + len];
            let r = &self.ref_q[c][r0..r0 + len];
            dec[c].clear();
            dec[c].extend_from_slice(d);
            refr[c].clear();
            refr[c].extend_from_slice(r);
            diff[c].clear();
            diff[c].extend(d.iter().zip(r).map(|(a, b)| a - b));
        }
        self.dec_loud.push(dec, len);
        self.ref_loud.push(refr, len);
        self.diff_loud.push(diff, len);
        let used = r0 + len;
        for q in &mut self.ref_q {
            q.drain(..used);
        }
        self.ref_start += used as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if self.delay.is_none() {
            self.align()?;
        }
        for m in &mut self.peaks {
            m.finish();
        }
        // The rest of the source (beyond the decoded end), for its true peak.
        while !self.ref_done {
            match self.reference.next_block()? {
                Some(block) => {
                    for (m, c) in self.ref_peak.iter_mut().zip(block) {
                        m.push(c);
                    }
                }
                None => self.ref_done = true,
            }
        }
        Ok(())
    }

    fn report(&self, codec: CodecSpec, encoder: String, ceiling_dbtp: f64) -> CodecReport {
        let (delay, correlation) = self.delay.unwrap_or((0, 0.0));
        let true_peak = self.peaks.iter().map(|m| m.true_peak()).fold(0.0, f64::max);
        let sample_peak = self
            .peaks
            .iter()
            .map(|m| m.sample_peak())
            .fold(0.0, f64::max);
        let source_tp = self
            .ref_peak
            .iter()
            .map(|m| m.true_peak())
            .fold(0.0, f64::max);
        let mut first_overs: Vec<Over> = self
            .peaks
            .iter()
            .enumerate()
            .flat_map(|(c, m)| {
                m.first.iter().map(move |&(i, inter, v)| Over {
                    time_s: (i as i64 - delay) as f64 / f64::from(self.rate),
                    channel: c,
                    inter_sample: inter,
                    level_db: linear_to_db(f64::from(v)),
                })
            })
            .collect();
        first_overs.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        let source_lufs = self.ref_loud.summary().stats().integrated_lufs;
        let decoded_lufs = self.dec_loud.summary().stats().integrated_lufs;
        let true_peak_dbtp = linear_to_db(true_peak);
        CodecReport {
            codec,
            encoder,
            rate: self.rate,
            delay_frames: delay,
            correlation,
            source_true_peak_dbtp: linear_to_db(source_tp),
            true_peak_dbtp,
            sample_peak_dbfs: linear_to_db(sample_peak),
            overs: self.peaks.iter().map(PeakOverMeter::counts).collect(),
            first_overs,
            source_lufs,
            loudness_change_lu: decoded_lufs - source_lufs,
            artifacts_lufs: self.diff_loud.summary().stats().integrated_lufs,
            ceiling_dbtp,
            trim_db: trim_for(true_peak_dbtp, ceiling_dbtp),
        }
    }
}

/// True when the alignment is trustworthy (the decoded signal has the
/// source's shape at the delay found).
pub fn aligned(report: &CodecReport) -> bool {
    report.correlation >= MIN_CORRELATION
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
            })
            .collect()
    }

    #[test]
    fn delay_is_found_exactly_both_ways() {
        let x = noise(50_000, 7);
        for delay in [0i64, 1, 1105, 2112, -37, -1024] {
            let y: Vec<f32> = (0..50_000i64)
                .map(|i| {
                    let j = i - delay;
                    if (0..50_000).contains(&j) {
                        x[j as usize] * 0.8
                    } else {
                        0.0
                    }
                })
                .collect();
            let (found, corr) = find_delay(&x, &y, MAX_DELAY, 0).unwrap();
            assert_eq!(found, delay);
            assert!(corr > 0.9, "{corr}");
        }
        assert!(find_delay(&x, &vec![0.0; 100], 10, 0).is_none());
        // A steady tone: every period ties; the expected delay decides.
        let tone: Vec<f32> = (0..20_000).map(|i| (i as f32 * 0.2).sin()).collect();
        let shifted: Vec<f32> = (0..20_000)
            .map(|i| if i >= 300 { tone[i - 300] } else { 0.0 })
            .collect();
        assert_eq!(find_delay(&tone, &shifted, MAX_DELAY, 312).unwrap().0, 300);
    }

    #[test]
    fn overs_are_counted_on_and_between_samples() {
        // A sine at fs/4 with a 45° phase: samples at ±0.7071·A, peaks at A
        // between them. With A = 1.2 every sample is within full scale
        // only when 0.7071·A ≤ 1: 0.849, so all overs are inter-sample.
        let rate = 48_000;
        let a = 1.2f32;
        // Raised-cosine fades of 96 samples keep the onset from ringing.
        let fade = |i: usize| {
            let k = i.min(4799 - i).min(96) as f32 / 96.0;
            0.5 - 0.5 * (std::f32::consts::PI * k).cos()
        };
        let x: Vec<f32> = (0..4800)
            .map(|i| {
                fade(i)
                    * a
                    * (std::f32::consts::FRAC_PI_2 * i as f32 + std::f32::consts::FRAC_PI_4).sin()
            })
            .collect();
        let mut m = PeakOverMeter::new(rate);
        m.push(&x);
        m.finish();
        let c = m.counts();
        assert_eq!(c.on_sample, 0);
        // Two peaks (one positive, one negative) per period of 4 samples,
        // one in every other sample interval: those where the faded
        // amplitude is above full scale.
        let expected = (0..4800).step_by(2).filter(|&i| fade(i) * a > 1.0).count() as i64;
        assert!(
            (c.inter_sample as i64 - expected).abs() <= 4,
            "{c:?} vs {expected}"
        );
        assert!((m.true_peak() - 1.2).abs() < 0.002, "{}", m.true_peak());
        // The same sine at 0.9: no overs at all; at 1.6, the samples
        // (1.13) are over too.
        let quiet: Vec<f32> = x.iter().map(|v| v * 0.75).collect();
        let mut m = PeakOverMeter::new(rate);
        m.push(&quiet);
        m.finish();
        assert_eq!(m.counts(), OverCounts::default());
        let loud: Vec<f32> = x.iter().map(|v| v * 4.0 / 3.0).collect();
        let mut m = PeakOverMeter::new(rate);
        m.push(&loud);
        m.finish();
        assert!(m.counts().on_sample > 4400, "{:?}", m.counts());
    }

    #[test]
    fn trims_round_away_from_zero() {
        assert_eq!(trim_for(-2.0, -1.0), 0.0);
        assert_eq!(trim_for(-0.95, -1.0), -0.1);
        assert_eq!(trim_for(0.62, -1.0), -1.7);
        assert_eq!(trim_for(0.6, -1.0), -1.6);
    }
}
