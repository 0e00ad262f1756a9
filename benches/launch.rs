//! Shared by the benchmarks: run a peer or lathe as a child and report its
//! wall time, peak resident memory and CPU time.
//!
//! A forked child's peak RSS (`ru_maxrss`) counts memory it shared with its
//! parent, so children are launched through a fresh, small copy of the
//! benchmark binary (`LATHE_BENCH_LAUNCH=1`), which spawns the real command
//! and reports `wait4`'s figures on stdout.

use std::process::Command;
use std::time::{Duration, Instant};

/// If this process is a launcher, run the command in argv and exit.
pub fn launcher_main() {
    if std::env::var_os("LATHE_BENCH_LAUNCH").is_none() {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((prog, rest)) = args.split_first() else {
        std::process::exit(2);
    };
    let start = Instant::now();
    let (maxrss, cpu, ok) = spawn_wait(Command::new(prog).args(rest));
    println!(
        "LAUNCH {} {} {} {}",
        start.elapsed().as_secs_f64(),
        maxrss,
        ok,
        cpu
    );
    std::process::exit(0);
}

#[allow(clippy::zombie_processes)] // reaped by wait4 below
fn spawn_wait(cmd: &mut Command) -> (i64, f64, bool) {
    let Ok(child) = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        return (0, 0.0, false);
    };
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; the pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    let cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
    let ok = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (usage.ru_maxrss, cpu, ok)
}

/// Run `prog args…` through a launcher; returns (wall time, peak RSS MB, success).
#[allow(dead_code)]
pub fn run(prog: &str, args: &[&std::ffi::OsStr]) -> (Duration, f64, bool) {
    let (t, m, ok, _) = run_cpu(prog, args);
    (t, m, ok)
}

/// Like [`run`], also returning the child's CPU time (user + system), seconds.
pub fn run_cpu(prog: &str, args: &[&std::ffi::OsStr]) -> (Duration, f64, bool, f64) {
    let fail = (Duration::ZERO, 0.0, false, 0.0);
    let Ok(me) = std::env::current_exe() else {
        return fail;
    };
    let Ok(out) = Command::new(me)
        .env("LATHE_BENCH_LAUNCH", "1")
        .arg(prog)
        .args(args)
        .output()
    else {
        return fail;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().find(|l| l.starts_with("LAUNCH ")) else {
        return fail;
    };
    let f: Vec<&str> = line.split_whitespace().collect();
    let secs: f64 = f.get(1).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let kb: f64 = f.get(2).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let ok = f.get(3) == Some(&"true");
    let cpu: f64 = f.get(4).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (Duration::from_secs_f64(secs), kb / 1024.0, ok, cpu)
}
