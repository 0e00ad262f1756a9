//! Atomic output files: write to a temporary file in the target directory,
//! then rename over the target. A reader never sees a half-written file, an
//! existing file is replaced only when asked (`force`), and an input file is
//! never opened for writing.

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
    committed: bool,
}

impl PendingFile {
    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Sync the temporary file to disk and rename it onto the target.
    pub fn commit(mut self) -> Result<PathBuf> {
        let f = File::open(&self.temp)
            .map_err(|e| LatheError::write(&self.target, format!("cannot reopen: {e}")))?;
        f.sync_all()
            .map_err(|e| LatheError::write(&self.target, format!("sync failed: {e}")))?;
        std::fs::rename(&self.temp, &self.target)
            .map_err(|e| LatheError::write(&self.target, format!("cannot move into place: {e}")))?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
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
        let temp = parent_dir(target).join(format!(".{name}.{}.lathe-partial", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| LatheError::write(target, format!("cannot create file: {e}")))?;
        Ok(Self {
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
            pending: PendingFile {
                target: target.to_path_buf(),
                temp,
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
