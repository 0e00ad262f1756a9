//! What goes into the audio callback and what comes out of it: commands
//! (through a lock-free queue), loop jumps, and the atomics it publishes.

use std::sync::atomic::{AtomicBool, AtomicU64};

/// What a listener hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenMode {
    /// Normal stereo.
    Stereo,
    /// (L+R)/2 on both sides.
    Mono,
    /// Mid only.
    Mid,
    /// Side only.
    Side,
    /// Left channel on both sides.
    Left,
    /// Right channel on both sides.
    Right,
    /// What the chain changes: processed minus the (latency-aligned,
    /// unmatched) original — the restoration residual, the limiter's bite.
    Delta,
}

impl ListenMode {
    /// Every mode, in the order a "next mode" key cycles through them.
    pub const ALL: [ListenMode; 7] = [
        ListenMode::Stereo,
        ListenMode::Mono,
        ListenMode::Mid,
        ListenMode::Side,
        ListenMode::Left,
        ListenMode::Right,
        ListenMode::Delta,
    ];

    /// The mode after this one (wrapping).
    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|m| *m == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

/// Control messages for the audio callback (sent through a lock-free queue).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// Start or resume.
    Play,
    /// Pause (output silence, keep position).
    Pause,
    /// Hear the processed (true) or original (false) signal.
    SetProcessed(bool),
    /// Level-match the original to the processed loudness.
    SetLevelMatch(bool),
    /// Gain applied to the original of every track when level matching, dB
    /// (overrides the per-track values of the plan).
    SetMatchGainDb(f64),
    /// Listen mode.
    SetListen(ListenMode),
    /// Bypass (true) or enable module `n` of every track's chain.
    SetBypass(usize, bool),
    /// Level-match gain for track `n`'s original, dB (a new gain plan).
    SetTrackMatchDb(usize, f64),
    /// Hear what one module changes instead of the chain's output
    /// (`dsp::chain::Solo`): module `module` (an index into the track's
    /// built chain, the limiter last) of track `track` (None: of every
    /// track; other tracks are silent while one track's module is soloed).
    /// `module` None: the chain's output again.
    SetSolo {
        /// The track whose module is soloed (None: every track's).
        track: Option<usize>,
        /// The module (None: solo off).
        module: Option<usize>,
    },
}

/// Most modules whose gain reduction the callback publishes.
pub const MAX_METERED_MODULES: usize = 24;

/// State shared between the callback and other threads (atomics only).
#[derive(Debug, Default)]
pub struct PlayerShared {
    /// Input tick: frames of the timeline consumed (the playhead is this
    /// minus the player's latency).
    pub position: AtomicU64,
    /// Callbacks that found too few frames ready.
    pub underruns: AtomicU64,
    /// Tapped samples dropped because the meter ring was full.
    pub tap_dropped: AtomicU64,
    /// Set by the reader when the stream has ended and the ring is empty.
    pub finished: AtomicBool,
    /// Set while a seek is flushing the ring.
    pub flushing: AtomicBool,
    /// Bumped by the reader after each seek (the callback restarts its chains).
    pub flush_gen: AtomicU64,
    /// The tick the input restarts at after the latest seek (written before `flush_gen`).
    pub restart_tick: AtomicU64,
    /// Whether the callback is playing.
    pub playing: AtomicBool,
    /// Limiter gain reduction of the last callback, dB × 1000.
    pub gr_milli_db: AtomicU64,
    /// Per module of the current track's chain (limiter last): gain
    /// reduction of the last callback, dB × 1000.
    pub module_gr_milli_db: [AtomicU64; MAX_METERED_MODULES],
    /// Output correlation × 1000 + 1000 (0 … 2000), from the chain's imager
    /// or measured on the output.
    pub correlation_milli: AtomicU64,
    /// The track at the playhead.
    pub current_track: AtomicU64,
    /// Callback CPU time of the last second, per mille of the buffer period.
    pub load_permille: AtomicU64,
}

/// A seamless jump of the input timeline (loop region): after `at` frames
/// consumed since the last seek (of generation `gen`), the tick becomes `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jump {
    /// Seek generation this jump belongs to.
    pub generation: u64,
    /// Frames consumed since that seek when the jump happens.
    pub at: u64,
    /// The new tick, samples.
    pub to: u64,
}
