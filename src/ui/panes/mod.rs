//! The panes: each pane's drawing (and, for the Tracks and Chain panes, the
//! keys that act on it) in its own file; here the layout and the frame that
//! draws them all. Nothing drawn changes the model.

mod chain;
mod history;
mod log;
mod meters;
mod overlays;
mod spectrum;
mod status;
mod tracks;

use chain::chain;
use history::history;
pub use history::history_bounds;
use log::log_pane;
use meters::meters;
use overlays::{confirm, help, picker};
use spectrum::spectrum;
use status::{bottom_line, status};
use tracks::tracks;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders};

use crate::analysis::spectrum::{BANDS, band_centre_hz};
use crate::ui::action::Pane;
use crate::ui::app::{App, Overlay};
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
