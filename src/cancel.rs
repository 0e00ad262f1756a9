//! Clean cancellation: Ctrl-C (SIGINT) and SIGTERM set a flag that long
//! jobs poll; they then stop with an error, and the atomic writers' drop
//! handlers remove every partial file.

use std::sync::atomic::{AtomicBool, Ordering};

static CANCELLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    CANCELLED.store(true, Ordering::SeqCst);
}

/// Route SIGINT and SIGTERM to the cancellation flag (idempotent).
pub fn install_handler() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Whether a stop was requested.
pub fn cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// Request a stop (tests, UI).
pub fn request() {
    CANCELLED.store(true, Ordering::SeqCst);
}

/// An error if a stop was requested.
pub fn check() -> crate::Result<()> {
    if cancelled() {
        Err(crate::LatheError::Invalid(
            "interrupted; partial output removed".into(),
        ))
    } else {
        Ok(())
    }
}
