//! A private OpenSSH server on 127.0.0.1 for tests and benchmarks: its own
//! host and user keys, a free port, its own process, stopped on drop.
//! `Sshd::start` says why when it cannot run (no sshd installed).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running test sshd and the client config that reaches it as host
/// `lathe-test`.
pub struct Sshd {
    child: Child,
    /// The port it listens on (127.0.0.1 only).
    pub port: u16,
    /// An ssh client config (`ssh -F`) for host `lathe-test`.
    pub client_config: PathBuf,
    _dir: tempfile::TempDir,
}

fn keygen(path: &Path) -> Result<(), String> {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ssh-keygen: {}",
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

impl Sshd {
    /// Start one; `env` is set for sessions (through `SetEnv`).
    pub fn start(env: &[(&str, &str)]) -> Result<Self, String> {
        let sshd = PathBuf::from("/usr/sbin/sshd");
        if !sshd.exists() {
            return Err("sshd is not installed (.ci/deps installs openssh-server)".into());
        }
        if Command::new("ssh").arg("-V").output().is_err() {
            return Err("ssh is not installed".into());
        }
        // Privilege separation needs this folder (when run as root).
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        keygen(&d.join("host_key"))?;
        keygen(&d.join("user_key"))?;
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys"))
            .map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                Command::new("id")
                    .arg("-un")
                    .output()
                    .ok()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            })
            .unwrap_or_else(|| "root".into());
        let accept: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
        let server = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin yes\nLogLevel ERROR\n{}",
            if accept.is_empty() {
                String::new()
            } else {
                format!("AcceptEnv {}\n", accept.join(" "))
            },
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), server).map_err(|e| e.to_string())?;
        let set_env: String = env
            .iter()
            .map(|(k, v)| format!("  SetEnv {k}={v}\n"))
            .collect();
        let client = format!(
            "Host lathe-test\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {d}/user_key\n  IdentitiesOnly yes\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n  BatchMode yes\n{set_env}",
            d = d.display()
        );
        let client_config = d.join("ssh_config");
        std::fs::write(&client_config, client).map_err(|e| e.to_string())?;
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("sshd: {e}"))?;
        let me = Self {
            child,
            port,
            client_config,
            _dir: dir,
        };
        let t0 = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                return Err("sshd did not start listening".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // A session really works (keys, config) before anyone relies on it.
        let o = Command::new("ssh")
            .arg("-F")
            .arg(&me.client_config)
            .args(["lathe-test", "true"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(format!(
                "ssh to the test sshd failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(me)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
