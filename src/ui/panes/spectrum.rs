//! The Spectrum pane: 1/3-octave bands before and after the chain.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::*;
use crate::ui::action::Pane;
use crate::ui::app::App;

pub(super) fn spectrum(f: &mut Frame, app: &App, area: Rect) {
    if app.tonal_view {
        tonal(f, app, area);
        return;
    }
    let t = &app.theme;
    let b = block(app, Pane::Spectrum, " · after █ before ▔ peak ·");
    let inner = b.inner(area);
    f.render_widget(b, area);
    if inner.width < 8 || inner.height < 3 {
        return;
    }
    let h = inner.height as usize - 1; // last row: frequency labels
    let w = inner.width as usize;
    let (lo_db, hi_db) = (-84.0f64, 0.0f64);
    let level_at = |levels: &[f32], col: usize| -> f64 {
        if levels.len() != BANDS {
            return lo_db;
        }
        let pos = col as f64 / (w - 1).max(1) as f64 * (BANDS - 1) as f64;
        let i = pos.floor() as usize;
        let j = (i + 1).min(BANDS - 1);
        let frac = pos - i as f64;
        f64::from(levels[i]) * (1.0 - frac) + f64::from(levels[j]) * frac
    };
    let to_rows = |db: f64| ((db - lo_db) / (hi_db - lo_db)).clamp(0.0, 1.0) * h as f64;
    let eighths = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
    let buf = f.buffer_mut();
    for col in 0..w {
        let after = to_rows(level_at(&app.meters.spectrum_after, col));
        let before = to_rows(level_at(&app.meters.spectrum_before, col));
        let peak = to_rows(level_at(&app.meters.spectrum_peak, col));
        for row in 0..h {
            let y = inner.y + (h - 1 - row) as u16;
            let x = inner.x + col as u16;
            let fill = (after - row as f64).clamp(0.0, 1.0);
            let cell = &mut buf[(x, y)];
            let idx = (fill * 8.0).round() as usize;
            let on_row = |v: f64, n: usize| v >= row as f64 && v < row as f64 + 1.0 && n == BANDS;
            if on_row(before, app.meters.spectrum_before.len()) && before > 0.5 {
                // The original on top of the bars, so the difference shows.
                cell.set_symbol("▔");
                cell.set_style(Style::default().fg(t.before).add_modifier(Modifier::BOLD));
            } else if idx > 0 {
                cell.set_symbol(eighths[idx]);
                cell.set_style(Style::default().fg(t.after));
            } else if on_row(peak, app.meters.spectrum_peak.len()) {
                cell.set_symbol("·");
                cell.set_style(Style::default().fg(t.playhead));
            }
        }
    }
    frequency_labels(
        buf,
        inner,
        h,
        |hz| {
            f64::ln(hz / band_centre_hz(0)) / f64::ln(band_centre_hz(BANDS - 1) / band_centre_hz(0))
        },
        t.dim(),
    );
}

/// Frequency labels on row `h` of `inner`; `at(hz)` places a frequency
/// between 0 (left) and 1 (right).
fn frequency_labels(
    buf: &mut ratatui::buffer::Buffer,
    inner: Rect,
    h: usize,
    at: impl Fn(f64) -> f64,
    style: Style,
) {
    let w = inner.width as usize;
    let y = inner.y + h as u16;
    let mut free_from = 0usize;
    for (hz, label) in [
        (50.0, "50"),
        (100.0, "100"),
        (500.0, "500"),
        (1000.0, "1k"),
        (5000.0, "5k"),
        (10_000.0, "10k"),
    ] {
        let pos = (at(hz) * (w - 1) as f64).round() as usize;
        if pos >= free_from && pos + label.len() <= w {
            buf.set_string(inner.x + pos as u16, y, label, style);
            free_from = pos + label.len() + 1;
        }
    }
}

/// Deviations inside this many dB of the album's average count as in
/// balance (the shaded band of the tonal view).
pub const TONAL_TOLERANCE_DB: f64 = 1.5;
/// The tonal view's vertical range, ± dB.
const TONAL_RANGE_DB: f64 = 6.0;

/// The tonal-balance view: the selected track's 1/3-octave levels (as
/// planned, after the chain, loudness-normalized) against the average of
/// the album's tracks, or against the file its match module matches, one
/// bar per band up or down from the centre line, the tolerance band
/// shaded, bands outside it in the warning colour; a dot marks where the
/// source stood before the chain.
fn tonal(f: &mut Frame, app: &App, area: Rect) {
    use crate::analysis::tonal::{self, BANDS as TBANDS};
    let t = &app.theme;
    let infos: Vec<Option<&crate::ui::app::TrackInfo>> = (0..app.session.tracks.len())
        .map(|k| app.track_path(k).and_then(|p| app.info.get(&p)))
        .collect();
    let planned: Vec<&[f64]> = infos
        .iter()
        .flatten()
        .map(|i| i.tonal_after.as_slice())
        .filter(|p| p.len() == TBANDS)
        .collect();
    let sel = app.track_sel.min(infos.len().saturating_sub(1));
    let info = infos.get(sel).copied().flatten();
    let mine = info
        .map(|i| i.tonal_after.as_slice())
        .filter(|p| p.len() == TBANDS);
    let reference = info
        .and_then(|i| i.tonal_reference.as_ref())
        .filter(|(_, r)| r.len() == TBANDS);
    let (basis, against) = match reference {
        Some((name, levels)) => (levels.clone(), name.clone()),
        None => (tonal::average_of(&planned), "album".to_string()),
    };
    let dev: Vec<f64> = mine
        .map(|m| tonal::deviation_of(m, &basis))
        .unwrap_or_default();
    let before: Vec<f64> = info
        .map(|i| i.tonal_before.as_slice())
        .filter(|b| b.len() == TBANDS)
        .map(|b| tonal::deviation_of(b, &basis))
        .unwrap_or_default();
    let ready = mine.is_some() && (reference.is_some() || planned.len() >= 2);
    let title = if ready {
        format!(
            " · tonal: track {} vs {against} · RMS {:.1} dB{} · ±{TONAL_TOLERANCE_DB} dB ·",
            sel + 1,
            tonal::rms_deviation_db(&dev),
            if before.len() == TBANDS {
                format!(" (before {:.1})", tonal::rms_deviation_db(&before))
            } else {
                String::new()
            }
        )
    } else {
        " · tonal: planning… ·".to_string()
    };
    let b = block(app, Pane::Spectrum, &title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    if inner.width < 8 || inner.height < 3 || dev.len() != TBANDS || !ready {
        return;
    }
    let h = inner.height as usize - 1;
    let w = inner.width as usize;
    let row_of = |db: f64| {
        (((TONAL_RANGE_DB - db) / (2.0 * TONAL_RANGE_DB)) * (h - 1) as f64)
            .round()
            .clamp(0.0, (h - 1) as f64) as usize
    };
    let zero = row_of(0.0);
    let (tol_hi, tol_lo) = (row_of(TONAL_TOLERANCE_DB), row_of(-TONAL_TOLERANCE_DB));
    let buf = f.buffer_mut();
    for col in 0..w {
        let band = ((col as f64 / (w - 1).max(1) as f64) * (TBANDS - 1) as f64).round() as usize;
        let d = dev[band];
        let r = row_of(d);
        let out = d.abs() > TONAL_TOLERANCE_DB;
        let was = before
            .get(band)
            .filter(|v| v.is_finite())
            .map(|v| row_of(*v));
        for row in 0..h {
            let (x, y) = (inner.x + col as u16, inner.y + row as u16);
            let cell = &mut buf[(x, y)];
            let bar = (r <= row && row <= zero) || (zero <= row && row <= r);
            if was == Some(row) && basis[band].is_finite() {
                cell.set_symbol("•");
                cell.set_style(Style::default().fg(t.before));
            } else if bar && basis[band].is_finite() {
                cell.set_symbol("█");
                cell.set_style(Style::default().fg(if out { t.meter_warn } else { t.after }));
            } else if row == zero {
                cell.set_symbol("─");
                cell.set_style(t.dim());
            } else if row >= tol_hi && row <= tol_lo {
                cell.set_symbol("·");
                cell.set_style(t.dim());
            }
        }
    }
    let (lo, hi) = (tonal::band_centre_hz(0), tonal::band_centre_hz(TBANDS - 1));
    frequency_labels(
        buf,
        inner,
        h,
        |hz| f64::ln(hz / lo) / f64::ln(hi / lo),
        t.dim(),
    );
}
