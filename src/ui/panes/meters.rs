//! The Meters pane: loudness, true peak, gain reduction, correlation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::chain::gr_bar;
use super::*;
use crate::ui::action::Pane;
use crate::ui::app::App;

/// A meter scale: range, width in cells, a mark, and where the warning and
/// over zones start (all in the meter's unit).
pub(super) struct Scale {
    lo: f64,
    hi: f64,
    width: usize,
    mark: Option<f64>,
    warn: f64,
    over: f64,
}

/// A horizontal bar with the value, a target mark and zones.
pub(super) fn bar(app: &App, value: f64, sc: Scale) -> Vec<Span<'static>> {
    let Scale {
        lo,
        hi,
        width,
        mark,
        warn,
        over,
    } = sc;
    let t = &app.theme;
    let pos = |v: f64| (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * width as f64).round() as usize;
    let n = if value.is_finite() { pos(value) } else { 0 };
    let m = mark.map(pos);
    let mut spans = Vec::new();
    for i in 0..width {
        let level = lo + (i as f64 + 0.5) / width as f64 * (hi - lo);
        let color = if level >= over {
            t.meter_over
        } else if level >= warn {
            t.meter_warn
        } else {
            t.meter_ok
        };
        let (ch, style) = if Some(i) == m {
            (
                "│",
                Style::default().fg(t.target).add_modifier(Modifier::BOLD),
            )
        } else if i < n {
            ("█", Style::default().fg(color))
        } else {
            ("·", t.dim())
        };
        spans.push(Span::styled(ch, style));
    }
    spans
}

pub(super) fn meters(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let m = &app.meters;
    let target = app.target_lufs();
    let ceiling = app.ceiling_dbtp();
    let inner_w = area.width.saturating_sub(2) as usize;
    let bw = inner_w.saturating_sub(15).max(4);
    let lufs_row = |label: &str, v: f64| -> Line<'static> {
        let mut s = vec![Span::styled(format!("{label} {} ", fmt_db(v, 6)), t.text())];
        s.extend(bar(
            app,
            v,
            Scale {
                lo: -48.0,
                hi: 0.0,
                width: bw,
                mark: target,
                warn: target.map_or(-9.0, |x| x + 1.0),
                over: target.map_or(-6.0, |x| x + 4.0),
            },
        ));
        s.push(Span::styled(" LU", t.dim()));
        Line::from(s)
    };
    let over = m.true_peak_dbtp.is_finite() && m.true_peak_dbtp > ceiling + 0.05
        || app.tp_hold > ceiling + 0.05;
    let mut tp = vec![Span::styled(
        format!("TP {} ", fmt_db(m.true_peak_now_dbtp, 6)),
        t.text(),
    )];
    tp.extend(bar(
        app,
        m.true_peak_now_dbtp,
        Scale {
            lo: -30.0,
            hi: 3.0,
            width: bw,
            mark: Some(ceiling),
            warn: ceiling - 3.0,
            over: ceiling,
        },
    ));
    tp.push(Span::styled(" dB", t.dim()));
    let plr = if m.integrated_lufs.is_finite() && app.tp_hold.is_finite() {
        format!("{:.1} dB", app.tp_hold - m.integrated_lufs)
    } else {
        "-".into()
    };
    let corr = app.transport.correlation;
    let cw = bw.max(10);
    let cpos = (((corr + 1.0) / 2.0).clamp(0.0, 1.0) * (cw - 1) as f64).round() as usize;
    let mut corr_spans = vec![Span::styled(format!("Corr {corr:+5.2}   "), t.text())];
    for i in 0..cw {
        let (ch, st) = if i == cpos {
            (
                "●",
                Style::default()
                    .fg(if corr < 0.0 { t.meter_over } else { t.meter_ok })
                    .add_modifier(Modifier::BOLD),
            )
        } else if i == cw / 2 {
            ("┼", t.dim())
        } else {
            ("─", t.dim())
        };
        corr_spans.push(Span::styled(ch, st));
    }
    let gr_total: f64 = app
        .transport
        .gain_reduction
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0, f64::max);
    let lines = vec![
        lufs_row("M ", m.momentary_lufs),
        lufs_row("S ", m.short_term_lufs),
        lufs_row("I ", m.integrated_lufs),
        Line::from(tp),
        Line::from(vec![
            Span::styled(
                format!("hold {} ", fmt_db(app.tp_hold, 5)),
                if over { t.over() } else { t.text() },
            ),
            Span::styled(if over { "OVER " } else { "" }, t.over()),
            Span::styled(format!("LRA {:.1}  PLR {plr}", m.range_lu), t.text()),
        ]),
        Line::from(vec![
            Span::styled(format!("GR {gr_total:4.1} dB ",), t.text()),
            Span::styled(
                gr_bar(gr_total, bw.min(24)),
                Style::default().fg(t.meter_warn),
            ),
        ]),
        Line::from(corr_spans),
        Line::from(vec![Span::styled(
            format!(
                "xruns {}  target {}  ceil {ceiling:.1}",
                app.transport.underruns,
                crate::ui::app::fmt_target(target),
            ),
            t.dim(),
        )]),
    ];
    f.render_widget(
        Paragraph::new(lines).block(block(app, Pane::Meters, "")),
        area,
    );
}
