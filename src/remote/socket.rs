//! The private folder and Unix sockets the monitor output is published on.
//!
//! The folder is `$XDG_RUNTIME_DIR/lathe/` (a per-user tmpfs on systemd
//! machines), else `lathe-UID/` in the temp folder. It is created 0700 and
//! refused if it exists with other owners or wider permissions; each
//! publishing process binds `monitor-PID.sock` there, 0600. A connecting
//! peer of another user is refused (its credentials are checked on
//! accept), so only the user who runs lathe can hear it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::plan::spool::process_alive;

/// The current user's id.
pub fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// The private folder for monitor sockets (created if missing), or why it
/// cannot be used.
pub fn runtime_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("lathe"),
        None => std::env::temp_dir().join(format!("lathe-{}", uid())),
    };
    if !dir.exists() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("{}: cannot create folder: {e}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{}: cannot make it private: {e}", dir.display()))?;
    }
    let m = std::fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !m.is_dir() || m.uid() != uid() || m.mode() & 0o077 != 0 {
        return Err(format!(
            "{}: refusing to use it: not a folder private to this user (mode {:o}, owner {})",
            dir.display(),
            m.mode() & 0o777,
            m.uid()
        ));
    }
    Ok(dir)
}

/// The socket a process publishes on.
pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("monitor-{pid}.sock"))
}

fn socket_pid(name: &str) -> Option<u32> {
    name.strip_prefix("monitor-")?
        .strip_suffix(".sock")?
        .parse()
        .ok()
}

/// Remove the sockets of processes that are no longer running.
pub fn remove_stale(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Some(pid) = socket_pid(&e.file_name().to_string_lossy())
                && !process_alive(pid)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The socket to connect to: process `pid`'s, else the newest publisher's.
pub fn find_socket(pid: Option<u32>) -> Result<PathBuf, String> {
    let dir = runtime_dir()?;
    if let Some(p) = pid {
        let s = socket_path(&dir, p);
        return if s.exists() && process_alive(p) {
            Ok(s)
        } else {
            Err(format!(
                "process {p} publishes no monitor output here ({})",
                dir.display()
            ))
        };
    }
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let Some(p) = socket_pid(&e.file_name().to_string_lossy()) else {
                continue;
            };
            if !process_alive(p) {
                continue;
            }
            let t = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
                best = Some((t, e.path()));
            }
        }
    }
    best.map(|(_, p)| p).ok_or_else(|| {
        "no lathe is publishing its monitor output on this machine (start `lathe SESSION` or `lathe play` here, e.g. in tmux)".to_string()
    })
}

/// The user id of the process at the other end of a Unix socket.
pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> Option<u32> {
    use std::os::unix::io::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a valid socket, and a buffer of the size given.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_names_and_peer_credentials() {
        assert_eq!(socket_pid("monitor-123.sock"), Some(123));
        assert_eq!(socket_pid("monitor-x.sock"), None);
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        assert_eq!(peer_uid(&a), Some(uid()));
    }
}
