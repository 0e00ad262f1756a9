//! Atomic output files: write to a temporary file in the target directory,
//! then rename over the target. A reader never sees a half-written file, an
//! existing file is replaced only when asked (`force`), and an input file is
//! never opened for writing.
//!
//! On Linux the temporary file is anonymous (`O_TMPFILE`): it has no name
//! until it is complete and synced, when it is linked in beside the target
//! and renamed over it, so a process killed hard (kill -9, out of memory,
//! power loss) leaves no half-written file behind. Where `O_TMPFILE` is not
//! available (other systems, some file systems) a hidden named file
//! `.NAME.PID.lathe-partial` is used and removed on drop; the renderer
//! clears those of dead processes before it writes
//! (`plan::spool::remove_stale`).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{LatheError, Result};

/// A file being written atomically. Write through it ([`std::io::Write`]),
/// then call [`AtomicFile::commit`] to publish it; dropping it uncommitted
/// removes the temporary file.
#[derive(Debug)]
pub struct AtomicFile {
    writer: Option<BufWriter<File>>,
    pending: PendingFile,
}

/// The temporary half of an atomic write whose writer has been handed out
/// (e.g. to an encoder that closes it itself). [`PendingFile::commit`]
/// publishes it; dropping it uncommitted deletes the temporary file.
#[derive(Debug)]
pub struct PendingFile {
    target: PathBuf,
    temp: PathBuf,
    /// The anonymous file (a second handle to it), when `O_TMPFILE` worked.
    anonymous: Option<File>,
    committed: bool,
}

impl PendingFile {
    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Sync the temporary file to disk and rename it onto the target.
    pub fn commit(mut self) -> Result<PathBuf> {
        if let Some(f) = &self.anonymous {
            f.sync_all()
                .map_err(|e| LatheError::write(&self.target, format!("sync failed: {e}")))?;
            link_anonymous(f, &self.temp).map_err(|e| {
                LatheError::write(&self.target, format!("cannot link into place: {e}"))
            })?;
        } else {
            let f = File::open(&self.temp)
                .map_err(|e| LatheError::write(&self.target, format!("cannot reopen: {e}")))?;
            f.sync_all()
                .map_err(|e| LatheError::write(&self.target, format!("sync failed: {e}")))?;
        }
        let renamed = std::fs::rename(&self.temp, &self.target)
            .map_err(|e| LatheError::write(&self.target, format!("cannot move into place: {e}")));
        if renamed.is_err() && self.anonymous.is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
        renamed?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // An anonymous file vanishes with its last handle.
        if !self.committed && self.anonymous.is_none() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Check that `target` may be written: its folder exists, it is not a
/// directory, it is not one of `inputs`, and it does not exist unless `force`.
pub fn check_output(target: &Path, inputs: &[PathBuf], force: bool) -> Result<()> {
    if target.is_dir() {
        return Err(LatheError::write(target, "is a directory"));
    }
    let parent = parent_dir(target);
    if !parent.is_dir() {
        return Err(LatheError::write(
            target,
            format!("output folder {} does not exist", parent.display()),
        ));
    }
    if let Ok(t) = target.canonicalize() {
        for input in inputs {
            if input.canonicalize().is_ok_and(|i| i == t) {
                return Err(LatheError::write(
                    target,
                    "is also an input; lathe never overwrites its inputs",
                ));
            }
        }
    }
    if target.exists() && !force {
        return Err(LatheError::write(
            target,
            "already exists (use --force to replace it)",
        ));
    }
    Ok(())
}

fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl AtomicFile {
    /// Start writing `target` (see [`check_output`] for the rules).
    pub fn create(target: &Path, inputs: &[PathBuf], force: bool) -> Result<Self> {
        check_output(target, inputs, force)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let dir = parent_dir(target);
        let temp = dir.join(format!(".{name}.{}.lathe-partial", std::process::id()));
        let (file, anonymous) = match open_anonymous(&dir) {
            Some(f) => {
                let second = f
                    .try_clone()
                    .map_err(|e| LatheError::write(target, format!("cannot create file: {e}")))?;
                (f, Some(second))
            }
            None => {
                let f = OpenOptions::new()
                    .write(true)
                    .read(true)
                    .create_new(true)
                    .open(&temp)
                    .map_err(|e| LatheError::write(target, format!("cannot create file: {e}")))?;
                (f, None)
            }
        };
        Ok(Self {
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
            pending: PendingFile {
                target: target.to_path_buf(),
                temp,
                anonymous,
                committed: false,
            },
        })
    }

    /// The final path this file will have.
    pub fn target(&self) -> &Path {
        &self.pending.target
    }

    /// Split into the buffered writer and the pending publication.
    pub fn into_parts(mut self) -> (BufWriter<File>, PendingFile) {
        let w = match self.writer.take() {
            Some(w) => w,
            None => unreachable!("writer is only taken here, which consumes self"),
        };
        (w, self.pending)
    }

    /// Flush and publish the file.
    pub fn commit(mut self) -> Result<PathBuf> {
        if let Some(w) = self.writer.take() {
            w.into_inner().map_err(|e| {
                LatheError::write(&self.pending.target, format!("write failed: {}", e.error()))
            })?;
        }
        self.pending.commit()
    }

    fn w(&mut self) -> &mut BufWriter<File> {
        match self.writer.as_mut() {
            Some(w) => w,
            None => unreachable!("writer is only taken by methods that consume self"),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.w().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w().flush()
    }
}

/// An unnamed file in `dir` (Linux `O_TMPFILE`), when the system and the file
/// system allow it and `/proc` is there to link it in by.
#[cfg(target_os = "linux")]
fn open_anonymous(dir: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if std::env::var_os("LATHE_NO_TMPFILE").is_some() || !Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o666)
        .open(dir)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_anonymous(_dir: &Path) -> Option<File> {
    None
}

/// Give the anonymous file `f` the name `at` (which must not exist).
#[cfg(target_os = "linux")]
fn link_anonymous(f: &File, at: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    // A stale name of ours (same pid, an earlier crash) would block the link.
    let _ = std::fs::remove_file(at);
    let from = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let to = CString::new(at.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: both paths are valid NUL-terminated strings for the call.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn link_anonymous(_f: &File, _at: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_file_has_no_name_until_committed() {
        let dir = std::env::temp_dir().join(format!("lathe-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let target = dir.join("out.bin");
        let mut f = AtomicFile::create(&target, &[], false).expect("create");
        f.write_all(b"hello").expect("write");
        f.flush().expect("flush");
        let names = |d: &Path| std::fs::read_dir(d).expect("ls").count();
        if cfg!(target_os = "linux") && f.pending.anonymous.is_some() {
            assert_eq!(names(&dir), 0, "an anonymous temporary file has no name");
        }
        assert_eq!(f.commit().expect("commit"), target);
        assert_eq!(std::fs::read(&target).expect("read"), b"hello");
        assert_eq!(names(&dir), 1);
        // Dropped uncommitted: nothing appears, the old file stays.
        let mut g = AtomicFile::create(&target, &[], true).expect("create");
        g.write_all(b"other").expect("write");
        drop(g);
        assert_eq!(std::fs::read(&target).expect("read"), b"hello");
        assert_eq!(names(&dir), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
