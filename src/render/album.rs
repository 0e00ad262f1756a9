//! `lathe render`: an album session to every delivery.
//!
//! Per delivery, in this order: each track (in parallel across cores) is
//! decoded and trimmed → sample-rate conversion to the delivery rate →
//! album chain + the track's extra modules → spooled (the plan layer's
//! work, [`crate::plan::Plan::for_render`]);
//! balancing finds each track's gain (album: one gain for all so the album's
//! integrated loudness hits the target, relative levels kept; track: each
//! track to the target; none: offsets only) → gain + true-peak limiter →
//! fades → dither → per-track files `NN Title.ext`; the album file joins the
//! limited tracks with their gaps (silence, exact to the sample; with a CUE
//! sheet the gap is rounded so each track starts on a CD frame, 1/75 s)
//! and is dithered as one stream. Every written file is then re-read and
//! measured.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::analysis::loudness::LoudnessSummary;
use crate::analysis::{FileAnalysis, analyze_file};
use crate::cancel;
use crate::dsp::limiter::LimitingStats;
use crate::error::{LatheError, Result};
use crate::io::atomic::{AtomicFile, check_output};
use crate::io::dither::{DitherKind, Quantizer};
use crate::io::encode::{SampleFormat, WavOutput};
use crate::io::flac::FlacOutput;
use crate::io::{AudioBlock, AudioSource, FileSource};
use crate::plan::Plan;
use crate::plan::delivery::max_limiting_db;
use crate::plan::gain::limit_range;
use crate::plan::gain::limiter_only;
use crate::plan::spool::Spool;
use crate::plan::timeline::{Placement, Timeline};
use crate::session::album::{Balance, Container, Delivery, Session};
use crate::session::chain::ChainConfig;

/// How to render.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// The session file.
    pub session: PathBuf,
    /// Output folder (one subfolder per delivery).
    pub out_dir: PathBuf,
    /// Render only this delivery.
    pub delivery: Option<String>,
    /// Replace existing outputs.
    pub force: bool,
}

/// One written audio file, as measured after writing.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Delivery name.
    pub delivery: String,
    /// Path relative to the output folder.
    pub file: PathBuf,
    /// Track number (None: the album file).
    pub track: Option<usize>,
    /// The measurement of the written file.
    pub analysis: FileAnalysis,
    /// The input's measurement (tracks only).
    pub before: Option<FileAnalysis>,
    /// Loudness target, LUFS.
    pub target_lufs: Option<f64>,
    /// Ceiling, dBTP.
    pub ceiling_dbtp: f64,
    /// Bits per sample.
    pub bits: u32,
    /// Gain into the limiter, dB.
    pub gain_db: f64,
    /// Why this file fails its delivery, if it does.
    pub failure: Option<String>,
    /// How hard the limiter worked (the album file: all its tracks).
    pub limiting: LimitingStats,
    /// Gain given up to respect `max_limiting_db`, dB (0: none).
    pub limiting_cut_db: f64,
    /// What to know that is not a failure: a target missed on purpose
    /// (`max_limiting_db`), heavy limiting.
    pub notes: Vec<String>,
    /// What the track's measured modules found and did (hum found, the
    /// reference matched), one line each.
    pub findings: Vec<String>,
    /// How level the delivery's tracks came out (the same for every file
    /// of a delivery).
    pub levels: TrackLevels,
    /// The delivery's `codec_check` of this file: per codec, its report or
    /// why it could not run.
    pub codec: Vec<CodecResult>,
}

/// One codec's check of a written file: its report, or why it could not run.
pub type CodecResult = (
    crate::io::lossy::CodecSpec,
    std::result::Result<crate::analysis::codec::CodecReport, String>,
);

/// How level the tracks of one delivery came out, measured on each
/// rendered track (after the limiter and fades, before dither).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackLevels {
    /// Each track's integrated loudness, LUFS.
    pub integrated_lufs: Vec<f64>,
    /// Each track's loud passages (90th percentile of short-term
    /// loudness), LUFS; −∞ for tracks under 3 s.
    pub loud_passages_lufs: Vec<f64>,
}

impl TrackLevels {
    /// Spread (largest − smallest, finite values only) of the tracks'
    /// loud passages, LU.
    pub fn loud_passage_spread_lu(&self) -> f64 {
        spread(&self.loud_passages_lufs)
    }

    /// Spread of the tracks' integrated loudness, LU.
    pub fn integrated_spread_lu(&self) -> f64 {
        spread(&self.integrated_lufs)
    }
}

/// Largest − smallest of the finite values (0 for fewer than two).
fn spread(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.len() < 2 {
        return 0.0;
    }
    let hi = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lo = f.iter().copied().fold(f64::INFINITY, f64::min);
    hi - lo
}

/// A WAV or FLAC output.
enum Out {
    Wav(WavOutput),
    Flac(Box<FlacOutput>),
    Ddp(crate::io::ddp::ImageWriter),
}

impl Out {
    fn create(
        d: &Delivery,
        path: &Path,
        rate: u32,
        channels: usize,
        format: SampleFormat,
        frames: u64,
        force: bool,
    ) -> Result<Self> {
        Ok(match d.format {
            Container::Wav => {
                Out::Wav(WavOutput::create(path, rate, channels, format, &[], force)?)
            }
            Container::Ddp => Out::Ddp(crate::io::ddp::ImageWriter::create(path, force)?),
            Container::Flac => Out::Flac(Box::new(FlacOutput::create(
                path,
                rate,
                channels,
                format.bits(),
                frames,
                &[],
                force,
            )?)),
        })
    }
    fn write_block(&mut self, b: &AudioBlock) -> Result<()> {
        match self {
            Out::Wav(w) => w.write_block(b),
            Out::Flac(w) => w.write_block(b),
            Out::Ddp(w) => w.write_block(b),
        }
    }
    fn finish(self) -> Result<PathBuf> {
        match self {
            Out::Wav(w) => w.finish(),
            Out::Flac(w) => (*w).finish(),
            Out::Ddp(w) => w.finish(),
        }
    }
}

/// File-name-safe version of a title.
pub(crate) fn safe_name(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let t = cleaned.trim().trim_start_matches('.').to_string();
    if t.is_empty() { "untitled".into() } else { t }
}

fn extension(d: &Delivery) -> &'static str {
    match d.format {
        Container::Wav => "wav",
        Container::Flac => "flac",
        Container::Ddp => "dat",
    }
}

/// The files a delivery writes, relative to the output folder.
pub fn planned_files(session: &Session, d: &Delivery) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let dir = PathBuf::from(&d.name);
    if d.track_files {
        for (i, t) in session.tracks.iter().enumerate() {
            v.push(dir.join(format!(
                "{:02} {}.{}",
                i + 1,
                safe_name(&t.title),
                extension(d)
            )));
        }
    }
    if d.format == Container::Ddp {
        v.extend(crate::io::ddp::fileset_names().map(|n| dir.join(n)));
        return v;
    }
    if d.album_file {
        let stem = if session.album.title.trim().is_empty() {
            "album".to_string()
        } else {
            safe_name(&session.album.title)
        };
        v.push(dir.join(format!("{stem}.{}", extension(d))));
        v.push(dir.join(format!("{stem}.cue")));
    }
    v
}

/// What [`preflight`] found fit to render.
#[derive(Debug)]
pub struct Preflight {
    /// The session.
    pub session: Session,
    /// The deliveries to render.
    pub deliveries: Vec<Delivery>,
    /// The Red Book checks' warnings for CD deliveries: (delivery name, line).
    pub cd_warnings: Vec<(String, String)>,
}

/// Read the session, pick the deliveries, check every input and output
/// before anything is written (and, for CD deliveries, the Red Book).
pub fn preflight(opts: &RenderOptions) -> Result<Preflight> {
    let session = Session::load(&opts.session)?;
    let deliveries: Vec<Delivery> = match &opts.delivery {
        Some(name) => {
            let d = session
                .deliveries
                .iter()
                .find(|d| &d.name == name)
                .cloned()
                .ok_or_else(|| {
                    LatheError::Invalid(format!(
                        "{}: no delivery named '{name}' (have: {})",
                        opts.session.display(),
                        session
                            .deliveries
                            .iter()
                            .map(|d| d.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            vec![d]
        }
        None => session.deliveries.clone(),
    };
    let deliveries: Vec<Delivery> = deliveries.into_iter().map(Delivery::normalized).collect();
    // Every track readable, decodable, mono or stereo.
    let mut inputs = Vec::new();
    let mut lengths = Vec::new();
    for t in &session.tracks {
        let p = session.track_path(&opts.session, t);
        // Name the session file and the track's line as well as the audio file.
        let src = FileSource::open(&p).map_err(|e| {
            let text = std::fs::read_to_string(&opts.session).unwrap_or_default();
            let line = crate::session::album::line_of(&text, "[[track]]", inputs.len());
            LatheError::Invalid(format!(
                "{}:{line}: track {}: {e}",
                opts.session.display(),
                inputs.len() + 1
            ))
        })?;
        if src.info().channels > 2 {
            return Err(LatheError::decode(
                &p,
                format!(
                    "has {} channels; album tracks must be mono or stereo",
                    src.info().channels
                ),
            ));
        }
        let info = src.info();
        lengths.push(info.total_frames.unwrap_or(0) as f64 / f64::from(info.sample_rate.max(1)));
        inputs.push(p.canonicalize().unwrap_or(p));
    }
    // CD deliveries: the Red Book's rules, before anything is written.
    let mut warnings = Vec::new();
    let text = std::fs::read_to_string(&opts.session).unwrap_or_default();
    for d in deliveries.iter().filter(|d| d.cd) {
        let found = crate::plan::redbook::check(
            &session,
            &opts.session.display().to_string(),
            &text,
            &lengths,
            d,
        );
        if let Some(first) = found.errors.first() {
            let more = found.errors.len() - 1;
            return Err(LatheError::Invalid(if more > 0 {
                format!(
                    "{first} (and {more} more Red Book problem{})",
                    if more > 1 { "s" } else { "" }
                )
            } else {
                first.clone()
            }));
        }
        warnings.extend(found.warnings.into_iter().map(|w| (d.name.clone(), w)));
    }
    // Outputs: unique, not inputs, not existing unless forced, folder writable.
    std::fs::create_dir_all(&opts.out_dir)
        .map_err(|e| LatheError::write(&opts.out_dir, format!("cannot create folder: {e}")))?;
    crate::plan::spool::remove_stale(&opts.out_dir);
    let mut all: Vec<PathBuf> = Vec::new();
    for d in &deliveries {
        let dir = opts.out_dir.join(&d.name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| LatheError::write(&dir, format!("cannot create folder: {e}")))?;
        // What renders killed hard left here (spools, half-written files).
        crate::plan::spool::remove_stale(&dir);
        let probe = dir.join(format!(".lathe-write-test-{}", std::process::id()));
        std::fs::write(&probe, b"")
            .map_err(|e| LatheError::write(&dir, format!("output folder is not writable: {e}")))?;
        let _ = std::fs::remove_file(&probe);
        for f in planned_files(&session, d) {
            let full = opts.out_dir.join(&f);
            if all.contains(&full) {
                return Err(LatheError::write(
                    &full,
                    "the session names this output twice",
                ));
            }
            check_output(&full, &inputs, opts.force)?;
            all.push(full);
        }
    }
    Ok(Preflight {
        session,
        deliveries,
        cd_warnings: warnings,
    })
}

pub(crate) fn cue_time(frames_75: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        frames_75 / (75 * 60),
        (frames_75 / 75) % 60,
        frames_75 % 75
    )
}

pub(crate) fn quote(s: &str) -> String {
    s.replace('"', "'")
}

/// Render the session (see the module docs). Returns one report per file.
pub fn render_session(
    opts: &RenderOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<FileReport>> {
    let Preflight {
        session,
        deliveries,
        cd_warnings,
    } = preflight(opts)?;
    let paths: Vec<PathBuf> = session
        .tracks
        .iter()
        .map(|t| session.track_path(&opts.session, t))
        .collect();
    let befores: Vec<FileAnalysis> = paths
        .par_iter()
        .map(|p| analyze_file(p))
        .collect::<Result<_>>()?;
    let mut reports = Vec::new();
    for d in &deliveries {
        cancel::check()?;
        progress(&format!(
            "{}: processing {} tracks",
            d.name,
            session.tracks.len()
        ));
        let dir = opts.out_dir.join(&d.name);
        let format = SampleFormat::parse(&d.bits)
            .ok_or_else(|| LatheError::Invalid(format!("bits {}", d.bits)))?;
        let dither = DitherKind::parse(&d.dither).unwrap_or(DitherKind::Tpdf);
        let rate = d.rate_hz;
        let plan = Plan::for_render(&session, &opts.session, d, &dir, progress)?;
        let prepared = &plan.spooled;
        let lim: Vec<ChainConfig> = plan.tracks.iter().map(|t| limiter_only(&t.chain)).collect();
        let gains: Vec<f64> = plan.tracks.iter().map(|t| t.gain_db).collect();
        let cuts: Vec<f64> = plan.tracks.iter().map(|t| t.limiting_cut_db).collect();
        // What measured modules found (hum) and did (matching), per track.
        let findings: Vec<Vec<String>> = plan
            .tracks
            .iter()
            .map(|t| crate::plan::matching::findings(&t.chain))
            .collect();
        let target = d.target_lufs.or(session.chain.target_lufs);
        let offsets: Vec<f64> = session.tracks.iter().map(|t| t.gain_db).collect();
        // Final per-track pass: limiter → fades → (per-track dither + file) and a post-limiter spool for the album.
        progress(&format!("{}: writing", d.name));
        let files = planned_files(&session, d);
        type Post = (Option<Spool>, LimitingStats, LoudnessSummary);
        let posts: Vec<Post> = prepared
            .par_iter()
            .enumerate()
            .map(|(i, p)| -> Result<Post> {
                let t = &session.tracks[i];
                let total = p.spool.frames();
                let fade_in = ((t.fade_in_s * f64::from(rate)) as u64).min(total);
                let fade_out = ((t.fade_out_s * f64::from(rate)) as u64).min(total);
                let mut writer = if d.track_files {
                    Some(Out::create(
                        d,
                        &opts.out_dir.join(&files[i]),
                        rate,
                        p.channels,
                        format,
                        total,
                        opts.force,
                    )?)
                } else {
                    None
                };
                let mut post = if d.album_file {
                    Some(Spool::create(&dir, p.channels)?)
                } else {
                    None
                };
                let mut quant = format
                    .is_int()
                    .then(|| Quantizer::new(format.bits(), dither, p.channels, 0x5eed + i as u64));
                let mut pos = 0u64;
                let mut copy = AudioBlock::new(p.channels, 8192);
                // The rendered track as written, before dither.
                let mut meter = crate::analysis::loudness::LoudnessMeter::new(rate, &p.weights);
                let limiting = limit_range(
                    &p.spool,
                    &lim[i],
                    rate,
                    p.channels,
                    gains[i],
                    0,
                    u64::MAX,
                    &mut |b| {
                        for f in 0..b.frames {
                            let n = pos + f as u64;
                            let mut g = 1.0;
                            if n < fade_in {
                                g *= t.fade_curve.gain(n as f64 / fade_in as f64);
                            }
                            if n + fade_out >= total && fade_out > 0 {
                                g *= t.fade_curve.gain((total - 1 - n) as f64 / fade_out as f64);
                            }
                            if g != 1.0 {
                                for ch in &mut b.channels {
                                    ch[f] = (f64::from(ch[f]) * g) as f32;
                                }
                            }
                        }
                        pos += b.frames as u64;
                        meter.push(&b.channels, b.frames);
                        if let Some(s) = post.as_mut() {
                            s.write(b)?;
                        }
                        if let Some(w) = writer.as_mut() {
                            copy.frames = b.frames;
                            for (d, s) in copy.channels.iter_mut().zip(&b.channels) {
                                d[..b.frames].copy_from_slice(&s[..b.frames]);
                            }
                            if let Some(q) = quant.as_mut() {
                                q.process(&mut copy);
                            }
                            w.write_block(&copy)?;
                        }
                        Ok(())
                    },
                )?;
                if let Some(w) = writer {
                    w.finish()?;
                }
                if let Some(s) = post.as_mut() {
                    s.finish()?;
                }
                Ok((post, limiting, meter.summary().clone()))
            })
            .collect::<Result<_>>()?;
        let limitings: Vec<LimitingStats> = posts.iter().map(|p| p.1).collect();
        let levels = TrackLevels {
            integrated_lufs: posts.iter().map(|p| p.2.stats().integrated_lufs).collect(),
            loud_passages_lufs: posts.iter().map(|p| p.2.loud_passage_lufs()).collect(),
        };
        let posts: Vec<Option<Spool>> = posts.into_iter().map(|p| p.0).collect();
        drop(plan);
        let mut written: Vec<(PathBuf, Option<usize>)> = Vec::new();
        if d.track_files {
            for (i, f) in files.iter().take(session.tracks.len()).enumerate() {
                written.push((f.clone(), Some(i)));
            }
        }
        if d.album_file {
            let ddp = d.format == Container::Ddp;
            let (audio, cue) = if ddp {
                (PathBuf::from(&d.name).join(crate::io::ddp::IMAGE), None)
            } else {
                (
                    files[files.len() - 2].clone(),
                    Some(files[files.len() - 1].clone()),
                )
            };
            // Each track's index 00 (when it has a pregap) and 01, frames.
            let mut marks: Vec<(Option<u64>, u64)> = Vec::new();
            let ch = befores.iter().map(|b| b.channels).max().unwrap_or(2);
            // Total length first (FLAC wants it): gaps rounded to CD frames.
            let lens: Vec<u64> = posts
                .iter()
                .map(|p| p.as_ref().map_or(0, Spool::frames))
                .collect();
            let placements: Vec<Placement> = lens
                .iter()
                .zip(&session.tracks)
                .map(|(len, t)| Placement {
                    len: *len,
                    gap_s: t.gap_s,
                    crossfade_s: t.crossfade_s,
                    fade_in_s: t.fade_in_s,
                    fade_out_s: t.fade_out_s,
                    curve: t.fade_curve,
                })
                .collect();
            let timeline = Timeline::album(rate, &placements);
            let xfades: Vec<u64> = timeline.spans.iter().map(|s| s.xf_in).collect();
            let total = timeline.total();
            let mut out = Out::create(
                d,
                &opts.out_dir.join(&audio),
                rate,
                ch,
                format,
                total,
                opts.force,
            )?;
            let mut quant = format
                .is_int()
                .then(|| Quantizer::new(format.bits(), dither, ch, 0xa1b));
            let mut pos = 0u64;
            let mut cue_text = format!(
                "PERFORMER \"{}\"\nTITLE \"{}\"\nFILE \"{}\" {}\n",
                quote(&session.album.artist),
                quote(&session.album.title),
                quote(
                    &audio
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
                if d.format == Container::Flac {
                    "FLAC"
                } else {
                    "WAVE"
                }
            );
            let mut block = AudioBlock::new(ch, 8192);
            // Frames of the previous track held back to crossfade with the next.
            let mut tail: Vec<Vec<f32>> = vec![Vec::new(); ch];
            let mut write = |block: &mut AudioBlock, out: &mut Out| -> Result<()> {
                if let Some(q) = quant.as_mut() {
                    q.process(block);
                }
                out.write_block(block)
            };
            for (i, post) in posts.iter().enumerate() {
                let t = &session.tracks[i];
                let xf = xfades[i] as usize;
                // Flush whatever tail is not crossfaded.
                let flush = tail[0].len() - xf.min(tail[0].len());
                let mut k = 0;
                while k < flush {
                    let n = (flush - k).min(8192);
                    for (c, b) in block.channels.iter_mut().enumerate() {
                        b[..n].copy_from_slice(&tail[c][k..k + n]);
                    }
                    block.frames = n;
                    write(&mut block, &mut out)?;
                    pos += n as u64;
                    k += n;
                }
                for tc in &mut tail {
                    tc.drain(..flush);
                }
                // Gaps: silence, rounded so the track starts on a CD frame (1/75 s).
                let start = timeline.spans[i].start;
                cue_text.push_str(&format!(
                    "  TRACK {:02} AUDIO\n    TITLE \"{}\"\n",
                    i + 1,
                    quote(&t.title)
                ));
                if let Some(a) = &t.artist {
                    cue_text.push_str(&format!("    PERFORMER \"{}\"\n", quote(a)));
                }
                if let Some(isrc) = &t.isrc {
                    cue_text.push_str(&format!("    ISRC {}\n", isrc.replace('-', "")));
                }
                if start > pos {
                    cue_text.push_str(&format!(
                        "    INDEX 00 {}\n",
                        cue_time(pos * 75 / u64::from(rate))
                    ));
                }
                marks.push(((start > pos).then_some(pos), start));
                let mut left = start - pos;
                while left > 0 {
                    let n = left.min(8192) as usize;
                    for c in &mut block.channels {
                        c[..n].iter_mut().for_each(|v| *v = 0.0);
                    }
                    block.frames = n;
                    write(&mut block, &mut out)?;
                    left -= n as u64;
                }
                pos = start;
                cue_text.push_str(&format!(
                    "    INDEX 01 {}\n",
                    cue_time(start * 75 / u64::from(rate))
                ));
                // The next track's crossfade decides how much of this one to hold back.
                let hold = xfades.get(i + 1).copied().unwrap_or(0) as usize;
                let len = lens[i] as usize;
                if let Some(s) = post {
                    let mut r = s.reader()?;
                    let mut tb = AudioBlock::new(befores[i].channels, 8192);
                    let mut at = 0usize;
                    loop {
                        let n = r.read(&mut tb)?;
                        if n == 0 {
                            break;
                        }
                        for c in 0..ch {
                            let src = &tb.channels[c.min(tb.channels.len() - 1)];
                            block.channels[c][..n].copy_from_slice(&src[..n]);
                        }
                        // Crossfade the head with the held tail: complementary
                        // linear gains, so the sum never exceeds the louder side
                        // and the ceiling holds.
                        let mut from = 0;
                        while at + from < xf && from < n {
                            let j = at + from;
                            let g = (j as f64 + 0.5) / xf as f64;
                            for (bc, tc) in block.channels.iter_mut().zip(&tail).take(ch) {
                                let v = f64::from(bc[from]) * g + f64::from(tc[j]) * (1.0 - g);
                                bc[from] = v as f32;
                            }
                            from += 1;
                        }
                        if xf > 0 && at + n >= xf && !tail[0].is_empty() && at < xf {
                            // The previous track's tail is used up.
                            tail.iter_mut().for_each(Vec::clear);
                        }
                        // Hold back the last `hold` frames for the next crossfade.
                        let keep_until = len - hold;
                        let write_to = n.min(keep_until.saturating_sub(at));
                        if at + n > keep_until {
                            let from_h = keep_until.saturating_sub(at);
                            for (c, tc) in tail.iter_mut().enumerate() {
                                tc.extend_from_slice(&block.channels[c][from_h..n]);
                            }
                        }
                        if write_to > 0 {
                            block.frames = write_to;
                            write(&mut block, &mut out)?;
                            pos += write_to as u64;
                        }
                        at += n;
                    }
                }
            }
            // Whatever tail remains (none unless the last track is held) is written.
            if !tail[0].is_empty() {
                let n_total = tail[0].len();
                let mut k = 0;
                while k < n_total {
                    let n = (n_total - k).min(8192);
                    for (c, b) in block.channels.iter_mut().enumerate() {
                        b[..n].copy_from_slice(&tail[c][k..k + n]);
                    }
                    block.frames = n;
                    write(&mut block, &mut out)?;
                    k += n;
                }
            }
            out.finish()?;
            if let Some(cue) = cue {
                let mut cf = AtomicFile::create(&opts.out_dir.join(&cue), &[], opts.force)?;
                use std::io::Write;
                cf.write_all(cue_text.as_bytes())
                    .map_err(|e| LatheError::write(&cue, e.to_string()))?;
                cf.commit()?;
                written.push((audio, None));
            } else {
                // DDP: the PQ descriptor, CD-TEXT and checksums beside the
                // image; the fileset (its folder) is measured as one file.
                let sector = |frames: u64| frames / crate::io::ddp::SECTOR_FRAMES;
                let clean = |s: &str| s.replace('-', "");
                // A 12-digit UPC-A is the EAN-13 with a leading zero.
                let ean = |u: &str| format!("{u:0>13}");
                let disc = crate::io::ddp::Disc {
                    title: session.album.title.clone(),
                    performer: session.album.artist.clone(),
                    upc: session.album.upc.as_deref().map(clean).map(|u| ean(&u)),
                    tracks: session
                        .tracks
                        .iter()
                        .zip(&marks)
                        .map(|(t, &(i0, i1))| crate::io::ddp::DiscTrack {
                            title: t.title.clone(),
                            performer: t.artist.clone().unwrap_or_default(),
                            isrc: t.isrc.as_deref().map(clean),
                            index0: i0.map(sector),
                            index1: sector(i1),
                        })
                        .collect(),
                    sectors: total.div_ceil(crate::io::ddp::SECTOR_FRAMES),
                };
                let folder = opts.out_dir.join(&d.name);
                crate::io::ddp::write_description(&folder, &disc, opts.force)?;
                written.push((PathBuf::from(&d.name), None));
            }
        }
        drop(posts);
        progress(&format!("{}: measuring", d.name));
        let measured: Vec<FileAnalysis> = written
            .par_iter()
            .map(|(f, _)| analyze_file(&opts.out_dir.join(f)))
            .collect::<Result<_>>()?;
        // With album balance and no album file, the album's loudness is that
        // of all its written tracks together.
        let album_miss = match (session.album.balance, target, d.album_file) {
            (Balance::Album | Balance::Consistent, Some(t), false) => {
                let mut all = LoudnessSummary::default();
                for a in &measured {
                    all.merge(&a.summary);
                }
                let l = all.stats().integrated_lufs;
                ((l - t).abs() > 0.5).then(|| {
                    format!(
                        "the album's {l:.2} LUFS misses the {t:.1} LUFS target by more than 0.5 LU"
                    )
                })
            }
            _ => None,
        };
        let max_lim = max_limiting_db(&session, d);
        // The codec check: the track files (or the album file when there
        // are none), as a streaming service would encode them; files in
        // parallel, each file's codecs in parallel.
        let specs = d.codecs();
        if !specs.is_empty() {
            cancel::check()?;
            progress(&format!(
                "{}: codec check ({})",
                d.name,
                d.codec_check.join(", ")
            ));
        }
        let mut codecs: Vec<Vec<CodecResult>> = written
            .par_iter()
            .map(|(f, track)| {
                if specs.is_empty() || (track.is_none() && d.track_files) {
                    return Vec::new();
                }
                crate::analysis::codec::check_file(&opts.out_dir.join(f), &specs, d.ceiling_dbtp)
                    .into_iter()
                    .map(|(s, r)| (s, r.map_err(|e| e.to_string())))
                    .collect()
            })
            .collect();
        for (((f, track), a), codec) in written.into_iter().zip(measured).zip(codecs.drain(..)) {
            let mut failure = None;
            let mut notes = Vec::new();
            let (limiting, cut) = match track {
                Some(i) => (limitings[i], cuts[i]),
                None => {
                    let mut all = LimitingStats::default();
                    for l in &limitings {
                        all.merge(l);
                    }
                    (all, cuts.iter().copied().fold(0.0, f64::max))
                }
            };
            if let (true, Some(t), Some(m)) = (cut > 0.0, target, max_lim) {
                let off = track.map_or(0.0, |i| offsets[i]);
                notes.push(format!(
                    "target {:.1} LUFS missed by {:.1} LU: stopped at max_limiting_db {m:.1} dB",
                    t + off,
                    t + off - a.loudness.integrated_lufs
                ));
            }
            if limiting.is_heavy() {
                notes.push(limiting.heavy_text());
            }

            if a.true_peak_dbtp > d.ceiling_dbtp {
                failure = Some(format!(
                    "true peak {:.2} dBTP over the {:.1} dBTP ceiling",
                    a.true_peak_dbtp, d.ceiling_dbtp
                ));
            }
            if let Some(t) = target {
                let checks_loudness = match session.album.balance {
                    Balance::Track => track.is_some(),
                    Balance::Album | Balance::Consistent => track.is_none(),
                    Balance::None => false,
                };
                let off = track.map_or(0.0, |i| offsets[i]);
                // Stopping short for max_limiting_db is asked for, not a failure.
                let short_on_purpose = cut > 0.0 && a.loudness.integrated_lufs < t + off;
                if checks_loudness
                    && !short_on_purpose
                    && (a.loudness.integrated_lufs - (t + off)).abs() > 0.5
                {
                    failure = Some(format!(
                        "{:.2} LUFS misses the {t:.1} LUFS target by more than 0.5 LU",
                        a.loudness.integrated_lufs
                    ));
                }
            }
            if failure.is_none() && cut == 0.0 {
                failure = album_miss.clone();
            }
            let limit = d.codec_limit_dbtp();
            for (s, r) in &codec {
                match r {
                    Ok(c) if c.true_peak_dbtp > limit => {
                        let msg = format!(
                            "{s} decodes to {:+.2} dBTP, over {limit:.1} dBTP ({}): lower the ceiling by {:.1} dB",
                            c.true_peak_dbtp,
                            crate::analysis::codec::overs_text(c.total_overs()),
                            -crate::analysis::codec::trim_for(c.true_peak_dbtp, limit)
                        );
                        failure = Some(match failure {
                            Some(f) => format!("{f}; {msg}"),
                            None => msg,
                        });
                    }
                    Ok(_) => {}
                    Err(e) => notes.push(format!("{s} not checked: {e}")),
                }
            }
            reports.push(FileReport {
                codec,
                findings: track.map(|i| findings[i].clone()).unwrap_or_default(),
                delivery: d.name.clone(),
                file: f,
                track,
                before: track.map(|i| befores[i].clone()),
                analysis: a,
                target_lufs: target,
                ceiling_dbtp: d.ceiling_dbtp,
                bits: format.bits(),
                gain_db: track.map_or(f64::NAN, |i| gains[i]),
                failure,
                limiting,
                limiting_cut_db: cut,
                notes,
                levels: levels.clone(),
            });
        }
    }
    // The Red Book's warnings go with the first file of their delivery.
    for (name, w) in cd_warnings {
        if let Some(r) = reports.iter_mut().find(|r| r.delivery == name) {
            r.notes.push(w);
        }
    }
    Ok(reports)
}
