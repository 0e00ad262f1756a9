//! The Spectrum pane: 1/3-octave bands before and after the chain.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::*;
use crate::ui::action::Pane;
use crate::ui::app::App;

pub(super) fn spectrum(f: &mut Frame, app: &App, area: Rect) {
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
    // Frequency labels on the last row.
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
        let pos = (f64::ln(hz / band_centre_hz(0))
            / f64::ln(band_centre_hz(BANDS - 1) / band_centre_hz(0))
            * (w - 1) as f64)
            .round() as usize;
        if pos >= free_from && pos + label.len() <= w {
            buf.set_string(inner.x + pos as u16, y, label, t.dim());
            free_from = pos + label.len() + 1;
        }
    }
}
