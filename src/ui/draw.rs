//! Drawing: every pane from the model, the status bar, the command line and
//! the overlays. Nothing here changes the model.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, BorderType, Borders, Chart, Clear, Dataset, GraphType, Paragraph, Row as TRow,
    Table,
};

use super::action::Pane;
use super::app::{App, ModRef, Overlay, Row};
use super::params;
use crate::analysis::spectrum::{BANDS, band_centre_hz};
use crate::units::format_duration;

/// Where each visible pane goes in `area`.
pub fn layout(app: &App, area: Rect) -> Vec<(Pane, Rect)> {
    let vis = app.visible();
    if app.zoom && vis.contains(&app.focus) {
        return vec![(app.focus, area)];
    }
    let big = area.height >= 40;
    // Below 30 rows the Log pane folds away unless focused (the bottom
    // line shows the latest message; 6 or z opens it).
    let folded = |p: Pane| p == Pane::Log && area.height < 30 && app.focus != Pane::Log;
    let shown = |p: Pane| vis.contains(&p) && !folded(p);
    let mut rows: Vec<Constraint> = Vec::new();
    let top =
        shown(Pane::Tracks) || shown(Pane::Chain) || shown(Pane::Meters) || shown(Pane::Spectrum);
    if top {
        rows.push(Constraint::Min(8));
    }
    let log_rows = if big { 8 } else { 5 };
    if shown(Pane::History) {
        // The rows the panes above can spare: they need about 16 (the
        // Tracks list and a few chain rows; the meters' 11 lines and a
        // spectrum), the History chart gets the rest, 6 to 16 rows.
        let spare = area
            .height
            .saturating_sub(if top { 16 } else { 0 })
            .saturating_sub(if shown(Pane::Log) { log_rows } else { 0 });
        let rows_h = if top {
            spare.clamp(6, 16)
        } else {
            spare.max(6)
        };
        rows.push(Constraint::Length(rows_h));
    }
    if shown(Pane::Log) {
        rows.push(Constraint::Length(log_rows));
    }
    let v = Layout::default()
        .direction(Direction::Vertical)
        .constraints(rows)
        .split(area);
    let mut out = Vec::new();
    let mut k = 0;
    if top {
        let main = v[k];
        k += 1;
        let left = shown(Pane::Tracks) || shown(Pane::Chain);
        let right = shown(Pane::Meters) || shown(Pane::Spectrum);
        let cols = match (left, right) {
            (true, true) => Layout::default()
                .direction(Direction::Horizontal)
                .constraints([
                    Constraint::Percentage(app.left_pct),
                    Constraint::Percentage(100 - app.left_pct),
                ])
                .split(main)
                .to_vec(),
            _ => vec![main],
        };
        let mut c = 0;
        if left {
            let col = cols[c];
            c += 1;
            match (shown(Pane::Tracks), shown(Pane::Chain)) {
                (true, true) => {
                    let n = app.session.tracks.len() as u16 + 3;
                    let h = n.clamp(5, (col.height * 3 / 5).max(5));
                    let s = Layout::default()
                        .direction(Direction::Vertical)
                        .constraints([Constraint::Length(h), Constraint::Min(3)])
                        .split(col);
                    out.push((Pane::Tracks, s[0]));
                    out.push((Pane::Chain, s[1]));
                }
                (true, false) => out.push((Pane::Tracks, col)),
                (false, true) => out.push((Pane::Chain, col)),
                _ => {}
            }
        }
        if right {
            let col = cols[c.min(cols.len() - 1)];
            match (shown(Pane::Meters), shown(Pane::Spectrum)) {
                (true, true) => {
                    let s = Layout::default()
                        .direction(Direction::Vertical)
                        .constraints([
                            Constraint::Length(11.min(col.height.saturating_sub(3))),
                            Constraint::Min(3),
                        ])
                        .split(col);
                    out.push((Pane::Meters, s[0]));
                    out.push((Pane::Spectrum, s[1]));
                }
                (true, false) => out.push((Pane::Meters, col)),
                (false, true) => out.push((Pane::Spectrum, col)),
                _ => {}
            }
        }
    }
    if shown(Pane::History) {
        out.push((Pane::History, v[k]));
        k += 1;
    }
    if shown(Pane::Log) {
        out.push((Pane::Log, v[k]));
    }
    out
}

fn block<'a>(app: &App, pane: Pane, extra: &str) -> Block<'a> {
    let focused = app.focus == pane;
    let n = Pane::ALL.iter().position(|p| *p == pane).unwrap_or(0) + 1;
    let title = format!(" {n} {}{extra} ", pane.title());
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(app.theme.border(focused))
        .title(Span::styled(
            title,
            if app.theme.color {
                Style::default()
                    .fg(app.theme.title)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default().add_modifier(Modifier::BOLD)
            },
        ))
        .style(app.theme.text())
}

/// Draw the whole interface.
pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    f.render_widget(Block::default().style(app.theme.text()), area);
    let v = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(area);
    for (pane, r) in layout(app, v[0]) {
        match pane {
            Pane::Tracks => tracks(f, app, r),
            Pane::Chain => chain(f, app, r),
            Pane::Meters => meters(f, app, r),
            Pane::Spectrum => spectrum(f, app, r),
            Pane::History => history(f, app, r),
            Pane::Log => log_pane(f, app, r),
        }
    }
    status(f, app, v[1]);
    bottom_line(f, app, v[2]);
    match &app.overlay {
        Overlay::Help(scroll) => help(f, app, area, *scroll),
        Overlay::Picker(dir, entries, sel) => picker(f, app, area, dir, entries, *sel),
        Overlay::ConfirmQuit => confirm(f, app, area),
        _ => {}
    }
}

fn fmt_db(v: f64, width: usize) -> String {
    if v.is_finite() {
        format!("{v:>width$.1}")
    } else {
        format!("{:>width$}", "-inf")
    }
}

fn tracks(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let target = app.target_lufs();
    let ceiling = app.ceiling_dbtp();
    let wide = area.width >= 70;
    let mut rows = Vec::new();
    for (i, tr) in app.session.tracks.iter().enumerate() {
        let path = app.track_path(i);
        let info = path.as_ref().and_then(|p| app.info.get(p));
        let missing = path.as_ref().is_some_and(|p| !p.exists());
        let playing = app.transport.current_track == i && app.transport.playing;
        let mut problems = Vec::new();
        if missing {
            problems.push("missing");
        }
        if let Some(tp) = info.and_then(|i| i.tp_after)
            && tp > ceiling + 0.05
        {
            problems.push("over");
        }
        let limiting = info.and_then(|i| i.limiting);
        // Short of the target on purpose (max_limiting_db) is not a miss.
        if let (Some(after), Some(tg)) = (info.and_then(|i| i.lufs_after), target)
            && app.session.album.balance == crate::session::album::Balance::Track
            && (after - tg).abs() > 1.0
            && app.limiting_cut_db == 0.0
        {
            problems.push("target");
        }
        if limiting.is_some_and(|l| l.is_heavy()) {
            problems.push("limiting");
        }
        let mark = if !problems.is_empty() {
            "!"
        } else if playing {
            "▶"
        } else if app.transport.current_track == i {
            "·"
        } else {
            " "
        };
        let dur = info.map_or("--:--".into(), |i| format_duration(i.duration_s));
        let before = info.map_or(String::from("    …"), |i| fmt_db(i.lufs_before, 5));
        let after = info
            .and_then(|i| i.lufs_after)
            .map_or(String::from("    …"), |v| fmt_db(v, 5));
        let tpb = info.map_or(String::from("    …"), |i| fmt_db(i.tp_before, 5));
        let tpa = info
            .and_then(|i| i.tp_after)
            .map_or(String::from("    -"), |v| fmt_db(v, 5));
        let style = if i == app.track_sel {
            t.selected()
        } else if !problems.is_empty() {
            t.over()
        } else {
            t.text()
        };
        let mut cells = vec![
            mark.to_string(),
            format!("{:>2}", i + 1),
            tr.title.clone(),
            dur,
            format!("{:>4.1}", tr.gap_s),
            format!("{before}→{after}"),
        ];
        if wide {
            cells.push(format!("{tpb}→{tpa}"));
            cells.push(limiting.map_or(String::from("    -"), |l| {
                format!("{:>4.1}", l.peak_gr_db())
            }));
            cells.push(if problems.is_empty() {
                if tr.gain_db != 0.0 {
                    format!("{:+.1} dB", tr.gain_db)
                } else {
                    String::new()
                }
            } else {
                problems.join(",")
            });
        }
        rows.push(TRow::new(cells).style(style));
    }
    let mut header = vec!["", " #", "Title", "Length", "Gap", "LUFS in→out"];
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(8),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(11),
    ];
    if wide {
        header.push("dBTP in→out");
        header.push("Lim");
        header.push("Note");
        widths.push(Constraint::Length(11));
        widths.push(Constraint::Length(4));
        widths.push(Constraint::Length(8));
    }
    // The album as planned against its target: a miss of more than 0.5 LU
    // (the limiter could not get there) is flagged.
    let album = match (app.album_lufs, target) {
        (Some(a), Some(tg))
            if app.session.album.balance == crate::session::album::Balance::Album =>
        {
            format!(
                " · album {a:.1}{}",
                if app.limiting_cut_db > 0.0 {
                    " (short: max limiting)"
                } else if (a - tg).abs() > 0.5 {
                    " ! missed"
                } else {
                    ""
                }
            )
        }
        (Some(a), _) => format!(" · album {a:.1}"),
        _ => String::new(),
    };
    let extra = format!(
        " · {} {}{album}",
        app.session
            .deliveries
            .get(app.delivery)
            .map_or("no delivery", |d| d.name.as_str()),
        super::app::fmt_target(target)
    );
    let table = Table::new(rows, widths)
        .header(TRow::new(header).style(t.dim().add_modifier(Modifier::BOLD)))
        .block(block(app, Pane::Tracks, &extra))
        .column_spacing(1);
    f.render_widget(table, area);
}

fn gr_bar(db: f64, width: usize) -> String {
    let n = ((db / 12.0).clamp(0.0, 1.0) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(n), "·".repeat(width - n))
}

fn chain(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let rows = app.chain_rows();
    let inner_h = area.height.saturating_sub(2) as usize;
    let start = app
        .chain_sel
        .saturating_sub(inner_h.saturating_sub(1) / 2)
        .min(rows.len().saturating_sub(inner_h));
    let gr = &app.transport.gain_reduction;
    // Index of each module in the built chain (album modules, the track's, limiter).
    let mut lines = Vec::new();
    for (i, row) in rows.iter().enumerate().skip(start).take(inner_h) {
        let selected = i == app.chain_sel;
        let line = match row {
            Row::Target => {
                // The target and ceiling in effect for the heard delivery,
                // and where each comes from (one label when both agree).
                let short = |s: String| s.trim_start_matches("delivery ").to_string();
                let (ts, cs) = (short(app.target_source()), short(app.ceiling_source()));
                let mut spans = Vec::new();
                if ts == cs {
                    spans.push(Span::styled(format!("{ts}: "), t.dim()));
                }
                spans.push(Span::styled("target ", t.dim()));
                spans.push(Span::styled(
                    super::app::fmt_target(app.target_lufs()),
                    Style::default().fg(t.accent),
                ));
                if ts != cs {
                    spans.push(Span::styled(format!(" ({ts})"), t.dim()));
                }
                spans.push(Span::styled(
                    format!("  ceiling {:.1} dBTP", app.ceiling_dbtp()),
                    t.dim(),
                ));
                if ts != cs {
                    spans.push(Span::styled(format!(" ({cs})"), t.dim()));
                }
                Line::from(spans)
            }
            Row::Module(r) => {
                let m = app.module(*r);
                let kind = m.map_or("?", |m| m.kind());
                let by = m.is_some_and(|m| m.bypass());
                let whose = match r {
                    ModRef::Album(_) => "",
                    ModRef::Track(_) => " (this track)",
                };
                let g = gr
                    .iter()
                    .find(|(n, _)| n.as_str() == kind || (kind == "limiter" && n == "limiter"))
                    .map_or(0.0, |(_, v)| *v);
                let dynamics = matches!(kind, "compressor" | "multiband" | "limiter");
                let mut spans = vec![
                    Span::styled(
                        format!("{} {kind}{whose}", if by { "○" } else { "●" }),
                        if by {
                            t.dim()
                        } else {
                            Style::default().fg(t.accent).add_modifier(Modifier::BOLD)
                        },
                    ),
                    Span::styled(if by { "  bypassed" } else { "" }, t.over()),
                ];
                if dynamics && !by {
                    spans.push(Span::styled(
                        format!("  GR {:4.1} dB {}", g, gr_bar(g, 10)),
                        Style::default().fg(t.meter_warn),
                    ));
                }
                Line::from(spans)
            }
            Row::Param(r, p) => {
                let v = app
                    .module(*r)
                    .and_then(|m| params::value(m, p))
                    .map(|v| params::display(p, &v))
                    .unwrap_or_default();
                Line::from(vec![
                    Span::raw("   "),
                    Span::styled(format!("{:<22}", p.label()), t.text()),
                    Span::styled(v, Style::default().fg(t.accent)),
                ])
            }
        };
        lines.push(if selected {
            line.style(t.selected())
        } else {
            line
        });
    }
    let title = app
        .session
        .tracks
        .get(app.track_sel)
        .map_or(String::new(), |tr| {
            format!(" · track {}: {}", app.track_sel + 1, tr.title)
        });
    f.render_widget(
        Paragraph::new(lines).block(block(app, Pane::Chain, &title)),
        area,
    );
}

/// A meter scale: range, width in cells, a mark, and where the warning and
/// over zones start (all in the meter's unit).
struct Scale {
    lo: f64,
    hi: f64,
    width: usize,
    mark: Option<f64>,
    warn: f64,
    over: f64,
}

/// A horizontal bar with the value, a target mark and zones.
fn bar(app: &App, value: f64, sc: Scale) -> Vec<Span<'static>> {
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

fn meters(f: &mut Frame, app: &App, area: Rect) {
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
                super::app::fmt_target(target),
            ),
            t.dim(),
        )]),
    ];
    f.render_widget(
        Paragraph::new(lines).block(block(app, Pane::Meters, "")),
        area,
    );
}

fn spectrum(f: &mut Frame, app: &App, area: Rect) {
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

fn history(f: &mut Frame, app: &App, area: Rect) {
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

fn log_pane(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let b = block(app, Pane::Log, "");
    if super::event_loop::logger_ready() {
        let w = tui_logger::TuiLoggerWidget::default()
            .block(b)
            .state(&app.log_state)
            .output_timestamp(Some("%H:%M:%S".into()))
            .output_target(false)
            .output_file(false)
            .output_line(false)
            .output_level(Some(tui_logger::TuiLoggerLevelOutput::Abbreviated))
            .style(t.text())
            .style_error(t.over())
            .style_warn(Style::default().fg(t.meter_warn))
            .style_info(t.text());
        f.render_widget(w, area);
    } else {
        let inner_h = area.height.saturating_sub(2) as usize;
        let n = app.messages.len();
        let end = n.saturating_sub(app.log_scroll);
        let lines: Vec<Line> = app.messages[end.saturating_sub(inner_h)..end]
            .iter()
            .map(|m| {
                Line::styled(
                    m.clone(),
                    if m.starts_with("error") {
                        t.over()
                    } else {
                        t.text()
                    },
                )
            })
            .collect();
        f.render_widget(Paragraph::new(lines).block(b), area);
    }
}

fn status(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let tr = &app.transport;
    let mut spans = vec![
        Span::styled(
            if tr.playing { " ▶ " } else { " ‖ " },
            Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("{}/{}", clock(tr.position_s), clock(tr.duration_s)),
            t.text(),
        ),
    ];
    if app.session.tracks.len() > 1 {
        spans.push(Span::styled(
            format!(" T{}", tr.current_track + 1),
            t.text(),
        ));
    }
    let processed = tr.heard_processed.unwrap_or(tr.processed);
    spans.push(Span::styled(
        if processed {
            " B processed".to_string()
        } else if tr.level_match {
            " A original=".to_string()
        } else {
            " A original".to_string()
        },
        Style::default()
            .fg(if processed { t.after } else { t.before })
            .add_modifier(Modifier::BOLD),
    ));
    if tr.listen != crate::engine::ListenMode::Stereo {
        spans.push(Span::styled(
            format!(" {:?}", tr.listen).to_lowercase(),
            Style::default().fg(t.meter_warn),
        ));
    }
    if let Some(k) = tr.looping {
        spans.push(Span::styled(
            format!(" loop T{}", k + 1),
            Style::default().fg(t.playhead),
        ));
    }
    if app.dirty() {
        spans.push(Span::styled(
            " ● modified",
            Style::default()
                .fg(t.meter_warn)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if tr.planning {
        spans.push(Span::styled(
            " planning…",
            Style::default().fg(t.meter_warn),
        ));
    }
    if let Some(r) = &app.rendering {
        spans.push(Span::styled(
            format!(" render: {r}"),
            Style::default().fg(t.meter_warn),
        ));
    }
    let out = if tr.silent {
        if tr.output.starts_with("silent") {
            "silent output".to_string()
        } else {
            "no audio device: silent output".to_string()
        }
    } else {
        tr.output.clone()
    };
    spans.push(Span::styled(
        format!(
            " │ {out} {:.1}k DSP {:.0}%",
            f64::from(tr.rate) / 1000.0,
            tr.load_pct
        ),
        t.dim(),
    ));
    // Remote listeners: codec, bit rate, latency, buffer, drift, underruns.
    if let Some(l) = tr.listeners.first() {
        let more = if tr.listeners.len() > 1 {
            format!(" +{}", tr.listeners.len() - 1)
        } else {
            String::new()
        };
        let latency = l
            .latency_ms
            .map_or("…".to_string(), |v| format!("{v:.0}ms"));
        let heard = if tr.heard_delay_ms.is_some() {
            " heard"
        } else {
            ""
        };
        let full = format!(
            " │ ⇄ {} {:.0}kb/s {latency} buf {:.0}ms {:+.0}ppm xr {}{more}{heard}",
            l.codec.name(),
            l.kbps,
            l.buffer_ms,
            l.drift_ppm,
            l.underruns,
        );
        let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        // Narrow terminals get the essentials: codec, latency, underruns.
        let text = if used + full.chars().count() <= area.width as usize {
            full
        } else {
            format!(
                " │ ⇄ {} {latency} xr {}{more}{heard}",
                l.codec.name(),
                l.underruns
            )
        };
        spans.push(Span::styled(text, Style::default().fg(t.accent)));
    }
    f.render_widget(
        Paragraph::new(Line::from(spans))
            .style(app.theme.selected().remove_modifier(Modifier::BOLD)),
        area,
    );
}

/// A playhead for the status bar: m:ss.s (h:mm:ss.s past an hour).
fn clock(s: f64) -> String {
    let s = s.max(0.0);
    let tenths = (s * 10.0).floor() as u64;
    let (h, rest) = (tenths / 36_000, tenths % 36_000);
    let (m, rest) = (rest / 600, rest % 600);
    if h > 0 {
        format!("{h}:{m:02}:{:02}.{}", rest / 10, rest % 10)
    } else {
        format!("{m}:{:02}.{}", rest / 10, rest % 10)
    }
}

fn bottom_line(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let line = match &app.overlay {
        Overlay::Command(text) => Line::from(vec![
            Span::styled(
                ":",
                Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
            ),
            Span::styled(text.clone(), t.text()),
            Span::styled("█", Style::default().fg(t.accent)),
        ]),
        Overlay::ConfirmQuit => Line::styled(
            "unsaved changes: s save and quit · q quit without saving · any other key cancels",
            t.over(),
        ),
        _ => {
            if app.status.is_empty() {
                Line::styled(
                    "? help · : command · tab next pane · space play · a/b compare · q quit",
                    t.dim(),
                )
            } else if app.status.starts_with("error") {
                Line::styled(app.status.clone(), t.over())
            } else {
                Line::styled(app.status.clone(), t.text())
            }
        }
    };
    f.render_widget(Paragraph::new(line).style(t.text()), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn help(f: &mut Frame, app: &App, area: Rect, scroll: usize) {
    let t = &app.theme;
    let r = centered(area, 72, area.height.saturating_sub(2));
    f.render_widget(Clear, r);
    let mut lines = vec![Line::styled(
        format!(
            "Keys in {} (then everywhere) — any other key closes",
            app.focus.title()
        ),
        Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
    )];
    for b in app.keymap.help_for(app.focus) {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:>12}  ", b.key.label()),
                Style::default().fg(t.accent),
            ),
            Span::styled(b.description.clone(), t.text()),
        ]));
    }
    lines.push(Line::styled(
        "Commands (: then Tab completes)",
        Style::default().fg(t.accent).add_modifier(Modifier::BOLD),
    ));
    for (_, d) in super::app::COMMANDS {
        lines.push(Line::styled(format!("  {d}"), t.text()));
    }
    let max = lines
        .len()
        .saturating_sub((r.height as usize).saturating_sub(2));
    let lines: Vec<Line> = lines.into_iter().skip(scroll.min(max)).collect();
    let b = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(t.border(true))
        .title(" Help ")
        .style(t.text());
    f.render_widget(Paragraph::new(lines).block(b), r);
}

fn picker(
    f: &mut Frame,
    app: &App,
    area: Rect,
    dir: &std::path::Path,
    entries: &[std::path::PathBuf],
    sel: usize,
) {
    let t = &app.theme;
    let r = centered(area, 70, area.height.saturating_sub(4));
    f.render_widget(Clear, r);
    let h = r.height.saturating_sub(2) as usize;
    let start = sel.saturating_sub(h.saturating_sub(1));
    let lines: Vec<Line> = entries
        .iter()
        .enumerate()
        .skip(start)
        .take(h)
        .map(|(i, p)| {
            let name = if i == 0 && dir.parent() == Some(p.as_path()) {
                "../".to_string()
            } else if p.is_dir() {
                format!(
                    "{}/",
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                )
            } else {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            Line::styled(name, if i == sel { t.selected() } else { t.text() })
        })
        .collect();
    let b = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(t.border(true))
        .title(format!(
            " Add track: {} (enter adds, backspace up, esc closes) ",
            dir.display()
        ))
        .style(t.text());
    f.render_widget(Paragraph::new(lines).block(b), r);
}

fn confirm(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let r = centered(area, 50, 5);
    f.render_widget(Clear, r);
    let b = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(t.over())
        .title(" Unsaved changes ")
        .style(t.text());
    f.render_widget(
        Paragraph::new(vec![
            Line::raw("s  save and quit"),
            Line::raw("q  quit without saving"),
            Line::raw("any other key: back"),
        ])
        .block(b),
        r,
    );
}
