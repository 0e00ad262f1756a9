//! The meter thread: reads the player's tap ring (processed and original
//! stereo) into loudness, true-peak and spectrum meters and publishes a
//! [`MeterSnapshot`] about 20 times a second.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::PlayerShared;
use super::reader::ReaderControl;
use crate::analysis::loudness::LoudnessMeter;
use crate::analysis::spectrum::Spectrum;
use crate::analysis::truepeak::TruePeakMeter;
use crate::units::linear_to_db;

/// Live meter readings (updated by the meter thread about 20 times a second).
#[derive(Debug, Clone, Default)]
pub struct MeterSnapshot {
    /// Momentary loudness, LUFS.
    pub momentary_lufs: f64,
    /// Short-term loudness, LUFS.
    pub short_term_lufs: f64,
    /// Integrated loudness since play start (or the last meter reset), LUFS.
    pub integrated_lufs: f64,
    /// Loudness range since play start, LU.
    pub range_lu: f64,
    /// True peak since play start, dBTP.
    pub true_peak_dbtp: f64,
    /// True peak of the last 100 ms, dBTP.
    pub true_peak_now_dbtp: f64,
    /// Spectrum of the processed signal: level per band, dB (full-scale sine = 0).
    pub spectrum_after: Vec<f32>,
    /// Spectrum of the original signal per band, dB.
    pub spectrum_before: Vec<f32>,
    /// Peak-hold of the processed spectrum per band, dB.
    pub spectrum_peak: Vec<f32>,
    /// Short-term loudness every 100 ms of playback since play start: (playhead s, LUFS).
    pub history: Vec<(f64, f64)>,
}

impl MeterSnapshot {
    /// Readings before any audio: every level at −∞ (not 0, which would
    /// read as full scale), no spectrum or history yet.
    pub fn silent() -> Self {
        Self {
            momentary_lufs: f64::NEG_INFINITY,
            short_term_lufs: f64::NEG_INFINITY,
            integrated_lufs: f64::NEG_INFINITY,
            true_peak_dbtp: f64::NEG_INFINITY,
            true_peak_now_dbtp: f64::NEG_INFINITY,
            ..Self::default()
        }
    }
}

/// Meter thread: reads the tap ring (processed L/R, original L/R per frame)
/// into loudness, true peak and spectrum meters.
pub(crate) fn meter_thread(
    rate: u32,
    latency: usize,
    mut tap: rtrb::Consumer<f32>,
    meters: Arc<Mutex<MeterSnapshot>>,
    shared: Arc<PlayerShared>,
    ctl: Arc<ReaderControl>,
    capture: Option<Arc<Mutex<Vec<f32>>>>,
) {
    let new_meters = || {
        (
            LoudnessMeter::new(rate, &[1.0, 1.0]),
            [TruePeakMeter::new(rate), TruePeakMeter::new(rate)],
        )
    };
    let (mut lm, mut tps) = new_meters();
    let mut now_tp = [TruePeakMeter::new(rate), TruePeakMeter::new(rate)];
    let mut since_now = 0usize;
    let mut after = Spectrum::new(rate);
    let mut before = Spectrum::new(rate);
    let mut planar = vec![vec![0f32; 4096]; 4];
    let mut since_history = 0usize;
    let mut history: Vec<(f64, f64)> = Vec::new();
    while !ctl.stop.load(Ordering::Acquire) {
        if ctl.reset_meters.swap(false, Ordering::AcqRel) {
            (lm, tps) = new_meters();
            history.clear();
        }
        let n = (tap.slots() / 4).min(4096);
        if n == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        if let Ok(chunk) = tap.read_chunk(n * 4) {
            let (a, b) = chunk.as_slices();
            for (i, v) in a.iter().chain(b.iter()).enumerate() {
                planar[i % 4][i / 4] = *v;
            }
            if let Some(c) = capture.as_ref()
                && let Ok(mut c) = c.lock()
            {
                for (l, r) in planar[0][..n].iter().zip(&planar[1][..n]) {
                    c.push(*l);
                    c.push(*r);
                }
            }
            chunk.commit_all();
        }
        lm.push(&planar[..2], n);
        for (t, p) in tps.iter_mut().zip(&planar) {
            t.push(&p[..n]);
        }
        for (t, p) in now_tp.iter_mut().zip(&planar) {
            t.push(&p[..n]);
        }
        after.push(&planar[0][..n], &planar[1][..n]);
        before.push(&planar[2][..n], &planar[3][..n]);
        since_history += n;
        let tick = shared.position.load(Ordering::Relaxed);
        let playhead = tick.saturating_sub(latency as u64) as f64 / f64::from(rate);
        if since_history >= rate as usize / 10 {
            since_history = 0;
            let st = lm.short_term();
            if history.len() < 200_000 {
                history.push((playhead, st));
            }
        }
        since_now += n;
        let tp_now = linear_to_db(now_tp[0].true_peak().max(now_tp[1].true_peak()));
        if since_now >= rate as usize / 10 {
            since_now = 0;
            now_tp = [TruePeakMeter::new(rate), TruePeakMeter::new(rate)];
        }
        if let Ok(mut m) = meters.lock() {
            let stats = lm.stats();
            m.momentary_lufs = lm.momentary();
            m.short_term_lufs = lm.short_term();
            m.integrated_lufs = stats.integrated_lufs;
            m.range_lu = stats.loudness_range_lu;
            m.true_peak_dbtp = linear_to_db(tps[0].true_peak().max(tps[1].true_peak()));
            m.true_peak_now_dbtp = tp_now;
            after.levels_into(&mut m.spectrum_after);
            before.levels_into(&mut m.spectrum_before);
            after.peaks_into(&mut m.spectrum_peak);
            if m.history.len() != history.len() {
                m.history.clone_from(&history);
            }
        }
    }
}
