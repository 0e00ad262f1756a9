//! Themes: `themes/*.toml` (built in) or `NAME.toml` in the user's config
//! folder under `themes/`. Every colour key must be known and valid; a bad
//! file is reported with file, line and key, and the default is used.
//! `NO_COLOR` (set and non-empty) turns colours off: emphasis then comes
//! from bold, reverse and underline only.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};

use crate::error::{LatheError, Result};

/// Built-in themes: (name, TOML text).
pub const BUILT_IN: [(&str, &str); 4] = [
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
];

/// The colour keys every theme sets.
pub const KEYS: [&str; 16] = [
    "background",
    "foreground",
    "dim",
    "accent",
    "border",
    "focus",
    "selection_bg",
    "selection_fg",
    "meter_ok",
    "meter_warn",
    "meter_over",
    "target",
    "before",
    "after",
    "playhead",
    "title",
];

/// Resolved theme colours.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Theme name.
    pub name: String,
    /// Whether colours are used at all (false under `NO_COLOR`).
    pub color: bool,
    /// Pane background.
    pub background: Color,
    /// Text.
    pub foreground: Color,
    /// Secondary text.
    pub dim: Color,
    /// Highlights, values.
    pub accent: Color,
    /// Pane borders.
    pub border: Color,
    /// The focused pane's border.
    pub focus: Color,
    /// Selected row background.
    pub selection_bg: Color,
    /// Selected row text.
    pub selection_fg: Color,
    /// Meter below the warning zone.
    pub meter_ok: Color,
    /// Meter in the warning zone.
    pub meter_warn: Color,
    /// Over the ceiling / missed target.
    pub meter_over: Color,
    /// Target marks.
    pub target: Color,
    /// "Before" curves and bars.
    pub before: Color,
    /// "After" curves and bars.
    pub after: Color,
    /// The playhead.
    pub playhead: Color,
    /// Pane titles.
    pub title: Color,
}

fn parse_color(s: &str) -> Option<Color> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("reset") {
        return Some(Color::Reset);
    }
    if let Ok(n) = s.parse::<u8>() {
        return Some(Color::Indexed(n));
    }
    let normalized = s.replace(['-', '_'], "");
    normalized.parse::<Color>().ok()
}

impl Theme {
    /// Parse theme TOML; `origin` names it in errors (`FILE:LINE: key: reason`).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| crate::session::chain::toml_error(text, origin, &e))?;
        let line = |needle: &str| crate::session::album::line_of(text, needle, 0);
        let mut name = String::from("custom");
        let mut colors: Option<&toml::Table> = None;
        for (k, v) in &table {
            match (k.as_str(), v) {
                ("name", toml::Value::String(s)) => name = s.clone(),
                ("colors", toml::Value::Table(t)) => colors = Some(t),
                _ => {
                    return Err(LatheError::Invalid(format!(
                        "{origin}:{}: {k}: unknown key (a theme has name and [colors])",
                        line(k)
                    )));
                }
            }
        }
        let colors = colors.ok_or_else(|| {
            LatheError::Invalid(format!("{origin}:1: colors: missing [colors] table"))
        })?;
        for (k, _) in colors {
            if !KEYS.contains(&k.as_str()) {
                return Err(LatheError::Invalid(format!(
                    "{origin}:{}: {k}: unknown colour key (known: {})",
                    line(k),
                    KEYS.join(", ")
                )));
            }
        }
        let get = |k: &str, fallback: Color| -> Result<Color> {
            match colors.get(k) {
                None => Ok(fallback),
                Some(toml::Value::String(s)) => parse_color(s).ok_or_else(|| {
                    LatheError::Invalid(format!(
                        "{origin}:{}: {k}: \"{s}\" is not a colour (a name, \"#rrggbb\" or 0-255)",
                        line(k)
                    ))
                }),
                Some(_) => Err(LatheError::Invalid(format!(
                    "{origin}:{}: {k}: must be a string",
                    line(k)
                ))),
            }
        };
        let foreground = get("foreground", Color::Reset)?;
        let accent = get("accent", Color::Cyan)?;
        Ok(Self {
            name,
            color: true,
            background: get("background", Color::Reset)?,
            foreground,
            dim: get("dim", Color::DarkGray)?,
            accent,
            border: get("border", Color::Gray)?,
            focus: get("focus", Color::Yellow)?,
            selection_bg: get("selection_bg", Color::Blue)?,
            selection_fg: get("selection_fg", Color::White)?,
            meter_ok: get("meter_ok", Color::Green)?,
            meter_warn: get("meter_warn", Color::Yellow)?,
            meter_over: get("meter_over", Color::Red)?,
            target: get("target", Color::Magenta)?,
            before: get("before", Color::Blue)?,
            after: get("after", Color::Green)?,
            playhead: get("playhead", Color::Yellow)?,
            title: get("title", accent)?,
        })
    }

    /// The built-in default theme.
    pub fn default_theme() -> Self {
        match Self::from_toml(BUILT_IN[0].1, "themes/default.toml") {
            Ok(t) => t,
            Err(_) => unreachable!("the built-in default theme is valid (tested)"),
        }
    }

    /// Find theme `name`: a user theme in `user_dir` first, then a built-in
    /// one, or a path to a `.toml` file.
    pub fn load(name: &str, user_dir: Option<&Path>) -> Result<Self> {
        let as_path = PathBuf::from(name);
        let candidates: Vec<PathBuf> = if name.ends_with(".toml") {
            vec![as_path]
        } else {
            user_dir
                .map(|d| d.join(format!("{name}.toml")))
                .into_iter()
                .collect()
        };
        for p in candidates {
            if p.is_file() {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| LatheError::Invalid(format!("{}: {e}", p.display())))?;
                return Self::from_toml(&text, &p.display().to_string());
            }
        }
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
            return Self::from_toml(text, &format!("themes/{name}.toml"));
        }
        Err(LatheError::Invalid(format!(
            "theme '{name}': not found (built in: {})",
            BUILT_IN.map(|(n, _)| n).join(", ")
        )))
    }

    /// Without colours (`NO_COLOR`): everything in the terminal's own colours.
    pub fn without_color(mut self) -> Self {
        self.color = false;
        for c in [
            &mut self.background,
            &mut self.foreground,
            &mut self.dim,
            &mut self.accent,
            &mut self.border,
            &mut self.focus,
            &mut self.selection_bg,
            &mut self.selection_fg,
            &mut self.meter_ok,
            &mut self.meter_warn,
            &mut self.meter_over,
            &mut self.target,
            &mut self.before,
            &mut self.after,
            &mut self.playhead,
            &mut self.title,
        ] {
            *c = Color::Reset;
        }
        self
    }

    /// Whether `NO_COLOR` asks for no colours.
    pub fn no_color_requested() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    }

    /// Base text style.
    pub fn text(&self) -> Style {
        Style::default().fg(self.foreground).bg(self.background)
    }

    /// Secondary text.
    pub fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(self.dim)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        if self.color {
            Style::default()
                .fg(self.selection_fg)
                .bg(self.selection_bg)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    /// A pane border (focused or not).
    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => Style::default().fg(self.focus).add_modifier(Modifier::BOLD),
            (true, false) => Style::default().add_modifier(Modifier::BOLD),
            (false, _) => Style::default().fg(self.border),
        }
    }

    /// Warnings and overs.
    pub fn over(&self) -> Style {
        if self.color {
            Style::default()
                .fg(self.meter_over)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }
}
