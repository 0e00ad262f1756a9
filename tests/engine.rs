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
        while fed < n && tx.slots() >= 2 {
            for c in planar {
                let _ = tx.push(c[fed]);
            }
            fed += 1;
        }
        if fed == n {
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
    let (gain, _) = lathe::engine::session::gain_plan(&input, &cfg).expect("plan");
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
    let (mut swap_tx, swap_rx) = rtrb::RingBuffer::<Box<Chain>>::new(4);
    let (retired_tx, mut retired_rx) = rtrb::RingBuffer::<Box<Chain>>::new(4);
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
            let _ = swap_tx.push(Box::new(make(6.0)));
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
