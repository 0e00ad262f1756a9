//! Playback engine figures (run: `cargo bench --bench engine`).
//!
//! - Callback CPU time for the full chain (EQ 6 bands, compressor, imager,
//!   limiter) at 48 kHz with 256-frame buffers: mean, 99th and 99.9th
//!   percentile as a share of the 5.33 ms buffer period (target < 10 %).
//! - Seek time to arbitrary points of a 10-minute FLAC (target < 50 ms).
//! - An hour of freewheeling playback: underruns and memory.

use std::sync::Arc;
use std::time::Instant;

#[path = "full_chain.rs"]
mod full_chain;
#[path = "hour_album.rs"]
mod hour_album;
use full_chain::CHAIN;

use lathe::dsp::chain::Chain;
use lathe::engine::{Command, Player, PlayerShared};
use lathe::io::{AudioBlock, AudioSource};
use lathe::session::chain::ChainConfig;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let cfg = ChainConfig::from_toml(CHAIN, "bench").expect("chain");
    let chain = Chain::from_config(&cfg, 48_000, 2).expect("build");
    let (mut tx, rx) = rtrb::RingBuffer::<f32>::new(1 << 16);
    let (mut ctx, crx) = rtrb::RingBuffer::<Command>::new(16);
    let (ttx, mut trx) = rtrb::RingBuffer::<f32>::new(1 << 16);
    let shared = Arc::new(PlayerShared::default());
    let mut player = Player::new(chain, 2, rx, crx, ttx, shared.clone());
    let _ = ctx.push(Command::Play);
    let mut buf = vec![0f32; 512];
    let mut times = Vec::new();
    let mut x = 1u64;
    let callbacks = 48_000 * 60 / 256; // one minute
    for _ in 0..callbacks {
        for _ in 0..256 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.8;
            let _ = tx.push(v);
            let _ = tx.push(v * 0.7);
        }
        let t = Instant::now();
        player.render(&mut buf, 2);
        times.push(t.elapsed().as_secs_f64());
        while trx.pop().is_ok() {}
    }
    times.sort_by(f64::total_cmp);
    let period = 256.0 / 48_000.0;
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize] / period * 100.0;
    let mean = times.iter().sum::<f64>() / times.len() as f64 / period * 100.0;
    println!(
        "engine benchmark: full chain at 48 kHz, 256-frame callbacks ({} callbacks)",
        times.len()
    );
    println!(
        "  callback CPU: mean {mean:.2} %, p99 {:.2} %, p99.9 {:.2} %, max {:.2} % of the 5.33 ms period (target < 10 %)",
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );

    // Seek in a 10-minute FLAC.
    let dir = tempfile::tempdir().expect("tmp");
    let flac = dir.path().join("ten.flac");
    let frames = 48_000u64 * 600;
    let mut w = lathe::io::flac::FlacOutput::create(&flac, 48_000, 2, 24, frames, &[], false)
        .expect("flac");
    let mut b = AudioBlock::new(2, 48_000);
    let mut written = 0;
    while written < frames {
        for (c, ch) in b.channels.iter_mut().enumerate() {
            for (i, s) in ch.iter_mut().enumerate() {
                *s = 0.3 * (((written as usize + i) as f32) * 0.01 * (c + 1) as f32).sin();
            }
        }
        b.frames = 48_000;
        w.write_block(&b).expect("write");
        written += 48_000;
    }
    w.finish().expect("finish");
    let mut src = lathe::io::open_source(&flac).expect("open");
    let mut worst = 0.0f64;
    let mut total = 0.0;
    let mut block = AudioBlock::new(2, 256);
    let targets = [300u64, 17, 599, 1, 450, 123, 42, 577, 250, 9];
    for t in targets {
        let start = Instant::now();
        src.seek(t * 48_000 + 12_345).expect("seek");
        src.read(&mut block).expect("read");
        let e = start.elapsed().as_secs_f64() * 1000.0;
        worst = worst.max(e);
        total += e;
    }
    println!(
        "  seek in a 10-minute FLAC (seek + first read): mean {:.2} ms, worst {:.2} ms (target < 50 ms)",
        total / targets.len() as f64,
        worst
    );

    // Two tracks' chains at once (a crossfade): the worst case of album playback.
    {
        use lathe::engine::{Span, TrackUnit, Unit};
        let lat = Chain::from_config(&cfg, 48_000, 2)
            .expect("build")
            .latency();
        let mut spans = [Span::plain(0, u64::MAX / 4), Span::plain(0, u64::MAX / 4)];
        spans[0].xf_out = 1 << 40;
        spans[1].xf_in = 1 << 40;
        let tracks: Vec<TrackUnit> = spans
            .iter()
            .map(|s| TrackUnit {
                span: *s,
                unit: Box::new(Unit::new(
                    Chain::from_config(&cfg, 48_000, 2).expect("build"),
                    lat,
                )),
                channels: 2,
                match_db: 0.0,
            })
            .collect();
        let (mut tx, rx) = rtrb::RingBuffer::<f32>::new(1 << 16);
        let (mut ctx, crx) = rtrb::RingBuffer::<Command>::new(16);
        let (ttx, mut trx) = rtrb::RingBuffer::<f32>::new(1 << 16);
        let shared = Arc::new(PlayerShared::default());
        let mut player = Player::with_tracks(tracks, 2, 2, lat, rx, crx, ttx, shared);
        let _ = ctx.push(Command::Play);
        let mut times = Vec::new();
        for _ in 0..callbacks / 2 {
            for _ in 0..256 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.8;
                for k in [1.0, 0.7, -0.5, 0.9] {
                    let _ = tx.push(v * k);
                }
            }
            let t = Instant::now();
            player.render(&mut buf, 2);
            times.push(t.elapsed().as_secs_f64());
            while trx.pop().is_ok() {}
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize] / period * 100.0;
        let mean = times.iter().sum::<f64>() / times.len() as f64 / period * 100.0;
        println!(
            "  two chains crossfading: mean {mean:.2} %, p99 {:.2} %, p99.9 {:.2} %, max {:.2} % of the period",
            pct(0.99),
            pct(0.999),
            pct(1.0)
        );
    }

    // An hour of album playback through the real engine (reader thread,
    // decoding, chains, meter thread), freewheeling in the silent output:
    // fifteen 4-minute tracks, gapless.
    use lathe::engine::session::{PlayOptions, Playback};
    use lathe::plan::Plan;
    let sp = hour_album::write(dir.path(), false);
    let t = Instant::now();
    let cache = lathe::plan::delivery::SpoolCache::new();
    let mut sess = lathe::session::album::Session::load(&sp).expect("load");
    let plan = Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("plan");
    let planned = t.elapsed().as_secs_f64();
    // Re-planning after a target change reuses every spooled track.
    sess.chain.target_lufs = Some(-16.0);
    let t = Instant::now();
    Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("replan");
    println!(
        "  planning an hour-long album: {planned:.1} s; again after a target change (spools reused): {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut p = Playback::open_plan(
        plan,
        &PlayOptions {
            force_null: true,
            freewheel: true,
            ..PlayOptions::default()
        },
    )
    .expect("open");
    let rss0 = rss_kb();
    let t = Instant::now();
    p.send(Command::Play);
    let total = p.timeline.total();
    let mut rss_mid = 0;
    while !p.finished() {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if rss_mid == 0 && p.position_frames() > total / 2 {
            rss_mid = rss_kb();
        }
    }
    println!(
        "  one hour of album playback (15 tracks, real reader, chains and meters), freewheeling: {:.1} s after {:.1} s of gain planning; underruns {}, RSS {} KB at start, {} KB halfway, {} KB at the end",
        t.elapsed().as_secs_f64(),
        planned,
        p.shared
            .underruns
            .load(std::sync::atomic::Ordering::Relaxed),
        rss0,
        rss_mid,
        rss_kb()
    );
}
