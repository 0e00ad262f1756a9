//! A silent output: calls the player once per buffer period, clocked in real
//! time (or as fast as possible when freewheeling, for tests and offline
//! checks), so the engine and every meter run without a sound card.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Player;

/// A running silent output.
pub struct NullOutput {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Player>>,
}

impl NullOutput {
    /// Start calling `player` with `frames`-frame buffers at `rate` Hz.
    /// `freewheel` skips the real-time clock.
    pub fn start(mut player: Player, rate: u32, frames: usize, freewheel: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0f32; frames * 2];
            let period = Duration::from_secs_f64(frames as f64 / f64::from(rate));
            let mut deadline = Instant::now();
            while !s.load(Ordering::Acquire) {
                player.render(&mut buf, 2);
                if freewheel {
                    // Clocked by the data: let the reader and meters run.
                    std::thread::yield_now();
                } else {
                    deadline += period;
                    let now = Instant::now();
                    if deadline > now {
                        std::thread::sleep(deadline - now);
                    } else {
                        deadline = now;
                    }
                }
            }
            player
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stop and hand the player back.
    pub fn stop(mut self) -> Option<Player> {
        self.stop.store(true, Ordering::Release);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for NullOutput {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
