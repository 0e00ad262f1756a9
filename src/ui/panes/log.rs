//! The Log pane: messages and the log, scrollable.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::*;
use crate::ui::action::Pane;
use crate::ui::app::App;

pub(super) fn log_pane(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let b = block(app, Pane::Log, "");
    if crate::ui::event_loop::logger_ready() {
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

impl App {
    /// Scroll the Log pane by `d` pages (Up/Down while it has the focus).
    pub(crate) fn log_scroll_by(&mut self, d: isize) {
        self.log_scroll = (self.log_scroll as isize - d).max(0) as usize;
        // tui-logger pages through its history; the end again follows new lines.
        self.log_state.transition(if d < 0 {
            tui_logger::TuiWidgetEvent::PrevPageKey
        } else if self.log_scroll == 0 {
            tui_logger::TuiWidgetEvent::EscapeKey
        } else {
            tui_logger::TuiWidgetEvent::NextPageKey
        });
    }
}
