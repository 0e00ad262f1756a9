//! The terminal side: raw mode and the alternate screen (always restored:
//! on quit, error, panic, Ctrl-C, SIGTERM, SIGHUP), one loop that reads
//! keys, applies actions, carries out their effects on the engine and
//! background workers (gain planning, track analysis, renders), and
//! redraws: at 30 fps while playing, only on change while paused.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::{cursor, execute, terminal};

use super::action::Action;
use super::app::{App, Effect, TrackInfo};
use super::keymap::{Key, Keymap};
use super::theme::Theme;
use crate::engine::session::{MeterSnapshot, PlayOptions, Playback};
use crate::engine::{Command, ListenMode};
use crate::error::{LatheError, Result};
use crate::plan::Plan;
use crate::session::album::Session;

static LOGGER: AtomicBool = AtomicBool::new(false);
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// Whether the tui-logger backend is installed (the Log pane shows it).
pub fn logger_ready() -> bool {
    LOGGER.load(Ordering::Relaxed)
}

/// How to start the interface.
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// Theme name or file (else the config file's, else "default").
    pub theme: Option<String>,
    /// Use the silent output even if a sound card exists.
    pub silent: bool,
    /// Output device (part of its name).
    pub device: Option<String>,
}

/// The platform config folder (`~/.config/lathe` on Linux).
pub fn config_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "lathe").map(|d| d.config_dir().to_path_buf())
}

/// Theme and keymap from the options and the config folder; problems are
/// returned as messages (the defaults are used).
pub fn load_look(opts: &UiOptions) -> (Theme, Keymap, Vec<String>) {
    let mut notes = Vec::new();
    let dir = config_dir();
    let mut theme_name = opts.theme.clone();
    if theme_name.is_none()
        && let Some(d) = &dir
    {
        let cfg = d.join("config.toml");
        if let Ok(text) = std::fs::read_to_string(&cfg) {
            match toml::from_str::<toml::Table>(&text) {
                Ok(t) => {
                    theme_name = t.get("theme").and_then(|v| v.as_str()).map(str::to_string);
                }
                Err(e) => notes.push(
                    crate::session::chain::toml_error(&text, &cfg.display().to_string(), &e)
                        .to_string(),
                ),
            }
        }
    }
    let themes_dir = dir.as_ref().map(|d| d.join("themes"));
    let theme = match Theme::load(
        theme_name.as_deref().unwrap_or("default"),
        themes_dir.as_deref(),
    ) {
        Ok(t) => t,
        Err(e) => {
            notes.push(format!("{e}; using the default theme"));
            Theme::default_theme()
        }
    };
    let theme = if Theme::no_color_requested() {
        theme.without_color()
    } else {
        theme
    };
    let mut keymap = Keymap::default();
    if let Some(d) = &dir {
        let keys = d.join("keys.toml");
        if keys.is_file()
            && let Err(e) = keymap.apply_file(&keys)
        {
            notes.push(format!("{e}; using the default keys"));
        }
    }
    (theme, keymap, notes)
}

/// Restores the terminal when dropped (also installed as a panic hook).
struct TerminalGuard;

/// fd 2 as it was before the interface sent stray stderr output (ALSA's
/// xrun chatter, library warnings) to a log file; −1 when not redirected.
static SAVED_STDERR: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// While the interface owns the screen, anything written to stderr would
/// tear it: send fd 2 to `lathe-stderr-PID.log` in the temp folder.
fn redirect_stderr() {
    let path = std::env::temp_dir().join(format!("lathe-stderr-{}.log", std::process::id()));
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return;
    };
    // SAFETY: plain descriptor duplication; undone by restore_stderr.
    unsafe {
        let saved = libc::dup(2);
        let fd = libc::open(
            c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
            0o600,
        );
        if saved < 0 || fd < 0 {
            return;
        }
        libc::dup2(fd, 2);
        libc::close(fd);
        SAVED_STDERR.store(saved, Ordering::Release);
    }
}

/// Keep the stderr log only if something was written to it.
fn remove_empty_stderr_log() {
    let log = std::env::temp_dir().join(format!("lathe-stderr-{}.log", std::process::id()));
    if std::fs::metadata(&log).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(&log);
    }
}

fn restore_stderr() {
    let saved = SAVED_STDERR.swap(-1, Ordering::AcqRel);
    if saved >= 0 {
        // SAFETY: restoring the descriptor saved by redirect_stderr.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
    }
}

/// Paths removed when the interface exits by any path that restores the
/// terminal: a normal quit, an error, a panic, a signal, a hung-up terminal.
static EXIT_CLEANUP: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Remove `path` (a file or a whole folder) when the interface exits, by
/// whatever path: e.g. `lathe demo`'s temporary album.
pub fn remove_on_exit(path: &Path) {
    if let Ok(mut l) = EXIT_CLEANUP.lock() {
        l.push(path.to_path_buf());
    }
}

/// Remove what [`remove_on_exit`] was given (safe to call more than once).
pub fn run_exit_cleanup() {
    let paths = match EXIT_CLEANUP.lock() {
        Ok(mut l) => std::mem::take(&mut *l),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    };
    for p in paths {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
}

fn restore_terminal() {
    restore_stderr();
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

impl TerminalGuard {
    fn enter() -> Result<Self> {
        terminal::enable_raw_mode()
            .map_err(|e| LatheError::Invalid(format!("terminal: cannot enter raw mode ({e})")))?;
        let guard = Self;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
        .map_err(|e| LatheError::Invalid(format!("terminal: {e}")))?;
        redirect_stderr();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            run_exit_cleanup();
            previous(info);
        }));
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
        remove_empty_stderr_log();
        run_exit_cleanup();
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Release);
}

static MAIN_DONE: AtomicBool = AtomicBool::new(false);

/// Whether the terminal hung up (SSH dropped, window closed): fd 0 reports
/// POLLHUP/POLLERR or is gone.
fn terminal_gone() -> bool {
    let mut p = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r < 0 || p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// A watchdog for a vanished terminal or a signal the main loop cannot
/// see: crossterm spins on a hung-up terminal inside its read, so after a
/// grace period the process cancels any render (no partial files stay)
/// and exits.
fn start_watchdog() {
    std::thread::spawn(|| {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            if MAIN_DONE.load(Ordering::Acquire) {
                return;
            }
            if terminal_gone() || SIGNALLED.load(Ordering::Acquire) {
                SIGNALLED.store(true, Ordering::Release);
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_millis(1500) {
                    if MAIN_DONE.load(Ordering::Acquire) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                crate::cancel::request();
                std::thread::sleep(Duration::from_millis(300));
                restore_terminal();
                remove_empty_stderr_log();
                run_exit_cleanup();
                std::process::exit(129);
            }
        }
    });
}

fn install_signals() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
}

/// Messages from background workers.
enum Bg {
    Info(PathBuf, std::result::Result<TrackInfo, String>),
    Plan(u64, std::result::Result<Plan, String>),
    RenderProgress(String),
    RenderDone(std::result::Result<Vec<crate::render::album::FileReport>, String>),
}

/// Measure a track for the Tracks and History panes.
pub fn measure(path: &Path) -> Result<TrackInfo> {
    use crate::io::{AudioBlock, AudioSource, FileSource};
    // One decode: the same loudness and true-peak meters `lathe analyze`
    // uses, recording the short-term curve on the way.
    let mut src = FileSource::open(path)?;
    let info = src.info().clone();
    let mut lm =
        crate::analysis::loudness::LoudnessMeter::new(info.sample_rate, &info.channel_weights);
    lm.record_series();
    let mut tps: Vec<crate::analysis::truepeak::TruePeakMeter> = (0..info.channels)
        .map(|_| crate::analysis::truepeak::TruePeakMeter::new(info.sample_rate))
        .collect();
    let mut block = AudioBlock::new(info.channels, 8192);
    let mut frames = 0u64;
    loop {
        let n = src.read(&mut block)?;
        if n == 0 {
            break;
        }
        lm.push(&block.channels, n);
        for (t, c) in tps.iter_mut().zip(&block.channels) {
            t.push(&c[..n]);
        }
        frames += n as u64;
    }
    let series = crate::plan::delivery::short_term_every_100ms(
        lm.short_term_series(),
        frames,
        info.sample_rate,
    );
    let tp = tps.iter().map(|t| t.true_peak()).fold(0.0, f64::max);
    Ok(TrackInfo {
        duration_s: frames as f64 / f64::from(info.sample_rate),
        lufs_before: lm.stats().integrated_lufs,
        tp_before: crate::units::linear_to_db(tp),
        lufs_after: None,
        tp_after: None,
        series,
        series_after: Vec::new(),
        limiting: None,
    })
}

/// The engine side of the interface: playback, planning and rendering.
struct Runner {
    tx: Sender<Bg>,
    rx: Receiver<Bg>,
    playback: Option<Playback>,
    play_opts: PlayOptions,
    plan_gen: u64,
    planning: bool,
    replan_at: Option<Instant>,
    rendering: bool,
    spools: crate::plan::delivery::SpoolCache,
    /// Recent (time, playhead s, A/B, meters), to show what a remote
    /// listener hears now.
    heard: std::collections::VecDeque<(Instant, f64, bool, MeterSnapshot)>,
}

impl Runner {
    fn new(opts: &UiOptions) -> Self {
        let (tx, rx) = channel();
        Self {
            tx,
            rx,
            playback: None,
            play_opts: PlayOptions {
                device: opts.device.clone(),
                force_null: opts.silent,
                // Remote listeners (`lathe listen`) hear what the sound card
                // gets; without a private runtime folder there are none.
                monitor: match crate::remote::hub::Monitor::start() {
                    Ok(m) => {
                        remove_on_exit(m.socket_path());
                        log::info!(
                            "monitor output published for lathe listen at {}",
                            m.socket_path().display()
                        );
                        Some(m)
                    }
                    Err(e) => {
                        log::warn!("remote listening off: {e}");
                        None
                    }
                },
                ..PlayOptions::default()
            },
            plan_gen: 0,
            planning: false,
            replan_at: None,
            rendering: false,
            spools: crate::plan::delivery::SpoolCache::new(),
            heard: std::collections::VecDeque::new(),
        }
    }

    fn analyze(&self, paths: Vec<PathBuf>) {
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for p in paths {
                let r = measure(&p).map_err(|e| e.to_string());
                if tx.send(Bg::Info(p, r)).is_err() {
                    return;
                }
            }
        });
    }

    fn start_plan(&mut self, app: &App) {
        self.plan_gen += 1;
        self.planning = true;
        let generation = self.plan_gen;
        let session = app.session.clone();
        let file = app.session_file();
        let delivery = app
            .session
            .deliveries
            .get(app.delivery)
            .map(|d| d.name.clone());
        let tx = self.tx.clone();
        let cache = self.spools.clone();
        std::thread::spawn(move || {
            let r = Plan::from_session_cached(&session, &file, delivery.as_deref(), Some(&cache))
                .map_err(|e| e.to_string());
            let _ = tx.send(Bg::Plan(generation, r));
        });
    }

    /// Start playing at once on a provisional plan (gain offsets only) so
    /// a long album is audible before its exact gains are planned.
    fn start_provisional(&mut self, app: &mut App) {
        let delivery = app
            .session
            .deliveries
            .get(app.delivery)
            .map(|d| d.name.clone());
        match Plan::provisional(&app.session, &app.session_file(), delivery.as_deref()) {
            Ok(plan) => self.take_plan(plan, app, false),
            Err(e) => app.error(format!("playback: {e}")),
        }
    }

    fn apply_transport(pb: &mut Playback, app: &App) {
        pb.send(Command::SetProcessed(app.transport.processed));
        pb.send(Command::SetLevelMatch(app.transport.level_match));
        pb.send(Command::SetListen(app.transport.listen));
        if app.transport.playing {
            pb.send(Command::Play);
        }
        Self::set_loop(pb, app.transport.looping);
    }

    fn set_loop(pb: &mut Playback, k: Option<usize>) {
        match k.and_then(|k| pb.timeline.spans.get(k)) {
            Some(s) => {
                let (a, b) = (s.start, s.end());
                pb.set_loop(Some((a, b)));
            }
            None => pb.set_loop(None),
        }
    }

    /// A new plan: continue on the same timeline with new gains, or
    /// reopen at the same place when the timeline changed.
    fn take_plan(&mut self, plan: Plan, app: &mut App, exact: bool) {
        let same_timeline = self.playback.as_ref().is_some_and(|pb| {
            pb.plan.tracks.len() == plan.tracks.len()
                && pb.timeline == plan.timeline(pb.rate)
                && pb
                    .plan
                    .tracks
                    .iter()
                    .zip(&plan.tracks)
                    .all(|(a, b)| a.path == b.path)
        });
        if exact {
            app.album_lufs = plan.planned_album_lufs;
            app.limiting_cut_db = plan.limiting_cut_db;
        }
        // What the plan says each rendered track will measure.
        for (k, t) in plan.tracks.iter().enumerate().filter(|_| exact) {
            if let Some(p) = app.track_path(k)
                && let Some(info) = app.info.get_mut(&p)
            {
                info.lufs_after = t.planned_lufs.filter(|v| v.is_finite());
                info.tp_after = t.planned_tp_dbtp.filter(|v| v.is_finite());
                info.series_after = t.planned_series.clone();
                info.limiting = t.planned_limiting;
            }
        }
        if same_timeline && let Some(pb) = self.playback.as_mut() {
            for (k, t) in plan.tracks.iter().enumerate() {
                let old = pb.plan.tracks[k].clone();
                if old.gain_db != t.gain_db || old.chain != t.chain {
                    pb.plan.tracks[k].chain = t.chain.clone();
                    if let Err(e) = pb.set_track_gain(k, t.gain_db) {
                        app.error(e.to_string());
                    }
                }
                if old.match_db != t.match_db {
                    pb.plan.tracks[k].match_db = t.match_db;
                    pb.send(Command::SetTrackMatchDb(k, t.match_db));
                }
            }
            return;
        }
        let resume = self.playback.as_ref().map(|pb| pb.position_s());
        self.playback = None;
        match Playback::open_plan(plan, &self.play_opts) {
            Ok(mut pb) => {
                if let Some(s) = resume {
                    pb.seek((s * f64::from(pb.rate)) as u64);
                }
                Self::apply_transport(&mut pb, app);
                for n in pb.poll() {
                    app.message(n);
                }
                app.transport.output = pb.output_description();
                app.transport.silent = pb.is_silent();
                app.transport.rate = pb.rate;
                app.transport.duration_s = pb.timeline.total() as f64 / f64::from(pb.rate);
                app.transport.track_starts = pb
                    .timeline
                    .spans
                    .iter()
                    .map(|s| s.start as f64 / f64::from(pb.rate))
                    .collect();
                self.playback = Some(pb);
            }
            Err(e) => app.error(format!("playback: {e}")),
        }
    }

    fn render(&mut self, app: &mut App, delivery: Option<String>, force: bool) {
        if self.rendering {
            app.error("a render is already running");
            return;
        }
        // Render exactly what is being edited: a temporary copy of the
        // session with absolute track paths (the session file is untouched).
        let mut s = app.session.clone();
        for (i, t) in s.tracks.iter_mut().enumerate() {
            if let Some(p) = app.track_path(i) {
                t.path = p;
            }
        }
        let text = match s.to_toml() {
            Ok(t) => t,
            Err(e) => {
                app.error(e.to_string());
                return;
            }
        };
        let tmp = std::env::temp_dir().join(format!("lathe-render-{}.toml", std::process::id()));
        if let Err(e) = std::fs::write(&tmp, text) {
            app.error(format!("{}: {e}", tmp.display()));
            return;
        }
        remove_on_exit(&tmp);
        let out_dir = app
            .session_path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| app.base_dir.clone())
            .join("render");
        app.message(format!("rendering into {}", out_dir.display()));
        app.rendering = Some("starting".into());
        self.rendering = true;
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let opts = crate::render::album::RenderOptions {
                session: tmp.clone(),
                out_dir,
                delivery,
                force,
            };
            let progress_tx = std::sync::Mutex::new(tx.clone());
            let r = crate::render::album::render_session(&opts, &|m: &str| {
                if let Ok(t) = progress_tx.lock() {
                    let _ = t.send(Bg::RenderProgress(m.to_string()));
                }
            })
            .map_err(|e| e.to_string());
            let _ = std::fs::remove_file(&tmp);
            let _ = tx.send(Bg::RenderDone(r));
        });
    }

    fn effects(&mut self, fx: Vec<Effect>, app: &mut App) -> bool {
        let mut quit = false;
        for e in fx {
            match e {
                Effect::Engine(c) => {
                    if let Some(pb) = self.playback.as_mut() {
                        pb.send(c);
                    }
                }
                Effect::SeekBy(s) => {
                    if let Some(pb) = self.playback.as_mut() {
                        let t = (pb.position_s() + s).max(0.0);
                        pb.seek((t * f64::from(pb.rate)) as u64);
                    }
                }
                Effect::SeekTo(t) => {
                    if let Some(pb) = self.playback.as_mut() {
                        pb.seek((t * f64::from(pb.rate)) as u64);
                    }
                }
                Effect::SeekTrack(k) => {
                    if let Some(pb) = self.playback.as_mut() {
                        pb.seek_track(k);
                    }
                }
                Effect::NextTrack => {
                    if let Some(pb) = self.playback.as_mut() {
                        pb.next_track();
                    }
                }
                Effect::PrevTrack => {
                    if let Some(pb) = self.playback.as_mut() {
                        pb.previous_track();
                    }
                }
                Effect::Stop => {
                    if let Some(pb) = self.playback.as_mut() {
                        pb.stop();
                        pb.reset_meters();
                    }
                    app.tp_hold = f64::NEG_INFINITY;
                }
                Effect::Loop(k) => {
                    if let Some(pb) = self.playback.as_mut() {
                        Self::set_loop(pb, k);
                    }
                }
                Effect::ChainsChanged(which) => {
                    let delivery = app.session.deliveries.get(app.delivery).cloned();
                    if let (Some(pb), Some(d)) = (self.playback.as_mut(), delivery.as_ref()) {
                        let n = app.session.tracks.len().min(pb.plan.tracks.len());
                        for k in 0..n {
                            if which.is_some_and(|w| w != k) {
                                continue;
                            }
                            let cfg = crate::plan::delivery::delivery_chain(
                                &app.session,
                                &app.session.tracks[k],
                                d,
                            );
                            if cfg != pb.plan.tracks[k].chain
                                && let Err(e) = pb.set_track_chain(k, &cfg)
                            {
                                app.error(e.to_string());
                            }
                        }
                    }
                    self.replan_at = Some(Instant::now() + Duration::from_millis(400));
                }
                Effect::TimelineChanged | Effect::SetDelivery(_) => {
                    self.replan_at = Some(Instant::now() + Duration::from_millis(150));
                }
                Effect::Save(path) => {
                    if let Err(e) = app.save_to(&path) {
                        app.error(e.to_string());
                    }
                }
                Effect::Render { delivery, force } => self.render(app, delivery, force),
                Effect::Analyze(paths) => self.analyze(paths),
                Effect::SetTheme(name) => {
                    let dir = config_dir().map(|d| d.join("themes"));
                    match Theme::load(&name, dir.as_deref()) {
                        Ok(t) => {
                            app.theme = if Theme::no_color_requested() {
                                t.without_color()
                            } else {
                                t
                            };
                            app.message(format!("theme {name}"));
                        }
                        Err(e) => app.error(e.to_string()),
                    }
                }
                Effect::Quit => quit = true,
            }
        }
        quit
    }

    /// Background results and engine state into the app. Returns whether
    /// anything changed that needs a redraw.
    fn poll(&mut self, app: &mut App) -> bool {
        let mut changed = false;
        while let Ok(m) = self.rx.try_recv() {
            changed = true;
            match m {
                Bg::Info(p, Ok(i)) => {
                    log::info!(
                        "measured {}: {:.1} LUFS, {:.1} dBTP, {}",
                        p.display(),
                        i.lufs_before,
                        i.tp_before,
                        crate::units::format_duration(i.duration_s)
                    );
                    let keep_after = app
                        .info
                        .get(&p)
                        .map(|o| (o.lufs_after, o.tp_after, o.limiting));
                    let mut i = i;
                    if let Some((a, t, l)) = keep_after {
                        i.lufs_after = a;
                        i.tp_after = t;
                        i.limiting = l;
                    }
                    app.info.insert(p, i);
                }
                Bg::Info(p, Err(e)) => app.error(format!("{}: {e}", p.display())),
                Bg::Plan(g, r) => {
                    if g != self.plan_gen {
                        continue;
                    }
                    self.planning = false;
                    match r {
                        Ok(plan) => self.take_plan(plan, app, true),
                        Err(e) => app.error(format!("cannot plan playback: {e}")),
                    }
                }
                Bg::RenderProgress(m) => {
                    app.rendering = Some(m.clone());
                    log::info!("render: {m}");
                }
                Bg::RenderDone(r) => {
                    self.rendering = false;
                    app.rendering = None;
                    match r {
                        Ok(reports) => {
                            let mut overs = 0;
                            for rep in &reports {
                                let a = &rep.analysis;
                                let over = a.true_peak_dbtp > rep.ceiling_dbtp + 0.05;
                                overs += usize::from(over);
                                log::info!(
                                    "rendered {}: {:.1} LUFS, {:.1} dBTP{}",
                                    rep.file.display(),
                                    a.loudness.integrated_lufs,
                                    a.true_peak_dbtp,
                                    if over { " OVER" } else { "" }
                                );
                                let heard = app
                                    .session
                                    .deliveries
                                    .get(app.delivery)
                                    .is_some_and(|d| d.name == rep.delivery);
                                if heard
                                    && let Some(k) = rep.track
                                    && let Some(p) = app.track_path(k)
                                    && let Some(info) = app.info.get_mut(&p)
                                {
                                    info.lufs_after = Some(a.loudness.integrated_lufs);
                                    info.tp_after = Some(a.true_peak_dbtp);
                                    info.limiting = Some(rep.limiting);
                                }
                            }
                            app.message(format!(
                                "render done: {} files{}",
                                reports.len(),
                                if overs > 0 {
                                    format!(", {overs} over the ceiling")
                                } else {
                                    String::new()
                                }
                            ));
                        }
                        Err(e) => app.error(format!("render failed: {e}")),
                    }
                }
            }
        }
        if let Some(at) = self.replan_at
            && Instant::now() >= at
        {
            self.replan_at = None;
            self.start_plan(app);
        }
        app.transport.planning = self.planning;
        if let Some(pb) = self.playback.as_mut() {
            for n in pb.poll() {
                app.message(n);
                changed = true;
            }
            let sh = &pb.shared;
            let playing = sh.playing.load(Ordering::Relaxed);
            let pos = pb.position_s();
            if playing || (pos - app.transport.position_s).abs() > 1e-3 {
                changed = true;
            }
            app.transport.position_s = pos;
            app.transport.current_track = pb.current_track();
            app.transport.output = pb.output_description();
            app.transport.silent = pb.is_silent();
            app.transport.load_pct = sh.load_permille.load(Ordering::Relaxed) as f64 / 10.0;
            app.transport.underruns = sh.underruns.load(Ordering::Relaxed);
            app.transport.correlation =
                sh.correlation_milli.load(Ordering::Relaxed) as f64 / 1000.0 - 1.0;
            let k = app.transport.current_track;
            if let Some(t) = pb.plan.tracks.get(k) {
                app.transport.gain_reduction = t
                    .chain
                    .modules
                    .iter()
                    .zip(sh.module_gr_milli_db.iter())
                    .map(|(m, g)| {
                        (
                            m.kind().to_string(),
                            g.load(Ordering::Relaxed) as f64 / 1000.0,
                        )
                    })
                    .collect();
            }
            // Remote listeners: show what they hear (the meters, playhead
            // and A/B of `latency` ago) unless engine time is asked for.
            app.transport.listeners = self
                .play_opts
                .monitor
                .as_ref()
                .map(|m| m.listeners())
                .unwrap_or_default();
            let delay_ms = app
                .transport
                .listeners
                .first()
                .and_then(|l| l.latency_ms)
                .filter(|ms| app.heard_time && *ms > 0.0 && *ms < 3000.0);
            if let Some(ms) = delay_ms {
                let now = Instant::now();
                self.heard
                    .push_back((now, pos, app.transport.processed, pb.meters()));
                while self
                    .heard
                    .front()
                    .is_some_and(|(t, ..)| now.duration_since(*t) > Duration::from_secs(4))
                {
                    self.heard.pop_front();
                }
                let at = now - Duration::from_secs_f64(ms / 1000.0);
                if let Some((_, p, processed, m)) =
                    self.heard.iter().rev().find(|(t, ..)| *t <= at).cloned()
                {
                    app.transport.position_s = p;
                    app.transport.heard_processed = Some(processed);
                    app.set_meters(m);
                }
                app.transport.heard_delay_ms = Some(ms);
                changed = true;
            } else {
                self.heard.clear();
                app.transport.heard_delay_ms = None;
                app.transport.heard_processed = None;
                if playing || changed {
                    app.set_meters(pb.meters());
                }
            }
            if pb.finished() && app.transport.playing {
                app.transport.playing = false;
                pb.send(Command::Pause);
                app.message("end of the album");
            }
        }
        changed
    }
}

/// Run the interface on `app` until the user quits.
pub fn run(mut app: App, opts: &UiOptions) -> Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(LatheError::Invalid(
            "the interface needs a terminal (for scripts: lathe analyze | master | render | play)"
                .into(),
        ));
    }
    if tui_logger::init_logger(log::LevelFilter::Info).is_ok() {
        tui_logger::set_default_level(log::LevelFilter::Info);
        LOGGER.store(true, Ordering::Relaxed);
    }
    let (theme, keymap, notes) = load_look(opts);
    app.theme = theme;
    app.keymap = keymap;
    for n in notes {
        app.error(n);
    }
    install_signals();
    start_watchdog();
    let mut runner = Runner::new(opts);
    let paths: Vec<PathBuf> = (0..app.session.tracks.len())
        .filter_map(|i| app.track_path(i))
        .collect();
    for p in &paths {
        if !p.exists() {
            app.error(format!("{}: file missing", p.display()));
        }
    }
    runner.analyze(paths);
    runner.start_provisional(&mut app);
    runner.start_plan(&app);
    app.message(format!(
        "{} · {} tracks · ? for help",
        app.session_path
            .as_ref()
            .map_or("new session".into(), |p| p.display().to_string()),
        app.session.tracks.len()
    ));
    let _guard = TerminalGuard::enter()?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut term = ratatui::Terminal::new(backend)
        .map_err(|e| LatheError::Invalid(format!("terminal: {e}")))?;
    let _ = term.clear();
    let mut dirty = true;
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    // Frame statistics for the benchmark (LATHE_UI_STATS=FILE).
    let mut stats = (0u64, 0u64, 0.0f64, 0.0f64); // frames, frames while playing, s playing, worst draw s
    let mut last_tick = Instant::now();
    loop {
        if SIGNALLED.load(Ordering::Acquire) || terminal_gone() {
            break;
        }
        if runner.poll(&mut app) && app.transport.playing {
            dirty = true;
        }
        let frame = Duration::from_millis(33);
        let now = Instant::now();
        if app.transport.playing {
            stats.2 += (now - last_tick).as_secs_f64();
        }
        last_tick = now;
        if dirty && last_draw.elapsed() >= frame / 2 {
            let t0 = Instant::now();
            term.draw(|f| super::panes::draw(f, &app))
                .map_err(|e| LatheError::Invalid(format!("terminal: {e}")))?;
            stats.3 = stats.3.max(t0.elapsed().as_secs_f64());
            if stats.0 == 0 && std::env::var_os("LATHE_UI_PANIC").is_some() {
                // For the test that proves a panic restores the terminal.
                panic!("LATHE_UI_PANIC: a deliberate panic after the first frame");
            }
            stats.0 += 1;
            if app.transport.playing {
                stats.1 += 1;
            }
            last_draw = Instant::now();
            dirty = false;
        }
        let timeout = if app.transport.playing || runner.planning || runner.rendering {
            frame.saturating_sub(last_draw.elapsed())
        } else {
            Duration::from_millis(250)
        };
        if event::poll(timeout).unwrap_or(false) {
            match event::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                    let key = Key::from_event(&k);
                    let fx = match app.overlay_key(key) {
                        Some(fx) => fx,
                        None => match app.keymap.lookup(app.focus, key).cloned() {
                            Some(a) => app.update(a),
                            None => vec![],
                        },
                    };
                    // Ctrl-C behaves like q.
                    let fx = if key.code == event::KeyCode::Char('c')
                        && key.mods.contains(event::KeyModifiers::CONTROL)
                    {
                        app.update(Action::Quit)
                    } else {
                        fx
                    };
                    if runner.effects(fx, &mut app) || app.quit {
                        break;
                    }
                    dirty = true;
                    // Keypress to screen: draw now.
                    last_draw = Instant::now() - frame;
                }
                Ok(Event::Resize(..)) => {
                    let _ = term.autoresize();
                    dirty = true;
                }
                Err(_) => break,
                _ => {}
            }
        } else if app.transport.playing || runner.planning || runner.rendering {
            dirty = true;
        }
    }
    if runner.rendering {
        // Leaving mid-render: cancel it so no partial files stay.
        crate::cancel::request();
        let t0 = Instant::now();
        while runner.rendering && t0.elapsed() < Duration::from_secs(5) {
            runner.poll(&mut app);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(runner);
    MAIN_DONE.store(true, Ordering::Release);
    if let Some(p) = std::env::var_os("LATHE_UI_STATS") {
        let _ = std::fs::write(
            p,
            format!(
                "{{\"frames\":{},\"frames_playing\":{},\"playing_s\":{:.3},\"worst_draw_ms\":{:.3}}}\n",
                stats.0,
                stats.1,
                stats.2,
                stats.3 * 1000.0
            ),
        );
    }
    Ok(())
}

/// Open the interface on a session file.
pub fn run_session(path: &Path, opts: &UiOptions) -> Result<()> {
    let session = Session::load(path)?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let app = App::new(session, Some(path.to_path_buf()), base);
    run(app, opts)
}

/// A new, unsaved session of `files` (streaming preset, one WAV delivery
/// at the first file's rate).
pub fn session_of_files(files: &[PathBuf]) -> Result<Session> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut tracks = Vec::new();
    let mut rate = 48_000;
    for (i, f) in files.iter().enumerate() {
        let src = crate::io::FileSource::open(f)?;
        if i == 0 {
            rate = crate::io::AudioSource::info(&src).sample_rate;
        }
        let abs = if f.is_absolute() {
            f.clone()
        } else {
            cwd.join(f)
        };
        let title = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut t = crate::session::album::Track::new(abs, title);
        t.gap_s = if i == 0 { 0.0 } else { 2.0 };
        tracks.push(t);
    }
    let toml = format!(
        "version = 1\n[album]\ntitle = \"untitled\"\nartist = \"\"\nbalance = \"track\"\n\n[[delivery]]\nname = \"master\"\nformat = \"wav\"\nbits = \"24\"\nrate_hz = {rate}\nceiling_dbtp = -1.0\ntrack_files = true\nalbum_file = false\n"
    );
    let mut s = Session::from_toml(&toml, "new session")?;
    s.chain = crate::session::presets::preset("streaming")?;
    s.tracks = tracks;
    Ok(s)
}

/// Open the interface on audio files (a new session).
pub fn run_files(files: &[PathBuf], opts: &UiOptions) -> Result<()> {
    let session = session_of_files(files)?;
    let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let app = App::new(session, None, base);
    run(app, opts)
}

/// Is `ListenMode` used (keeps the import meaningful for docs).
#[doc(hidden)]
pub fn _listen_default() -> ListenMode {
    ListenMode::Stereo
}
