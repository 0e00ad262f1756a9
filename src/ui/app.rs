//! The interface's model and its one update function: [`App::update`] takes
//! an [`Action`] and returns the [`Effect`]s the event loop must carry out
//! (engine commands, saves, renders). Pure and testable without a terminal.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::action::{Action, Pane};
use super::keymap::Keymap;
use super::params::Path as ParamPath;
use super::theme::Theme;
use crate::engine::ListenMode;
use crate::engine::session::MeterSnapshot;
use crate::session::album::Session;

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
    /// Play the selected track through a codec in place of its chain's
    /// output (None: back to the chain).
    Codec(Option<crate::io::lossy::CodecSpec>),
    /// Leave.
    Quit,
}

/// The codec preview asked for with `:codec`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodecSel {
    /// The codec.
    pub spec: crate::io::lossy::CodecSpec,
    /// The track it plays on.
    pub track: usize,
    /// True once the decoded audio plays (false while encoding).
    pub ready: bool,
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
    /// Loud passages of the master as planned (90th percentile of
    /// short-term loudness), LUFS.
    pub loud_after: Option<f64>,
    /// Tonal balance of the master as planned: 1/3-octave levels, dB re
    /// its loudness (empty until planned).
    pub tonal_after: Vec<f64>,
    /// Tonal balance of the source, the same way (empty until measured).
    pub tonal_before: Vec<f64>,
    /// The reference the track's match module matches, when it is a file:
    /// its name and tonal balance (from the plan).
    pub tonal_reference: Option<(String, Vec<f64>)>,
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

/// A soloed module: what it changes is what plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoloSel {
    /// The track whose chain pane it was chosen in.
    pub track: usize,
    /// The module.
    pub r: ModRef,
    /// Its type, to notice the chain changing under it.
    pub kind: &'static str,
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
    /// The Spectrum pane shows the selected track's tonal balance against
    /// the album's average instead of the live spectrum.
    pub tonal_view: bool,
    /// The module whose residual is heard instead of the chain's output.
    pub solo: Option<SoloSel>,
    /// The codec preview: the codec, its track, and whether it is playing
    /// (false while it is being encoded).
    pub codec: Option<CodecSel>,
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
pub const MODULE_TYPES: [&str; 10] = [
    "gain",
    "dc-removal",
    "eq",
    "compressor",
    "multiband",
    "imager",
    "declick",
    "dehiss",
    "hum",
    "match",
];

pub(crate) const AUDIO_EXT: [&str; 9] = [
    "wav", "flac", "aif", "aiff", "mp3", "ogg", "m4a", "mp4", "wave",
];

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
            tonal_view: false,
            solo: None,
            codec: None,
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
    pub(crate) fn edit(&mut self, f: impl FnOnce(&mut Session) -> Result<(), String>) -> bool {
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

    pub(crate) fn clamp_selection(&mut self) {
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
            Action::ToggleTonal => {
                self.tonal_view = !self.tonal_view;
                self.message(if self.tonal_view {
                    "spectrum: the selected track's tonal balance against the album"
                } else {
                    "spectrum: live"
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
                    Pane::Tracks => self.tracks_select_by(d),
                    Pane::Chain => self.chain_select_by(d),
                    Pane::Log => self.log_scroll_by(d),
                    _ => {}
                }
                vec![]
            }
            a @ (Action::Decrease
            | Action::Increase
            | Action::FineDecrease
            | Action::FineIncrease
            | Action::EditValue
            | Action::Bypass
            | Action::Solo
            | Action::ResetParam) => self.chain_action(a),
            a @ (Action::CopyToAll
            | Action::MoveUp
            | Action::MoveDown
            | Action::Remove
            | Action::Add
            | Action::PlaySelected) => self.tracks_action(a),
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
