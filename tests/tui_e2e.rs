//! The real binary in a real terminal (tmux): open a session, play, A/B,
//! adjust a parameter, `:w`, `:q`; check the screen along the way and the
//! saved session after. Skips (saying so) when tmux is not installed.

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "e2e"])
    }
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "e2e", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// Start the session "e2e" (100×30) running the shell command `cmd`.
    fn open(&self, cmd: &str) {
        let o = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
            ])
            .args(["-s", "e2e", cmd])
            .output()
            .expect("tmux");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    fn alive(&self) -> bool {
        !self
            .run(&["list-panes", "-t", "e2e", "-F", "#{pane_dead}"])
            .trim()
            .starts_with('1')
            && !self.run(&["list-sessions"]).trim().is_empty()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The demo album written into a fresh folder; returns it and the session.
fn demo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let o = Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(["demo", "--write"])
        .arg(dir.path())
        .output()
        .expect("demo");
    assert!(o.status.success());
    let session = dir.path().join("session.toml");
    (dir, session)
}

fn start(dir: &Path, session: &Path) -> Tmux {
    start_with(dir, session, "")
}

/// Start lathe in tmux with extra environment `env` ("NAME=value ...").
/// After it exits the shell prints its exit code and whether the terminal
/// is back in canonical (cooked) mode.
fn start_with(dir: &Path, session: &Path, env: &str) -> Tmux {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let t = Tmux {
        socket: format!(
            "lathe-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
    };
    let cmd = format!(
        "cd '{}' && {env} XDG_CONFIG_HOME='{}' '{}' '{}' --silent; echo LATHE-EXIT=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon' | sed 's/^/TTY-/'; sleep 30",
        dir.display(),
        dir.join("config").display(),
        env!("CARGO_BIN_EXE_lathe"),
        session.display()
    );
    t.open(&cmd);
    t
}

#[test]
fn play_ab_adjust_save_and_quit_in_a_real_terminal() {
    if !have_tmux() {
        println!("SKIPPED: tmux is not installed (.ci/deps installs it)");
        return;
    }
    let (dir, session) = demo();
    let before = std::fs::read_to_string(&session).expect("read");
    let t = start(dir.path(), &session);
    t.wait_for("the interface", |s| {
        s.contains("1 Tracks") && s.contains("Quiet Ballad")
    });
    // Planning done and playing: the playhead moves.
    t.wait_for("planning to finish", |s| !s.contains("planning"));
    t.keys(&["Space"]);
    let s = t.wait_for("playback", |s| {
        s.contains(" ▶ ") && !s.contains(" ▶ 0:00.0/")
    });
    assert!(s.contains("B processed"), "{s}");
    t.keys(&["a"]);
    t.wait_for("A/B to the original", |s| s.contains("A original"));
    t.keys(&["b"]);
    t.wait_for("back to processed", |s| s.contains("B processed"));
    // The codec preview: track 1 encoded in the background, then played
    // as decoded (the status bar marks it); off again.
    t.keys(&[
        ":", "c", "o", "d", "e", "c", "Space", "o", "p", "u", "s", "-", "1", "6", "0", "Enter",
    ]);
    let s = t.wait_for("the codec preview", |s| {
        (s.contains("codec opus-160 T1") && !s.contains("encoding…")) || s.contains("error")
    });
    assert!(s.contains("plays as decoded"), "{s}");
    t.keys(&[
        ":", "c", "o", "d", "e", "c", "Space", "o", "f", "f", "Enter",
    ]);
    t.wait_for("the preview off", |s| {
        s.contains("codec preview off") && !s.contains("codec opus-160 T1")
    });
    // Chain pane: the first parameter row (dc-removal cutoff), up a third of an octave.
    t.keys(&["2", "j", "j", "l"]);
    t.wait_for("the change", |s| {
        s.contains("dc-removal cutoff_hz = 6.3 Hz") && s.contains("modified")
    });
    // :q with changes asks; esc goes back.
    t.keys(&[":", "q", "Enter"]);
    t.wait_for("the unsaved-changes prompt", |s| {
        s.contains("Unsaved changes")
    });
    t.keys(&["Escape"]);
    t.keys(&[":", "w", "Enter"]);
    t.wait_for("saved", |s| s.contains("saved ") && !s.contains("modified"));
    // Render one delivery in the background while playing on.
    t.keys(&[
        ":", "r", "e", "n", "d", "e", "r", "Space", "s", "t", "Tab", "Enter",
    ]);
    let s = t.wait_for("the render", |s| {
        s.contains("render done") || s.contains("error")
    });
    assert!(s.contains("render done: 4 files"), "{s}");
    let flacs = std::fs::read_dir(dir.path().join("render").join("streaming"))
        .expect("render folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "flac"))
        })
        .count();
    assert_eq!(flacs, 4);
    t.keys(&[":", "q", "Enter"]);
    let s = t.wait_for("exit", |s| s.contains("TTY-"));
    assert!(s.contains("LATHE-EXIT=0"), "{s}");
    assert!(s.contains("TTY-icanon"), "raw mode left behind:\n{s}");
    assert!(t.alive());
    // The terminal is back to normal (no alternate screen left behind).
    assert!(!s.contains("1 Tracks"), "{s}");
    let after = std::fs::read_to_string(&session).expect("read");
    assert_ne!(before, after);
    let saved = lathe::session::album::Session::load(&session).expect("reload");
    let cutoff = saved
        .chain
        .modules
        .iter()
        .find_map(|m| match m {
            lathe::session::chain::ModuleConfig::DcRemoval(d) => Some(d.cutoff_hz),
            _ => None,
        })
        .expect("dc");
    assert!((cutoff - 6.3).abs() < 1e-9, "{cutoff}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("session.toml.bak")).expect("bak"),
        before
    );
}

#[test]
fn quits_at_once_when_nothing_changed_and_restores_on_sigterm() {
    if !have_tmux() {
        println!("SKIPPED: tmux is not installed (.ci/deps installs it)");
        return;
    }
    let (dir, session) = demo();
    let t = start(dir.path(), &session);
    t.wait_for("the interface", |s| s.contains("1 Tracks"));
    t.keys(&["Space", "a", "m", "q"]);
    let s = t.wait_for("exit", |s| s.contains("LATHE-EXIT="));
    assert!(s.contains("LATHE-EXIT=0"), "{s}");
    drop(t);
    // SIGTERM: the terminal is restored and the process leaves.
    let t = start(dir.path(), &session);
    t.wait_for("the interface", |s| s.contains("1 Tracks"));
    let pid = t.run(&["list-panes", "-t", "e2e", "-F", "#{pane_pid}"]);
    let shell: i32 = pid.trim().parse().expect("pid");
    let kids = Command::new("pgrep")
        .args(["-P", &shell.to_string()])
        .output()
        .expect("pgrep");
    let lathe_pid = String::from_utf8_lossy(&kids.stdout)
        .lines()
        .next()
        .map(str::to_string)
        .expect("child");
    Command::new("kill")
        .args(["-TERM", &lathe_pid])
        .output()
        .expect("kill");
    let s = t.wait_for("exit after SIGTERM", |s| s.contains("TTY-"));
    assert!(
        !s.contains("1 Tracks"),
        "alternate screen left behind:\n{s}"
    );
    assert!(s.contains("TTY-icanon"), "raw mode left behind:\n{s}");
}

#[test]
fn a_panic_restores_the_terminal() {
    if !have_tmux() {
        println!("SKIPPED: tmux is not installed (.ci/deps installs it)");
        return;
    }
    let (dir, session) = demo();
    // LATHE_UI_PANIC makes the interface panic after its first frame.
    let t = start_with(dir.path(), &session, "LATHE_UI_PANIC=1");
    let s = t.wait_for("exit after the panic", |s| s.contains("TTY-"));
    assert!(s.contains("LATHE-EXIT=101"), "{s}");
    assert!(
        s.contains("LATHE_UI_PANIC"),
        "the panic message is shown:\n{s}"
    );
    assert!(
        !s.contains("1 Tracks"),
        "alternate screen left behind:\n{s}"
    );
    assert!(s.contains("TTY-icanon"), "raw mode left behind:\n{s}");
}

/// Issue 10.4: `lathe demo` removes its temporary album however it ends:
/// the terminal hanging up (an SSH drop: tmux killed under it) and a panic,
/// as well as a normal quit.
#[test]
fn the_demo_removes_its_temporary_folder_on_every_exit() {
    if !have_tmux() {
        println!("SKIPPED: tmux is not installed (.ci/deps installs it)");
        return;
    }
    for (how, env) in [("quit", ""), ("hang-up", ""), ("panic", "LATHE_UI_PANIC=1")] {
        let tmp = tempfile::tempdir().expect("tmp");
        let t = Tmux {
            socket: format!("lathe-e2e-demo-{}-{how}", std::process::id()),
        };
        let cmd = format!(
            "TMPDIR='{}' {env} XDG_CONFIG_HOME='{}' '{}' demo --silent; echo LATHE-EXIT=$?; sleep 30",
            tmp.path().display(),
            tmp.path().join("config").display(),
            env!("CARGO_BIN_EXE_lathe"),
        );
        t.open(&cmd);
        let demo_dirs = || -> Vec<String> {
            std::fs::read_dir(tmp.path())
                .map(|r| {
                    r.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.starts_with("lathe-demo-"))
                        .collect()
                })
                .unwrap_or_default()
        };
        match how {
            "quit" => {
                t.wait_for("the interface", |s| s.contains("1 Tracks"));
                assert_eq!(
                    demo_dirs().len(),
                    1,
                    "the demo album is there while it runs"
                );
                t.keys(&["q"]);
                t.wait_for("exit", |s| s.contains("LATHE-EXIT="));
            }
            "hang-up" => {
                t.wait_for("the interface", |s| s.contains("1 Tracks"));
                assert_eq!(demo_dirs().len(), 1);
                drop(t); // kill-server: the terminal goes away under lathe
            }
            _ => {
                t.wait_for("exit after the panic", |s| s.contains("LATHE-EXIT="));
            }
        }
        let t0 = Instant::now();
        while !demo_dirs().is_empty() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(demo_dirs().is_empty(), "{how}: left {:?}", demo_dirs());
    }
}

/// Issue 11 end to end: the interface publishes its monitor output; a
/// listener attached with `lathe listen --via 'lathe tap'` shows in the
/// status bar (codec, latency) while it plays.
#[test]
fn a_remote_listener_shows_in_the_interface() {
    if !have_tmux() {
        println!("SKIPPED: tmux is not installed (.ci/deps installs it)");
        return;
    }
    let (dir, session) = demo();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).expect("run dir");
    let t = start_with(
        dir.path(),
        &session,
        &format!("XDG_RUNTIME_DIR='{}'", run.display()),
    );
    t.wait_for("the interface", |s| s.contains("1 Tracks"));
    t.keys(&["Space"]);
    let listener = Command::new(env!("CARGO_BIN_EXE_lathe"))
        .env("XDG_RUNTIME_DIR", &run)
        .args([
            "listen",
            "--silent",
            "--json",
            "--seconds",
            "8",
            "--no-reconnect",
        ])
        .args(["--via", &format!("'{}' tap", env!("CARGO_BIN_EXE_lathe"))])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("listen");
    t.wait_for("the listener in the status bar", |s| s.contains("⇄ flac"));
    // Then its first report: the latency, applied to what is shown.
    let s = t.wait_for("the measured latency", |s| s.contains("heard"));
    let bar = s.lines().find(|l| l.contains("⇄ flac")).unwrap_or_default();
    // The underruns shown are the listener's own count (its summary at the
    // end can only be the same or higher).
    let shown: u64 = bar
        // " xr N" in both the wide ("… +0ppm xr N") and narrow ("60ms xr N")
        // forms of the listener's status.
        .split(" xr ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no underrun count: {bar}"));
    let o = listener.wait_with_output().expect("listener");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("summary");
    assert!(
        summary["underruns"].as_u64().is_some_and(|u| u >= shown),
        "{bar} vs {summary}"
    );
    t.keys(&["q"]);
    t.wait_for("exit", |s| s.contains("LATHE-EXIT=0"));
}
