//! Measuring audio: loudness (BS.1770-4 / EBU R128), true peak, and the
//! report `lathe analyze` prints.

pub mod codec;
pub mod hum;
pub mod longterm;
pub mod loudness;
pub mod noise;
pub mod platforms;
pub mod spectrum;
pub mod tonal;
pub mod truepeak;

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::{AudioBlock, AudioSource, FileSource, SourceInfo};
use crate::units::linear_to_db;
use loudness::{LoudnessMeter, LoudnessStats, LoudnessSummary, subblock_start};
use truepeak::TruePeakMeter;

/// Frames decoded per read while analysing.
const BLOCK_FRAMES: usize = 16_384;
/// Shortest file (seconds) worth splitting across threads.
const MIN_PARALLEL_SECONDS: f64 = 20.0;

/// Everything `lathe analyze` reports about one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileAnalysis {
    /// The file as named by the user.
    pub file: PathBuf,
    /// Container/codec, e.g. `wav/pcm_s24le`.
    pub format: String,
    /// Sample rate, Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: usize,
    /// Bits per stored sample where the format has one (never for lossy codecs).
    pub bits_per_sample: Option<u32>,
    /// Average bit rate of a lossy file in kb/s (file size × 8 / duration, as
    /// ffprobe's format bit rate); `None` for PCM and lossless formats.
    pub bitrate_kbps: Option<f64>,
    /// The encoder's input rate in Hz where the file records one that differs
    /// from `sample_rate` (Opus decodes at 48 kHz whatever went in).
    pub input_sample_rate: Option<u32>,
    /// Length, seconds.
    pub duration_s: f64,
    /// Length, frames.
    pub frames: u64,
    /// Loudness figures.
    pub loudness: LoudnessStats,
    /// The mergeable loudness summary (to combine files, e.g. an album's tracks).
    pub summary: LoudnessSummary,
    /// Highest true peak over all channels, dBTP.
    pub true_peak_dbtp: f64,
    /// Highest sample peak over all channels, dBFS.
    pub sample_peak_dbfs: f64,
    /// Warnings met while reading (odd but readable files).
    pub warnings: Vec<String>,
}

impl FileAnalysis {
    /// Peak-to-loudness ratio: true peak minus integrated loudness, dB.
    pub fn plr_db(&self) -> f64 {
        self.true_peak_dbtp - self.loudness.integrated_lufs
    }

    /// One JSON object (one line); minus infinity is `null`.
    pub fn to_json(&self) -> serde_json::Value {
        let num = crate::units::json_number;
        let plr = self.plr_db();
        let normalization: Vec<serde_json::Value> = platforms::PLATFORMS
            .iter()
            .filter_map(|p| {
                platforms::normalize(p, self.loudness.integrated_lufs, self.true_peak_dbtp)
            })
            .map(|n| {
                serde_json::json!({
                    "platform": n.platform,
                    "target_lufs": n.target_lufs,
                    "gain_db": num(n.gain_db),
                    "true_peak_after_dbtp": num(n.true_peak_after_dbtp),
                    "exceeds_minus_1_dbtp": n.exceeds_peak_warning,
                })
            })
            .collect();
        serde_json::json!({
            "file": self.file.display().to_string(),
            "format": self.format,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "bits_per_sample": self.bits_per_sample,
            "bitrate_kbps": self.bitrate_kbps.map(|b| b.round()),
            "input_sample_rate": self.input_sample_rate,
            "duration_s": (self.duration_s * 1e6).round() / 1e6,
            "integrated_lufs": num(self.loudness.integrated_lufs),
            "loudness_range_lu": num(self.loudness.loudness_range_lu),
            "true_peak_dbtp": num(self.true_peak_dbtp),
            "sample_peak_dbfs": num(self.sample_peak_dbfs),
            "momentary_max_lufs": num(self.loudness.momentary_max_lufs),
            "short_term_max_lufs": num(self.loudness.short_term_max_lufs),
            "plr_db": num(plr),
            "normalization": normalization,
            "warnings": self.warnings,
        })
    }
}

/// Partial measurement of one stretch of a file.
struct ChunkResult {
    summary: LoudnessSummary,
    true_peak: f64,
    sample_peak: f64,
    frames: u64,
    warnings: Vec<String>,
}

/// Measure sub-blocks `first_sub..` up to frame `end` (`None`: to the end)
/// of `source`. A chunk that does not start the file begins 3 s early to
/// fill the window history and 1 s before that to settle the filters.
fn measure_range(
    source: &mut dyn AudioSource,
    first_sub: u64,
    end: Option<u64>,
) -> Result<ChunkResult> {
    let info = source.info().clone();
    let rate = info.sample_rate;
    let start = subblock_start(first_sub, rate);
    let ring_from = first_sub.saturating_sub(300);
    let history_start = subblock_start(ring_from, rate);
    let from = history_start.saturating_sub(if ring_from == 0 { 0 } else { u64::from(rate) });
    if from > 0 {
        source.seek(from)?;
    }
    let mut meter =
        LoudnessMeter::for_chunk(rate, &info.channel_weights, from, ring_from, first_sub);
    let mut tps: Vec<TruePeakMeter> = (0..info.channels)
        .map(|_| TruePeakMeter::new(rate))
        .collect();
    let mut block = AudioBlock::new(info.channels, BLOCK_FRAMES);
    let mut pos = from;
    // Warm-up and history: the loudness meter sorts out what counts; the
    // true-peak meters only need their filter history.
    while pos < start {
        let want = ((start - pos) as usize).min(BLOCK_FRAMES);
        let n = read_up_to(source, &mut block, want)?;
        if n == 0 {
            break;
        }
        meter.push(&block.channels, n);
        for (tp, ch) in tps.iter_mut().zip(&block.channels) {
            tp.push(&ch[..n]);
        }
        pos += n as u64;
    }
    for tp in &mut tps {
        tp.reset_peaks();
    }
    let mut frames = 0u64;
    loop {
        let want = match end {
            Some(e) => ((e - pos) as usize).min(BLOCK_FRAMES),
            None => BLOCK_FRAMES,
        };
        if want == 0 {
            break;
        }
        let n = read_up_to(source, &mut block, want)?;
        if n == 0 {
            break;
        }
        meter.push(&block.channels, n);
        for (tp, ch) in tps.iter_mut().zip(&block.channels) {
            tp.push(&ch[..n]);
        }
        pos += n as u64;
        frames += n as u64;
    }
    let true_peak = tps.iter().map(TruePeakMeter::true_peak).fold(0.0, f64::max);
    let sample_peak = tps
        .iter()
        .map(TruePeakMeter::sample_peak)
        .fold(0.0, f64::max);
    Ok(ChunkResult {
        summary: meter.summary().clone(),
        true_peak,
        sample_peak,
        frames,
        warnings: source.take_warnings(),
    })
}

/// Read exactly `want` frames unless the stream ends first.
fn read_up_to(source: &mut dyn AudioSource, block: &mut AudioBlock, want: usize) -> Result<usize> {
    if want == block.capacity() {
        return source.read(block);
    }
    let mut tmp = AudioBlock::new(block.num_channels(), want);
    let n = source.read(&mut tmp)?;
    for (d, s) in block.channels.iter_mut().zip(&tmp.channels) {
        d[..n].copy_from_slice(&s[..n]);
    }
    block.frames = n;
    Ok(n)
}

fn seeks_exactly(info: &SourceInfo) -> bool {
    let f = info.format.as_str();
    f.starts_with("wave/")
        || f.starts_with("wav/")
        || f.starts_with("riff/")
        || f.starts_with("aiff/")
        || f.starts_with("flac/")
}

/// Analyse a file, splitting it across up to `threads` threads when it is
/// long and its format seeks exactly (PCM WAV/AIFF, FLAC).
pub fn analyze_file_with(path: &Path, threads: usize) -> Result<FileAnalysis> {
    let mut source = FileSource::open(path)?;
    let info = source.info().clone();
    let total = info.total_frames.unwrap_or(0);
    let parallel = threads > 1
        && seeks_exactly(&info)
        && total as f64 / f64::from(info.sample_rate) >= MIN_PARALLEL_SECONDS;
    let results: Vec<ChunkResult> = if parallel {
        let subs_total = total * 100 / u64::from(info.sample_rate);
        let bounds: Vec<u64> = (0..=threads as u64)
            .map(|k| subs_total * k / threads as u64)
            .collect();
        let jobs: Vec<(u64, Option<u64>)> = (0..threads)
            .map(|k| {
                let end =
                    (k + 1 < threads).then(|| subblock_start(bounds[k + 1], info.sample_rate));
                (bounds[k], end)
            })
            .collect();
        let mut first = Some(source);
        let mut sources: Vec<FileSource> = Vec::with_capacity(threads);
        for _ in 0..threads {
            match first.take() {
                Some(s) => sources.push(s),
                None => sources.push(FileSource::open(path)?),
            }
        }
        use rayon::prelude::*;
        sources
            .into_par_iter()
            .zip(jobs.into_par_iter())
            .map(|(mut s, (a, b))| measure_range(&mut s, a, b))
            .collect::<Result<Vec<_>>>()?
    } else {
        vec![measure_range(&mut source, 0, None)?]
    };
    let mut summary = LoudnessSummary::default();
    let mut tp = 0.0f64;
    let mut sp = 0.0f64;
    let mut frames = 0;
    let mut warnings = Vec::new();
    for r in results {
        summary.merge(&r.summary);
        tp = tp.max(r.true_peak);
        sp = sp.max(r.sample_peak);
        frames += r.frames;
        for w in r.warnings {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
    }
    let duration_s = frames as f64 / f64::from(info.sample_rate);
    let bitrate_kbps = match std::fs::metadata(path) {
        Ok(m) if info.lossy && duration_s > 0.0 => Some(m.len() as f64 * 8.0 / duration_s / 1000.0),
        _ => None,
    };
    Ok(FileAnalysis {
        file: path.to_path_buf(),
        format: info.format.clone(),
        sample_rate: info.sample_rate,
        channels: info.channels,
        bits_per_sample: info.bits_per_sample,
        bitrate_kbps,
        input_sample_rate: info.input_sample_rate,
        duration_s,
        frames,
        loudness: summary.stats(),
        summary,
        true_peak_dbtp: linear_to_db(tp),
        sample_peak_dbfs: linear_to_db(sp),
        warnings,
    })
}

/// Analyse a file using all of rayon's threads (see [`analyze_file_with`]).
pub fn analyze_file(path: &Path) -> Result<FileAnalysis> {
    analyze_file_with(path, rayon::current_num_threads().max(1))
}

/// Loudness and peaks of planar samples in memory (tests, short clips).
/// Returns the stats, the true peak in dBTP and the sample peak in dBFS.
pub fn analyze_planar(
    planar: &[Vec<f32>],
    rate: u32,
    weights: &[f64],
) -> (LoudnessStats, f64, f64) {
    let frames = planar.first().map_or(0, Vec::len);
    let mut meter = LoudnessMeter::new(rate, weights);
    meter.push(planar, frames);
    let mut tp = 0.0f64;
    let mut sp = 0.0f64;
    for ch in planar {
        let mut m = TruePeakMeter::new(rate);
        m.push(ch);
        tp = tp.max(m.true_peak());
        sp = sp.max(m.sample_peak());
    }
    (meter.stats(), linear_to_db(tp), linear_to_db(sp))
}
