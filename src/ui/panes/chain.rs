//! The Chain pane: the target and ceiling in effect, the album chain and the
//! selected track's modules with their parameters and gain reduction, and
//! its keys (select, step, type, bypass, reset).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::*;

use crate::session::chain::ModuleConfig;
use crate::ui::action::{Action, Pane};
use crate::ui::app::{App, Effect, ModRef, Row, SoloSel, fmt_target};
use crate::ui::params::{self, Path as ParamPath};

pub(super) fn gr_bar(db: f64, width: usize) -> String {
    let n = ((db / 12.0).clamp(0.0, 1.0) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(n), "·".repeat(width - n))
}

pub(super) fn chain(f: &mut Frame, app: &App, area: Rect) {
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
                    crate::ui::app::fmt_target(app.target_lufs()),
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

impl App {
    /// The Chain pane's rows for the selected track: the target, then the
    /// album modules (limiter last), with the track's own modules before
    /// the limiter, each followed by its parameters.
    pub fn chain_rows(&self) -> Vec<Row> {
        let mut rows = vec![Row::Target];
        let album = &self.session.chain.modules;
        let push = |r: ModRef, m: &ModuleConfig, rows: &mut Vec<Row>| {
            rows.push(Row::Module(r));
            for p in params::params(m) {
                rows.push(Row::Param(r, p.path));
            }
        };
        for (i, m) in album.iter().enumerate() {
            if !matches!(m, ModuleConfig::Limiter(_)) {
                push(ModRef::Album(i), m, &mut rows);
            }
        }
        if let Some(t) = self.session.tracks.get(self.track_sel) {
            for (i, m) in t.modules.iter().enumerate() {
                push(ModRef::Track(i), m, &mut rows);
            }
        }
        for (i, m) in album.iter().enumerate() {
            if matches!(m, ModuleConfig::Limiter(_)) {
                push(ModRef::Album(i), m, &mut rows);
            }
        }
        rows
    }
    /// The module behind `r`.
    pub fn module(&self, r: ModRef) -> Option<&ModuleConfig> {
        match r {
            ModRef::Album(i) => self.session.chain.modules.get(i),
            ModRef::Track(i) => self
                .session
                .tracks
                .get(self.track_sel)
                .and_then(|t| t.modules.get(i)),
        }
    }
    pub(crate) fn set_module(&mut self, r: ModRef, m: ModuleConfig) -> bool {
        let sel = self.track_sel;
        let is_ceiling_change = matches!(
            (&m, self.module(r)),
            (ModuleConfig::Limiter(a), Some(ModuleConfig::Limiter(b))) if a.ceiling_dbtp != b.ceiling_dbtp
        );
        let delivery = self.delivery;
        self.edit(|s| {
            match r {
                ModRef::Album(i) => {
                    if let Some(slot) = s.chain.modules.get_mut(i) {
                        *slot = m.clone();
                    }
                }
                ModRef::Track(i) => {
                    if let Some(slot) = s.tracks.get_mut(sel).and_then(|t| t.modules.get_mut(i)) {
                        *slot = m.clone();
                    }
                }
            }
            // The limiter's ceiling is the heard delivery's ceiling.
            if is_ceiling_change
                && let (ModuleConfig::Limiter(l), Some(d)) = (&m, s.deliveries.get_mut(delivery))
            {
                d.ceiling_dbtp = l.ceiling_dbtp;
            }
            Ok(())
        })
    }
    pub(crate) fn selected_row(&self) -> Option<Row> {
        self.chain_rows().get(self.chain_sel).cloned()
    }
    pub(crate) fn module_of(row: &Row) -> Option<ModRef> {
        match row {
            Row::Module(r) | Row::Param(r, _) => Some(*r),
            Row::Target => None,
        }
    }
    /// Module `r`'s index in track `track`'s built chain: the album's
    /// modules without the limiter, the track's own, the limiter last.
    pub fn chain_index(&self, track: usize, r: ModRef) -> Option<usize> {
        let album = &self.session.chain.modules;
        let is_lim = |m: &ModuleConfig| matches!(m, ModuleConfig::Limiter(_));
        let before = album.iter().filter(|m| !is_lim(m)).count();
        let own = self
            .session
            .tracks
            .get(track)
            .map_or(0, |t| t.modules.len());
        match r {
            ModRef::Album(i) => {
                let m = album.get(i)?;
                Some(if is_lim(m) {
                    before + own
                } else {
                    album[..i].iter().filter(|m| !is_lim(m)).count()
                })
            }
            ModRef::Track(i) => (i < own).then_some(before + i),
        }
    }
    /// The engine command for the current solo (off when the soloed
    /// module is no longer in the chain).
    pub fn solo_command(&self) -> crate::engine::Command {
        let off = crate::engine::Command::SetSolo {
            track: None,
            module: None,
        };
        let Some(s) = self.solo else {
            return off;
        };
        let same = match s.r {
            ModRef::Album(i) => self.session.chain.modules.get(i),
            ModRef::Track(i) => self
                .session
                .tracks
                .get(s.track)
                .and_then(|t| t.modules.get(i)),
        }
        .is_some_and(|m| m.kind() == s.kind);
        match self.chain_index(s.track, s.r) {
            Some(module) if same => crate::engine::Command::SetSolo {
                track: match s.r {
                    ModRef::Album(_) => None,
                    ModRef::Track(_) => Some(s.track),
                },
                module: Some(module),
            },
            _ => off,
        }
    }
    /// End the solo if its module was removed or replaced; the command
    /// to send either way.
    pub fn recheck_solo(&mut self) -> crate::engine::Command {
        let c = self.solo_command();
        if self.solo.is_some() && matches!(c, crate::engine::Command::SetSolo { module: None, .. })
        {
            self.solo = None;
            self.message("solo off: the soloed module is gone");
        }
        c
    }
    pub(crate) fn chain_effect(r: ModRef, sel: usize) -> Effect {
        match r {
            ModRef::Album(_) => Effect::ChainsChanged(None),
            ModRef::Track(_) => Effect::ChainsChanged(Some(sel)),
        }
    }
    pub(crate) fn step_selected(&mut self, dir: i32, fine: bool) -> Vec<Effect> {
        let Some(row) = self.selected_row() else {
            return vec![];
        };
        match row {
            Row::Target => {
                // The target in effect for the heard delivery: the
                // delivery's own when it has one, else the chain's.
                let cur = self.target_lufs();
                let step = if fine { 0.1 } else { 1.0 };
                let next = match cur {
                    Some(t) => Some(((t + f64::from(dir) * step) * 10.0).round() / 10.0),
                    None => Some(-14.0),
                };
                let next = next.map(|v| v.clamp(-40.0, 0.0));
                let d = self.delivery;
                if self.edit(|s| {
                    match s.deliveries.get_mut(d) {
                        Some(del) if del.target_lufs.is_some() => del.target_lufs = next,
                        _ => s.chain.target_lufs = next,
                    }
                    Ok(())
                }) {
                    self.message(format!(
                        "target {} (from {})",
                        fmt_target(next),
                        self.target_source()
                    ));
                    return vec![Effect::TimelineChanged];
                }
                vec![]
            }
            Row::Module(r) => {
                let Some(m) = self.module(r).cloned() else {
                    return vec![];
                };
                let b = !m.bypass();
                self.bypass(r, &m, b)
            }
            Row::Param(r, p) => {
                let Some(m) = self.module(r).cloned() else {
                    return vec![];
                };
                match params::step(&m, &p, dir, fine) {
                    Ok(nm) => {
                        let shown = params::value(&nm, &p)
                            .map(|v| params::display(&p, &v))
                            .unwrap_or_default();
                        if self.set_module(r, nm) {
                            self.status = format!("{} {} = {shown}", m.kind(), p.label());
                            return vec![Self::chain_effect(r, self.track_sel)];
                        }
                        vec![]
                    }
                    Err(e) => {
                        self.error(e);
                        vec![]
                    }
                }
            }
        }
    }
    pub(crate) fn bypass(&mut self, r: ModRef, m: &ModuleConfig, b: bool) -> Vec<Effect> {
        match params::with_value(m, &ParamPath::Key("bypass".into()), toml::Value::Boolean(b)) {
            Ok(nm) => {
                if self.set_module(r, nm) {
                    self.message(format!(
                        "{} {}",
                        m.kind(),
                        if b { "bypassed" } else { "enabled" }
                    ));
                    return vec![Self::chain_effect(r, self.track_sel)];
                }
                vec![]
            }
            Err(e) => {
                self.error(e);
                vec![]
            }
        }
    }
    pub(crate) fn set_typed(&mut self, text: &str) -> Vec<Effect> {
        match self.selected_row() {
            Some(Row::Target) => self.run(&format!("target {text}")),
            Some(Row::Param(r, p)) => {
                let Some(m) = self.module(r).cloned() else {
                    return vec![];
                };
                match params::parse_typed(&m, &p, text) {
                    Ok(nm) => {
                        if self.set_module(r, nm) {
                            self.message(format!("{} {} = {}", m.kind(), p.label(), text.trim()));
                            return vec![Self::chain_effect(r, self.track_sel)];
                        }
                        vec![]
                    }
                    Err(e) => {
                        self.error(e);
                        vec![]
                    }
                }
            }
            _ => {
                self.error("select a parameter in the Chain pane first");
                vec![]
            }
        }
    }

    /// Move the Chain pane's selection by `d` rows.
    pub(crate) fn chain_select_by(&mut self, d: isize) {
        let n = self.chain_rows().len();
        self.chain_sel = (self.chain_sel as isize + d).clamp(0, n as isize - 1) as usize;
    }

    /// The Chain pane's keys: step the selected value (coarse or fine),
    /// type one, bypass the selected module, reset a parameter.
    pub(crate) fn chain_action(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Decrease => self.step_selected(-1, false),
            Action::Increase => self.step_selected(1, false),
            Action::FineDecrease => self.step_selected(-1, true),
            Action::FineIncrease => self.step_selected(1, true),
            Action::EditValue => {
                let current = match self.selected_row() {
                    Some(Row::Target) => Some(fmt_target(self.target_lufs())),
                    Some(Row::Param(r, p)) => self
                        .module(r)
                        .and_then(|m| params::value(m, &p))
                        .map(|v| match v {
                            toml::Value::String(s) => s,
                            other => other.to_string(),
                        }),
                    _ => None,
                };
                match current {
                    Some(c) => self.overlay = Overlay::Command(format!("set {c}")),
                    None => self.error("select a parameter to type a value"),
                }
                vec![]
            }
            Action::Bypass => {
                let Some(r) = self.selected_row().as_ref().and_then(Self::module_of) else {
                    return vec![];
                };
                let Some(m) = self.module(r).cloned() else {
                    return vec![];
                };
                let b = !m.bypass();
                self.bypass(r, &m, b)
            }
            Action::Solo => {
                let Some(r) = self.selected_row().as_ref().and_then(Self::module_of) else {
                    self.error("select a module to solo");
                    return vec![];
                };
                let Some(kind) = self.module(r).map(ModuleConfig::kind) else {
                    return vec![];
                };
                let sel = SoloSel {
                    track: self.track_sel,
                    r,
                    kind,
                };
                if self.solo == Some(sel) {
                    self.solo = None;
                    self.message("solo off: hearing the chain");
                } else {
                    self.solo = Some(sel);
                    self.message(format!("solo: hearing what {kind} changes (S again: off)"));
                }
                vec![Effect::Engine(self.solo_command())]
            }
            Action::ResetParam => {
                let Some(Row::Param(r, p)) = self.selected_row() else {
                    return vec![];
                };
                let Some(m) = self.module(r).cloned() else {
                    return vec![];
                };
                match params::default_value(&m, &p).map(|v| params::with_value(&m, &p, v)) {
                    Some(Ok(nm)) => {
                        if self.set_module(r, nm) {
                            self.message(format!("{} {} reset", m.kind(), p.label()));
                            return vec![Self::chain_effect(r, self.track_sel)];
                        }
                        vec![]
                    }
                    Some(Err(e)) => {
                        self.error(e);
                        vec![]
                    }
                    None => vec![],
                }
            }
            _ => vec![],
        }
    }
}
