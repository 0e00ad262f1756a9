//! The interface's background work and effects: measuring tracks, planning
//! (provisional, then exact), rendering, and carrying out what
//! [`App::update`](super::app::App::update) asks for on the engine.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use super::app::{App, Effect, TrackInfo};
use super::event_loop::*;
use super::theme::Theme;
use crate::engine::Command;
use crate::engine::session::{MeterSnapshot, PlayOptions, Playback};
use crate::error::Result;
use crate::plan::Plan;

/// Messages from background workers.
pub(super) enum Bg {
    Info(PathBuf, std::result::Result<TrackInfo, String>),
    Plan(u64, std::result::Result<Plan, String>),
    RenderProgress(String),
    RenderDone(std::result::Result<Vec<crate::render::album::FileReport>, String>),
    /// A codec preview ready (or why not): plan generation, track, audio.
    Codec(
        u64,
        usize,
        std::result::Result<std::sync::Arc<crate::engine::codec::CodecAudio>, String>,
    ),
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
    let mut tonal = crate::analysis::tonal::TonalAnalyzer::new(info.sample_rate, info.channels);
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
        tonal.push(&block.channels, n);
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
        loud_after: None,
        tonal_after: Vec::new(),
        tonal_before: tonal.finish(lm.stats().integrated_lufs).bands_db,
        tonal_reference: None,
    })
}

/// The engine side of the interface: playback, planning and rendering.
pub(super) struct Runner {
    pub(super) tx: Sender<Bg>,
    pub(super) rx: Receiver<Bg>,
    pub(super) playback: Option<Playback>,
    pub(super) play_opts: PlayOptions,
    pub(super) plan_gen: u64,
    pub(super) planning: bool,
    /// Bumped by each codec preview started; older results are dropped.
    pub(super) codec_gen: u64,
    pub(super) replan_at: Option<Instant>,
    pub(super) rendering: bool,
    pub(super) spools: crate::plan::delivery::SpoolCache,
    /// Recent (time, playhead s, A/B, meters), to show what a remote
    /// listener hears now.
    pub(super) heard: std::collections::VecDeque<(Instant, f64, bool, MeterSnapshot)>,
}

impl Runner {
    pub(super) fn new(opts: &UiOptions) -> Self {
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
            codec_gen: 0,
            replan_at: None,
            rendering: false,
            spools: crate::plan::delivery::SpoolCache::new(),
            heard: std::collections::VecDeque::new(),
        }
    }

    pub(super) fn analyze(&self, paths: Vec<PathBuf>) {
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

    pub(super) fn start_plan(&mut self, app: &App) {
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
    pub(super) fn start_provisional(&mut self, app: &mut App) {
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

    pub(super) fn apply_transport(pb: &mut Playback, app: &App) {
        pb.send(Command::SetProcessed(app.transport.processed));
        pb.send(Command::SetLevelMatch(app.transport.level_match));
        pb.send(Command::SetListen(app.transport.listen));
        pb.send(app.solo_command());
        if app.transport.playing {
            pb.send(Command::Play);
        }
        Self::set_loop(pb, app.transport.looping);
    }

    pub(super) fn set_loop(pb: &mut Playback, k: Option<usize>) {
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
    pub(super) fn take_plan(&mut self, plan: Plan, app: &mut App, exact: bool) {
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
                info.loud_after = t.planned_loud_lufs.filter(|v| v.is_finite());
                info.tonal_after = t.planned_tonal_db.clone();
                info.tonal_reference = t.reference_tonal.clone();
            }
        }
        // A codec preview is made from the track as planned: a new plan
        // that changes it (or new playback) encodes it again.
        let mut recode = false;
        if same_timeline && let Some(pb) = self.playback.as_mut() {
            for (k, t) in plan.tracks.iter().enumerate() {
                let old = pb.plan.tracks[k].clone();
                if old.gain_db != t.gain_db || old.chain != t.chain {
                    recode |= app.codec.is_some_and(|c| c.track == k);
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
            self.recode(app, recode);
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
                self.recode(app, true);
            }
            Err(e) => app.error(format!("playback: {e}")),
        }
    }

    /// Encode the codec preview again (the track it was made from changed).
    fn recode(&mut self, app: &mut App, changed: bool) {
        if let (true, Some(c)) = (changed, app.codec) {
            app.codec = Some(super::app::CodecSel { ready: false, ..c });
            self.codec(app, Some(c.spec));
        }
    }

    pub(super) fn render(&mut self, app: &mut App, delivery: Option<String>, force: bool) {
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

    /// Start the codec preview of the selected track (encoded in the
    /// background from the plan being played), or end every preview.
    pub(super) fn codec(&mut self, app: &mut App, spec: Option<crate::io::lossy::CodecSpec>) {
        let Some(pb) = self.playback.as_mut() else {
            return;
        };
        for k in 0..pb.plan.tracks.len() {
            if pb.track_codec(k).is_some()
                && let Err(e) = pb.set_track_codec(k, None)
            {
                app.error(e.to_string());
            }
        }
        let (Some(spec), Some(sel)) = (spec, app.codec) else {
            return;
        };
        let Some(track) = pb.plan.tracks.get(sel.track).cloned() else {
            app.codec = None;
            return;
        };
        self.codec_gen += 1;
        let (rate, generation, tx) = (pb.rate, self.codec_gen, self.tx.clone());
        std::thread::spawn(move || {
            let r = crate::engine::codec::CodecAudio::render(&track, rate, spec)
                .map(std::sync::Arc::new)
                .map_err(|e| e.to_string());
            let _ = tx.send(Bg::Codec(generation, sel.track, r));
        });
    }

    pub(super) fn effects(&mut self, fx: Vec<Effect>, app: &mut App) -> bool {
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
                        if app.solo.is_some() {
                            pb.send(app.recheck_solo());
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
                Effect::Codec(spec) => self.codec(app, spec),
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
    pub(super) fn poll(&mut self, app: &mut App) -> bool {
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
                Bg::Codec(generation, k, r) => {
                    // Only the preview still asked for, of the plan it was made from.
                    let wanted = app.codec.filter(|c| c.track == k && !c.ready);
                    let (Some(sel), true) = (wanted, generation == self.codec_gen) else {
                        continue;
                    };
                    match (r, self.playback.as_mut()) {
                        (Ok(audio), Some(pb)) => {
                            let delay = audio.delay_frames;
                            match pb.set_track_codec(k, Some(audio)) {
                                Ok(_) => {
                                    app.codec = Some(super::app::CodecSel { ready: true, ..sel });
                                    app.message(format!(
                                        "{}: track {} plays as decoded (B), a: the original, delta: the codec's artifacts (delay {delay} samples aligned)",
                                        sel.spec,
                                        k + 1
                                    ));
                                }
                                Err(e) => {
                                    app.codec = None;
                                    app.error(e.to_string());
                                }
                            }
                        }
                        (Err(e), _) => {
                            app.codec = None;
                            app.error(e);
                        }
                        (Ok(_), None) => app.codec = None,
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
