//! Measuring what match, hum and de-hiss modules need before their chains
//! are built.
//!
//! A `type = "match"` module designs its filter from two long-term spectra
//! (`analysis::longterm`): the track as it enters the module (the track
//! run through the modules before it) and the reference (an audio file, or
//! the album's average: every track measured at the same point of the album
//! chain). The plan layer measures both and stores them in the module's
//! settings ([`MatchConfig::analysis`]) before any chain is built, so the
//! render and playback build the same filter from the same numbers.
//! Measurements are cached for the life of the process, keyed by the file
//! (path, size, modification time), the trims and the modules before the
//! match, so a re-plan after a change elsewhere measures nothing again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::analysis::longterm::{MatchAnalysis, MsSpectrum, reference_measure};
use crate::audio::hum::HumFound;
use crate::audio::noise::NoiseProfile;
use crate::dsp::chain::Chain;
use crate::error::{LatheError, Result};
use crate::io::{AudioSource, FileSource};
use crate::session::album::Track;
use crate::session::chain::{ChainConfig, MatchConfig, ModuleConfig};

/// The long-term spectra measured, by key.
static SPECTRA: Memo<Arc<MsSpectrum>> = OnceLock::new();

/// Cached spectra, by key.
fn cache() -> &'static Mutex<HashMap<String, Arc<MsSpectrum>>> {
    SPECTRA.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Most measurements kept (each about 8 kB).
const CACHE_LIMIT: usize = 512;

fn cached(key: &str, measure: impl FnOnce() -> Result<MsSpectrum>) -> Result<Arc<MsSpectrum>> {
    memo(&SPECTRA, key.to_string(), || measure().map(Arc::new))
}

/// What identifies a file's contents: path, size and modification time.
fn file_id(path: &Path) -> String {
    let meta = std::fs::metadata(path).ok();
    let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
    let mtime = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}|{size}|{mtime}", path.display())
}

/// What processing by `modules` depends on: their settings and the
/// measurements of their match modules (which settings do not show).
pub fn modules_key(modules: &[ModuleConfig]) -> String {
    let prints: Vec<u64> = modules
        .iter()
        .filter_map(|m| match m {
            ModuleConfig::Match(c) => Some(c.analysis.as_ref().map_or(0, |a| a.fingerprint())),
            ModuleConfig::Dehiss(d) => Some(d.profile.as_ref().map_or(0, |p| p.fingerprint())),
            ModuleConfig::Hum(h) => {
                let (notches, n) = h.notches();
                Some(
                    notches[..n]
                        .iter()
                        .fold(n as u64, |acc, (_, f)| acc.rotate_left(7) ^ f.to_bits()),
                )
            }
            _ => None,
        })
        .collect();
    format!(
        "{}|{prints:?}",
        serde_json::to_string(modules).unwrap_or_default()
    )
}

/// The long-term spectrum of the audio file `reference` (cached).
pub fn reference(path: &Path) -> Result<Arc<MsSpectrum>> {
    reference_with_loudness(path).map(|(s, _)| s)
}

/// [`reference`] and the file's integrated loudness, LUFS (cached; one read).
pub fn reference_with_loudness(path: &Path) -> Result<(Arc<MsSpectrum>, f64)> {
    if !path.exists() {
        return Err(LatheError::open(path, "the match reference does not exist"));
    }
    let key = format!("ref|{}", file_id(path));
    let lkey = format!("lufs|{key}");
    let known = || {
        loudness_cache()
            .lock()
            .ok()
            .and_then(|m| m.get(&lkey).copied())
    };
    if let (Some(s), Some(l)) = (
        cache().lock().ok().and_then(|m| m.get(&key).cloned()),
        known(),
    ) {
        return Ok((s, l));
    }
    let (s, l) = reference_measure(path)?;
    let s = Arc::new(s);
    if let Ok(mut m) = cache().lock() {
        if m.len() >= CACHE_LIMIT {
            m.clear();
        }
        m.insert(key, s.clone());
    }
    if let Ok(mut m) = loudness_cache().lock() {
        m.insert(lkey, l);
    }
    Ok((s, l))
}

fn loudness_cache() -> &'static Mutex<HashMap<String, f64>> {
    static CACHE: OnceLock<Mutex<HashMap<String, f64>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The reference file a match module names, relative to `base`.
pub fn reference_path(cfg: &MatchConfig, base: &Path) -> PathBuf {
    let p = PathBuf::from(cfg.reference.trim());
    if p.is_absolute() { p } else { base.join(p) }
}

/// A track's audio: the file and its trims, s.
#[derive(Debug, Clone)]
pub struct TrackAudio {
    /// The audio file.
    pub path: PathBuf,
    /// Trimmed from the start, s.
    pub trim_start_s: f64,
    /// Trimmed from the end, s.
    pub trim_end_s: f64,
}

impl TrackAudio {
    /// A whole file.
    pub fn file(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            trim_start_s: 0.0,
            trim_end_s: 0.0,
        }
    }

    /// An album track.
    pub fn track(path: &Path, t: &Track) -> Self {
        Self {
            path: path.to_path_buf(),
            trim_start_s: t.trim_start_s,
            trim_end_s: t.trim_end_s,
        }
    }
}

/// What identifies a measurement of `track` after `modules`.
fn track_key(what: &str, track: &TrackAudio, modules: &[ModuleConfig]) -> String {
    format!(
        "{what}|{}|{}|{}|{}",
        file_id(&track.path),
        track.trim_start_s,
        track.trim_end_s,
        modules_key(modules)
    )
}

/// Read `track` (trimmed) through `modules` (the chain before a module
/// that needs measuring) and hand every block to `take` with the file's
/// rate (Hz) and channel count.
fn run_after(
    track: &TrackAudio,
    modules: &[ModuleConfig],
    take: &mut dyn FnMut(u32, usize, &crate::audio::AudioBlock),
) -> Result<()> {
    let mut src = FileSource::open(&track.path)?;
    let info = src.info().clone();
    let rate = f64::from(info.sample_rate);
    let start = (track.trim_start_s * rate).round() as u64;
    if start > 0 {
        src.seek(start)?;
    }
    let mut left = info
        .total_frames
        .map(|n| n.saturating_sub(start + (track.trim_end_s * rate).round() as u64));
    let cfg = ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules: modules.to_vec(),
    };
    let mut chain = Chain::from_config(&cfg, info.sample_rate, info.channels)
        .map_err(|e| LatheError::decode(&track.path, e.to_string()))?;
    let mut block = crate::audio::AudioBlock::new(info.channels, 4096);
    loop {
        let n = src.read(&mut block)?;
        if n == 0 || left == Some(0) {
            break;
        }
        if let Some(l) = left.as_mut() {
            block.frames = block.frames.min(*l as usize);
            *l -= block.frames as u64;
        }
        chain.process_pre(&mut block);
        take(info.sample_rate, info.channels, &block);
    }
    Ok(())
}

/// The track's spectrum after `modules` (the chain before a match module);
/// None when it is silent there (its match module then stays flat).
fn spectrum_after(track: &TrackAudio, modules: &[ModuleConfig]) -> Result<Option<Arc<MsSpectrum>>> {
    let measured = cached(&track_key("trk", track, modules), || {
        let mut an: Option<crate::analysis::longterm::MsAnalyzer> = None;
        run_after(track, modules, &mut |rate, channels, b| {
            an.get_or_insert_with(|| crate::analysis::longterm::MsAnalyzer::new(rate, channels))
                .push(&b.channels, b.frames);
        })?;
        // A silent track is remembered as an empty spectrum.
        Ok(an.and_then(|a| a.finish()).unwrap_or(MsSpectrum {
            mid: Vec::new(),
            side: Vec::new(),
            frames_used: 0,
            frames_total: 0,
        }))
    })?;
    Ok((measured.frames_used > 0).then_some(measured))
}

/// A process-wide cache of measurements, by key.
type Memo<T> = OnceLock<Mutex<HashMap<String, T>>>;

/// `memo[key]`, or `measure()` remembered there (at most [`CACHE_LIMIT`]
/// entries; a failed measurement is not remembered).
fn memo<T: Clone>(
    memo: &'static Memo<T>,
    key: String,
    measure: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let cache = memo.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(hit);
    }
    let value = measure()?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(key, value.clone());
    }
    Ok(value)
}

/// What hum detection finds in the track after `modules` (cached); None
/// when the track is too short to tell.
fn hum_after(track: &TrackAudio, modules: &[ModuleConfig]) -> Result<Option<Arc<HumFound>>> {
    static CACHE: Memo<Option<Arc<HumFound>>> = OnceLock::new();
    memo(&CACHE, track_key("hum", track, modules), || {
        let mut an: Option<crate::analysis::hum::HumAnalyzer> = None;
        run_after(track, modules, &mut |rate, _, b| {
            an.get_or_insert_with(|| crate::analysis::hum::HumAnalyzer::new(rate))
                .push(&b.channels, b.frames);
        })?;
        Ok(an.and_then(|a| a.finish()).map(Arc::new))
    })
}

/// The noise profile of the track after `modules` (cached), learnt from
/// the whole track or from a passage; None when too short to tell.
fn noise_after(
    track: &TrackAudio,
    modules: &[ModuleConfig],
    learn: crate::analysis::noise::Learn,
) -> Result<Option<Arc<NoiseProfile>>> {
    static CACHE: Memo<Option<Arc<NoiseProfile>>> = OnceLock::new();
    let key = format!("{learn:?}|{}", track_key("noise", track, modules));
    memo(&CACHE, key, || {
        let mut an: Option<crate::analysis::noise::NoiseProfiler> = None;
        run_after(track, modules, &mut |rate, channels, b| {
            an.get_or_insert_with(|| {
                crate::analysis::noise::NoiseProfiler::new(rate, channels, learn)
            })
            .push(&b.channels, b.frames);
        })?;
        let found = an.and_then(|a| a.finish()).map(Arc::new);
        if let crate::analysis::noise::Learn::Range(a, b) = learn
            && found.is_none()
        {
            return Err(LatheError::Invalid(format!(
                "{}: the de-hisser's noise passage {a}-{b} s is not inside the track",
                track.path.display()
            )));
        }
        Ok(found)
    })
}

/// Whether module `m` waits for a measurement (a match module, a hum
/// module set to "auto", a de-hisser without its noise profile).
fn needs(m: &ModuleConfig) -> bool {
    match m {
        ModuleConfig::Match(_) => true,
        ModuleConfig::Hum(h) => h.needs_detection(),
        ModuleConfig::Dehiss(d) => d.profile.is_none(),
        _ => false,
    }
}

/// Whether any module of `chain` waits for a measurement.
pub fn needs_measuring(chain: &ChainConfig) -> bool {
    chain.modules.iter().any(needs)
}

/// Fill in the analysis of every match module and the detection of every
/// "auto" hum module in the chain of one file (`lathe master`, `lathe play
/// FILE`); references relative to `base`.
/// A reference of `"album"` is an error here: there is no album.
pub fn resolve_file(chain: &mut ChainConfig, path: &Path, base: &Path) -> Result<()> {
    let track = TrackAudio::file(path);
    for i in 0..chain.modules.len() {
        if let ModuleConfig::Dehiss(d) = &chain.modules[i]
            && d.profile.is_none()
        {
            let profile = noise_after(&track, &chain.modules[..i], d.learn())?;
            if let ModuleConfig::Dehiss(d) = &mut chain.modules[i] {
                d.profile = profile;
            }
            continue;
        }
        if let ModuleConfig::Hum(h) = &chain.modules[i]
            && h.needs_detection()
            && h.found.is_none()
        {
            let found = hum_after(&track, &chain.modules[..i])?;
            if let ModuleConfig::Hum(h) = &mut chain.modules[i] {
                h.found = found;
            }
            continue;
        }
        let ModuleConfig::Match(m) = &chain.modules[i] else {
            continue;
        };
        if m.album_reference() {
            return Err(LatheError::Invalid(format!(
                "module {} (match): reference = \"album\" needs an album session; give a reference file",
                i + 1
            )));
        }
        let rpath = reference_path(m, base);
        let (reference, own) = rayon::join(
            || reference(&rpath),
            || spectrum_after(&track, &chain.modules[..i]),
        );
        let (reference, own) = (reference?, own?);
        let Some(own) = own else {
            continue;
        };
        if let ModuleConfig::Match(m) = &mut chain.modules[i] {
            m.analysis = Some(Arc::new(MatchAnalysis {
                track: (*own).clone(),
                reference: (*reference).clone(),
                reference_label: label(&rpath),
            }));
        }
    }
    Ok(())
}

fn label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Fill in the analysis of every match module in an album's chains (one
/// per track, the album chain's modules first: `album_modules` of them
/// before the track's own); references relative to `base`. An `"album"`
/// reference is the average of every track measured at the module's
/// place in the album chain (for a track's own match module: after the
/// whole album chain). Tracks are measured in parallel.
pub fn resolve_album(
    chains: &mut [ChainConfig],
    tracks: &[TrackAudio],
    album_modules: usize,
    base: &Path,
) -> Result<()> {
    let longest = chains.iter().map(|c| c.modules.len()).max().unwrap_or(0);
    for i in 0..longest {
        if !chains.iter().any(|c| c.modules.get(i).is_some_and(needs)) {
            continue;
        }
        // Hum modules here: each track's own detection.
        let hums: Vec<Option<Option<Arc<HumFound>>>> = chains
            .par_iter()
            .zip(tracks.par_iter())
            .map(|(c, t)| match c.modules.get(i) {
                Some(ModuleConfig::Hum(h)) if h.needs_detection() => {
                    hum_after(t, &c.modules[..i]).map(Some)
                }
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        for (c, h) in chains.iter_mut().zip(hums) {
            if let (Some(ModuleConfig::Hum(m)), Some(found)) = (c.modules.get_mut(i), h) {
                m.found = found;
            }
        }
        // De-hissers here: each track's own noise profile.
        let noises: Vec<Option<Option<Arc<NoiseProfile>>>> = chains
            .par_iter()
            .zip(tracks.par_iter())
            .map(|(c, t)| match c.modules.get(i) {
                Some(ModuleConfig::Dehiss(d)) if d.profile.is_none() => {
                    noise_after(t, &c.modules[..i], d.learn()).map(Some)
                }
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        for (c, n) in chains.iter_mut().zip(noises) {
            if let (Some(ModuleConfig::Dehiss(m)), Some(p)) = (c.modules.get_mut(i), n) {
                m.profile = p;
            }
        }
        // The album average at this place, if any module here asks for it.
        let needs_album = chains.iter().any(
            |c| matches!(c.modules.get(i), Some(ModuleConfig::Match(m)) if m.album_reference()),
        );
        let album = if needs_album {
            let at = i.min(album_modules);
            let all: Vec<Option<Arc<MsSpectrum>>> = chains
                .par_iter()
                .zip(tracks.par_iter())
                .map(|(c, t)| spectrum_after(t, &c.modules[..at.min(c.modules.len())]))
                .collect::<Result<_>>()?;
            // Silent tracks do not count.
            let refs: Vec<&MsSpectrum> = all.iter().flatten().map(|a| a.as_ref()).collect();
            MsSpectrum::average(&refs)
        } else {
            None
        };
        let found: Vec<Option<MatchAnalysis>> = chains
            .par_iter()
            .zip(tracks.par_iter())
            .map(|(c, t)| -> Result<Option<MatchAnalysis>> {
                let Some(ModuleConfig::Match(m)) = c.modules.get(i) else {
                    return Ok(None);
                };
                let (reference, reference_label) = if m.album_reference() {
                    match &album {
                        Some(a) => (a.clone(), "album average".to_string()),
                        None => return Ok(None),
                    }
                } else {
                    let p = reference_path(m, base);
                    ((*reference(&p)?).clone(), label(&p))
                };
                let Some(own) = spectrum_after(t, &c.modules[..i])? else {
                    return Ok(None);
                };
                Ok(Some(MatchAnalysis {
                    track: (*own).clone(),
                    reference,
                    reference_label,
                }))
            })
            .collect::<Result<_>>()?;
        for (c, a) in chains.iter_mut().zip(found) {
            if let (Some(ModuleConfig::Match(m)), Some(a)) = (c.modules.get_mut(i), a) {
                m.analysis = Some(Arc::new(a));
            }
        }
    }
    Ok(())
}

/// Carry the analyses of `old`'s match modules over to `new`'s that have
/// none (same place, same reference): a chain edited in the interface
/// keeps its curves until the next plan measures again.
pub fn inherit(new: &mut ChainConfig, old: &ChainConfig) {
    for (n, o) in new.modules.iter_mut().zip(&old.modules) {
        match (n, o) {
            (ModuleConfig::Match(n), ModuleConfig::Match(o))
                if n.analysis.is_none() && n.reference == o.reference =>
            {
                n.analysis = o.analysis.clone();
            }
            (ModuleConfig::Hum(n), ModuleConfig::Hum(o)) if n.found.is_none() => {
                n.found = o.found.clone();
            }
            (ModuleConfig::Dehiss(n), ModuleConfig::Dehiss(o))
                if n.profile.is_none() && n.learn() == o.learn() =>
            {
                n.profile = o.profile.clone();
            }
            _ => {}
        }
    }
}

/// The name and 1/3-octave tonal balance (`analysis::tonal`) of the file
/// the first match module in use in `chain` matches (None: none, or the
/// album's average, or unreadable). Cached like the spectra.
pub fn reference_tonal(chain: &ChainConfig, base: &Path) -> Option<(String, Vec<f64>)> {
    static CACHE: OnceLock<Mutex<HashMap<String, Vec<f64>>>> = OnceLock::new();
    let m = chain.modules.iter().find_map(|m| match m {
        ModuleConfig::Match(c) if !c.bypass && !c.album_reference() => Some(c),
        _ => None,
    })?;
    let path = reference_path(m, base);
    let key = file_id(&path);
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Some((label(&path), hit));
    }
    let levels = crate::analysis::tonal::tonal_profile(&path).ok()?.bands_db;
    if let Ok(mut c) = cache.lock() {
        c.insert(key, levels.clone());
    }
    Some((label(&path), levels))
}

/// What the measured modules of `chain` found and do, one line each, for
/// reports ("hum: 50.20 Hz: harmonics 1 2 3 (…)", "matched 40 % toward
/// the album average").
pub fn findings(chain: &ChainConfig) -> Vec<String> {
    chain
        .modules
        .iter()
        .filter_map(|m| match m {
            ModuleConfig::Hum(h) if !h.bypass => {
                h.found.as_ref().map(|f| format!("hum: {}", f.describe()))
            }
            ModuleConfig::Dehiss(d) if !d.bypass => d
                .profile
                .as_ref()
                .map(|p| format!("dehiss: {}", p.describe())),
            ModuleConfig::Match(c) if !c.bypass => c
                .analysis
                .as_ref()
                .map(|a| format!("matched {:.0} % toward {}", c.amount_pct, a.reference_label)),
            _ => None,
        })
        .collect()
}

/// Whether any module of `chain` is a match module.
pub fn has_match(chain: &ChainConfig) -> bool {
    chain
        .modules
        .iter()
        .any(|m| matches!(m, ModuleConfig::Match(_)))
}
