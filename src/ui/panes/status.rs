//! The status bar and the bottom line (messages, the command line).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::ui::app::{App, Overlay};

pub(super) fn status(f: &mut Frame, app: &App, area: Rect) {
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
    if let Some(s) = app.solo {
        spans.push(Span::styled(
            format!(" solo Δ {}", s.kind),
            Style::default().fg(t.meter_warn),
        ));
    }
    if let Some(c) = app.codec {
        spans.push(Span::styled(
            if c.ready {
                format!(" codec {} T{}", c.spec, c.track + 1)
            } else {
                format!(" codec {} T{} encoding…", c.spec, c.track + 1)
            },
            Style::default()
                .fg(t.meter_warn)
                .add_modifier(Modifier::BOLD),
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
pub(super) fn clock(s: f64) -> String {
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

pub(super) fn bottom_line(f: &mut Frame, app: &App, area: Rect) {
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
