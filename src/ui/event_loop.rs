//! The terminal side: raw mode and the alternate screen (always restored:
//! on quit, error, panic, Ctrl-C, SIGTERM, SIGHUP), one loop that reads
//! keys, applies actions, carries out their effects on the engine and
//! background workers (gain planning, track analysis, renders), and
//! redraws: at 30 fps while playing, only on change while paused.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};

use super::action::Action;
use super::app::App;
use super::keymap::{Key, Keymap};
pub use super::runner::measure;
use super::runner::*;
use super::terminal::*;
pub use super::terminal::{remove_on_exit, run_exit_cleanup};
use super::theme::Theme;
use crate::engine::ListenMode;
use crate::error::{LatheError, Result};
use crate::session::album::Session;

pub(super) static LOGGER: AtomicBool = AtomicBool::new(false);
pub(super) static SIGNALLED: AtomicBool = AtomicBool::new(false);

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
        "version = 1\n[album]\ntitle = \"untitled\"\nartist = \"\"\nbalance = \"consistent\"\n\n[[delivery]]\nname = \"master\"\nformat = \"wav\"\nbits = \"24\"\nrate_hz = {rate}\nceiling_dbtp = -1.0\ntrack_files = true\nalbum_file = false\n"
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
