//! The overlays: help, the file picker and the quit confirmation, with the
//! keys they take while open.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};

use super::*;
use std::path::{Path, PathBuf};

use crate::ui::app::{AUDIO_EXT, App, Effect, Overlay};

pub(super) fn help(f: &mut Frame, app: &App, area: Rect, scroll: usize) {
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
    for (_, d) in crate::ui::commands::COMMANDS {
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

pub(super) fn picker(
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

pub(super) fn confirm(f: &mut Frame, app: &App, area: Rect) {
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

impl App {
    pub(crate) fn open_picker(&mut self, dir: PathBuf) {
        let mut entries: Vec<PathBuf> = Vec::new();
        if let Some(parent) = dir.parent() {
            entries.push(parent.to_path_buf());
        }
        if let Ok(rd) = std::fs::read_dir(&dir) {
            let mut dirs = Vec::new();
            let mut files = Vec::new();
            for e in rd.flatten() {
                let p = e.path();
                let hidden = p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if hidden {
                    continue;
                }
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| {
                    AUDIO_EXT.contains(&x.to_string_lossy().to_ascii_lowercase().as_str())
                }) {
                    files.push(p);
                }
            }
            dirs.sort();
            files.sort();
            entries.extend(dirs);
            entries.extend(files);
        } else {
            self.error(format!("{}: cannot read the folder", dir.display()));
        }
        self.overlay = Overlay::Picker(dir, entries, 0);
    }
    /// Handle a key while an overlay is open; returns None when the
    /// overlay does not take keys (the key goes to the keymap).
    pub fn overlay_key(&mut self, key: crate::ui::keymap::Key) -> Option<Vec<Effect>> {
        use ratatui::crossterm::event::{KeyCode, KeyModifiers};
        match &mut self.overlay {
            Overlay::None => None,
            Overlay::Help(scroll) => {
                match key.code {
                    KeyCode::Down | KeyCode::Char('j') => *scroll += 1,
                    KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                    KeyCode::PageDown => *scroll += 10,
                    KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                    _ => self.overlay = Overlay::None,
                }
                Some(vec![])
            }
            Overlay::ConfirmQuit => {
                let fx = match key.code {
                    KeyCode::Char('s') | KeyCode::Char('y') => {
                        self.overlay = Overlay::None;
                        let mut fx = self.run("w");
                        if !self.dirty() {
                            self.quit = true;
                            fx.push(Effect::Quit);
                        }
                        fx
                    }
                    KeyCode::Char('q') | KeyCode::Char('n') | KeyCode::Char('d') => {
                        self.quit = true;
                        vec![Effect::Quit]
                    }
                    _ => {
                        self.overlay = Overlay::None;
                        vec![]
                    }
                };
                Some(fx)
            }
            Overlay::Command(text) => {
                match key.code {
                    KeyCode::Esc => self.overlay = Overlay::None,
                    KeyCode::Enter => {
                        let cmd = text.trim().to_string();
                        self.overlay = Overlay::None;
                        if !cmd.is_empty() {
                            self.history.push(cmd.clone());
                            return Some(self.run(&cmd));
                        }
                    }
                    KeyCode::Backspace if text.pop().is_none() => {
                        self.overlay = Overlay::None;
                    }
                    KeyCode::Tab => {
                        let typed = text.clone();
                        let done = self.complete(typed);
                        self.overlay = Overlay::Command(done);
                    }
                    KeyCode::Up => {
                        if let Some(h) = self.history.last() {
                            *text = h.clone();
                        }
                    }
                    KeyCode::Char('u') if key.mods.contains(KeyModifiers::CONTROL) => text.clear(),
                    KeyCode::Char(c) => text.push(c),
                    _ => {}
                }
                Some(vec![])
            }
            Overlay::Picker(dir, entries, sel) => {
                match key.code {
                    KeyCode::Esc | KeyCode::Char('q') => self.overlay = Overlay::None,
                    KeyCode::Down | KeyCode::Char('j') => {
                        *sel = (*sel + 1).min(entries.len().saturating_sub(1));
                    }
                    KeyCode::Up | KeyCode::Char('k') => *sel = sel.saturating_sub(1),
                    KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => {
                        let up = dir.parent().map(Path::to_path_buf);
                        if let Some(up) = up {
                            self.open_picker(up);
                        }
                    }
                    KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                        if let Some(p) = entries.get(*sel).cloned() {
                            if p.is_dir() {
                                self.open_picker(p);
                            } else {
                                self.overlay = Overlay::None;
                                return Some(self.add_track(&p));
                            }
                        }
                    }
                    _ => {}
                }
                Some(vec![])
            }
        }
    }
}
