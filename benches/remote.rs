//! Remote listening, measured: end-to-end latency from the engine's output
//! to the listener's output over a real ssh connection on loopback (p50,
//! p99) with the underruns over a long run, the bandwidth of each codec on
//! music, and the server's CPU for coding the stream.
//!
//! `cargo bench --bench remote` (LATHE_BENCH_SECONDS sets the long run,
//! default 600 s). Needs sshd (Debian's openssh-server, as `.ci/deps`
//! installs); without it the latency run goes through `--via` (no ssh) and
//! says so.

#[path = "../tests/common/sshd.rs"]
mod sshd;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lathe::engine::Command as C;
use lathe::engine::session::{PlayOptions, Playback};
use lathe::plan::Plan;
use lathe::remote::codec::{BlockEncoder, block_frames};
use lathe::remote::protocol::{Codec, Format};

fn music(seconds: f64, rate: u32) -> Vec<Vec<f32>> {
    let n = (seconds * f64::from(rate)) as usize;
    let mut x = 0x2545_f491u32;
    let mut l = vec![0f32; n];
    let mut r = vec![0f32; n];
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let noise = (x as f64 / f64::from(u32::MAX) - 0.5) * 0.05;
        let chord: f64 = [130.8, 164.8, 196.0, 261.6, 329.6]
            .iter()
            .map(|f| (std::f64::consts::TAU * f * t * (1.0 + 0.001 * (t * 0.3).sin())).sin())
            .sum::<f64>()
            / 5.0;
        let beat = t % 0.5;
        let kick = (-beat * 25.0).exp()
            * (std::f64::consts::TAU * (50.0 + 80.0 * (-beat * 40.0).exp()) * beat).sin();
        let hat = if (t % 0.25) < 0.02 { noise * 6.0 } else { 0.0 };
        l[i] = (0.3 * chord + 0.4 * kick + hat + noise) as f32;
        r[i] = (0.25 * chord + 0.4 * kick - hat + noise) as f32;
    }
    vec![l, r]
}

fn write_wav(path: &std::path::Path, planar: &[Vec<f32>], rate: u32) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    for (l, r) in planar[0].iter().zip(&planar[1]) {
        w.write_sample(*l).expect("write");
        w.write_sample(*r).expect("write");
    }
    w.finalize().expect("finish");
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let rate = 48_000;
    let dir = tempfile::tempdir().expect("tmp");
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).expect("run");
    let lathe_bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("lathe")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| std::path::PathBuf::from("target/release/lathe"));
    // Coding cost alone: one minute of music through each encoder.
    let m = music(60.0, rate);
    let f = Format {
        rate,
        channels: 2,
        bits: 24,
    };
    let n = block_frames(rate);
    println!("coding one minute of 48 kHz stereo music in 10 ms blocks:");
    for codec in [Codec::Flac, Codec::Opus, Codec::Pcm] {
        let mut enc = BlockEncoder::new(codec, f).expect("encoder");
        let mut bytes = 0usize;
        let mut block = vec![0f32; n * 2];
        let t0 = Instant::now();
        for b in 0..(m[0].len() / n) {
            for i in 0..n {
                block[2 * i] = m[0][b * n + i];
                block[2 * i + 1] = m[1][b * n + i];
            }
            let mut out = Vec::new();
            enc.encode(&block, &mut out).expect("encode");
            bytes += out.len() + 40;
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "  {:<5} {:>7.0} kb/s on the wire   encode {:.2} % of a core",
            codec.name(),
            bytes as f64 * 8.0 / 60.0 / 1000.0,
            secs / 60.0 * 100.0
        );
    }
    // The server: the engine playing a 30 s loop, publishing.
    let file = dir.path().join("music.wav");
    write_wav(&file, &music(30.0, rate), rate);
    let lathe_dir = run.join("lathe");
    std::fs::create_dir_all(&lathe_dir).expect("dir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&lathe_dir, std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
    }
    let monitor = lathe::remote::hub::Monitor::start_at(&lathe::remote::socket::socket_path(
        &lathe_dir,
        std::process::id(),
    ))
    .expect("monitor");
    let cfg = lathe::session::presets::preset("streaming").expect("preset");
    let plan = Plan::file(&file, &cfg, 0.0, 0.0).expect("plan");
    let mut pb = Playback::open_plan(
        plan,
        &PlayOptions {
            force_null: true,
            monitor: Some(monitor.clone()),
            ..PlayOptions::default()
        },
    )
    .expect("open");
    pb.set_loop(Some((0, 30 * u64::from(rate))));
    pb.send(C::Play);
    std::thread::sleep(Duration::from_secs(1));
    let run_s = run.display().to_string();
    // LATHE_BENCH_VIA=1: through `--via` (no ssh), to tell ssh's share.
    let ssh = if std::env::var_os("LATHE_BENCH_VIA").is_some() {
        Err("LATHE_BENCH_VIA is set".to_string())
    } else {
        sshd::Sshd::start(&[("XDG_RUNTIME_DIR", run_s.as_str())])
    };
    let listener = |codec: &str, seconds: f64| -> std::process::Child {
        let mut c = Command::new(&lathe_bin);
        c.env("XDG_RUNTIME_DIR", &run)
            .args([
                "listen",
                "--silent",
                "--json",
                "--no-reconnect",
                "--codec",
                codec,
            ])
            .args(["--seconds", &seconds.to_string()])
            .args(["--pid", &std::process::id().to_string()])
            .args(["--remote-lathe", &lathe_bin.display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        match &ssh {
            Ok(s) => {
                c.arg("-F").arg(&s.client_config).arg("lathe-test");
            }
            Err(_) => {
                c.args([
                    "--via",
                    &format!("'{}' tap --pid {}", lathe_bin.display(), std::process::id()),
                ]);
            }
        }
        c.spawn().expect("listen")
    };
    match &ssh {
        Ok(s) => println!(
            "listener: lathe listen over ssh to 127.0.0.1:{} (sshd of its own)",
            s.port
        ),
        Err(why) => println!("listener: through --via, not ssh ({why})"),
    }
    // Bandwidth per codec on music, and the server's CPU with a listener.
    println!("bandwidth on music, 10 s each, and this process's CPU (engine + hub + coding):");
    let quiet0 = cpu_seconds();
    std::thread::sleep(Duration::from_secs(10));
    let idle_cpu = (cpu_seconds() - quiet0) / 10.0 * 100.0;
    println!("  no listener: {idle_cpu:.2} % of a core (engine and meters)");
    let codecs: &[&str] = if std::env::var_os("LATHE_BENCH_LATENCY_ONLY").is_some() {
        &[]
    } else {
        &["flac", "opus", "pcm"]
    };
    for codec in codecs {
        let mut child = listener(codec, 12.0);
        std::thread::sleep(Duration::from_secs(2));
        let c0 = cpu_seconds();
        let mut kbps = Vec::new();
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(500));
            if let Some(l) = monitor.listeners().first() {
                kbps.push(l.kbps);
            }
        }
        let cpu = (cpu_seconds() - c0) / 10.0 * 100.0;
        let _ = child.wait();
        let mean = kbps.iter().sum::<f64>() / kbps.len().max(1) as f64;
        println!(
            "  {codec:<5} {mean:>7.0} kb/s   server {cpu:.2} % of a core ({:+.2} for the stream)",
            cpu - idle_cpu
        );
    }
    // Latency and underruns over the long run (FLAC, the default).
    let secs: f64 = std::env::var("LATHE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600.0);
    println!("latency, engine output to listener output, FLAC, {secs:.0} s:");
    let child = listener("flac", secs + 5.0);
    let t0 = Instant::now();
    let mut lat = Vec::new();
    let mut buf = Vec::new();
    let mut printed = 0u64;
    while t0.elapsed().as_secs_f64() < secs + 3.0 {
        std::thread::sleep(Duration::from_millis(100));
        if t0.elapsed() < Duration::from_secs(20) {
            continue; // the jitter buffer adapts first
        }
        if let Some(l) = monitor.listeners().first()
            && let Some(ms) = l.latency_ms
        {
            lat.push(ms);
            buf.push(l.buffer_ms);
        }
        let m = t0.elapsed().as_secs() / 60;
        if m > printed {
            printed = m;
            eprintln!("  … {m} min");
        }
    }
    let out = child.wait_with_output().expect("listener");
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    if lat.is_empty() {
        println!("  no latency reports (listener failed: {summary})");
        return;
    }
    let (p50, p99, max) = (
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99),
        percentile(&mut lat, 1.0),
    );
    println!(
        "  p50 {p50:.1} ms  p99 {p99:.1} ms  max {max:.1} ms   jitter buffer p50 {:.1} ms   underruns {}   drift {} ppm   engine underruns {}",
        percentile(&mut buf, 0.5),
        summary["underruns"],
        summary["drift_ppm"],
        pb.shared
            .underruns
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    drop(pb);
}
