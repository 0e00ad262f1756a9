//! Real-time safety: the whole chain, every module enabled, processes audio
//! and takes parameter changes without a single allocation. The test binary
//! installs `assert_no_alloc`'s allocator; any allocation inside the guarded
//! closure aborts the process, failing the test.

#[cfg(debug_assertions)]
#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

use lathe::dsp::chain::Chain;
use lathe::io::AudioBlock;
use lathe::session::chain::ChainConfig;

const FULL_CHAIN: &str = r#"
[[module]]
type = "dc-removal"
[[module]]
type = "declick"
[[module]]
type = "dehiss"
[[module]]
type = "hum"
[[module]]
type = "gain"
gain_db = -1.0
[[module]]
type = "eq"
[[module.band]]
type = "high-pass"
freq_hz = 25.0
slope_db_oct = 48
[[module.band]]
type = "bell"
freq_hz = 300.0
gain_db = -2.0
channels = "mid"
[[module.band]]
type = "high-shelf"
freq_hz = 9000.0
gain_db = 1.5
channels = "side"
[[module]]
type = "compressor"
link = "mid-side"
sidechain_hp_hz = 90.0
[[module]]
type = "multiband"
[[module]]
type = "imager"
width_pct = 120.0
bass_mono_hz = 120.0
[[module]]
type = "limiter"
"#;

#[test]
fn the_full_chain_never_allocates_while_processing() {
    if !cfg!(debug_assertions) {
        println!("SKIPPED: the allocation guard is compiled only into debug builds");
        return;
    }
    let cfg = ChainConfig::from_toml(FULL_CHAIN, "full").unwrap_or_else(|e| panic!("{e}"));
    let mut changed = cfg.clone();
    if let Some(lathe::session::ModuleConfig::Eq(eq)) = changed.modules.get_mut(5) {
        eq.bands[1].gain_db = 4.0;
        eq.bands[1].freq_hz = 900.0;
    }
    let mut chain = Chain::from_config(&cfg, 48_000, 2).unwrap_or_else(|e| panic!("{e}"));
    let mut block = AudioBlock::new(2, 256);
    let mut phase = 0.0f32;
    // Prepare the changed configuration outside the guard; apply inside.
    for i in 0..400 {
        for ch in &mut block.channels {
            for (k, s) in ch.iter_mut().enumerate() {
                *s = 0.5 * (phase + k as f32 * 0.05).sin();
            }
        }
        phase += 256.0 * 0.05;
        block.frames = 256;
        let target = i as f64 * 0.01;
        assert_no_alloc::assert_no_alloc(|| {
            chain.set_target_gain_db(target);
            chain.process(&mut block);
        });
        if i == 200 {
            assert!(
                chain.update(&changed),
                "parameter-only change must apply in place"
            );
        }
    }
    assert!(block.channels[0].iter().all(|v| v.is_finite()));
}

/// A player of [`FULL_CHAIN`] at `rate` Hz with the ends of its rings.
struct Rig {
    player: lathe::engine::Player,
    input: rtrb::Producer<f32>,
    commands: rtrb::Producer<lathe::engine::Command>,
    tap: rtrb::Consumer<f32>,
    shared: std::sync::Arc<lathe::engine::PlayerShared>,
    cfg: ChainConfig,
}

fn full_player(rate: u32) -> Rig {
    use lathe::engine::{Command, Player, PlayerShared};
    let cfg = ChainConfig::from_toml(FULL_CHAIN, "full").unwrap_or_else(|e| panic!("{e}"));
    let chain = Chain::from_config(&cfg, rate, 2).unwrap_or_else(|e| panic!("{e}"));
    let (input, in_rx) = rtrb::RingBuffer::<f32>::new(rate as usize * 2);
    let (commands, cmd_rx) = rtrb::RingBuffer::<Command>::new(64);
    let (tap_tx, tap) = rtrb::RingBuffer::<f32>::new(8192);
    let shared = std::sync::Arc::new(PlayerShared::default());
    let player = Player::new(chain, 2, in_rx, cmd_rx, tap_tx, shared.clone());
    Rig {
        player,
        input,
        commands,
        tap,
        shared,
        cfg,
    }
}

#[test]
fn the_playback_callback_never_allocates() {
    use lathe::engine::{Command, ListenMode};
    if !cfg!(debug_assertions) {
        println!("SKIPPED: the allocation guard is compiled only into debug builds");
        return;
    }
    let Rig {
        mut player,
        input: mut in_tx,
        commands: mut cmd_tx,
        tap: mut tap_rx,
        shared,
        cfg,
    } = full_player(48_000);
    let (mut swap_tx, swap_rx) = rtrb::RingBuffer::<lathe::engine::Swap>::new(4);
    let (retired_tx, mut retired_rx) = rtrb::RingBuffer::<Box<lathe::engine::Unit>>::new(4);
    player.connect_swaps(swap_rx, retired_tx);
    // A remote listener attached: the callback also copies its output into
    // the monitor ring (and counts what does not fit) without allocating.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sock = dir.path().join("monitor.sock");
    let monitor = lathe::remote::hub::Monitor::start_at(&sock).unwrap_or_else(|e| panic!("{e}"));
    player.set_monitor(monitor.tap(48_000));
    let mut client =
        std::os::unix::net::UnixStream::connect(&sock).unwrap_or_else(|e| panic!("{e}"));
    std::io::Write::write_all(&mut client, b"HELLO 1 codec=flac\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = vec![0f32; 512];
    let _ = cmd_tx.push(Command::Play);
    for i in 0..300 {
        for k in 0..256 {
            let v = 0.4 * ((i * 256 + k) as f32 * 0.03).sin();
            let _ = in_tx.push(v);
            let _ = in_tx.push(-v);
        }
        match i {
            50 => {
                let _ = cmd_tx.push(Command::SetProcessed(false));
            }
            80 => {
                let _ = cmd_tx.push(Command::SetListen(ListenMode::Side));
            }
            120 => {
                let _ = cmd_tx.push(Command::SetBypass(3, true));
            }
            130 => {
                // Hear one module's residual, then another track's (silent here), then off.
                let _ = cmd_tx.push(Command::SetSolo {
                    track: None,
                    module: Some(2),
                });
            }
            140 => {
                let _ = cmd_tx.push(Command::SetSolo {
                    track: Some(3),
                    module: Some(1),
                });
            }
            150 => {
                let _ = cmd_tx.push(Command::SetLevelMatch(false));
            }
            180 => {
                let _ = cmd_tx.push(Command::SetSolo {
                    track: None,
                    module: None,
                });
            }
            170 => {
                // A new chain, built here (allocating), swapped in by the callback.
                let next = Chain::from_config(&cfg, 48_000, 2).unwrap_or_else(|e| panic!("{e}"));
                let lat = next.latency();
                let _ = swap_tx.push((0, Box::new(lathe::engine::Unit::new(next, lat))));
            }
            200 => shared
                .flushing
                .store(true, std::sync::atomic::Ordering::Release),
            201 => shared
                .flushing
                .store(false, std::sync::atomic::Ordering::Release),
            _ => {}
        }
        assert_no_alloc::assert_no_alloc(|| player.render(&mut out, 2));
        // Drain the tap like the meter thread would (outside the guard).
        while tap_rx.pop().is_ok() {}
        // Retired chains are dropped here, never in the callback.
        while retired_rx.pop().is_ok() {}
    }
    assert!(out.iter().all(|v| v.is_finite()));
    // The listener got the stream: its greeting and coded blocks.
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut got = vec![0u8; 1 << 16];
    let n = std::io::Read::read(&mut client, &mut got).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        got[..n].starts_with(b"LATHE-MONITOR 1 rate=48000"),
        "{:?}",
        &got[..n.min(40)]
    );
    let t0 = std::time::Instant::now();
    while monitor.frames() < 300 * 256 - monitor.dropped_frames() && t0.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        monitor.frames(),
        300 * 256,
        "every buffer numbered, taken or dropped"
    );
}

/// A device at another rate: the callback converts its output (44.1 kHz
/// plan, 48 kHz device) without allocating.
#[test]
fn the_output_conversion_never_allocates() {
    use lathe::engine::Command;
    if !cfg!(debug_assertions) {
        println!("SKIPPED: the allocation guard is compiled only into debug builds");
        return;
    }
    let Rig {
        mut player,
        input: mut in_tx,
        commands: mut cmd_tx,
        tap: mut tap_rx,
        ..
    } = full_player(44_100);
    player
        .set_output_rate(44_100, 48_000)
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = cmd_tx.push(Command::Play);
    let mut out = vec![0f32; 512];
    // 3.5 s: past the chain's latency (the hum module's is 1 s).
    for i in 0..600 {
        for k in 0..256 {
            let v = 0.4 * ((i * 256 + k) as f32 * 0.03).sin();
            let _ = in_tx.push(v);
            let _ = in_tx.push(-v);
        }
        if i == 300 {
            let _ = cmd_tx.push(Command::SetProcessed(false));
        }
        assert_no_alloc::assert_no_alloc(|| player.render(&mut out, 2));
        while tap_rx.pop().is_ok() {}
    }
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(
        out.iter().any(|v| v.abs() > 0.01),
        "the converter produced sound"
    );
}

#[test]
fn the_album_callback_never_allocates_across_tracks_crossfades_loops_and_seeks() {
    use lathe::engine::{Command, Jump, Player, PlayerShared, Span, TrackUnit, Unit};
    use std::sync::atomic::Ordering;
    if !cfg!(debug_assertions) {
        println!("SKIPPED: the allocation guard is compiled only into debug builds");
        return;
    }
    let cfg = ChainConfig::from_toml(FULL_CHAIN, "full").unwrap_or_else(|e| panic!("{e}"));
    let build = |ch: usize| Chain::from_config(&cfg, 48_000, ch).unwrap_or_else(|e| panic!("{e}"));
    let latency = build(2).latency();
    // Three tracks: a gap, then a 0.1 s crossfade; the middle one is mono.
    let mut spans = [
        Span::plain(0, 20_000),
        Span::plain(24_000, 20_000),
        Span::plain(39_200, 20_000),
    ];
    spans[0].fade_out = 2_000;
    spans[1].xf_out = 4_800;
    spans[2].xf_in = 4_800;
    spans[2].fade_in = 1_000;
    let tracks: Vec<TrackUnit> = spans
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let ch = if k == 1 { 1 } else { 2 };
            TrackUnit {
                span: *s,
                unit: Box::new(Unit::new(build(ch), latency)),
                channels: ch,
                match_db: -3.0,
            }
        })
        .collect();
    let (mut in_tx, in_rx) = rtrb::RingBuffer::<f32>::new(1 << 20);
    let (mut cmd_tx, cmd_rx) = rtrb::RingBuffer::<Command>::new(64);
    let (tap_tx, mut tap_rx) = rtrb::RingBuffer::<f32>::new(1 << 16);
    let (mut jump_tx, jump_rx) = rtrb::RingBuffer::<Jump>::new(8);
    let shared = std::sync::Arc::new(PlayerShared::default());
    let mut player =
        Player::with_tracks(tracks, 2, 2, latency, in_rx, cmd_rx, tap_tx, shared.clone());
    player.connect_jumps(jump_rx);
    let _ = cmd_tx.push(Command::Play);
    let _ = cmd_tx.push(Command::SetProcessed(false));
    for i in 0..70_000usize * 4 {
        let _ = in_tx.push(0.3 * ((i as f32) * 0.011).sin());
    }
    // A loop jump after 30 000 frames back to tick 10 000.
    let _ = jump_tx.push(Jump {
        generation: 0,
        at: 30_000,
        to: 10_000,
    });
    let mut out = vec![0f32; 512];
    for b in 0..300 {
        if b == 250 {
            shared.restart_tick.store(38_000, Ordering::Release);
            shared.flush_gen.store(1, Ordering::Release);
        }
        assert_no_alloc::assert_no_alloc(|| player.render(&mut out, 2));
        while tap_rx.pop().is_ok() {}
        assert!(out.iter().all(|v| v.is_finite()));
    }
    assert!(shared.position.load(Ordering::Relaxed) > 38_000);
}

#[test]
fn a_match_module_never_allocates_while_processing() {
    if !cfg!(debug_assertions) {
        println!("SKIPPED: the allocation guard is compiled only into debug builds");
        return;
    }
    use lathe::analysis::longterm::{MatchAnalysis, MsSpectrum};
    use lathe::session::chain::{MatchConfig, MatchPhase, ModuleConfig};
    // A reference 3 dB brighter per decade than the track: a real curve.
    for phase in [MatchPhase::Linear, MatchPhase::Minimum] {
        let m = MatchConfig {
            reference: "ref.wav".into(),
            phase,
            amount_pct: 100.0,
            analysis: Some(std::sync::Arc::new(MatchAnalysis {
                track: MsSpectrum::power_law(1e-4, 0.0),
                reference: MsSpectrum::power_law(1e-4, 0.3),
                reference_label: "ref.wav".into(),
            })),
            ..MatchConfig::default()
        };
        let cfg = ChainConfig {
            name: None,
            target_lufs: None,
            max_limiting_db: None,
            modules: vec![ModuleConfig::Match(m)],
        };
        let mut chain = Chain::from_config(&cfg, 48_000, 2).unwrap_or_else(|e| panic!("{e}"));
        assert!(chain.latency() >= 1024);
        // Odd block sizes cross the convolution's 1,024-frame blocks anywhere.
        let mut block = AudioBlock::new(2, 700);
        for i in 0..200 {
            let frames = [700, 1, 333, 64][i % 4];
            for ch in &mut block.channels {
                for (k, s) in ch.iter_mut().enumerate() {
                    *s = 0.3 * ((i * 700 + k) as f32 * 0.031).sin();
                }
            }
            block.frames = frames;
            assert_no_alloc::assert_no_alloc(|| chain.process(&mut block));
        }
        assert!(block.channels[0].iter().all(|v| v.is_finite()));
        assert!(block.channels[0].iter().any(|v| v.abs() > 0.01));
    }
}

#[test]
fn hum_removal_never_allocates_while_measuring_and_subtracting() {
    if !cfg!(debug_assertions) {
        println!("SKIPPED: the allocation guard is compiled only into debug builds");
        return;
    }
    let cfg = ChainConfig::from_toml(
        "[[module]]\ntype = \"hum\"\nfreq_hz = 50.0\nharmonics = 4\n",
        "hum",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut chain = Chain::from_config(&cfg, 48_000, 2).unwrap_or_else(|e| panic!("{e}"));
    let mut block = AudioBlock::new(2, 1000);
    // Three seconds: frames are measured every half second from the first.
    for i in 0..150 {
        for ch in &mut block.channels {
            for (k, s) in ch.iter_mut().enumerate() {
                *s =
                    0.1 * (((i * 1000 + k) as f32) * std::f32::consts::TAU * 50.0 / 48_000.0).sin();
            }
        }
        block.frames = 1000;
        assert_no_alloc::assert_no_alloc(|| chain.process(&mut block));
    }
    // By now the hum is gone.
    let peak = block.channels[0].iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak < 0.01, "hum left: {peak}");
}

#[test]
fn restoration_never_allocates_while_repairing_and_soloing() {
    use lathe::session::chain::{DeclickConfig, DehissConfig, LimiterConfig, ModuleConfig};
    if !cfg!(debug_assertions) {
        println!("SKIPPED: the allocation guard is compiled only into debug builds");
        return;
    }
    // Music (two sines) with noise and a click burst every 50 ms: the
    // de-clicker repairs (both passes), the de-hisser works from a learnt
    // profile, and the chain is soloed module by module.
    let rate = 48_000;
    let n = rate as usize * 2;
    let mut x = vec![vec![0.0f32; n]; 2];
    let mut seed = 7u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    for (c, ch) in x.iter_mut().enumerate() {
        for (i, s) in ch.iter_mut().enumerate() {
            let t = i as f32 / rate as f32;
            *s = 0.2 * (std::f32::consts::TAU * 220.0 * t).sin()
                + 0.1 * (std::f32::consts::TAU * 1330.0 * t + c as f32).sin()
                + 0.003 * rnd();
        }
        for k in (1_000..n - 100).step_by(2_400) {
            for i in 0..30 {
                ch[k + i] += 0.2 * (-(i as f32) / 10.0).exp() * rnd().signum();
            }
        }
    }
    let mut profiler =
        lathe::analysis::noise::NoiseProfiler::new(rate, 2, lathe::analysis::noise::Learn::Track);
    profiler.push(&x, n);
    let cfg = ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules: vec![
            ModuleConfig::Declick(DeclickConfig::default()),
            ModuleConfig::Dehiss(DehissConfig {
                profile: profiler.finish().map(std::sync::Arc::new),
                ..DehissConfig::default()
            }),
            ModuleConfig::Limiter(LimiterConfig::default()),
        ],
    };
    let mut chain = Chain::from_config(&cfg, rate, 2).unwrap_or_else(|e| panic!("{e}"));
    let mut block = AudioBlock::new(2, 256);
    let solos = [
        lathe::dsp::chain::Solo::Off,
        lathe::dsp::chain::Solo::Module(0),
        lathe::dsp::chain::Solo::Module(1),
        lathe::dsp::chain::Solo::Module(2),
        lathe::dsp::chain::Solo::Silent,
    ];
    for (b, start) in (0..n - 256).step_by(256).enumerate() {
        for (dst, src) in block.channels.iter_mut().zip(&x) {
            dst[..256].copy_from_slice(&src[start..start + 256]);
        }
        block.frames = 256;
        let solo = solos[(b / 40) % solos.len()];
        assert_no_alloc::assert_no_alloc(|| {
            chain.set_solo(solo);
            chain.process(&mut block);
        });
    }
    let repaired = chain.clicks_repaired().unwrap_or(0);
    println!("{repaired} clicks repaired under the guard");
    assert!(repaired >= 40, "{repaired}");
}

/// A codec preview swapped in and played (decoded, then artifacts in
/// delta) takes nothing from the allocator in the callback.
#[test]
fn a_codec_preview_never_allocates_in_the_callback() {
    use lathe::engine::codec::CodecAudio;
    use lathe::engine::{Command, ListenMode};
    if !cfg!(debug_assertions) {
        println!("SKIPPED: the allocation guard is compiled only into debug builds");
        return;
    }
    let Rig {
        mut player,
        input: mut in_tx,
        commands: mut cmd_tx,
        tap: mut tap_rx,
        cfg,
        ..
    } = full_player(48_000);
    let (mut swap_tx, swap_rx) = rtrb::RingBuffer::<lathe::engine::Swap>::new(4);
    let (retired_tx, mut retired_rx) = rtrb::RingBuffer::<Box<lathe::engine::Unit>>::new(4);
    player.connect_swaps(swap_rx, retired_tx);
    let frames = 300 * 256;
    let tone: Vec<f32> = (0..frames).map(|i| 0.3 * (i as f32 * 0.02).sin()).collect();
    let audio = std::sync::Arc::new(CodecAudio {
        spec: lathe::io::lossy::CodecSpec::parse("opus-160").unwrap_or_else(|e| panic!("{e}")),
        master: vec![tone.clone(), tone.clone()],
        decoded: vec![tone.iter().map(|v| v * 0.99).collect(); 2],
        delay_frames: 312,
    });
    let mut out = vec![0f32; 512];
    let _ = cmd_tx.push(Command::Play);
    for i in 0..300 {
        for k in 0..256 {
            let v = tone[(i * 256 + k) % frames];
            let _ = in_tx.push(v);
            let _ = in_tx.push(v);
        }
        match i {
            20 => {
                let next = Chain::from_config(&cfg, 48_000, 2).unwrap_or_else(|e| panic!("{e}"));
                let lat = next.latency();
                let unit = lathe::engine::Unit::new(next, lat).with_codec(Some(audio.clone()));
                let _ = swap_tx.push((0, Box::new(unit)));
            }
            150 => {
                let _ = cmd_tx.push(Command::SetListen(ListenMode::Delta));
            }
            _ => {}
        }
        assert_no_alloc::assert_no_alloc(|| player.render(&mut out, 2));
        while tap_rx.pop().is_ok() {}
        while retired_rx.pop().is_ok() {}
    }
    // Delta in the preview: the artifacts, 1 % of the tone here.
    assert!(
        out.iter().all(|v| v.abs() <= 0.3 * 0.01 + 1e-6),
        "{:?}",
        &out[..8]
    );
    assert!(out.iter().any(|v| v.abs() > 1e-3), "{:?}", &out[..8]);
}
