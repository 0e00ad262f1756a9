//! The playback engine: what you hear is what you render, and A/B switches
//! are fast and clean.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use lathe::dsp::chain::Chain;
use lathe::engine::{Command, Player, PlayerShared};
use lathe::session::chain::ChainConfig;

/// Run every frame of `planar` through a Player in 256-frame callbacks and
/// return the interleaved stereo output (`extra` more frames to flush).
fn play_all(
    mut player: Player,
    tx: &mut rtrb::Producer<f32>,
    shared: &PlayerShared,
    planar: &[Vec<f32>],
    extra: usize,
) -> Vec<f32> {
    let n = planar[0].len();
    let mut out = Vec::new();
    let mut buf = vec![0f32; 512];
    let mut fed = 0;
    while out.len() < (n + extra) * 2 {
        // The reader follows the audio with a latency's worth of silence.
        while fed < n + extra && tx.slots() >= planar.len() {
            for c in planar {
                let _ = tx.push(if fed < n { c[fed] } else { 0.0 });
            }
            fed += 1;
        }
        if fed == n + extra {
            shared.finished.store(true, Ordering::Release);
        }
        player.render(&mut buf, 2);
        out.extend_from_slice(&buf);
    }
    out
}

#[test]
fn playback_is_sample_identical_to_the_render_before_dither() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.wav");
    let n = 48_000 * 8;
    let l: Vec<f32> = common::noise(n, 4)
        .iter()
        .enumerate()
        .map(|(i, v)| v * 0.3 * (1.0 + (i as f32 / 9000.0).sin()))
        .collect();
    let r: Vec<f32> = common::noise(n, 5).iter().map(|v| v * 0.25).collect();
    common::write_wav_f32(&input, &[l.clone(), r.clone()], 48_000);
    let cfg = lathe::session::presets::preset("streaming").expect("preset");
    // The render: lathe master to 32-bit float at the same rate (no dither).
    let out = dir.path().join("master.wav");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args([
            "master".as_ref(),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--bits".as_ref(),
            "32f".as_ref(),
        ])
        .output()
        .expect("master");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rendered: Vec<f32> = hound::WavReader::open(&out)
        .expect("wav")
        .samples::<f32>()
        .map(|s| s.expect("s"))
        .collect();
    // The engine, with the same gain plan, freewheeling.
    let (gain, _) = lathe::plan::gain_plan(&input, &cfg).expect("plan");
    let mut chain = Chain::from_config(&cfg.clone().with_limiter(None), 48_000, 2).expect("chain");
    chain.jump_target_gain_db(gain);
    let latency = chain.latency();
    let (mut tx, rx) = rtrb::RingBuffer::<f32>::new(65_536);
    let (mut ctx, crx) = rtrb::RingBuffer::<Command>::new(16);
    let (ttx, _trx) = rtrb::RingBuffer::<f32>::new(1 << 20);
    let shared = Arc::new(PlayerShared::default());
    let player = Player::new(chain, 2, rx, crx, ttx, shared.clone());
    let _ = ctx.push(Command::Play);
    let heard = play_all(player, &mut tx, &shared, &[l, r], latency + 512);
    assert_eq!(rendered.len(), n * 2);
    let mut worst = 0.0f32;
    for i in 0..n * 2 {
        worst = worst.max((heard[latency * 2 + i] - rendered[i]).abs());
    }
    assert!(worst <= 1e-6, "playback differs from the render by {worst}");
}

#[test]
fn ab_switch_is_heard_within_20_ms_and_crossfades_within_10_ms() {
    let cfg =
        ChainConfig::from_toml("[[module]]\ntype = \"gain\"\ngain_db = 6.0\n", "t").expect("cfg");
    let rate = 48_000usize;
    let n = rate;
    let x: Vec<f32> = (0..n).map(|i| 0.05 * (i as f32 * 0.05).sin()).collect();
    let build = || {
        let chain = Chain::from_config(&cfg, 48_000, 1).expect("chain");
        let (tx, rx) = rtrb::RingBuffer::<f32>::new(n + 10);
        let (ctx, crx) = rtrb::RingBuffer::<Command>::new(16);
        let (ttx, _trx) = rtrb::RingBuffer::<f32>::new(1 << 20);
        let shared = Arc::new(PlayerShared::default());
        (Player::new(chain, 1, rx, crx, ttx, shared), tx, ctx, _trx)
    };
    let run = |switch_at: Option<usize>| {
        let (mut p, mut tx, mut ctx, _t) = build();
        for v in &x {
            let _ = tx.push(*v);
        }
        let _ = ctx.push(Command::Play);
        let _ = ctx.push(Command::SetLevelMatch(false));
        let mut out = Vec::new();
        let mut buf = vec![0f32; 512];
        for b in 0..n / 256 {
            if Some(b) == switch_at {
                let _ = ctx.push(Command::SetProcessed(false));
            }
            p.render(&mut buf, 2);
            out.extend(buf.chunks(2).map(|f| f[0]));
        }
        out
    };
    let processed = run(None);
    let switch_buf = 40;
    let switched = run(Some(switch_buf));
    let cmd_frame = switch_buf * 256;
    let first_change = (cmd_frame..n)
        .find(|&i| (switched[i] - processed[i]).abs() > 1e-6)
        .expect("switch heard");
    let ms = (first_change - cmd_frame) as f64 * 1000.0 / rate as f64;
    assert!(ms <= 20.0, "A/B heard after {ms:.1} ms");
    // The limiter's latency delays both paths alike; after 10 ms the output
    // is the original (the unprocessed input, delayed by the chain latency).
    let latency = Chain::from_config(&cfg, 48_000, 1)
        .expect("chain")
        .latency();
    let settled = cmd_frame + rate / 100;
    for i in settled..settled + 2000 {
        let want = if i >= latency { x[i - latency] } else { 0.0 };
        assert!(
            (switched[i] - want).abs() <= 2e-4,
            "frame {i}: {} vs {want}",
            switched[i]
        );
    }
    // And the fade is gradual: no step larger than the signal's own slope allows.
    let max_step = switched[cmd_frame..settled]
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max_step < 0.1 * 0.05 * 2.0,
        "A/B switch steps by {max_step}"
    );
}

#[test]
fn silent_output_plays_in_real_time_with_live_meters() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("tone.wav");
    common::write_wav_f32(&f, &common::sine(1000.0, -20.0, 1.0, 48_000, 2), 48_000);
    let cfg = ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules: vec![],
    };
    let mut p = lathe::engine::session::Playback::open(&f, &cfg, 0.0, true, false).expect("open");
    assert!(p.is_silent());
    assert!(p.output_description().contains("silent output"));
    let start = std::time::Instant::now();
    p.send(Command::Play);
    while p.position_s() < 0.99 && start.elapsed().as_secs_f64() < 5.0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let wall = start.elapsed().as_secs_f64();
    assert!(
        wall >= 0.9,
        "1 s of audio played in {wall:.2} s: not real time"
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    let m = p.meters();
    // −20 dBFS 1 kHz stereo reads −20 LUFS momentary, like `lathe analyze`.
    assert!((m.integrated_lufs + 20.0).abs() < 0.2, "{m:?}");
    assert_eq!(p.shared.underruns.load(Ordering::Relaxed), 0);
}

#[test]
fn a_chain_change_is_heard_within_20_ms_without_a_click() {
    let make = |db: f64| {
        let cfg = ChainConfig::from_toml(
            &format!("[[module]]\ntype = \"gain\"\ngain_db = {db}\n"),
            "t",
        )
        .expect("cfg");
        Chain::from_config(&cfg, 48_000, 1).expect("chain")
    };
    let n = 48_000usize;
    let x: Vec<f32> = (0..n)
        .map(|i| 0.05 * (std::f32::consts::TAU * 1000.0 * i as f32 / 48_000.0).sin())
        .collect();
    let (mut tx, rx) = rtrb::RingBuffer::<f32>::new(n + 10);
    let (mut ctx, crx) = rtrb::RingBuffer::<Command>::new(16);
    let (ttx, _trx) = rtrb::RingBuffer::<f32>::new(1 << 20);
    let (mut swap_tx, swap_rx) = rtrb::RingBuffer::<lathe::engine::Swap>::new(4);
    let (retired_tx, mut retired_rx) = rtrb::RingBuffer::<Box<lathe::engine::Unit>>::new(4);
    let mut p = Player::new(
        make(0.0),
        1,
        rx,
        crx,
        ttx,
        Arc::new(PlayerShared::default()),
    );
    p.connect_swaps(swap_rx, retired_tx);
    for v in &x {
        let _ = tx.push(*v);
    }
    let _ = ctx.push(Command::Play);
    let mut out = Vec::new();
    let mut buf = vec![0f32; 512];
    let change_buf = 60;
    for b in 0..n / 256 {
        if b == change_buf {
            let next = make(6.0);
            let lat = next.latency();
            let _ = swap_tx.push((0, Box::new(lathe::engine::Unit::new(next, lat))));
        }
        p.render(&mut buf, 2);
        out.extend(buf.chunks(2).map(|f| f[0]));
    }
    let latency = make(0.0).latency();
    let at = change_buf * 256;
    let first = (at..n)
        .find(|&i| (out[i] - x[i - latency]).abs() > 1e-6)
        .expect("change heard");
    let ms = (first - at) as f64 * 1000.0 / 48_000.0;
    assert!(ms <= 20.0, "chain change heard after {ms:.1} ms");
    // Settled at +6 dB, and the old chain came back to be dropped here.
    let g = 10f32.powf(6.0 / 20.0);
    for i in at + 1000..at + 3000 {
        assert!((out[i] - g * x[i - latency]).abs() < 1e-4);
    }
    assert!(
        retired_rx.pop().is_ok(),
        "the replaced chain was not handed back"
    );
    // No click: the second difference stays within a smoothly varying sine's bound.
    let w = std::f64::consts::TAU * 1000.0 / 48_000.0;
    let peak = out[at..at + 2000]
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let bound = (2.0 - 2.0 * w.cos()) * peak * 1.03;
    let worst = out[at - 10..at + 2000]
        .windows(3)
        .map(|w| (f64::from(w[2]) - 2.0 * f64::from(w[1]) + f64::from(w[0])).abs())
        .fold(0.0, f64::max);
    assert!(worst <= bound, "chain swap clicks: {worst} > {bound}");
}

#[test]
fn delta_listen_mode_is_what_the_chain_changes() {
    // A +6 dB gain: the delta is the processed signal minus the input, i.e. (2 − 1)·x.
    let cfg = ChainConfig::from_toml(
        "[[module]]\ntype = \"gain\"\ngain_db = 6.020599913279624\n",
        "t",
    )
    .expect("cfg");
    let chain = Chain::from_config(&cfg, 48_000, 1).expect("chain");
    let latency = chain.latency();
    let n = 48_000usize;
    let x: Vec<f32> = (0..n).map(|i| 0.05 * (i as f32 * 0.05).sin()).collect();
    let (mut tx, rx) = rtrb::RingBuffer::<f32>::new(n + 10);
    let (mut ctx, crx) = rtrb::RingBuffer::<Command>::new(16);
    let (ttx, _trx) = rtrb::RingBuffer::<f32>::new(1 << 20);
    let mut p = Player::new(chain, 1, rx, crx, ttx, Arc::new(PlayerShared::default()));
    for v in &x {
        let _ = tx.push(*v);
    }
    let _ = ctx.push(Command::Play);
    let _ = ctx.push(Command::SetListen(lathe::engine::ListenMode::Delta));
    let mut out = Vec::new();
    let mut buf = vec![0f32; 512];
    for _ in 0..n / 256 {
        p.render(&mut buf, 2);
        out.extend(buf.chunks(2).map(|f| f[0]));
    }
    for i in latency + 1000..n - 1000 {
        assert!(
            (out[i] - x[i - latency]).abs() < 1e-5,
            "frame {i}: {} vs {}",
            out[i],
            x[i - latency]
        );
    }
}

const ALBUM: &str = r#"version = 1

[album]
title = "t"
artist = "a"
balance = "album"

[chain]
target_lufs = -16.0

[[chain.module]]
type = "eq"
[[chain.module.band]]
type = "high-shelf"
freq_hz = 8000.0
gain_db = 1.5

[[chain.module]]
type = "compressor"
threshold_db = -24.0
ratio = 2.0

[[chain.module]]
type = "limiter"
ceiling_dbtp = -1.0

[[track]]
path = "a.wav"
title = "A"
fade_in_s = 0.3
gap_s = 0.5
trim_start_s = 0.25

[[track]]
path = "b.wav"
title = "B"
gap_s = 0.0
gain_db = -2.0
fade_out_s = 0.4

[[track]]
path = "c.wav"
title = "C"
gap_s = 0.0
crossfade_s = 0.5
trim_end_s = 0.3
[[track.module]]
type = "imager"
width_pct = 130.0

[[delivery]]
name = "float"
format = "wav"
bits = "32f"
rate_hz = 48000
ceiling_dbtp = -1.0
track_files = false
album_file = true
"#;

/// `lathe render` the session into `out`; returns the float delivery's album file.
fn render_album(session: &std::path::Path, out: &std::path::Path) -> std::path::PathBuf {
    let wavs: Vec<std::path::PathBuf> = render_float(session, out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    assert_eq!(wavs.len(), 1, "one album file expected: {wavs:?}");
    wavs[0].clone()
}

/// `lathe render` the session into `out`; returns the float delivery's files, sorted.
fn render_float(session: &std::path::Path, out: &std::path::Path) -> Vec<std::path::PathBuf> {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args([
            "render".as_ref(),
            session.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ])
        .output()
        .expect("render");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(out.join("float"))
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
}

/// Write the three test tracks and the ALBUM session into `dir`.
fn write_album(dir: &std::path::Path) -> std::path::PathBuf {
    write_album_as(dir, ALBUM)
}

/// Write the three test tracks and the session `text` into `dir`.
fn write_album_as(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let rate = 48_000;
    // Three different tracks: stereo, mono, stereo; gapless, crossfaded.
    let a: Vec<Vec<f32>> = (0..2)
        .map(|c| {
            common::noise(rate * 3, 10 + c)
                .iter()
                .enumerate()
                .map(|(i, v)| v * 0.2 * (1.0 + (i as f32 / 7000.0).sin()))
                .collect()
        })
        .collect();
    let b: Vec<Vec<f32>> = vec![
        (0..rate * 2)
            .map(|i| 0.5 * (std::f32::consts::TAU * 220.0 * i as f32 / rate as f32).sin())
            .collect(),
    ];
    let c: Vec<Vec<f32>> = (0..2)
        .map(|ch| {
            common::noise(rate * 3, 20 + ch)
                .iter()
                .map(|v| v * 0.4)
                .collect()
        })
        .collect();
    common::write_wav_f32(&dir.join("a.wav"), &a, rate as u32);
    common::write_wav_f32(&dir.join("b.wav"), &b, rate as u32);
    common::write_wav_f32(&dir.join("c.wav"), &c, rate as u32);
    let session = dir.join("s.toml");
    std::fs::write(&session, text).expect("write");
    session
}

#[test]
fn a_whole_session_plays_exactly_as_the_album_renders() {
    plays_exactly_as_renders(ALBUM);
}

#[test]
fn a_session_with_match_modules_plays_exactly_as_it_renders() {
    // An album-average match in the album chain, and one track matched to
    // another track's file: the curves are measured by the plan, the same
    // for both consumers.
    let text = ALBUM.replacen(
        "[[chain.module]]\ntype = \"compressor\"",
        "[[chain.module]]\ntype = \"match\"\nreference = \"album\"\namount_pct = 80.0\n\n[[chain.module]]\ntype = \"compressor\"",
        1,
    );
    let text = text.replacen(
        "[[track.module]]\ntype = \"imager\"",
        "[[track.module]]\ntype = \"match\"\nreference = \"a.wav\"\nphase = \"minimum\"\n\n[[track.module]]\ntype = \"imager\"",
        1,
    );
    assert_eq!(text.matches("type = \"match\"").count(), 2, "{text}");
    plays_exactly_as_renders(&text);
}

fn plays_exactly_as_renders(text: &str) {
    use lathe::engine::session::{PlayOptions, Playback};
    use lathe::plan::Plan;
    let dir = tempfile::tempdir().expect("tmp");
    let session = write_album_as(dir.path(), text);
    let album = render_album(&session, &dir.path().join("out"));
    let rendered: Vec<f32> = hound::WavReader::open(&album)
        .expect("wav")
        .samples::<f32>()
        .map(|s| s.expect("s"))
        .collect();
    let plan = Plan::session(&session, None).expect("plan");
    // Every match module was measured (a flat one would prove nothing).
    for t in &plan.tracks {
        for m in &t.chain.modules {
            if let lathe::session::ModuleConfig::Match(m) = m {
                let a = m.analysis.as_ref().expect("measured");
                let curve = lathe::dsp::matcheq::design_curve(m, a);
                assert!(!curve.is_flat(), "{}: flat curve", t.title);
            }
        }
    }
    let capture = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut p = Playback::open_plan(
        plan,
        &PlayOptions {
            force_null: true,
            freewheel: true,
            capture: Some(capture.clone()),
            ..PlayOptions::default()
        },
    )
    .expect("open");
    assert_eq!(p.timeline.total() as usize * 2, rendered.len());
    p.send(Command::Play);
    let t0 = std::time::Instant::now();
    while !p.finished() {
        assert!(t0.elapsed().as_secs() < 60, "playback did not finish");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let lat = p.latency();
    drop(p);
    let heard = capture.lock().expect("capture").clone();
    assert!(
        heard.len() >= rendered.len() + lat * 2,
        "{} < {}",
        heard.len(),
        rendered.len()
    );
    let mut worst = (0.0f32, 0usize);
    for (i, r) in rendered.iter().enumerate() {
        let d = (heard[lat * 2 + i] - r).abs();
        if d > worst.0 {
            worst = (d, i / 2);
        }
    }
    assert!(
        worst.0 <= 1e-6,
        "playback differs from the album render by {} at frame {}",
        worst.0,
        worst.1
    );
}

fn open_album(session: &std::path::Path) -> lathe::engine::session::Playback {
    use lathe::engine::session::{PlayOptions, Playback};
    use lathe::plan::Plan;
    let plan = Plan::session(session, None).expect("plan");
    Playback::open_plan(
        plan,
        &PlayOptions {
            force_null: true,
            ..PlayOptions::default()
        },
    )
    .expect("open")
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !f() {
        assert!(t0.elapsed().as_secs() < 20, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn transport_moves_between_tracks_and_loops_a_region() {
    let dir = tempfile::tempdir().expect("tmp");
    let session = write_album(dir.path());
    let mut p = open_album(&session);
    assert_eq!(p.timeline.spans.len(), 3);
    p.send(Command::Play);
    // To a track: the playhead lands on its first frame and the track is current.
    p.seek_track(2);
    let s2 = p.timeline.spans[2].start;
    wait_until("seek to track 3", || {
        p.position_frames() >= s2 && p.current_track() == 2
    });
    assert!(p.position_frames() < s2 + 48_000 / 2);
    // Previous within 3 s of a start goes to the previous track; next comes back.
    p.previous_track();
    let s1 = p.timeline.spans[1].start;
    wait_until("previous track", || {
        p.current_track() == 1 && p.position_frames() < s1 + 24_000
    });
    p.next_track();
    wait_until("next track", || p.current_track() == 2);
    // A loop of 0.25 s inside track 1: the playhead stays inside it.
    let (a, b) = (s1 + 24_000, s1 + 36_000);
    p.set_loop(Some((a, b)));
    p.seek(a);
    wait_until("loop start", || (a..=b).contains(&p.position_frames()));
    let t0 = std::time::Instant::now();
    let mut wrapped = 0;
    let mut last = p.position_frames();
    while t0.elapsed().as_millis() < 900 {
        let now = p.position_frames();
        assert!(
            now >= a.saturating_sub(256) && now <= b + 512,
            "{now} outside {a}..{b}"
        );
        if now < last {
            wrapped += 1;
        }
        last = now;
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    assert!(
        wrapped >= 2,
        "looped {wrapped} times in 0.9 s of a 0.25 s loop"
    );
    assert_eq!(p.shared.underruns.load(Ordering::Relaxed), 0);
    // Off again: it plays on past the loop end.
    p.set_loop(None);
    wait_until("past the loop", || p.position_frames() > b + 4_800);
}

#[test]
fn a_lost_device_falls_back_to_the_silent_output_and_keeps_playing() {
    let dir = tempfile::tempdir().expect("tmp");
    let session = write_album(dir.path());
    let mut p = open_album(&session);
    p.send(Command::Play);
    wait_until("playing", || p.position_frames() > 4_800);
    p.fall_back("audio device lost");
    let notes = p.poll();
    assert!(
        notes.iter().any(|n| n.contains("audio device lost")),
        "{notes:?}"
    );
    assert!(p.is_silent());
    assert!(p.output_description().contains("silent output"));
    let at = p.position_frames();
    wait_until("playing on", || p.position_frames() > at + 48_000);
    let m = p.meters();
    assert!(
        m.short_term_lufs.is_finite() || m.momentary_lufs.is_finite(),
        "{m:?}"
    );
}

#[test]
fn a_delivery_at_another_rate_plays_exactly_as_it_renders_on_a_device_at_any_rate() {
    use lathe::engine::session::{PlayOptions, Playback};
    use lathe::plan::Plan;
    let dir = tempfile::tempdir().expect("tmp");
    let session = write_album(dir.path());
    // The same album delivered at 44.1 kHz from 48 kHz files, with the
    // compressor working (threshold −24 dB), heard on a 48 kHz device.
    let text = std::fs::read_to_string(&session)
        .expect("read")
        .replace("rate_hz = 48000", "rate_hz = 44100");
    assert!(text.contains("threshold_db = -24.0"));
    std::fs::write(&session, text).expect("write");
    let album = render_album(&session, &dir.path().join("out"));
    let rendered: Vec<f32> = hound::WavReader::open(&album)
        .expect("wav")
        .samples::<f32>()
        .map(|s| s.expect("s"))
        .collect();
    let plan = Plan::session(&session, None).expect("plan");
    assert_eq!(plan.rate, 44_100);
    let capture = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut p = Playback::open_plan(
        plan,
        &PlayOptions {
            force_null: true,
            freewheel: true,
            capture: Some(capture.clone()),
            output_rate: Some(48_000),
            ..PlayOptions::default()
        },
    )
    .expect("open");
    assert_eq!((p.rate, p.device_rate), (44_100, 48_000));
    assert_eq!(p.timeline.total() as usize * 2, rendered.len());
    p.send(Command::Play);
    wait_until("the end", || p.finished());
    std::thread::sleep(std::time::Duration::from_millis(100));
    let lat = p.latency();
    drop(p);
    // What the engine produced before the device's conversion is the render.
    let heard = capture.lock().expect("capture").clone();
    assert!(heard.len() >= rendered.len() + lat * 2);
    let mut worst = (0.0f32, 0usize);
    for (i, r) in rendered.iter().enumerate() {
        let d = (heard[lat * 2 + i] - r).abs();
        if d > worst.0 {
            worst = (d, i / 2);
        }
    }
    assert!(
        worst.0 <= 1e-6,
        "playback at 44.1 kHz differs from the render by {} at frame {}",
        worst.0,
        worst.1
    );
}

/// The device's conversion itself: a 1 kHz tone played from a 44.1 kHz plan
/// on a 48 kHz output comes out at 1 kHz and the same level, clean, and the
/// output clock runs at the device's rate.
#[test]
fn the_output_conversion_for_a_device_keeps_pitch_level_and_clock() {
    let (mut in_tx, in_rx) = rtrb::RingBuffer::<f32>::new(44_100 * 4);
    let (mut cmd_tx, cmd_rx) = rtrb::RingBuffer::<Command>::new(16);
    let (tap_tx, _tap_rx) = rtrb::RingBuffer::<f32>::new(44_100 * 8);
    let shared = Arc::new(PlayerShared::default());
    let cfg = ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules: Vec::new(),
    };
    let chain = Chain::from_config(&cfg, 44_100, 2).expect("chain");
    let mut player = Player::new(chain, 2, in_rx, cmd_rx, tap_tx, shared.clone());
    player.set_output_rate(44_100, 48_000).expect("converter");
    let amp = 0.5f32;
    for i in 0..44_100 * 2 {
        let v = amp * (std::f64::consts::TAU * 1000.0 * f64::from(i) / 44_100.0).sin() as f32;
        in_tx.push(v).expect("push");
        in_tx.push(-v).expect("push");
    }
    let mut p = player;
    cmd_tx.push(Command::Play).expect("play");
    let mut out = vec![0.0f32; 48_000 * 2];
    for chunk in out.chunks_mut(512) {
        p.render(chunk, 2);
    }
    // One second of device output used one second of the plan's frames.
    let consumed = shared.position.load(std::sync::atomic::Ordering::Relaxed);
    assert!((44_000..=44_200).contains(&consumed), "consumed {consumed}");
    // Skip the converter's start-up, then fit a 1 kHz sine at 48 kHz.
    let l: Vec<f64> = out
        .iter()
        .step_by(2)
        .skip(4_800)
        .map(|&v| f64::from(v))
        .collect();
    let (mut c, mut s) = (0.0, 0.0);
    for (i, v) in l.iter().enumerate() {
        let w = std::f64::consts::TAU * 1000.0 * (i + 4_800) as f64 / 48_000.0;
        c += v * w.cos();
        s += v * w.sin();
    }
    let n = l.len() as f64;
    let (a, b) = (2.0 * c / n, 2.0 * s / n);
    let fitted = (a * a + b * b).sqrt();
    assert!((fitted - f64::from(amp)).abs() < 0.005, "level {fitted}");
    let mut resid = 0.0;
    for (i, v) in l.iter().enumerate() {
        let w = std::f64::consts::TAU * 1000.0 * (i + 4_800) as f64 / 48_000.0;
        resid += (v - (a * w.cos() + b * w.sin())).powi(2);
    }
    let snr = 10.0 * ((fitted * fitted / 2.0) / (resid / n)).log10();
    println!(
        "1 kHz through the 44.1 → 48 kHz output conversion: level {fitted:.5}, SNR {snr:.1} dB"
    );
    assert!(snr > 90.0, "converted tone SNR {snr:.1} dB");
}

#[test]
fn the_live_meters_read_what_lathe_analyze_reads() {
    use lathe::engine::session::{PlayOptions, Playback};
    use lathe::plan::Plan;
    let dir = tempfile::tempdir().expect("tmp");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(["demo", "--write"])
        .arg(dir.path())
        .output()
        .expect("demo");
    assert!(o.status.success());
    // The loud single (intersample overs) through a chain that changes nothing.
    let file = dir.path().join("02 Loud Single.wav");
    let cfg = ChainConfig::from_toml("[[module]]\ntype = \"limiter\"\nbypass = true\n", "t")
        .expect("cfg");
    let plan = Plan::file(&file, &cfg, 0.0, 0.0).expect("plan");
    let mut p = Playback::open_plan(
        plan,
        &PlayOptions {
            force_null: true,
            freewheel: true,
            ..PlayOptions::default()
        },
    )
    .expect("open");
    p.send(Command::Play);
    wait_until("the end", || p.finished());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let m = p.meters();
    let a = lathe::analysis::analyze_file(&file).expect("analyze");
    assert!(
        (m.integrated_lufs - a.loudness.integrated_lufs).abs() < 0.05,
        "meters {:.3} LUFS, analyze {:.3} LUFS",
        m.integrated_lufs,
        a.loudness.integrated_lufs
    );
    assert!(
        (m.true_peak_dbtp - a.true_peak_dbtp).abs() < 0.05,
        "meters {:.3} dBTP, analyze {:.3} dBTP",
        m.true_peak_dbtp,
        a.true_peak_dbtp
    );
    assert!((m.range_lu - a.loudness.loudness_range_lu).abs() < 0.1);
}

#[test]
fn a_provisional_plan_plays_at_once_on_the_exact_timeline() {
    use lathe::plan::Plan;
    let dir = tempfile::tempdir().expect("tmp");
    let session = write_album(dir.path());
    let s = lathe::session::album::Session::load(&session).expect("load");
    let quick = Plan::provisional(&s, &session, None).expect("provisional");
    let exact = Plan::from_session(&s, &session, None).expect("exact");
    // Same tracks, chains and timeline: the exact gains replace the
    // provisional ones without reopening playback.
    assert_eq!(quick.timeline(48_000), exact.timeline(48_000));
    for (q, e) in quick.tracks.iter().zip(&exact.tracks) {
        assert_eq!(q.chain, e.chain);
        assert_eq!(q.frames, e.frames);
    }
    // Provisional: only the offsets (B is -2 dB); exact: the balancing gain on top.
    assert_eq!(quick.tracks[1].gain_db, -2.0);
    assert!((exact.tracks[1].gain_db - exact.tracks[0].gain_db + 2.0).abs() < 1e-9);
    assert!(
        exact.tracks[0].gain_db.abs() > 0.5,
        "{}",
        exact.tracks[0].gain_db
    );
}

#[test]
fn a_chain_with_more_latency_reopens_playback_where_it_was() {
    let dir = tempfile::tempdir().expect("tmp");
    let session = write_album(dir.path());
    let mut p = open_album(&session);
    p.send(Command::Play);
    wait_until("playing", || p.position_frames() > 48_000);
    let before = p.latency();
    let mut cfg = p.plan.tracks[0].chain.clone();
    let declick: lathe::session::chain::ModuleConfig =
        toml::from_str("type = \"declick\"").expect("module");
    cfg.modules.insert(0, declick);
    let at = p.position_frames();
    assert!(p.set_track_chain(0, &cfg).expect("swap"));
    // Rebuilt with the longer latency, still playing, from about where it was.
    assert!(p.latency() > before);
    assert_eq!(p.plan.tracks[0].chain, cfg);
    wait_until("playing on", || p.position_frames() > at + 4_800);
    assert!(p.position_frames() < at + 48_000 * 5);
    assert!(p.is_silent());
}

#[test]
fn the_plan_predicts_what_the_rendered_tracks_measure() {
    use lathe::plan::Plan;
    let dir = tempfile::tempdir().expect("tmp");
    let session = write_album(dir.path());
    // Track files, no fades (the plan measures before fades and dither).
    let text = std::fs::read_to_string(&session)
        .expect("read")
        .replace("fade_in_s = 0.3\n", "")
        .replace("fade_out_s = 0.4\n", "")
        .replace("track_files = false", "track_files = true");
    std::fs::write(&session, text).expect("write");
    let files = render_float(&session, &dir.path().join("out"));
    let plan = Plan::session(&session, None).expect("plan");
    // Album balancing to -16 LUFS: the album as planned is on target.
    let album = plan.planned_album_lufs.expect("album loudness");
    assert!((album + 16.0).abs() < 0.1, "album {album:.3} LUFS");
    for (k, t) in plan.tracks.iter().enumerate() {
        let file = files
            .iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{:02} ", k + 1)))
            })
            .expect("track file");
        let a = lathe::analysis::analyze_file(file).expect("analyze");
        let lufs = t.planned_lufs.expect("planned loudness");
        let tp = t.planned_tp_dbtp.expect("planned true peak");
        assert!(
            (lufs - a.loudness.integrated_lufs).abs() < 0.01,
            "track {k}: {lufs} vs {}",
            a.loudness.integrated_lufs
        );
        assert!(
            (tp - a.true_peak_dbtp).abs() < 0.01,
            "track {k}: {tp} vs {}",
            a.true_peak_dbtp
        );
        // The curve covers the track, one value per 100 ms.
        assert_eq!(t.planned_series.len(), (a.frames * 10 / 48_000) as usize);
        // Short-term loudness needs 3 s of audio (track B is 2 s long).
        if a.duration_s >= 3.0 {
            let last = *t.planned_series.last().expect("series");
            assert!(
                last.is_finite() && last < lufs + 10.0 && last > lufs - 20.0,
                "track {k}: {last}"
            );
        }
    }
}

#[test]
fn re_planning_reuses_spooled_tracks_that_did_not_change() {
    use lathe::plan::Plan;
    use lathe::plan::delivery::SpoolCache;
    let dir = tempfile::tempdir().expect("tmp");
    let session = write_album(dir.path());
    let mut s = lathe::session::album::Session::load(&session).expect("load");
    let cache = SpoolCache::new();
    let first = Plan::from_session_cached(&s, &session, None, Some(&cache)).expect("plan");
    assert_eq!((cache.len(), cache.hits()), (3, 0));
    // A new target, gain offset and order: every spool is reused, and the
    // result is what a plan from scratch gives.
    s.chain.target_lufs = Some(-18.0);
    s.tracks[0].gain_db = 1.0;
    s.tracks.swap(0, 1);
    let second = Plan::from_session_cached(&s, &session, None, Some(&cache)).expect("plan");
    assert_eq!(cache.hits(), 3);
    let fresh = Plan::from_session(&s, &session, None).expect("plan");
    for (a, b) in second.tracks.iter().zip(&fresh.tracks) {
        assert_eq!(a.path, b.path);
        assert!(
            (a.gain_db - b.gain_db).abs() < 1e-9,
            "{} vs {}",
            a.gain_db,
            b.gain_db
        );
        assert_eq!(a.planned_lufs, b.planned_lufs);
    }
    assert!((second.tracks[0].gain_db - first.tracks[1].gain_db).abs() > 1.0);
    // A change to the album chain's EQ: nothing can be reused.
    let eq = s
        .chain
        .modules
        .iter_mut()
        .find_map(|m| match m {
            lathe::session::chain::ModuleConfig::Eq(e) => Some(e),
            _ => None,
        })
        .expect("eq");
    eq.bands[0].gain_db += 1.0;
    Plan::from_session_cached(&s, &session, None, Some(&cache)).expect("plan");
    assert_eq!(cache.hits(), 3);
    assert_eq!(cache.len(), 3);
}

/// The codec preview (`:codec` in the interface): the master it renders
/// is what the engine plays (against `lathe master`, to 1e-6); the decoded
/// codec audio lines up with it (no delay left); while a track has one the
/// player puts out the decoded audio exactly, and the delta listen mode
/// the codec's artifacts (decoded − master).
#[test]
fn a_codec_preview_plays_the_decoded_codec_aligned_and_its_artifacts_in_delta() {
    use lathe::engine::codec::{CodecAudio, render_master};
    use lathe::engine::player::{TrackUnit, Unit};
    let spec = lathe::io::lossy::CodecSpec::parse("opus-160").expect("spec");
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.wav");
    let rate = 48_000;
    let music = common::restore::piano(6.0, rate);
    common::write_wav_f32(&input, &music, rate);
    let cfg = lathe::session::presets::preset("streaming").expect("preset");
    let (gain, _) = lathe::plan::gain_plan(&input, &cfg).expect("gain");
    let plan =
        lathe::plan::Plan::file(&input, &cfg.clone().with_limiter(None), gain, 0.0).expect("plan");
    let track = &plan.tracks[0];
    // The master against lathe master's float render.
    let master = render_master(track, rate).expect("master");
    let out = dir.path().join("master.wav");
    common::master_float(&input, &out, cfg.clone()).expect("lathe master");
    let rendered = common::read_wav_f32(&out);
    assert_eq!(rendered[0].len(), master[0].len());
    let worst = rendered
        .iter()
        .zip(&master)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-6,
        "the preview's master differs from the render by {worst}"
    );
    // The codec's decoding, aligned: no delay left against the master.
    let audio = Arc::new(CodecAudio::render(track, rate, spec).expect("codec"));
    assert_eq!(audio.delay_frames, 312);
    assert_eq!(audio.frames(), master[0].len());
    let mono =
        |p: &[Vec<f32>]| -> Vec<f32> { p[0].iter().zip(&p[1]).map(|(a, b)| a + b).collect() };
    let (lag, corr) =
        lathe::analysis::codec::find_delay(&mono(&audio.master), &mono(&audio.decoded), 1000, 0)
            .expect("lag");
    assert_eq!(lag, 0);
    assert!(corr > 0.99, "{corr}");
    // The player with the preview on its unit: the decoded audio, exactly;
    // then the artifacts in delta.
    for delta in [false, true] {
        let mut chain = Chain::from_config(&track.chain, rate, 2).expect("chain");
        chain.jump_target_gain_db(track.gain_db);
        let latency = chain.latency();
        let n = master[0].len();
        let unit = TrackUnit {
            span: lathe::plan::timeline::Span::plain(0, n as u64),
            unit: Box::new(Unit::new(chain, latency).with_codec(Some(audio.clone()))),
            channels: 2,
            match_db: 0.0,
        };
        let (mut tx, rx) = rtrb::RingBuffer::<f32>::new(65_536);
        let (mut ctx, crx) = rtrb::RingBuffer::<Command>::new(16);
        let (ttx, _trx) = rtrb::RingBuffer::<f32>::new(1 << 20);
        let shared = Arc::new(PlayerShared::default());
        let player = Player::with_tracks(vec![unit], 1, 2, latency, rx, crx, ttx, shared.clone());
        let _ = ctx.push(Command::Play);
        if delta {
            let _ = ctx.push(Command::SetListen(lathe::engine::ListenMode::Delta));
        }
        let heard = play_all(player, &mut tx, &shared, &music, latency + 512);
        let mut worst = 0.0f32;
        for j in 0..n {
            for c in 0..2 {
                let want = audio.sample(c, j as u64, delta);
                worst = worst.max((heard[(latency + j) * 2 + c] - want).abs());
            }
        }
        assert!(
            worst <= 1e-7,
            "delta {delta}: the player differs by {worst}"
        );
    }
    // What the codec changed is far below the music.
    let level = |x: &[f32]| {
        10.0 * (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64).log10()
    };
    let art: Vec<f32> = (0..audio.frames())
        .map(|j| audio.sample(0, j as u64, true))
        .collect();
    assert!(level(&art) < level(&audio.master[0]) - 15.0);
}
