//! `lathe listen`, `lathe tap` and `lathe remote`: hearing a remote lathe.

use std::path::PathBuf;
use std::process::ExitCode;

use super::*;

/// ssh arguments from `-o KEY=VALUE` options and a `-F` config file.
pub(super) fn ssh_args(options: &[String], config: Option<&std::path::Path>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(c) = config {
        v.push("-F".to_string());
        v.push(c.display().to_string());
    }
    for o in options {
        v.push("-o".to_string());
        v.push(o.clone());
    }
    v
}

pub(super) fn cmd_listen(opts: &crate::remote::listen::ListenOptions, json: bool) -> ExitCode {
    use std::io::IsTerminal;
    let quit = quit_on_signals();
    let keys = (opts.keys && std::io::stdin().is_terminal()).then(|| {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f2 = flag.clone();
        // Mirror q/Ctrl-C from the terminal into the quit flag.
        std::thread::spawn(move || {
            while !f2.load(std::sync::atomic::Ordering::Acquire) {
                if quit.load(std::sync::atomic::Ordering::Acquire) {
                    f2.store(true, std::sync::atomic::Ordering::Release);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            quit.store(true, std::sync::atomic::Ordering::Release);
        });
        (flag.clone(), crate::remote::listen::watch_keys(flag))
    });
    let r = crate::remote::listen::run(opts, quit);
    quit.store(true, std::sync::atomic::Ordering::Release);
    if let Some((flag, t)) = keys {
        flag.store(true, std::sync::atomic::Ordering::Release);
        let _ = t.join();
    }
    eprintln!();
    match r {
        Ok(s) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "frames_received": s.frames_received,
                        "underruns": s.underruns,
                        "gap_frames": s.gap_frames,
                        "bad_blocks": s.bad_blocks,
                        "connections": s.connections,
                        "max_buffer_ms": s.max_buffer_ms,
                        "drift_ppm": s.drift_ppm,
                        "rate": s.format.map(|f| f.rate),
                        "codec": s.codec.map(|c| c.name()),
                        "codec_switches": s.codec_switches,
                    })
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint_error(&format!("listen: {e}"));
            ExitCode::from(1)
        }
    }
}

pub(super) fn cmd_remote(
    host: &str,
    ssh_args: &[String],
    remote_lathe: &str,
    silent: bool,
    record: Option<PathBuf>,
    args: &[String],
) -> ExitCode {
    use std::sync::atomic::Ordering;
    let dir = match crate::remote::socket::runtime_dir() {
        Ok(d) => d,
        Err(e) => {
            eprint_error(&format!("remote: {e}"));
            return ExitCode::from(1);
        }
    };
    // One authentication: the interactive ssh is the master of a private
    // control socket, and the listener's ssh rides on it.
    let control = dir.join(format!("cm-{}", std::process::id()));
    let _ = std::fs::remove_file(&control);
    let cp = format!("ControlPath={}", control.display());
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let remote_cmd = std::iter::once(remote_lathe.to_string())
        .chain(args.iter().map(|a| quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut ui = std::process::Command::new("ssh");
    ui.arg("-t")
        .args([
            "-o",
            "ControlMaster=yes",
            "-o",
            &cp,
            "-o",
            "ControlPersist=no",
        ])
        .args(ssh_args)
        .arg(host)
        .arg(&remote_cmd);
    let quit = quit_on_signals();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = {
        let done = done.clone();
        let mut largs = ssh_args.to_vec();
        largs.extend([
            "-o".into(),
            "ControlMaster=no".into(),
            "-o".into(),
            cp.clone(),
        ]);
        let opts = crate::remote::listen::ListenOptions {
            host: Some(host.to_string()),
            ssh_args: largs,
            remote_lathe: remote_lathe.to_string(),
            silent,
            record,
            quiet: true,
            reconnect: true,
            ..Default::default()
        };
        let control = control.clone();
        std::thread::spawn(move || {
            // Wait for the interface's connection (and its password prompt).
            while !control.exists() && !done.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            if !done.load(Ordering::Acquire) {
                let _ = crate::remote::listen::run(&opts, &done);
            }
        })
    };
    let status = ui.status();
    done.store(true, Ordering::Release);
    let _ = quit.load(Ordering::Acquire);
    let _ = listener.join();
    let _ = std::fs::remove_file(&control);
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => {
            eprint_error(&format!("remote: cannot run ssh: {e}"));
            ExitCode::from(1)
        }
    }
}
