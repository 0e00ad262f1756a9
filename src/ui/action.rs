//! Every user intent as a value: keys, the command line and tests all
//! produce [`Action`]s, and [`crate::ui::app::App::update`] is the only
//! place they change anything.

/// A pane of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    /// Play order and per-track numbers.
    Tracks,
    /// The selected track's modules and parameters.
    Chain,
    /// Loudness, true peak, gain reduction, correlation.
    Meters,
    /// Log-frequency spectrum, before/after.
    Spectrum,
    /// Short-term loudness over the track, with the playhead.
    History,
    /// What happened.
    Log,
}

impl Pane {
    /// All panes in focus order.
    pub const ALL: [Pane; 6] = [
        Pane::Tracks,
        Pane::Chain,
        Pane::Meters,
        Pane::Spectrum,
        Pane::History,
        Pane::Log,
    ];

    /// The pane's title.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Tracks => "Tracks",
            Pane::Chain => "Chain",
            Pane::Meters => "Meters",
            Pane::Spectrum => "Spectrum",
            Pane::History => "History",
            Pane::Log => "Log",
        }
    }

    /// The pane named `s` (case-insensitive).
    pub fn parse(s: &str) -> Option<Pane> {
        Pane::ALL
            .into_iter()
            .find(|p| p.title().eq_ignore_ascii_case(s))
    }
}

/// A user intent.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Quit (asks when there are unsaved changes).
    Quit,
    /// Quit without asking.
    ForceQuit,
    /// Play or pause.
    PlayPause,
    /// Stop and return to the start.
    Stop,
    /// Toggle between processed (B) and original (A).
    ToggleAb,
    /// Hear the original.
    ListenA,
    /// Hear the processed signal.
    ListenB,
    /// Level-match the original on/off.
    ToggleLevelMatch,
    /// Meters, playhead and A/B shown as a remote listener hears them
    /// (delayed by its latency), or in engine time.
    ToggleHeardTime,
    /// The Spectrum pane: the live spectrum, or the selected track's tonal
    /// balance against the album's average.
    ToggleTonal,
    /// Next listen mode (stereo, mono, mid, side, left, right, delta).
    CycleListen,
    /// Move the playhead by this many seconds.
    SeekBy(f64),
    /// Next track.
    NextTrack,
    /// Previous track (or the start of this one).
    PrevTrack,
    /// Loop the selected track on/off.
    ToggleLoop,
    /// Focus the next pane.
    FocusNext,
    /// Focus the previous pane.
    FocusPrev,
    /// Focus a pane.
    Focus(Pane),
    /// Zoom the focused pane to the full screen, or back.
    Zoom,
    /// Hide the focused pane.
    Hide,
    /// Show every pane.
    ShowAll,
    /// Widen (+) or narrow (−) the left column, percent.
    Resize(i16),
    /// Help for the focused pane.
    Help,
    /// Open the command line.
    CommandLine,
    /// Open the command line with this text typed.
    CommandWith(String),
    /// Run a command-line command (without the `:`).
    Run(String),
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// Coarse decrease of the selected value.
    Decrease,
    /// Coarse increase.
    Increase,
    /// Fine decrease.
    FineDecrease,
    /// Fine increase.
    FineIncrease,
    /// Type a value for the selected parameter.
    EditValue,
    /// Bypass or enable the selected module.
    Bypass,
    /// Hear what the selected module changes (its residual) instead of
    /// the chain's output; again: off.
    Solo,
    /// Reset the selected parameter to its default.
    ResetParam,
    /// Copy the selected track's own modules to every track.
    CopyToAll,
    /// Move the selected track earlier.
    MoveUp,
    /// Move the selected track later.
    MoveDown,
    /// Remove the selected track.
    Remove,
    /// Add tracks: open the file picker.
    Add,
    /// Play the selected track from its start.
    PlaySelected,
    /// Undo the last edit.
    Undo,
    /// Redo.
    Redo,
    /// Save the session.
    Save,
    /// Render the session's deliveries in the background.
    Render,
    /// Close an overlay (help, command line, picker, prompt).
    Cancel,
}

impl Action {
    /// Actions that can be bound by name in the keys file, with their names.
    pub fn named() -> Vec<(&'static str, Action)> {
        use Action::*;
        vec![
            ("quit", Quit),
            ("force-quit", ForceQuit),
            ("play-pause", PlayPause),
            ("stop", Stop),
            ("toggle-ab", ToggleAb),
            ("listen-a", ListenA),
            ("listen-b", ListenB),
            ("toggle-level-match", ToggleLevelMatch),
            ("toggle-heard-time", ToggleHeardTime),
            ("toggle-tonal", ToggleTonal),
            ("cycle-listen", CycleListen),
            ("seek-back-5", SeekBy(-5.0)),
            ("seek-forward-5", SeekBy(5.0)),
            ("seek-back-30", SeekBy(-30.0)),
            ("seek-forward-30", SeekBy(30.0)),
            ("next-track", NextTrack),
            ("previous-track", PrevTrack),
            ("toggle-loop", ToggleLoop),
            ("focus-next", FocusNext),
            ("focus-previous", FocusPrev),
            ("focus-tracks", Focus(Pane::Tracks)),
            ("focus-chain", Focus(Pane::Chain)),
            ("focus-meters", Focus(Pane::Meters)),
            ("focus-spectrum", Focus(Pane::Spectrum)),
            ("focus-history", Focus(Pane::History)),
            ("focus-log", Focus(Pane::Log)),
            ("zoom", Zoom),
            ("hide", Hide),
            ("show-all", ShowAll),
            ("widen", Resize(5)),
            ("narrow", Resize(-5)),
            ("help", Help),
            ("command-line", CommandLine),
            ("up", Up),
            ("down", Down),
            ("decrease", Decrease),
            ("increase", Increase),
            ("fine-decrease", FineDecrease),
            ("fine-increase", FineIncrease),
            ("edit-value", EditValue),
            ("bypass", Bypass),
            ("solo", Solo),
            ("reset", ResetParam),
            ("copy-to-all", CopyToAll),
            ("move-up", MoveUp),
            ("move-down", MoveDown),
            ("remove", Remove),
            ("add", Add),
            ("play-selected", PlaySelected),
            ("undo", Undo),
            ("redo", Redo),
            ("save", Save),
            ("render", Render),
            ("cancel", Cancel),
        ]
    }

    /// The action called `name` in the keys file.
    pub fn parse(name: &str) -> Option<Action> {
        Self::named()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| a)
    }
}
