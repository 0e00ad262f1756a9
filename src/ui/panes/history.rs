//! The History pane: short-term loudness over the album against the target.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType};

use super::*;
use crate::ui::action::Pane;
use crate::ui::app::App;

pub(super) fn history(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let k = app
        .transport
        .current_track
        .min(app.session.tracks.len().saturating_sub(1));
    let start = app.transport.track_starts.get(k).copied().unwrap_or(0.0);
    let info = app.track_path(k).and_then(|p| app.info.get(&p).cloned());
    let dur = info.as_ref().map_or(1.0, |i| i.duration_s.max(1.0));
    // A 100 ms short-term series as chart points (s, LUFS).
    let curve = |series: &[f64]| -> Vec<(f64, f64)> {
        series
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(n, v)| (n as f64 * 0.1, *v))
            .collect()
    };
    let mut before = info.as_ref().map_or_else(Vec::new, |i| curve(&i.series));
    // The master as planned over the whole track; before a plan, what has played.
    let planned = info
        .as_ref()
        .map_or_else(Vec::new, |i| curve(&i.series_after));
    let mut after: Vec<(f64, f64)> = if planned.is_empty() {
        app.meters
            .history
            .iter()
            .filter(|(p, v)| v.is_finite() && *p >= start && *p <= start + dur)
            .map(|(p, v)| (p - start, *v))
            .collect()
    } else {
        planned
    };
    // Scaled to the data around the target, so a few LU of movement shows.
    let values: Vec<f64> = after.iter().chain(&before).map(|p| p.1).collect();
    let (lo, hi) = history_bounds(app.target_lufs(), &values);
    for p in after.iter_mut().chain(before.iter_mut()) {
        p.1 = p.1.clamp(lo, hi);
    }
    let pos = (app.transport.position_s - start).clamp(0.0, dur);
    let playhead = vec![(pos, lo), (pos, hi)];
    let target: Vec<(f64, f64)> = app
        .target_lufs()
        .map_or(vec![], |v| vec![(0.0, v), (dur, v)]);
    let title = app.session.tracks.get(k).map_or(String::new(), |tr| {
        format!(
            " · short-term LUFS · track {}: {} · {}",
            k + 1,
            tr.title,
            format_duration(pos)
        )
    });
    let b = block(app, Pane::History, &title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    if inner.height < 3 {
        return;
    }
    let chart_area = Rect {
        height: inner.height - 1,
        ..inner
    };
    let ds = vec![
        Dataset::default()
            .name("before")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.before))
            .data(&before),
        Dataset::default()
            .name("after")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.after))
            .data(&after),
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.target))
            .data(&target),
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::default().fg(t.playhead))
            .data(&playhead),
    ];
    let chart = Chart::new(ds)
        .style(t.text())
        .x_axis(Axis::default().bounds([0.0, dur]).style(t.dim()))
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels(vec![
                    Span::styled(format!("{lo:>3.0}"), t.dim()),
                    Span::styled(format!("{:>3.0}", (lo + hi) / 2.0), t.dim()),
                    Span::styled(format!("{hi:>3.0}"), t.dim()),
                ])
                .style(t.dim()),
        );
    f.render_widget(chart, chart_area);
    // Overview strip: the whole album, loudness per column, playhead marked.
    let y = inner.y + inner.height - 1;
    let w = inner.width as usize;
    let total = app.transport.duration_s.max(1.0);
    let levels = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
    let buf = f.buffer_mut();
    for col in 0..w {
        let t0 = col as f64 / w as f64 * total;
        let mut v = f64::NEG_INFINITY;
        for (i, s) in app.transport.track_starts.iter().enumerate() {
            if t0 >= *s
                && let Some(inf) = app.track_path(i).and_then(|p| app.info.get(&p))
            {
                let idx = ((t0 - s) / 0.1) as usize;
                if let Some(x) = inf.series.get(idx) {
                    v = *x;
                } else if t0 - s <= inf.duration_s {
                    v = v.max(-60.0);
                }
            }
        }
        let lvl = if v.is_finite() {
            (((v + 50.0) / 45.0).clamp(0.0, 1.0) * 8.0).round() as usize
        } else {
            0
        };
        let here = (app.transport.position_s / total * w as f64) as usize == col;
        let cell = &mut buf[(inner.x + col as u16, y)];
        cell.set_symbol(if here { "┃" } else { levels[lvl] });
        cell.set_style(if here {
            Style::default().fg(t.playhead).add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(t.before)
        });
    }
}

/// The History chart's loudness range (LUFS, low to high): centred on the
/// target (else the median of the curves), wide enough for the curves'
/// 5th to 95th percentiles plus 2 LU, in steps of 5 LU from ±10 to ±25 LU,
/// and never above 0 LUFS. Values outside are drawn at the edge.
pub fn history_bounds(target: Option<f64>, values: &[f64]) -> (f64, f64) {
    let mut v: Vec<f64> = values
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > -70.0)
        .collect();
    v.sort_by(f64::total_cmp);
    let pct = |q: f64| v.get(((v.len() - 1) as f64 * q).round() as usize).copied();
    let centre = target
        .or_else(|| (!v.is_empty()).then(|| pct(0.5)).flatten())
        .unwrap_or(-23.0);
    let reach = if v.is_empty() {
        0.0
    } else {
        let (p5, p95) = (pct(0.05).unwrap_or(centre), pct(0.95).unwrap_or(centre));
        (centre - p5).max(p95 - centre) + 2.0
    };
    let half = ((reach / 5.0).ceil() * 5.0).clamp(10.0, 25.0);
    let lo = (centre - half).floor();
    let hi = (centre + half).min(0.0).max(lo + 10.0).ceil();
    (lo, hi)
}
