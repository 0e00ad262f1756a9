//! The interface's model and its one update function: [`App::update`] takes
//! an [`Action`] and returns the [`Effect`]s the event loop must carry out
//! (engine commands, saves, renders). Pure and testable without a terminal.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::action::{Action, Pane};
use super::keymap::Keymap;
use super::params::{self, Path as ParamPath};
use super::theme::Theme;
use crate::engine::ListenMode;
use crate::engine::session::MeterSnapshot;
use crate::session::album::{Session, Track};
use crate::session::chain::ModuleConfig;

/// What the event loop must do after an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a command to the audio callback.
    Engine(crate::engine::Command),
    /// Move the playhead by seconds.
    SeekBy(f64),
    /// Move the playhead to a time on the album timeline, s.
    SeekTo(f64),
    /// Jump to a track's start.
    SeekTrack(usize),
    /// Next track.
    NextTrack,
    /// Previous track.
    PrevTrack,
    /// Stop and go back to the start.
    Stop,
    /// Loop a track (None: off).
    Loop(Option<usize>),
    /// Chains changed: rebuild them (None: every track).
    ChainsChanged(Option<usize>),
    /// Order, gaps, fades, gains or tracks changed: plan playback anew.
    TimelineChanged,
    /// Write the session here.
    Save(PathBuf),
    /// Render deliveries (None: all) in the background.
    Render {
        /// One delivery, or all.
        delivery: Option<String>,
        /// Replace existing outputs.
        force: bool,
    },
    /// Measure these files (new tracks).
    Analyze(Vec<PathBuf>),
    /// Play a different delivery.
    SetDelivery(usize),
    /// Change the theme.
    SetTheme(String),
    /// Leave.
    Quit,
}

/// Measurements of one track shown in the Tracks and History panes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackInfo {
    /// Length, s.
    pub duration_s: f64,
    /// Integrated loudness of the source, LUFS.
    pub lufs_before: f64,
    /// True peak of the source, dBTP.
    pub tp_before: f64,
    /// Integrated loudness as planned or rendered, LUFS.
    pub lufs_after: Option<f64>,
    /// True peak of the last render, dBTP.
    pub tp_after: Option<f64>,
    /// Short-term loudness every 100 ms of the source, LUFS.
    pub series: Vec<f64>,
    /// Short-term loudness every 100 ms of the master as planned, LUFS.
    pub series_after: Vec<f64>,
    /// How hard the limiter works on the master as planned.
    pub limiting: Option<crate::dsp::limiter::LimitingStats>,
}

/// Transport and engine state mirrored for display.
#[derive(Debug, Clone, PartialEq)]
pub struct Transport {
    /// Playing (else paused).
    pub playing: bool,
    /// Hearing the processed signal (B) (else the original, A).
    pub processed: bool,
    /// The original is level-matched.
    pub level_match: bool,
    /// Listen mode.
    pub listen: ListenMode,
    /// Looping this track.
    pub looping: Option<usize>,
    /// Playhead, s.
    pub position_s: f64,
    /// Album length, s.
    pub duration_s: f64,
    /// The track at the playhead.
    pub current_track: usize,
    /// Output description.
    pub output: String,
    /// Output rate, Hz.
    pub rate: u32,
    /// Silent output (no device).
    pub silent: bool,
    /// Audio-thread load, percent of the buffer period.
    pub load_pct: f64,
    /// Underruns so far.
    pub underruns: u64,
    /// Gain reduction per module of the current track, dB.
    pub gain_reduction: Vec<(String, f64)>,
    /// Output correlation, −1 … +1.
    pub correlation: f64,
    /// Start of each track on the timeline, s.
    pub track_starts: Vec<f64>,
    /// Playback is being planned (gains measured).
    pub planning: bool,
    /// Remote listeners attached (`lathe listen`).
    pub listeners: Vec<crate::remote::hub::ListenerStatus>,
    /// What is shown is delayed by this much to match what the listener
    /// hears, ms (None: engine time).
    pub heard_delay_ms: Option<f64>,
    /// A/B as the listener hears it now (None: as the engine plays it).
    pub heard_processed: Option<bool>,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            playing: false,
            processed: true,
            level_match: true,
            listen: ListenMode::Stereo,
            looping: None,
            position_s: 0.0,
            duration_s: 0.0,
            current_track: 0,
            output: String::new(),
            rate: 48_000,
            silent: true,
            load_pct: 0.0,
            underruns: 0,
            gain_reduction: Vec::new(),
            correlation: 1.0,
            track_starts: Vec::new(),
            planning: false,
            listeners: Vec::new(),
            heard_delay_ms: None,
            heard_processed: None,
        }
    }
}

/// A row of the Chain pane.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// The album's loudness target.
    Target,
    /// A module's title row.
    Module(ModRef),
    /// One parameter of a module.
    Param(ModRef, ParamPath),
}

/// Which module: of the album chain (index into `session.chain.modules`)
/// or the selected track's own (index into `track.modules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModRef {
    /// Album chain module.
    Album(usize),
    /// The selected track's module.
    Track(usize),
}

/// An overlay over the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    /// None.
    None,
    /// Key help for the focused pane; scroll offset.
    Help(usize),
    /// The `:` command line: text typed, history position.
    Command(String),
    /// The file picker: folder, entries, selection.
    Picker(PathBuf, Vec<PathBuf>, usize),
    /// "Unsaved changes" on quit.
    ConfirmQuit,
}

/// The whole interface state.
pub struct App {
    /// The session being edited.
    pub session: Session,
    /// Where it is saved (None: not yet).
    pub session_path: Option<PathBuf>,
    /// Folder relative track paths start from.
    pub base_dir: PathBuf,
    saved: Session,
    undo: Vec<Session>,
    redo: Vec<Session>,
    /// Focused pane.
    pub focus: Pane,
    /// Focused pane fills the screen.
    pub zoom: bool,
    /// With a remote listener attached, show meters, playhead and A/B as
    /// it hears them (delayed by its latency); false: engine time.
    pub heard_time: bool,
    /// Hidden panes.
    pub hidden: BTreeSet<Pane>,
    /// Width of the left column, percent.
    pub left_pct: u16,
    /// Selected track.
    pub track_sel: usize,
    /// Selected Chain row.
    pub chain_sel: usize,
    /// Scroll of the Log pane (lines from the end).
    pub log_scroll: usize,
    /// The Log pane's scroll state for tui-logger.
    pub log_state: tui_logger::TuiWidgetState,
    /// Overlay.
    pub overlay: Overlay,
    /// Command-line history.
    pub history: Vec<String>,
    /// The last message (status line).
    pub status: String,
    /// Every message shown, oldest first (the Log pane also gets them).
    pub messages: Vec<String>,
    /// Transport mirror.
    pub transport: Transport,
    /// Latest meters.
    pub meters: MeterSnapshot,
    /// True-peak hold since play start or the last reset, dBTP.
    pub tp_hold: f64,
    /// Measurements per track file.
    pub info: HashMap<PathBuf, TrackInfo>,
    /// Delivery being heard.
    pub delivery: usize,
    /// Loudness of the whole album as planned for the heard delivery, LUFS.
    pub album_lufs: Option<f64>,
    /// Gain given up to respect `max_limiting_db` as planned, dB (0: none).
    pub limiting_cut_db: f64,
    /// Background render in progress: latest progress line.
    pub rendering: Option<String>,
    /// Key bindings.
    pub keymap: Keymap,
    /// Colours.
    pub theme: Theme,
    /// Set when the app should exit.
    pub quit: bool,
}

/// Module types `:module` adds.
pub const MODULE_TYPES: [&str; 9] = [
    "gain",
    "dc-removal",
    "eq",
    "compressor",
    "multiband",
    "imager",
    "declick",
    "dehiss",
    "hum",
];

const AUDIO_EXT: [&str; 9] = [
    "wav", "flac", "aif", "aiff", "mp3", "ogg", "m4a", "mp4", "wave",
];

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
    ("balance", ":balance album|track|none  loudness balancing"),
    ("theme", ":theme NAME  colours"),
    ("show", ":show PANE|all  /  :hide PANE"),
    ("add", ":add FILE  add a track"),
];

fn parse_time(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Some((m, sec)) = s.split_once(':') {
        let m: f64 = m.parse().ok()?;
        let sec: f64 = sec.parse().ok()?;
        (m >= 0.0 && (0.0..60.0).contains(&sec)).then_some(m * 60.0 + sec)
    } else {
        s.parse::<f64>().ok().filter(|v| *v >= 0.0)
    }
}

fn parse_num(s: &str, what: &str, lo: f64, hi: f64, unit: &str) -> Result<f64, String> {
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
    /// An app on `session` (saved at `session_path`, if it is).
    pub fn new(session: Session, session_path: Option<PathBuf>, base_dir: PathBuf) -> Self {
        Self {
            saved: session.clone(),
            session,
            session_path,
            base_dir,
            undo: Vec::new(),
            redo: Vec::new(),
            focus: Pane::Tracks,
            zoom: false,
            heard_time: true,
            hidden: BTreeSet::new(),
            left_pct: 55,
            track_sel: 0,
            chain_sel: 0,
            log_scroll: 0,
            log_state: tui_logger::TuiWidgetState::new(),
            overlay: Overlay::None,
            history: Vec::new(),
            status: String::new(),
            messages: Vec::new(),
            transport: Transport::default(),
            meters: MeterSnapshot::silent(),
            tp_hold: f64::NEG_INFINITY,
            info: HashMap::new(),
            delivery: 0,
            album_lufs: None,
            limiting_cut_db: 0.0,
            rendering: None,
            keymap: Keymap::default(),
            theme: Theme::default_theme(),
            quit: false,
        }
    }

    /// Unsaved changes exist.
    pub fn dirty(&self) -> bool {
        self.session != self.saved
            || self.session_path.is_none()
                && !self.session.tracks.is_empty()
                && !self.undo.is_empty()
    }

    /// Save the session to `path` (atomically, keeping a `.bak` of what was
    /// there). Saving into another folder makes relative track paths
    /// absolute so they still point at the audio.
    pub fn save_to(&mut self, path: &Path) -> crate::Result<()> {
        let old_dir = self.session_file().parent().map(Path::to_path_buf);
        let new_dir = path.parent().map(Path::to_path_buf);
        let mut s = self.session.clone();
        if old_dir != new_dir {
            for (i, t) in s.tracks.iter_mut().enumerate() {
                if let Some(p) = self.track_path(i) {
                    t.path = p;
                }
            }
        }
        s.save(path)?;
        self.session = s;
        if let Some(d) = new_dir {
            self.base_dir = d;
        }
        self.mark_saved(path.to_path_buf());
        self.message(format!("saved {}", path.display()));
        Ok(())
    }

    /// Mark the current session as saved at `path`.
    pub fn mark_saved(&mut self, path: PathBuf) {
        self.saved = self.session.clone();
        self.session_path = Some(path);
    }

    /// The session file (or where it would be) that track paths are relative to.
    pub fn session_file(&self) -> PathBuf {
        self.session_path
            .clone()
            .unwrap_or_else(|| self.base_dir.join("untitled.toml"))
    }

    /// Resolved path of track `i`.
    pub fn track_path(&self, i: usize) -> Option<PathBuf> {
        self.session
            .tracks
            .get(i)
            .map(|t| self.session.track_path(&self.session_file(), t))
    }

    /// Record a message for the status line and the log.
    pub fn message(&mut self, m: impl Into<String>) {
        let m = m.into();
        log::info!("{m}");
        self.status = m.clone();
        self.messages.push(m);
        if self.messages.len() > 1000 {
            self.messages.remove(0);
        }
    }

    /// Record an error.
    pub fn error(&mut self, m: impl Into<String>) {
        let m = m.into();
        log::error!("{m}");
        self.status = format!("error: {m}");
        self.messages.push(self.status.clone());
    }

    /// Panes shown, in focus order.
    pub fn visible(&self) -> Vec<Pane> {
        Pane::ALL
            .into_iter()
            .filter(|p| !self.hidden.contains(p))
            .collect()
    }

    /// Apply `f` to the session as one undoable edit. Returns whether it changed anything.
    fn edit(&mut self, f: impl FnOnce(&mut Session) -> Result<(), String>) -> bool {
        let before = self.session.clone();
        match f(&mut self.session) {
            Ok(()) if self.session != before => {
                self.undo.push(before);
                if self.undo.len() > 500 {
                    self.undo.remove(0);
                }
                self.redo.clear();
                true
            }
            Ok(()) => false,
            Err(e) => {
                self.session = before;
                self.error(e);
                false
            }
        }
    }

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

    fn set_module(&mut self, r: ModRef, m: ModuleConfig) -> bool {
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

    fn selected_row(&self) -> Option<Row> {
        self.chain_rows().get(self.chain_sel).cloned()
    }

    fn module_of(row: &Row) -> Option<ModRef> {
        match row {
            Row::Module(r) | Row::Param(r, _) => Some(*r),
            Row::Target => None,
        }
    }

    fn chain_effect(r: ModRef, sel: usize) -> Effect {
        match r {
            ModRef::Album(_) => Effect::ChainsChanged(None),
            ModRef::Track(_) => Effect::ChainsChanged(Some(sel)),
        }
    }

    fn step_selected(&mut self, dir: i32, fine: bool) -> Vec<Effect> {
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

    fn bypass(&mut self, r: ModRef, m: &ModuleConfig, b: bool) -> Vec<Effect> {
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

    fn set_typed(&mut self, text: &str) -> Vec<Effect> {
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

    fn clamp_selection(&mut self) {
        let n = self.session.tracks.len();
        self.track_sel = self.track_sel.min(n.saturating_sub(1));
        let rows = self.chain_rows().len();
        self.chain_sel = self.chain_sel.min(rows.saturating_sub(1));
    }

    /// Carry out one action.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        use crate::engine::Command as C;
        let fx = match action {
            Action::Quit => {
                if self.dirty() {
                    self.overlay = Overlay::ConfirmQuit;
                    vec![]
                } else {
                    self.quit = true;
                    vec![Effect::Quit]
                }
            }
            Action::ForceQuit => {
                self.quit = true;
                vec![Effect::Quit]
            }
            Action::PlayPause => {
                self.transport.playing = !self.transport.playing;
                vec![Effect::Engine(if self.transport.playing {
                    C::Play
                } else {
                    C::Pause
                })]
            }
            Action::Stop => {
                self.transport.playing = false;
                vec![Effect::Stop]
            }
            Action::ToggleAb => {
                self.transport.processed = !self.transport.processed;
                vec![Effect::Engine(C::SetProcessed(self.transport.processed))]
            }
            Action::ListenA => {
                self.transport.processed = false;
                vec![Effect::Engine(C::SetProcessed(false))]
            }
            Action::ListenB => {
                self.transport.processed = true;
                vec![Effect::Engine(C::SetProcessed(true))]
            }
            Action::ToggleHeardTime => {
                self.heard_time = !self.heard_time;
                self.message(if self.heard_time {
                    "meters and playhead as the remote listener hears them"
                } else {
                    "meters and playhead in engine time"
                });
                vec![]
            }
            Action::ToggleLevelMatch => {
                self.transport.level_match = !self.transport.level_match;
                self.message(format!(
                    "level match {}",
                    if self.transport.level_match {
                        "on"
                    } else {
                        "off"
                    }
                ));
                vec![Effect::Engine(C::SetLevelMatch(self.transport.level_match))]
            }
            Action::CycleListen => {
                self.transport.listen = self.transport.listen.next();
                vec![Effect::Engine(C::SetListen(self.transport.listen))]
            }
            Action::SeekBy(s) => vec![Effect::SeekBy(s)],
            Action::NextTrack => vec![Effect::NextTrack],
            Action::PrevTrack => vec![Effect::PrevTrack],
            Action::ToggleLoop => {
                self.transport.looping = match self.transport.looping {
                    Some(_) => None,
                    None => Some(self.track_sel),
                };
                self.message(match self.transport.looping {
                    Some(k) => format!("looping track {}", k + 1),
                    None => "loop off".into(),
                });
                vec![Effect::Loop(self.transport.looping)]
            }
            Action::FocusNext | Action::FocusPrev => {
                let vis = self.visible();
                if !vis.is_empty() {
                    let i = vis.iter().position(|p| *p == self.focus).unwrap_or(0);
                    let n = vis.len();
                    let j = if action == Action::FocusNext {
                        (i + 1) % n
                    } else {
                        (i + n - 1) % n
                    };
                    self.focus = vis[j];
                }
                vec![]
            }
            Action::Focus(p) => {
                self.hidden.remove(&p);
                self.focus = p;
                vec![]
            }
            Action::Zoom => {
                self.zoom = !self.zoom;
                vec![]
            }
            Action::Hide => {
                if self.visible().len() > 1 {
                    self.hidden.insert(self.focus);
                    self.message(format!(
                        "{} hidden (X or :show all brings it back)",
                        self.focus.title()
                    ));
                    let _ = self.update(Action::FocusNext);
                }
                vec![]
            }
            Action::ShowAll => {
                self.hidden.clear();
                vec![]
            }
            Action::Resize(d) => {
                self.left_pct = (i32::from(self.left_pct) + i32::from(d)).clamp(25, 80) as u16;
                vec![]
            }
            Action::Help => {
                self.overlay = match self.overlay {
                    Overlay::Help(_) => Overlay::None,
                    _ => Overlay::Help(0),
                };
                vec![]
            }
            Action::CommandLine => {
                self.overlay = Overlay::Command(String::new());
                vec![]
            }
            Action::CommandWith(s) => {
                self.overlay = Overlay::Command(s);
                vec![]
            }
            Action::Run(cmd) => self.run(&cmd),
            Action::Up | Action::Down => {
                let d: isize = if action == Action::Up { -1 } else { 1 };
                match self.focus {
                    Pane::Tracks => {
                        let n = self.session.tracks.len();
                        if n > 0 {
                            self.track_sel =
                                (self.track_sel as isize + d).clamp(0, n as isize - 1) as usize;
                        }
                        self.clamp_selection();
                    }
                    Pane::Chain => {
                        let n = self.chain_rows().len();
                        self.chain_sel =
                            (self.chain_sel as isize + d).clamp(0, n as isize - 1) as usize;
                    }
                    Pane::Log => {
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
                    _ => {}
                }
                vec![]
            }
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
            Action::CopyToAll => {
                let Some(src) = self
                    .session
                    .tracks
                    .get(self.track_sel)
                    .map(|t| t.modules.clone())
                else {
                    return vec![];
                };
                let n = self.session.tracks.len();
                if self.edit(|s| {
                    for t in &mut s.tracks {
                        t.modules = src.clone();
                    }
                    Ok(())
                }) {
                    self.message(format!(
                        "track {}'s modules copied to all {n} tracks",
                        self.track_sel + 1
                    ));
                    return vec![Effect::ChainsChanged(None)];
                }
                vec![]
            }
            Action::MoveUp | Action::MoveDown => {
                let i = self.track_sel;
                let n = self.session.tracks.len();
                let j = if action == Action::MoveUp {
                    i.checked_sub(1)
                } else {
                    (i + 1 < n).then_some(i + 1)
                };
                let Some(j) = j else { return vec![] };
                if self.edit(|s| {
                    s.tracks.swap(i, j);
                    Ok(())
                }) {
                    self.track_sel = j;
                    return vec![Effect::TimelineChanged];
                }
                vec![]
            }
            Action::Remove => {
                if self.session.tracks.len() <= 1 {
                    self.error("a session keeps at least one track");
                    return vec![];
                }
                let i = self.track_sel;
                let title = self.session.tracks[i].title.clone();
                if self.edit(|s| {
                    s.tracks.remove(i);
                    Ok(())
                }) {
                    self.clamp_selection();
                    self.message(format!("removed track {} ({title}); u undoes", i + 1));
                    return vec![Effect::TimelineChanged];
                }
                vec![]
            }
            Action::Add => {
                let dir = self
                    .track_path(self.track_sel)
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .unwrap_or_else(|| self.base_dir.clone());
                self.open_picker(dir);
                vec![]
            }
            Action::PlaySelected => {
                self.transport.playing = true;
                vec![Effect::SeekTrack(self.track_sel), Effect::Engine(C::Play)]
            }
            Action::Undo => {
                if let Some(prev) = self.undo.pop() {
                    let cur = std::mem::replace(&mut self.session, prev);
                    self.redo.push(cur);
                    self.clamp_selection();
                    self.message("undone");
                    vec![Effect::TimelineChanged, Effect::ChainsChanged(None)]
                } else {
                    self.message("nothing to undo");
                    vec![]
                }
            }
            Action::Redo => {
                if let Some(next) = self.redo.pop() {
                    let cur = std::mem::replace(&mut self.session, next);
                    self.undo.push(cur);
                    self.clamp_selection();
                    self.message("redone");
                    vec![Effect::TimelineChanged, Effect::ChainsChanged(None)]
                } else {
                    self.message("nothing to redo");
                    vec![]
                }
            }
            Action::Save => self.run("w"),
            Action::Render => self.run("render"),
            Action::Cancel => {
                self.overlay = Overlay::None;
                vec![]
            }
        };
        self.clamp_selection();
        fx
    }

    fn open_picker(&mut self, dir: PathBuf) {
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

    /// Add `path` as a new track after the selected one.
    pub fn add_track(&mut self, path: &Path) -> Vec<Effect> {
        if let Err(e) = crate::io::FileSource::open(path) {
            self.error(e.to_string());
            return vec![];
        }
        let stored = self
            .session_path
            .as_ref()
            .and_then(|s| s.parent())
            .and_then(|d| path.strip_prefix(d).ok())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| path.to_path_buf());
        let title = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "untitled".into());
        let at = (self.track_sel + 1).min(self.session.tracks.len());
        let mut track = Track::new(stored, title.clone());
        // A new track after another gets the usual two-second gap.
        if at > 0 {
            track.gap_s = 2.0;
        }
        if self.edit(|s| {
            s.tracks.insert(at, track);
            Ok(())
        }) {
            self.track_sel = at;
            self.message(format!("added track {}: {title}", at + 1));
            return vec![
                Effect::Analyze(vec![path.to_path_buf()]),
                Effect::TimelineChanged,
            ];
        }
        vec![]
    }

    /// Handle a key while an overlay is open; returns None when the
    /// overlay does not take keys (the key goes to the keymap).
    pub fn overlay_key(&mut self, key: super::keymap::Key) -> Option<Vec<Effect>> {
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
                    "balance" => vec!["album".into(), "track".into(), "none".into()],
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

    fn track_edit(
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
    fn module_command(&mut self, arg: &str) -> Vec<Effect> {
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
    fn track_number(
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
                    "track" => crate::session::album::Balance::Track,
                    "none" => crate::session::album::Balance::None,
                    _ => {
                        self.error("balance: album, track or none");
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

    /// Take fresh meter readings (also keeps the true-peak hold).
    pub fn set_meters(&mut self, m: MeterSnapshot) {
        if m.true_peak_dbtp.is_finite() {
            self.tp_hold = self.tp_hold.max(m.true_peak_dbtp);
        } else {
            self.tp_hold = f64::NEG_INFINITY;
        }
        self.meters = m;
    }

    /// The ceiling of the heard delivery, dBTP.
    pub fn ceiling_dbtp(&self) -> f64 {
        self.session
            .deliveries
            .get(self.delivery)
            .map(|d| d.ceiling_dbtp)
            .unwrap_or_else(|| self.session.chain.limiter().ceiling_dbtp)
    }

    /// The loudness target of the heard delivery, LUFS.
    pub fn target_lufs(&self) -> Option<f64> {
        self.session
            .deliveries
            .get(self.delivery)
            .and_then(|d| d.target_lufs)
            .or(self.session.chain.target_lufs)
    }

    /// Where the target in effect comes from: `delivery NAME` when the heard
    /// delivery sets its own, else `chain`.
    pub fn target_source(&self) -> String {
        match self.session.deliveries.get(self.delivery) {
            Some(d) if d.target_lufs.is_some() => format!("delivery {}", d.name),
            _ => "chain".into(),
        }
    }

    /// Where the ceiling in effect comes from: `delivery NAME` (every
    /// delivery has one), else `chain` (the chain's limiter).
    pub fn ceiling_source(&self) -> String {
        match self.session.deliveries.get(self.delivery) {
            Some(d) => format!("delivery {}", d.name),
            None => "chain".into(),
        }
    }
}

/// A target for display.
pub fn fmt_target(t: Option<f64>) -> String {
    t.map_or("off".into(), |v| format!("{v:.1} LUFS"))
}
