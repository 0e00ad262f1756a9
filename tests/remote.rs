//! Hearing a remote lathe, end to end on one machine without a sound card:
//! `lathe play` publishes its monitor output, `lathe listen --via 'lathe
//! tap'` receives it. Every test gets its own private runtime folder
//! (`XDG_RUNTIME_DIR`), so tests never hear each other.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const LATHE: &str = env!("CARGO_BIN_EXE_lathe");

/// These tests play in real time and assert no underruns: one at a time,
/// so that they do not starve each other on a small machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

struct Box_ {
    _d: tempfile::TempDir,
    root: PathBuf,
}

impl Box_ {
    fn new() -> Self {
        let d = tempfile::tempdir().expect("tmp");
        let root = d.path().to_path_buf();
        std::fs::create_dir_all(root.join("run")).expect("run dir");
        Self { _d: d, root }
    }
    fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(LATHE);
        c.env("XDG_RUNTIME_DIR", self.run_dir());
        c
    }
    /// A `--via` command that taps this box's runtime folder.
    fn via(&self) -> String {
        format!("'{LATHE}' tap")
    }
    /// Wait for a published socket; its process id.
    fn wait_socket(&self) -> u32 {
        let t0 = Instant::now();
        loop {
            if let Ok(rd) = std::fs::read_dir(self.run_dir().join("lathe")) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if let Some(p) = n
                        .strip_prefix("monitor-")
                        .and_then(|r| r.strip_suffix(".sock"))
                        .and_then(|p| p.parse().ok())
                    {
                        return p;
                    }
                }
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "no monitor socket");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A music-like stereo test signal: chords, a pulse, a little noise.
fn music(seconds: f64, rate: u32) -> Vec<Vec<f32>> {
    let n = (seconds * f64::from(rate)) as usize;
    let noise = common::noise(n, 11);
    let mut l = vec![0f32; n];
    let mut r = vec![0f32; n];
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let chord: f64 = [196.0, 246.9, 293.7, 392.0]
            .iter()
            .map(|f| (std::f64::consts::TAU * f * t).sin())
            .sum::<f64>()
            / 4.0;
        let pulse = (-(t % 0.5) * 20.0).exp() * (std::f64::consts::TAU * 80.0 * t).sin();
        l[i] = (0.25 * chord + 0.3 * pulse + 0.02 * f64::from(noise[i])) as f32;
        r[i] = (0.2 * chord + 0.3 * pulse - 0.02 * f64::from(noise[i])) as f32;
    }
    vec![l, r]
}

fn read_wav(path: &Path) -> (u32, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rate = r.spec().sample_rate;
    let v = r.samples::<f32>().map(|s| s.expect("sample")).collect();
    (rate, v)
}

fn q24(v: f32) -> f32 {
    let s = 8_388_608.0f64;
    ((f64::from(v) * s).round().clamp(-s, s - 1.0) / s) as f32
}

fn listen(b: &Box_, args: &[&str]) -> Child {
    b.cmd()
        .arg("listen")
        .args(["--via", &b.via(), "--silent", "--json"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("listen")
}

fn summary(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("no summary; stderr: {}", String::from_utf8_lossy(&o.stderr)))
}

fn first_frame(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.split("from engine frame ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no recording line in: {stderr}"))
}

fn play(b: &Box_, file: &Path, dump: &Path) -> Child {
    b.cmd()
        .args(["play", "--silent"])
        .arg(file)
        .env("LATHE_MONITOR_DUMP", dump)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("play")
}

/// Lossless means sample for sample: two listeners at once (FLAC 24-bit and
/// raw float) record exactly what the engine's callback produced, aligned
/// by frame number; the engine had no underruns.
#[test]
fn lossless_listeners_record_the_engine_output_sample_for_sample() {
    let _serial = serial();
    let b = Box_::new();
    let file = b.root.join("in.wav");
    common::write_wav_f32(&file, &music(5.0, 48_000), 48_000);
    let dump = b.root.join("dump.wav");
    let player = play(&b, &file, &dump);
    b.wait_socket();
    let flac_rec = b.root.join("flac.wav");
    let pcm_rec = b.root.join("pcm.wav");
    let fl = listen(
        &b,
        &[
            "--record",
            &flac_rec.display().to_string(),
            "--seconds",
            "3",
            "--no-reconnect",
        ],
    );
    let pc = listen(
        &b,
        &[
            "--codec",
            "pcm",
            "--record",
            &pcm_rec.display().to_string(),
            "--seconds",
            "3",
            "--no-reconnect",
        ],
    );
    let fo = fl.wait_with_output().expect("flac listener");
    let po = pc.wait_with_output().expect("pcm listener");
    let pl = player.wait_with_output().expect("play");
    assert!(
        pl.status.success(),
        "{}",
        String::from_utf8_lossy(&pl.stderr)
    );
    let meter = String::from_utf8_lossy(&pl.stdout);
    assert!(meter.trim_end().ends_with("underruns 0"), "{meter}");
    let (_, engine) = read_wav(&dump);
    for (o, rec, exact) in [(&fo, &flac_rec, false), (&po, &pcm_rec, true)] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        let s = summary(o);
        assert_eq!(s["bad_blocks"], 0, "{s}");
        assert_eq!(s["underruns"], 0, "{s}");
        let first = first_frame(&err) as usize;
        let (rate, got) = read_wav(rec);
        assert_eq!(rate, 48_000);
        assert!(
            got.len() >= 2 * 48_000 * 2,
            "recorded {} samples",
            got.len()
        );
        let energy = got.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / got.len() as f64;
        assert!(energy > 1e-4, "the recording holds the music, not silence");
        let mut worst = 0.0f32;
        for (i, v) in got.iter().enumerate() {
            let e = engine[first * 2 + i];
            let want = if exact { e } else { q24(e) };
            worst = worst.max((v - want).abs());
        }
        assert_eq!(
            worst,
            0.0,
            "{} differs from the engine's output",
            rec.display()
        );
    }
}

/// An A/B switch on the server is heard on the listener: the original (not
/// level-matched) of a quiet tone is 16 dB under the master.
#[test]
fn an_ab_switch_on_the_server_is_heard_on_the_listener() {
    let _serial = serial();
    use lathe::engine::Command as C;
    use lathe::engine::session::{PlayOptions, Playback};
    use lathe::plan::Plan;
    let b = Box_::new();
    let file = b.root.join("tone.wav");
    common::write_wav_f32(&file, &common::sine(440.0, -30.0, 10.0, 48_000, 2), 48_000);
    let dir = b.run_dir().join("lathe");
    std::fs::create_dir_all(&dir).expect("dir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let monitor = lathe::remote::hub::Monitor::start_at(&lathe::remote::socket::socket_path(
        &dir,
        std::process::id(),
    ))
    .expect("monitor");
    let cfg = lathe::session::presets::preset("streaming").expect("preset");
    let (gain, _) = lathe::plan::gain_plan(&file, &cfg).expect("gain");
    let plan = Plan::file(&file, &cfg, gain, 0.0).expect("plan");
    let mut p = Playback::open_plan(
        plan,
        &PlayOptions {
            force_null: true,
            monitor: Some(monitor.clone()),
            ..PlayOptions::default()
        },
    )
    .expect("open");
    p.send(C::SetLevelMatch(false));
    p.send(C::Play);
    let rec = b.root.join("ab.wav");
    let l = listen(
        &b,
        &[
            "--record",
            &rec.display().to_string(),
            "--seconds",
            "4",
            "--no-reconnect",
        ],
    );
    std::thread::sleep(Duration::from_millis(2000));
    let listeners = monitor.listeners();
    assert_eq!(listeners.len(), 1, "the interface sees its listener");
    assert!(listeners[0].kbps > 100.0, "{listeners:?}");
    p.send(C::SetProcessed(false));
    let o = l.wait_with_output().expect("listener");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (rate, got) = read_wav(&rec);
    let rms = |a: f64, z: f64| -> f64 {
        let (i, j) = (
            (a * f64::from(rate)) as usize * 2,
            (z * f64::from(rate)) as usize * 2,
        );
        let s = &got[i.min(got.len())..j.min(got.len())];
        10.0 * (s.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / s.len().max(1) as f64)
            .log10()
    };
    let (master, original) = (rms(0.5, 1.5), rms(2.8, 3.6));
    assert!(
        master - original > 12.0,
        "B {master:.1} dB then A {original:.1} dB on the listener"
    );
    drop(p);
}

/// A stream of random bytes, a greeting followed by random bytes, and a
/// server of another protocol version: one clear line or a quiet
/// recovery, never a panic or a hang.
#[test]
fn garbage_and_other_versions_give_one_clear_line() {
    let _serial = serial();
    let b = Box_::new();
    let run = |via: &str| -> Output {
        b.cmd()
            .args([
                "listen",
                "--silent",
                "--no-reconnect",
                "--json",
                "--seconds",
                "20",
            ])
            .args(["--via", via])
            .stdin(Stdio::null())
            .output()
            .expect("listen")
    };
    let o = run("head -c 200000 /dev/urandom");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("lathe monitor protocol"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let o = run(
        "printf 'LATHE-MONITOR 1 rate=48000 channels=2 bits=24\\n'; head -c 2000000 /dev/urandom",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("connection closed") && !err.contains("panicked"),
        "{err}"
    );
    let o = run("printf 'LATHE-MONITOR 2 rate=48000 channels=2 bits=24\\n'; sleep 10");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("protocol 2") && err.lines().count() <= 2,
        "{err}"
    );
    // Nothing to tap: the far side says so in one line.
    let o = b.cmd().arg("tap").output().expect("tap");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("no lathe is publishing"), "{err}");
}

/// Faults on a live stream: a client writing garbage into the socket, a
/// listener stopped for two seconds, the tap killed (the listener
/// reconnects), the player quitting with listeners attached. The engine is
/// never disturbed (no underruns) and the listeners recover.
#[test]
fn faults_leave_the_engine_undisturbed_and_listeners_recover() {
    let _serial = serial();
    let b = Box_::new();
    let file = b.root.join("in.wav");
    common::write_wav_f32(&file, &music(9.0, 48_000), 48_000);
    let player = play(&b, &file, &b.root.join("dump.wav"));
    let pid = b.wait_socket();
    let sock = b
        .run_dir()
        .join("lathe")
        .join(format!("monitor-{pid}.sock"));
    // A well-behaved listener throughout, and one whose tap dies every 2 s.
    let steady = listen(&b, &["--seconds", "6", "--no-reconnect"]);
    let flaky = b
        .cmd()
        .args(["listen", "--silent", "--json", "--seconds", "6"])
        .args(["--via", &format!("timeout 2 '{LATHE}' tap")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("listen");
    let stopped = listen(&b, &["--seconds", "6", "--no-reconnect"]);
    // Garbage into the socket.
    let mut g = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    let noise: Vec<u8> = common::noise(50_000, 5)
        .iter()
        .map(|v| (v * 127.0) as i8 as u8)
        .collect();
    let _ = g.write_all(&noise);
    // Stop one listener for two seconds.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signals to our own child.
    unsafe { libc::kill(stopped.id() as libc::pid_t, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(2000));
    unsafe { libc::kill(stopped.id() as libc::pid_t, libc::SIGCONT) };
    let so = steady.wait_with_output().expect("steady");
    let fo = flaky.wait_with_output().expect("flaky");
    let to = stopped.wait_with_output().expect("stopped");
    let s = summary(&so);
    assert_eq!(s["underruns"], 0, "{s}");
    assert_eq!(s["gap_frames"], 0, "{s}");
    assert!(
        s["frames_received"].as_u64().unwrap_or(0) >= 5 * 48_000,
        "{s}"
    );
    let f = summary(&fo);
    assert!(
        f["connections"].as_u64().unwrap_or(0) >= 2,
        "reconnected: {f}"
    );
    assert!(
        f["frames_received"].as_u64().unwrap_or(0) >= 3 * 48_000,
        "{f}"
    );
    let t = summary(&to);
    assert!(
        to.status.success(),
        "{}",
        String::from_utf8_lossy(&to.stderr)
    );
    assert!(
        t["frames_received"].as_u64().unwrap_or(0) >= 3 * 48_000,
        "recovered: {t}"
    );
    // The player finishes on time, undisturbed, with listeners still attached.
    let late = listen(&b, &["--seconds", "30"]);
    let t0 = Instant::now();
    let pl = player.wait_with_output().expect("play");
    assert!(t0.elapsed() < Duration::from_secs(10));
    let meter = String::from_utf8_lossy(&pl.stdout);
    assert!(meter.trim_end().ends_with("underruns 0"), "{meter}");
    // Its listener notices and keeps trying until told to stop.
    std::thread::sleep(Duration::from_millis(1200));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(late.id() as libc::pid_t, libc::SIGINT) };
    let lo = late.wait_with_output().expect("late");
    let err = String::from_utf8_lossy(&lo.stderr);
    assert!(lo.status.success(), "{err}");
    assert!(err.contains("reconnecting"), "{err}");
    assert!(!err.contains("panicked"));
}

/// Through a real sshd on 127.0.0.1 (its own keys and port): `lathe listen
/// HOST` records the engine's output sample for sample, and `lathe remote
/// HOST ARGS` runs lathe there and hears it here over one connection.
#[test]
fn through_a_real_sshd_listen_and_remote_work() {
    let _serial = serial();
    let b = Box_::new();
    let run = b.run_dir().display().to_string();
    let sshd = match common::sshd::Sshd::start(&[("XDG_RUNTIME_DIR", run.as_str())]) {
        Ok(s) => s,
        Err(why) => {
            println!("SKIPPED: {why}");
            return;
        }
    };
    let cfg = sshd.client_config.display().to_string();
    let file = b.root.join("in.wav");
    common::write_wav_f32(&file, &music(5.0, 48_000), 48_000);
    let dump = b.root.join("dump.wav");
    let player = play(&b, &file, &dump);
    b.wait_socket();
    let rec = b.root.join("ssh.wav");
    let o = b
        .cmd()
        .args(["listen", "lathe-test", "-F", &cfg, "--remote-lathe", LATHE])
        .args([
            "--silent",
            "--json",
            "--seconds",
            "3",
            "--no-reconnect",
            "--record",
        ])
        .arg(&rec)
        .stdin(Stdio::null())
        .output()
        .expect("listen");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let pl = player.wait_with_output().expect("play");
    assert!(pl.status.success());
    let (_, engine) = read_wav(&dump);
    let (_, got) = read_wav(&rec);
    let first = first_frame(&err) as usize;
    assert!(got.len() >= 2 * 48_000 * 2, "{} samples", got.len());
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, v)| *v == q24(engine[first * 2 + i])),
        "over ssh the recording equals the engine's output"
    );
    // lathe remote: the far side plays (here: `lathe play --silent FILE`),
    // this side hears it through the shared connection.
    let rec = b.root.join("remote.wav");
    let o = b
        .cmd()
        .args([
            "remote",
            "lathe-test",
            "-F",
            &cfg,
            "--remote-lathe",
            LATHE,
            "--silent",
        ])
        .arg("--record")
        .arg(&rec)
        .args(["play", "--silent"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("remote");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("underruns 0"));
    let (_, got) = read_wav(&rec);
    let energy = got.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / got.len().max(1) as f64;
    assert!(
        got.len() >= 48_000 * 2 * 2 && energy > 1e-4,
        "heard {} samples",
        got.len()
    );
    // The private control socket is gone.
    let left: Vec<_> = std::fs::read_dir(b.run_dir().join("lathe"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|n| !n.to_string_lossy().starts_with("cm-")),
        "{left:?}"
    );
}

/// Opus at 256 kb/s: the recording (48 kHz, placed by frame number with the
/// codec's delay taken off) matches the engine's output within 20 dB SNR
/// on music; and a link too slow for lossless (100 kB/s) makes the
/// listener switch to Opus by itself, after which nothing more is dropped.
#[test]
fn opus_is_close_and_a_slow_link_switches_to_it() {
    let _serial = serial();
    let b = Box_::new();
    let file = b.root.join("in.wav");
    common::write_wav_f32(&file, &music(8.0, 48_000), 48_000);
    let dump = b.root.join("dump.wav");
    let player = play(&b, &file, &dump);
    b.wait_socket();
    let rec = b.root.join("opus.wav");
    let op = listen(
        &b,
        &[
            "--codec",
            "opus",
            "--record",
            &rec.display().to_string(),
            "--seconds",
            "3",
            "--no-reconnect",
        ],
    );
    // 100 kB/s: about 800 kb/s, under FLAC's rate for this music.
    let slow = b
        .cmd()
        .args([
            "listen",
            "--silent",
            "--json",
            "--seconds",
            "7",
            "--no-reconnect",
        ])
        .args([
            "--via",
            &format!("'{LATHE}' tap | while dd bs=1000 count=1 2>/dev/null; do sleep 0.01; done"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("listen");
    let oo = op.wait_with_output().expect("opus listener");
    let so = slow.wait_with_output().expect("slow listener");
    let pl = player.wait_with_output().expect("play");
    assert!(pl.status.success());
    let err = String::from_utf8_lossy(&oo.stderr);
    assert!(oo.status.success(), "{err}");
    assert_eq!(summary(&oo)["codec"], "opus");
    let first = first_frame(&err) as usize;
    let (rate, got) = read_wav(&rec);
    assert_eq!(rate, 48_000);
    let (_, engine) = read_wav(&dump);
    let (mut e, mut sig) = (0.0f64, 0.0f64);
    // Skip the first 100 ms (the decoder settling).
    for (i, v) in got.iter().enumerate().skip(9600) {
        let w = engine[first * 2 + i];
        e += f64::from(v - w).powi(2);
        sig += f64::from(w).powi(2);
    }
    let snr = 10.0 * (sig / e).log10();
    assert!(snr > 20.0, "Opus SNR {snr:.1} dB");
    println!("opus 256 kb/s on music: SNR {snr:.1} dB");
    let s = summary(&so);
    let err = String::from_utf8_lossy(&so.stderr);
    assert!(so.status.success(), "{err}");
    assert_eq!(s["codec"], "opus", "{s}\n{err}");
    assert!(s["codec_switches"].as_u64().unwrap_or(0) >= 1, "{s}");
    assert!(err.contains("switching to opus"), "{err}");
}

/// A peer of another user is refused by its credentials even when it can
/// reach the socket (here the folder is opened up on purpose; normally it
/// is 0700 and it could not). Needs root to act as another user.
#[test]
fn a_peer_of_another_user_is_refused() {
    let _serial = serial();
    // SAFETY: getuid cannot fail.
    let python = Path::new("/usr/bin/python3");
    if unsafe { libc::getuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() || !python.exists()
    {
        println!("SKIPPED: acting as another user needs root, setpriv and /usr/bin/python3");
        return;
    }
    let b = Box_::new();
    let dir = b.run_dir().join("lathe");
    std::fs::create_dir_all(&dir).expect("dir");
    let sock = dir.join("monitor-1.sock");
    let monitor = lathe::remote::hub::Monitor::start_at(&sock).expect("monitor");
    let _tap = monitor.tap(48_000);
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [b.root.as_path(), b.run_dir().as_path(), dir.as_path()] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    }
    let script = format!(
        "import socket; s=socket.socket(socket.AF_UNIX); s.connect('{}'); s.settimeout(5); print(s.recv(200).decode())",
        sock.display()
    );
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(python)
        .args(["-c", &script])
        .output()
        .expect("setpriv");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("LATHE-MONITOR-ERROR refused: another user"),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The owner is served.
    let mut me = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    me.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut me, &mut buf).expect("read");
    assert!(buf[..n].starts_with(b"LATHE-MONITOR 1"));
}

/// A reopened playback (another delivery: another rate) switches the
/// stream: an attached listener is told the new format in a frame, and
/// blocks then carry the new rate's length.
#[test]
fn a_new_rate_is_announced_to_attached_listeners() {
    use lathe::remote::protocol::{Kind, Parsed, parse_frame};
    let _serial = serial();
    let b = Box_::new();
    let dir = b.run_dir().join("lathe");
    std::fs::create_dir_all(&dir).expect("dir");
    let sock = dir.join("monitor-7.sock");
    let monitor = lathe::remote::hub::Monitor::start_at(&sock).expect("monitor");
    let mut tap = monitor.tap(44_100);
    let mut c = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    c.write_all(b"HELLO 1 codec=pcm\n").expect("hello");
    // The greeting, once the hub has the first source; then the hello is in.
    let mut greeting = Vec::new();
    let mut one = [0u8; 1];
    while !greeting.ends_with(b"\n") {
        std::io::Read::read_exact(&mut c, &mut one).expect("greeting");
        greeting.push(one[0]);
    }
    assert!(String::from_utf8_lossy(&greeting).contains("rate=44100"));
    std::thread::sleep(Duration::from_millis(100));
    let buf = vec![0.25f32; 512];
    for _ in 0..40 {
        tap.push(&buf, 2);
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut tap = monitor.tap(48_000);
    for _ in 0..40 {
        tap.push(&buf, 2);
    }
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let t0 = Instant::now();
    let (mut lens, mut format) = (Vec::new(), None);
    while t0.elapsed() < Duration::from_secs(5) && !(format.is_some() && lens.last() == Some(&480))
    {
        let n = std::io::Read::read(&mut c, &mut chunk).expect("read");
        bytes.extend_from_slice(&chunk[..n]);
        while let Parsed::Frame(f, used) = parse_frame(&bytes) {
            bytes.drain(..used);
            match f.header.kind {
                Kind::Audio => lens.push(f.header.frames),
                Kind::Format => format = Some(String::from_utf8_lossy(&f.payload).into_owned()),
                Kind::Gap => {}
            }
        }
    }
    assert!(lens.contains(&441), "44.1 kHz blocks first: {lens:?}");
    assert_eq!(format.as_deref(), Some("rate=48000 channels=2 bits=24"));
    assert_eq!(lens.last(), Some(&480), "{lens:?}");
}
