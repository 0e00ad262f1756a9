//! The command line (`:`): every command, its parsing, and completion.

use std::path::PathBuf;

use crate::session::album::Track;
use crate::session::chain::ModuleConfig;
use crate::ui::action::{Action, Pane};
use crate::ui::app::{App, Effect, MODULE_TYPES, ModRef, Overlay, Row, fmt_target};

/// Commands the command line knows (for completion and help).
pub const COMMANDS: [(&str, &str); 23] = [
    (
        "module",
        ":module [album] TYPE | remove  add a module (track's own, or the album's) or remove the selected one",
    ),
    ("w", ":w [FILE]  save (as FILE)"),
    ("q", ":q  quit (asks if unsaved)"),
    ("q!", ":q!  quit, dropping changes"),
    ("wq", ":wq  save and quit"),
    (
        "render",
        ":render [DELIVERY]  render in the background (:render! replaces)",
    ),
    (
        "render!",
        ":render! [DELIVERY]  render, replacing existing files",
    ),
    ("target", ":target LUFS|off  album loudness target"),
    (
        "ceiling",
        ":ceiling dBTP  limiter ceiling (the heard delivery too)",
    ),
    ("preset", ":preset NAME  album chain from a preset"),
    ("goto", ":goto M:SS | SECONDS | tN  move the playhead"),
    ("gap", ":gap S  silence before the selected track"),
    ("fadein", ":fadein S  fade-in of the selected track"),
    ("fadeout", ":fadeout S  fade-out of the selected track"),
    ("gain", ":gain dB  gain offset of the selected track"),
    ("nudge", ":nudge ±dB  change the gain offset"),
    ("title", ":title TEXT  title of the selected track"),
    ("set", ":set VALUE  the selected Chain parameter"),
    ("delivery", ":delivery NAME  which delivery you hear"),
    (
        "balance",
        ":balance album|consistent|track|none  loudness balancing",
    ),
    ("theme", ":theme NAME  colours"),
    ("show", ":show PANE|all  /  :hide PANE"),
    ("add", ":add FILE  add a track"),
];

pub(crate) fn parse_time(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Some((m, sec)) = s.split_once(':') {
        let m: f64 = m.parse().ok()?;
        let sec: f64 = sec.parse().ok()?;
        (m >= 0.0 && (0.0..60.0).contains(&sec)).then_some(m * 60.0 + sec)
    } else {
        s.parse::<f64>().ok().filter(|v| *v >= 0.0)
    }
}

pub(crate) fn parse_num(s: &str, what: &str, lo: f64, hi: f64, unit: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches(unit)
        .trim()
        .parse()
        .map_err(|_| format!("{what}: '{}' is not a number", s.trim()))?;
    if !(lo..=hi).contains(&v) {
        return Err(format!(
            "{what} = {v} is out of range: allowed {lo} to {hi} {unit}"
        ));
    }
    Ok(v)
}

impl App {
    /// Complete the command line: the command name, then its argument.
    pub fn complete(&self, text: String) -> String {
        let (cmd, arg) = match text.split_once(' ') {
            Some((c, a)) => (c.to_string(), Some(a.to_string())),
            None => (text.clone(), None),
        };
        let pick = |opts: Vec<String>, prefix: &str| -> Option<String> {
            let m: Vec<&String> = opts.iter().filter(|o| o.starts_with(prefix)).collect();
            match m.as_slice() {
                [one] => Some((*one).clone()),
                [] => None,
                many => {
                    // Longest common prefix.
                    let first = many[0];
                    let mut n = first.len();
                    for o in &many[1..] {
                        n = n.min(
                            first
                                .chars()
                                .zip(o.chars())
                                .take_while(|(a, b)| a == b)
                                .count(),
                        );
                    }
                    Some(first[..n].to_string())
                }
            }
        };
        match arg {
            None => {
                let names = COMMANDS.iter().map(|(c, _)| c.to_string()).collect();
                match pick(names, &cmd) {
                    Some(c) if COMMANDS.iter().any(|(n, _)| *n == c) && c != cmd => format!("{c} "),
                    Some(c) => c,
                    None => text,
                }
            }
            Some(a) => {
                let opts: Vec<String> = match cmd.as_str() {
                    "preset" => crate::session::presets::PRESETS
                        .iter()
                        .map(|p| p.name.to_string())
                        .collect(),
                    "theme" => super::theme::BUILT_IN
                        .iter()
                        .map(|(n, _)| n.to_string())
                        .collect(),
                    "render" | "render!" | "delivery" => self
                        .session
                        .deliveries
                        .iter()
                        .map(|d| d.name.clone())
                        .collect(),
                    "show" | "hide" => {
                        let mut v: Vec<String> = Pane::ALL
                            .iter()
                            .map(|p| p.title().to_ascii_lowercase())
                            .collect();
                        v.push("all".into());
                        v
                    }
                    "balance" => vec![
                        "album".into(),
                        "consistent".into(),
                        "track".into(),
                        "none".into(),
                    ],
                    "module" => {
                        let mut v: Vec<String> =
                            MODULE_TYPES.iter().map(|m| m.to_string()).collect();
                        v.push("album".into());
                        v.push("remove".into());
                        if let Some(rest) = a.strip_prefix("album ") {
                            return MODULE_TYPES
                                .iter()
                                .find(|m| m.starts_with(rest))
                                .map_or(text.clone(), |m| format!("{cmd} album {m}"));
                        }
                        v
                    }
                    _ => vec![],
                };
                match pick(opts, &a) {
                    Some(o) => format!("{cmd} {o}"),
                    None => text,
                }
            }
        }
    }
    pub(crate) fn track_edit(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Track) -> Result<(), String>,
    ) -> Vec<Effect> {
        let i = self.track_sel;
        if self.session.tracks.is_empty() {
            self.error("no track selected");
            return vec![];
        }
        if self.edit(|s| f(&mut s.tracks[i])) {
            self.message(format!("track {}: {what}", i + 1));
            return vec![Effect::TimelineChanged];
        }
        vec![]
    }
    /// `:module [album] TYPE` adds a module with its defaults before the
    /// limiter (to the selected track, or with `album` to every track);
    /// `:module remove` removes the selected one (the limiter stays).
    pub(crate) fn module_command(&mut self, arg: &str) -> Vec<Effect> {
        if arg == "remove" {
            let Some(r) = self.selected_row().as_ref().and_then(Self::module_of) else {
                self.error("module remove: select a module in the Chain pane");
                return vec![];
            };
            if matches!(self.module(r), Some(ModuleConfig::Limiter(_))) {
                self.error("module remove: the limiter stays (bypass it with B)");
                return vec![];
            }
            let kind = self.module(r).map_or("", |m| m.kind()).to_string();
            let sel = self.track_sel;
            if self.edit(|s| {
                match r {
                    ModRef::Album(i) => {
                        s.chain.modules.remove(i);
                    }
                    ModRef::Track(i) => {
                        s.tracks[sel].modules.remove(i);
                    }
                }
                Ok(())
            }) {
                self.clamp_selection();
                self.message(format!("removed {kind}; u undoes"));
                return vec![Self::chain_effect(r, sel), Effect::TimelineChanged];
            }
            return vec![];
        }
        let (album, kind) = match arg.split_once(' ') {
            Some(("album", k)) => (true, k.trim()),
            _ => (false, arg),
        };
        if kind == "limiter" {
            self.error("module: the chain has one limiter, always last");
            return vec![];
        }
        let mut t = toml::Table::new();
        t.insert("type".into(), toml::Value::String(kind.to_string()));
        let m: ModuleConfig = match toml::Value::Table(t).try_into() {
            Ok(m) => m,
            Err(_) => {
                self.error(format!(
                    "module: unknown type '{kind}' ({})",
                    MODULE_TYPES.join(", ")
                ));
                return vec![];
            }
        };
        let sel = self.track_sel;
        let ok = self.edit(|s| {
            if album {
                let at = s
                    .chain
                    .modules
                    .iter()
                    .position(|m| matches!(m, ModuleConfig::Limiter(_)))
                    .unwrap_or(s.chain.modules.len());
                s.chain.modules.insert(at, m.clone());
            } else if let Some(t) = s.tracks.get_mut(sel) {
                t.modules.push(m.clone());
            }
            Ok(())
        });
        if !ok {
            return vec![];
        }
        self.message(if album {
            format!("added {kind} to the album chain")
        } else {
            format!("added {kind} to track {}", sel + 1)
        });
        // Select the new module's row.
        let target = if album {
            self.session
                .chain
                .modules
                .iter()
                .rposition(|x| x.kind() == kind)
                .map(ModRef::Album)
        } else {
            self.session
                .tracks
                .get(sel)
                .map(|t| ModRef::Track(t.modules.len() - 1))
        };
        if let Some(r) = target
            && let Some(i) = self
                .chain_rows()
                .iter()
                .position(|row| *row == Row::Module(r))
        {
            self.chain_sel = i;
        }
        vec![
            if album {
                Effect::ChainsChanged(None)
            } else {
                Effect::ChainsChanged(Some(sel))
            },
            Effect::TimelineChanged,
        ]
    }
    /// A number typed for the selected track (`:gap 2`): checked against
    /// `range` (low, high, unit), then set as one undoable edit.
    pub(crate) fn track_number(
        &mut self,
        arg: &str,
        what: &str,
        range: (f64, f64, &str),
        set: fn(&mut Track, f64),
    ) -> Vec<Effect> {
        match parse_num(arg, what, range.0, range.1, range.2) {
            Ok(v) => self.track_edit(&format!("{what} {v} {}", range.2), |t| {
                set(t, v);
                Ok(())
            }),
            Err(e) => {
                self.error(e);
                vec![]
            }
        }
    }
    /// Run a command-line command (without the leading `:`).
    pub fn run(&mut self, line: &str) -> Vec<Effect> {
        let line = line.trim().trim_start_matches(':').trim();
        let (cmd, arg) = match line.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (line, ""),
        };
        match cmd {
            "" => vec![],
            "w" | "write" | "wq" | "x" => {
                let target = if arg.is_empty() {
                    self.session_path.clone()
                } else {
                    let p = PathBuf::from(arg);
                    Some(if p.is_absolute() {
                        p
                    } else {
                        self.base_dir.join(p)
                    })
                };
                let Some(path) = target else {
                    self.error("this session has no file yet: :w FILE.toml");
                    return vec![];
                };
                let mut fx = vec![Effect::Save(path)];
                if cmd != "w" && cmd != "write" {
                    fx.push(Effect::Quit);
                }
                fx
            }
            "q" | "quit" => self.update(Action::Quit),
            "q!" | "quit!" => self.update(Action::ForceQuit),
            "codec" => {
                if arg.is_empty() || arg == "off" {
                    if self.codec.take().is_none() && arg.is_empty() {
                        self.error(
                            ":codec aac-256 (or mp3-320, opus-160; 96 to 320 kb/s), :codec off",
                        );
                        return vec![];
                    }
                    self.message("codec preview off: the chain's output again");
                    return vec![Effect::Codec(None)];
                }
                match crate::io::lossy::CodecSpec::parse(arg) {
                    Ok(spec) => {
                        if let Err(why) = spec.encoder() {
                            self.error(format!("{spec}: {why}"));
                            return vec![];
                        }
                        self.codec = Some(super::app::CodecSel {
                            spec,
                            track: self.track_sel,
                            ready: false,
                        });
                        self.message(format!(
                            "{spec}: encoding track {} in the background…",
                            self.track_sel + 1
                        ));
                        vec![Effect::Codec(Some(spec))]
                    }
                    Err(e) => {
                        self.error(e);
                        vec![]
                    }
                }
            }
            "render" | "render!" => vec![Effect::Render {
                delivery: (!arg.is_empty()).then(|| arg.to_string()),
                force: cmd == "render!",
            }],
            "target" => {
                let t = if arg == "off" || arg == "none" {
                    None
                } else {
                    match parse_num(arg, "target", -40.0, 0.0, "LUFS") {
                        Ok(v) => Some(v),
                        Err(e) => {
                            self.error(e);
                            return vec![];
                        }
                    }
                };
                let d = self.delivery;
                if self.edit(|s| {
                    s.chain.target_lufs = t;
                    if let Some(del) = s.deliveries.get_mut(d)
                        && del.target_lufs.is_some()
                    {
                        del.target_lufs = t;
                    }
                    Ok(())
                }) {
                    self.message(format!("target {}", fmt_target(t)));
                    return vec![Effect::TimelineChanged];
                }
                vec![]
            }
            "ceiling" => {
                let c = match parse_num(arg, "ceiling", -12.0, 0.0, "dBTP") {
                    Ok(v) => v,
                    Err(e) => {
                        self.error(e);
                        return vec![];
                    }
                };
                let d = self.delivery;
                if self.edit(|s| {
                    if let Some(ModuleConfig::Limiter(l)) = s.chain.modules.last_mut() {
                        l.ceiling_dbtp = c;
                    } else {
                        let l = crate::session::chain::LimiterConfig {
                            ceiling_dbtp: c,
                            ..Default::default()
                        };
                        s.chain.modules.push(ModuleConfig::Limiter(l));
                    }
                    if let Some(del) = s.deliveries.get_mut(d) {
                        del.ceiling_dbtp = c;
                    }
                    Ok(())
                }) {
                    self.message(format!("ceiling {c:.1} dBTP"));
                    return vec![Effect::ChainsChanged(None), Effect::TimelineChanged];
                }
                vec![]
            }
            "preset" => match crate::session::presets::preset(arg) {
                Ok(p) => {
                    if self.edit(|s| {
                        s.chain = p;
                        Ok(())
                    }) {
                        self.chain_sel = 0;
                        self.message(format!("album chain: preset {arg}"));
                        return vec![Effect::ChainsChanged(None), Effect::TimelineChanged];
                    }
                    vec![]
                }
                Err(e) => {
                    self.error(e.to_string());
                    vec![]
                }
            },
            "goto" | "g" => {
                if let Some(n) = arg.strip_prefix('t').and_then(|n| n.parse::<usize>().ok()) {
                    if n >= 1 && n <= self.session.tracks.len() {
                        return vec![Effect::SeekTrack(n - 1)];
                    }
                    self.error(format!("goto: no track {n}"));
                    return vec![];
                }
                match parse_time(arg) {
                    Some(t) => vec![Effect::SeekTo(t)],
                    None => {
                        self.error(format!("goto: '{arg}' is not a time (M:SS, seconds or tN)"));
                        vec![]
                    }
                }
            }
            "gap" => self.track_number(arg, "gap", (0.0, 60.0, "s"), |t, v| t.gap_s = v),
            "fadein" => self.track_number(arg, "fade-in", (0.0, 60.0, "s"), |t, v| t.fade_in_s = v),
            "fadeout" => {
                self.track_number(arg, "fade-out", (0.0, 60.0, "s"), |t, v| t.fade_out_s = v)
            }
            "gain" => self.track_number(arg, "gain", (-24.0, 24.0, "dB"), |t, v| t.gain_db = v),
            "nudge" => match parse_num(arg, "nudge", -24.0, 24.0, "dB") {
                Ok(v) => {
                    let cur = self
                        .session
                        .tracks
                        .get(self.track_sel)
                        .map_or(0.0, |t| t.gain_db);
                    let next = ((cur + v) * 100.0).round() / 100.0;
                    if !(-24.0..=24.0).contains(&next) {
                        self.error(format!(
                            "gain = {next} is out of range: allowed -24 to 24 dB"
                        ));
                        return vec![];
                    }
                    self.track_edit(&format!("gain {next:+.1} dB"), |t| {
                        t.gain_db = next;
                        Ok(())
                    })
                }
                Err(e) => {
                    self.error(e);
                    vec![]
                }
            },
            "title" => {
                if arg.is_empty() {
                    self.error("title: give the new title");
                    return vec![];
                }
                let a = arg.to_string();
                let fx = self.track_edit(&format!("title {arg}"), |t| {
                    t.title = a;
                    Ok(())
                });
                // A title does not change the sound.
                fx.into_iter()
                    .filter(|f| *f != Effect::TimelineChanged)
                    .collect()
            }
            "set" => self.set_typed(arg),
            "module" => self.module_command(arg),
            "delivery" => match self.session.deliveries.iter().position(|d| d.name == arg) {
                Some(i) => {
                    self.delivery = i;
                    self.message(format!("hearing delivery {arg}"));
                    vec![Effect::SetDelivery(i)]
                }
                None => {
                    self.error(format!(
                        "delivery '{arg}': not in the session ({})",
                        self.session
                            .deliveries
                            .iter()
                            .map(|d| d.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    vec![]
                }
            },
            "balance" => {
                let b = match arg {
                    "album" => crate::session::album::Balance::Album,
                    "consistent" => crate::session::album::Balance::Consistent,
                    "track" => crate::session::album::Balance::Track,
                    "none" => crate::session::album::Balance::None,
                    _ => {
                        self.error("balance: album, consistent, track or none");
                        return vec![];
                    }
                };
                if self.edit(|s| {
                    s.album.balance = b;
                    Ok(())
                }) {
                    self.message(format!("balance {arg}"));
                    return vec![Effect::TimelineChanged];
                }
                vec![]
            }
            "theme" => vec![Effect::SetTheme(arg.to_string())],
            "show" => {
                if arg == "all" || arg.is_empty() {
                    self.hidden.clear();
                } else if let Some(p) = Pane::parse(arg) {
                    self.hidden.remove(&p);
                    self.focus = p;
                } else {
                    self.error(format!("show: no pane '{arg}'"));
                }
                vec![]
            }
            "hide" => {
                match Pane::parse(arg) {
                    Some(p) if self.visible().len() > 1 => {
                        self.hidden.insert(p);
                        if self.focus == p {
                            let _ = self.update(Action::FocusNext);
                        }
                    }
                    Some(_) => self.error("hide: at least one pane stays"),
                    None => self.error(format!("hide: no pane '{arg}'")),
                }
                vec![]
            }
            "add" => {
                let p = PathBuf::from(arg);
                let p = if p.is_absolute() {
                    p
                } else {
                    self.base_dir.join(p)
                };
                self.add_track(&p)
            }
            "help" => {
                self.overlay = Overlay::Help(0);
                vec![]
            }
            "undo" => self.update(Action::Undo),
            "redo" => self.update(Action::Redo),
            other => {
                self.error(format!(
                    "unknown command :{other} (Tab completes, ? lists keys)"
                ));
                vec![]
            }
        }
    }
}
