//! Key bindings as data: each binding is a key, the pane it works in (or
//! everywhere), an action and a description; the help overlay is generated
//! from the same table. Users override bindings in `keys.toml` in the
//! platform config folder:
//!
//! ```toml
//! [global]
//! "ctrl-p" = "play-pause"
//! [chain]
//! "+" = "increase"
//! ```

use std::path::Path;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Pane};
use crate::error::{LatheError, Result};

/// A key with its modifiers (Shift only matters for non-character keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Ctrl/Alt/Shift.
    pub mods: KeyModifiers,
}

impl Key {
    /// Normalise a terminal key event: characters carry their own case, so
    /// Shift is dropped for them.
    pub fn from_event(e: &KeyEvent) -> Self {
        let mut mods =
            e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match e.code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                    c.to_ascii_lowercase()
                } else {
                    c
                })
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            c => c,
        };
        Self { code, mods }
    }

    /// Parse "a", "A", "space", "tab", "shift-tab", "enter", "esc", "up",
    /// "ctrl-r", "alt-x", "shift-left", "f1", "pageup", "?".
    pub fn parse(s: &str) -> Option<Self> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("ctrl-") && rest.len() > 5 {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[5..];
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                mods |= KeyModifiers::ALT;
                rest = &rest[4..];
            } else if lower.starts_with("shift-") && rest.len() > 6 {
                mods |= KeyModifiers::SHIFT;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "space" => KeyCode::Char(' '),
            "tab" if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().ok()?)
            }
            _ => {
                let mut chars = rest.chars();
                let c = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                if mods.contains(KeyModifiers::SHIFT) {
                    mods.remove(KeyModifiers::SHIFT);
                    KeyCode::Char(c.to_ascii_uppercase())
                } else if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
        };
        Some(Self { code, mods })
    }

    /// How the key is written in help and in the keys file.
    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("alt-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            s.push_str("shift-");
        }
        match self.code {
            KeyCode::Char(' ') => s.push_str("space"),
            KeyCode::Char(c) => s.push(c),
            KeyCode::Tab => s.push_str("tab"),
            KeyCode::BackTab => s.push_str("shift-tab"),
            KeyCode::Enter => s.push_str("enter"),
            KeyCode::Esc => s.push_str("esc"),
            KeyCode::Backspace => s.push_str("backspace"),
            KeyCode::Delete => s.push_str("delete"),
            KeyCode::Up => s.push('↑'),
            KeyCode::Down => s.push('↓'),
            KeyCode::Left => s.push('←'),
            KeyCode::Right => s.push('→'),
            KeyCode::Home => s.push_str("home"),
            KeyCode::End => s.push_str("end"),
            KeyCode::PageUp => s.push_str("pageup"),
            KeyCode::PageDown => s.push_str("pagedown"),
            KeyCode::F(n) => s.push_str(&format!("f{n}")),
            _ => s.push('?'),
        }
        s
    }
}

/// One binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The key.
    pub key: Key,
    /// The pane it works in (None: everywhere).
    pub pane: Option<Pane>,
    /// What it does.
    pub action: Action,
    /// What help says.
    pub description: String,
}

/// The bindings in force.
#[derive(Debug, Clone)]
pub struct Keymap {
    /// Pane bindings are looked up first, then the global ones.
    pub bindings: Vec<Binding>,
}

fn describe(a: &Action) -> String {
    use Action::*;
    match a {
        Quit => "quit (asks if there are unsaved changes)".into(),
        ForceQuit => "quit without saving".into(),
        PlayPause => "play / pause".into(),
        Stop => "stop, back to the start".into(),
        ToggleAb => "A/B: original or processed".into(),
        ListenA => "hear the original (A, level-matched)".into(),
        ListenB => "hear the processed signal (B)".into(),
        ToggleLevelMatch => "level match on/off".into(),
        ToggleHeardTime => "with a remote listener: meters as heard there / engine time".into(),
        ToggleTonal => "spectrum: live / the track's tonal balance against the album".into(),
        CycleListen => "listen: stereo/mono/mid/side/left/right/delta".into(),
        SeekBy(s) => format!("seek {s:+} s"),
        NextTrack => "next track".into(),
        PrevTrack => "previous track".into(),
        ToggleLoop => "loop the selected track".into(),
        FocusNext => "next pane".into(),
        FocusPrev => "previous pane".into(),
        Focus(p) => format!("focus {}", p.title()),
        Zoom => "zoom the pane / back".into(),
        Hide => "hide the pane (:show all brings it back)".into(),
        ShowAll => "show every pane".into(),
        Resize(d) if *d > 0 => "widen the left column".into(),
        Resize(_) => "narrow the left column".into(),
        Help => "help for this pane".into(),
        CommandLine => "command line (:w :q :render :target …)".into(),
        CommandWith(s) => match s.trim() {
            "module" => "add a module (:module [album] TYPE)".into(),
            "gap" => "type the gap before the track, s".into(),
            "fadein" => "type the fade-in, s".into(),
            "fadeout" => "type the fade-out, s".into(),
            other => format!("type :{other}"),
        },
        Run(s) => match s.as_str() {
            "module remove" => "remove the selected module".into(),
            "nudge +0.5" => "track gain +0.5 dB".into(),
            "nudge -0.5" => "track gain -0.5 dB".into(),
            other => format!(":{other}"),
        },
        Up => "up".into(),
        Down => "down".into(),
        Decrease => "decrease (coarse)".into(),
        Increase => "increase (coarse)".into(),
        FineDecrease => "decrease (fine)".into(),
        FineIncrease => "increase (fine)".into(),
        EditValue => "type a value".into(),
        Bypass => "bypass the module".into(),
        Solo => "solo: hear what the module changes (again: off)".into(),
        ResetParam => "reset to default".into(),
        CopyToAll => "copy this track's modules to every track".into(),
        MoveUp => "move the track up".into(),
        MoveDown => "move the track down".into(),
        Remove => "remove the track".into(),
        Add => "add tracks (file picker)".into(),
        PlaySelected => "play from the selected track".into(),
        Undo => "undo".into(),
        Redo => "redo".into(),
        Save => "save the session".into(),
        Render => "render the deliveries".into(),
        Cancel => "close / cancel".into(),
    }
}

impl Default for Keymap {
    fn default() -> Self {
        use Action::*;
        let g: &[(&str, Action)] = &[
            ("q", Quit),
            ("space", PlayPause),
            ("s", Stop),
            ("a", ListenA),
            ("b", ListenB),
            ("t", ToggleAb),
            ("L", ToggleLevelMatch),
            ("T", ToggleHeardTime),
            ("v", ToggleTonal),
            ("m", CycleListen),
            ("left", SeekBy(-5.0)),
            ("right", SeekBy(5.0)),
            ("shift-left", SeekBy(-30.0)),
            ("shift-right", SeekBy(30.0)),
            (",", SeekBy(-5.0)),
            (".", SeekBy(5.0)),
            ("<", SeekBy(-30.0)),
            (">", SeekBy(30.0)),
            ("n", NextTrack),
            ("p", PrevTrack),
            ("o", ToggleLoop),
            ("tab", FocusNext),
            ("shift-tab", FocusPrev),
            ("1", Focus(Pane::Tracks)),
            ("2", Focus(Pane::Chain)),
            ("3", Focus(Pane::Meters)),
            ("4", Focus(Pane::Spectrum)),
            ("5", Focus(Pane::History)),
            ("6", Focus(Pane::Log)),
            ("z", Zoom),
            ("x", Hide),
            ("X", ShowAll),
            ("]", Resize(5)),
            ("[", Resize(-5)),
            ("?", Help),
            (":", CommandLine),
            ("up", Up),
            ("down", Down),
            ("k", Up),
            ("j", Down),
            ("u", Undo),
            ("ctrl-r", Redo),
            ("ctrl-s", Save),
            ("R", Render),
            ("esc", Cancel),
        ];
        let tracks: &[(&str, Action)] = &[
            ("K", MoveUp),
            ("J", MoveDown),
            ("shift-up", MoveUp),
            ("shift-down", MoveDown),
            ("d", Remove),
            ("A", Add),
            ("enter", PlaySelected),
            ("g", CommandWith("gap ".into())),
            ("f", CommandWith("fadein ".into())),
            ("F", CommandWith("fadeout ".into())),
            ("+", Run("nudge +0.5".into())),
            ("-", Run("nudge -0.5".into())),
            ("c", CopyToAll),
        ];
        let chain: &[(&str, Action)] = &[
            ("h", Decrease),
            ("l", Increase),
            ("left", Decrease),
            ("right", Increase),
            ("H", FineDecrease),
            ("shift-l", FineIncrease),
            ("shift-left", FineDecrease),
            ("shift-right", FineIncrease),
            ("-", Decrease),
            ("+", Increase),
            ("enter", EditValue),
            ("e", EditValue),
            ("B", Bypass),
            ("S", Solo),
            ("r", ResetParam),
            ("c", CopyToAll),
            ("I", CommandWith("module ".into())),
            ("D", Run("module remove".into())),
        ];
        let history: &[(&str, Action)] = &[("h", SeekBy(-5.0)), ("l", SeekBy(5.0))];
        let log: &[(&str, Action)] = &[];
        let mut bindings = Vec::new();
        for (pane, list) in [
            (Some(Pane::Tracks), tracks),
            (Some(Pane::Chain), chain),
            (Some(Pane::History), history),
            (Some(Pane::Log), log),
            (None, g),
        ] {
            for (k, a) in list {
                if let Some(key) = Key::parse(k) {
                    bindings.push(Binding {
                        key,
                        pane,
                        description: describe(a),
                        action: a.clone(),
                    });
                }
            }
        }
        Self { bindings }
    }
}

impl Keymap {
    /// The action for `key` in `pane`: the pane's own bindings first.
    pub fn lookup(&self, pane: Pane, key: Key) -> Option<&Action> {
        self.bindings
            .iter()
            .find(|b| b.pane == Some(pane) && b.key == key)
            .or_else(|| {
                self.bindings
                    .iter()
                    .find(|b| b.pane.is_none() && b.key == key)
            })
            .map(|b| &b.action)
    }

    /// The bindings help shows for `pane`: its own, then the global ones
    /// it does not shadow.
    pub fn help_for(&self, pane: Pane) -> Vec<&Binding> {
        let own: Vec<&Binding> = self
            .bindings
            .iter()
            .filter(|b| b.pane == Some(pane))
            .collect();
        let global = self
            .bindings
            .iter()
            .filter(|b| b.pane.is_none() && !own.iter().any(|o| o.key == b.key));
        own.iter().copied().chain(global).collect()
    }

    /// Apply the overrides in a keys file (TOML: `[global]` or a pane name,
    /// then `"key" = "action"`). Errors name the file, line and key.
    pub fn apply_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LatheError::Invalid(format!("{}: {e}", path.display())))?;
        self.apply_toml(&text, &path.display().to_string())
    }

    /// [`Keymap::apply_file`] on text; `origin` names it in errors.
    pub fn apply_toml(&mut self, text: &str, origin: &str) -> Result<()> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| crate::session::chain::toml_error(text, origin, &e))?;
        let line = |needle: &str| crate::session::album::line_of(text, needle, 0);
        let mut next = self.clone();
        for (section, v) in &table {
            let pane = if section == "global" {
                None
            } else {
                Some(Pane::parse(section).ok_or_else(|| {
                    LatheError::Invalid(format!(
                        "{origin}:{}: unknown section [{section}] (global, tracks, chain, meters, spectrum, history, log)",
                        line(&format!("[{section}]"))
                    ))
                })?)
            };
            let toml::Value::Table(keys) = v else {
                return Err(LatheError::Invalid(format!(
                    "{origin}:{}: {section} must be a table of \"key\" = \"action\"",
                    line(section)
                )));
            };
            for (k, a) in keys {
                let at = line(&format!("\"{k}\""));
                let key = Key::parse(k).ok_or_else(|| {
                    LatheError::Invalid(format!("{origin}:{at}: unknown key \"{k}\""))
                })?;
                let name = a.as_str().ok_or_else(|| {
                    LatheError::Invalid(format!("{origin}:{at}: \"{k}\" needs an action name"))
                })?;
                let action = Action::parse(name).ok_or_else(|| {
                    LatheError::Invalid(format!(
                        "{origin}:{at}: \"{k}\" = \"{name}\": unknown action (see `?` in lathe for the names)"
                    ))
                })?;
                next.bindings.retain(|b| !(b.key == key && b.pane == pane));
                next.bindings.insert(
                    0,
                    Binding {
                        key,
                        pane,
                        description: describe(&action),
                        action,
                    },
                );
            }
        }
        *self = next;
        Ok(())
    }

    /// Action names for the keys file, with what they do.
    pub fn action_names() -> Vec<(&'static str, String)> {
        Action::named()
            .into_iter()
            .map(|(n, a)| (n, describe(&a)))
            .collect()
    }
}
