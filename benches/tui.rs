//! Interface figures (run: `cargo bench --bench tui`).
//!
//! - Drawing every pane into an off-screen buffer at 80×24 and 200×60:
//!   mean and worst time per frame.
//! - The real binary in tmux on the demo session (silent output): CPU while
//!   paused (target < 2 % of a core), frames per second while playing
//!   (target ≥ 25), keypress to updated screen (target < 50 ms; measured
//!   through tmux, so an upper bound).

use std::process::Command;
use std::time::{Duration, Instant};

use lathe::ui::app::App;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn draw_times(app: &App, w: u16, h: u16, n: usize) -> (f64, f64) {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        term.draw(|f| lathe::ui::panes::draw(f, app)).expect("draw");
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let mean = times.iter().sum::<f64>() / n as f64;
    let worst = times.iter().copied().fold(0.0, f64::max);
    (mean, worst)
}

fn cpu_ticks(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit(')').next()?.to_string();
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

fn tmux(sock: &str, args: &[&str]) -> String {
    let o = Command::new("tmux")
        .arg("-L")
        .arg(sock)
        .args(args)
        .output()
        .expect("tmux");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let session = lathe::demo::write_demo_session(dir.path(), true).expect("demo");
    let s = lathe::session::album::Session::load(&session).expect("load");
    let mut app = App::new(s, Some(session.clone()), dir.path().to_path_buf());
    for i in 0..app.session.tracks.len() {
        let p = app.track_path(i).expect("path");
        let info = lathe::ui::event_loop::measure(&p).expect("measure");
        app.info.insert(p, info);
    }
    app.transport.track_starts = vec![0.0, 18.0, 32.0, 47.5];
    app.transport.duration_s = 63.5;
    app.transport.playing = true;
    app.meters.spectrum_after = (0..60).map(|b| -30.0 - b as f32 * 0.5).collect();
    app.meters.spectrum_before = (0..60).map(|b| -36.0 - b as f32 * 0.5).collect();
    app.meters.spectrum_peak = (0..60).map(|b| -26.0 - b as f32 * 0.5).collect();
    app.meters.history = (0..600).map(|k| (k as f64 * 0.1, -14.0)).collect();
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let (mean, worst) = draw_times(&app, w, h, 300);
        println!("draw every pane at {w}x{h}: mean {mean:.3} ms, worst {worst:.3} ms per frame");
    }
    if !Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("SKIPPED the terminal figures: tmux is not installed");
        return;
    }
    let sock = format!("lathe-bench-{}", std::process::id());
    let stats = dir.path().join("stats.json");
    let cmd = format!(
        "cd '{}' && LATHE_UI_STATS='{}' XDG_CONFIG_HOME='{}' '{}' '{}' --silent; sleep 10",
        dir.path().display(),
        stats.display(),
        dir.path().join("cfg").display(),
        env!("CARGO_BIN_EXE_lathe"),
        session.display()
    );
    tmux(
        &sock,
        &[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "36",
            "-s",
            "b",
            &cmd,
        ],
    );
    let wait = |pred: &dyn Fn(&str) -> bool| -> Duration {
        let t0 = Instant::now();
        loop {
            let s = tmux(&sock, &["capture-pane", "-p", "-t", "b"]);
            if pred(&s) || t0.elapsed() > Duration::from_secs(30) {
                return t0.elapsed();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait(&|s: &str| s.contains("1 Tracks") && !s.contains("planning"));
    let shell = tmux(&sock, &["list-panes", "-t", "b", "-F", "#{pane_pid}"]);
    let kids = Command::new("pgrep")
        .args(["-P", shell.trim()])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&kids.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let hz = 100.0; // USER_HZ
    std::thread::sleep(Duration::from_secs(1));
    let c0 = cpu_ticks(&pid);
    std::thread::sleep(Duration::from_secs(10));
    let idle = (cpu_ticks(&pid) - c0) as f64 / hz / 10.0 * 100.0;
    println!("paused: {idle:.2} % of a core (10 s)");
    tmux(&sock, &["send-keys", "-t", "b", "Space"]);
    std::thread::sleep(Duration::from_secs(1));
    let c0 = cpu_ticks(&pid);
    std::thread::sleep(Duration::from_secs(10));
    let playing = (cpu_ticks(&pid) - c0) as f64 / hz / 10.0 * 100.0;
    println!("playing (engine, meters, 30 fps drawing): {playing:.2} % of a core (10 s)");
    // Keypress to screen: toggle A/B and wait for the status bar to change.
    let mut lat = Vec::new();
    for i in 0..20 {
        let (key, shows) = if i % 2 == 0 {
            ("a", "A original")
        } else {
            ("b", "B processed")
        };
        let t0 = Instant::now();
        tmux(&sock, &["send-keys", "-t", "b", key]);
        let _ = wait(&|s: &str| s.contains(shows));
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(100));
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "keypress to updated screen (through tmux): median {:.1} ms, worst {:.1} ms",
        lat[lat.len() / 2],
        lat[lat.len() - 1]
    );
    tmux(&sock, &["send-keys", "-t", "b", "q"]);
    let t0 = Instant::now();
    while !stats.exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Ok(text) = std::fs::read_to_string(&stats)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
    {
        let fp = v["frames_playing"].as_f64().unwrap_or(0.0);
        let ps = v["playing_s"].as_f64().unwrap_or(1.0).max(1e-9);
        println!(
            "frames while playing: {:.1} per second; worst frame {:.2} ms",
            fp / ps,
            v["worst_draw_ms"].as_f64().unwrap_or(0.0)
        );
    }
    tmux(&sock, &["kill-server"]);
}
