//! The terminal: raw mode and the alternate screen (restored on every way
//! out: quit, error, panic, a signal, a hung-up terminal), stderr kept off
//! the screen, and the exit-cleanup list.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::crossterm::{cursor, execute, terminal};

use super::event_loop::*;
use crate::error::{LatheError, Result};

/// Restores the terminal when dropped (also installed as a panic hook).
pub(super) struct TerminalGuard;

/// fd 2 as it was before the interface sent stray stderr output (ALSA's
/// xrun chatter, library warnings) to a log file; −1 when not redirected.
pub(super) static SAVED_STDERR: std::sync::atomic::AtomicI32 =
    std::sync::atomic::AtomicI32::new(-1);

/// While the interface owns the screen, anything written to stderr would
/// tear it: send fd 2 to `lathe-stderr-PID.log` in the temp folder.
pub(super) fn redirect_stderr() {
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
pub(super) fn remove_empty_stderr_log() {
    let log = std::env::temp_dir().join(format!("lathe-stderr-{}.log", std::process::id()));
    if std::fs::metadata(&log).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(&log);
    }
}

pub(super) fn restore_stderr() {
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
pub(super) static EXIT_CLEANUP: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

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

pub(super) fn restore_terminal() {
    restore_stderr();
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

impl TerminalGuard {
    pub(super) fn enter() -> Result<Self> {
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

pub(super) static MAIN_DONE: AtomicBool = AtomicBool::new(false);

/// Whether the terminal hung up (SSH dropped, window closed): fd 0 reports
/// POLLHUP/POLLERR or is gone.
pub(super) fn terminal_gone() -> bool {
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
pub(super) fn start_watchdog() {
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

pub(super) fn install_signals() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
}
