//! A temporary on-disk spool of f32 audio (interleaved, native endian), so
//! that the loudness search can run the limiter over the processed signal
//! several times without holding it in memory.
//!
//! On Unix the spool's name is removed the moment it is created: the data
//! lives only as long as the open file, so a render killed hard (kill -9, out
//! of memory, power loss) leaves nothing behind. Readers read by position
//! from the one open file. Elsewhere the file is removed when dropped, and
//! [`remove_stale`] clears what dead processes left.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{LatheError, Result};
use crate::io::AudioBlock;

/// A spool file being written or read.
pub struct Spool {
    path: PathBuf,
    file: Arc<File>,
    unlinked: bool,
    channels: usize,
    frames: u64,
    writer: Option<BufWriter<File>>,
    scratch: Vec<u8>,
}

impl Spool {
    /// Create a spool in `dir` for `channels` channels.
    pub fn create(dir: &Path, channels: usize) -> Result<Self> {
        let path = dir.join(format!(
            ".lathe-spool-{}-{:x}.f32",
            std::process::id(),
            rand_suffix()
        ));
        let f = File::options()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| LatheError::write(&path, format!("cannot create spool: {e}")))?;
        let read = f
            .try_clone()
            .map_err(|e| LatheError::write(&path, format!("cannot create spool: {e}")))?;
        // Unix: drop the name now; the open file holds the data.
        let unlinked = cfg!(unix) && std::fs::remove_file(&path).is_ok();
        Ok(Self {
            path,
            file: Arc::new(read),
            unlinked,
            channels,
            frames: 0,
            // Small enough that a whole spooling block (128 KiB of stereo)
            // goes to the file directly instead of being copied into the
            // buffer first; shorter writes are gathered.
            writer: Some(BufWriter::with_capacity(1 << 16, f)),
            scratch: Vec::new(),
        })
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Append the valid frames of `block`.
    pub fn write(&mut self, block: &AudioBlock) -> Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Err(LatheError::write(&self.path, "spool already closed"));
        };
        let c = block.channels.len();
        self.scratch.resize(block.frames * c * 4, 0);
        if let [l, r] = &block.channels[..] {
            // Stereo, the common case: both channels in one pass.
            for ((l, r), frame) in l[..block.frames]
                .iter()
                .zip(&r[..block.frames])
                .zip(self.scratch.chunks_exact_mut(8))
            {
                frame[..4].copy_from_slice(&l.to_ne_bytes());
                frame[4..].copy_from_slice(&r.to_ne_bytes());
            }
        } else {
            for (k, ch) in block.channels.iter().enumerate() {
                for (frame, v) in self
                    .scratch
                    .chunks_exact_mut(c * 4)
                    .zip(&ch[..block.frames])
                {
                    frame[k * 4..k * 4 + 4].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        w.write_all(&self.scratch)
            .map_err(|e| LatheError::write(&self.path, format!("spool write failed: {e}")))?;
        self.frames += block.frames as u64;
        Ok(())
    }

    /// Finish writing; the spool can then be read any number of times.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.into_inner().map_err(|e| {
                LatheError::write(&self.path, format!("spool flush failed: {}", e.error()))
            })?;
        }
        Ok(())
    }

    /// A reader from the start.
    pub fn reader(&self) -> Result<SpoolReader> {
        self.reader_at(0)
    }

    /// A reader starting at frame `frame`.
    pub fn reader_at(&self, frame: u64) -> Result<SpoolReader> {
        let frame = frame.min(self.frames);
        Ok(SpoolReader {
            file: Arc::clone(&self.file),
            offset: frame * self.channels as u64 * 4,
            channels: self.channels,
            left: self.frames - frame,
            bytes: Vec::new(),
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.writer.take();
        if !self.unlinked {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where a spool of about `bytes` bytes goes: `LATHE_SPOOL_DIR` when set;
/// else, on Linux, the RAM-backed `/dev/shm` when it has room for the spool
/// and the machine's available memory stays ample (at least four times the
/// spool plus 1 GiB, checked at every spool, so spools stop going there as
/// memory fills); else `dir`. A spool in RAM is written and read back
/// without the filesystem's page-cache and write-back costs (an hour's
/// planning spools 1.4 GB); its name is removed at once, so nothing is left
/// behind either way.
pub fn scratch_dir(dir: &Path, bytes: u64) -> PathBuf {
    if let Some(d) = std::env::var_os("LATHE_SPOOL_DIR") {
        return PathBuf::from(d);
    }
    #[cfg(target_os = "linux")]
    {
        let shm = Path::new("/dev/shm");
        let roomy = match (free_bytes(shm), available_memory()) {
            (Some(free), Some(available)) => fits_in_ram(bytes, free, available),
            _ => false,
        };
        if roomy && shm.is_dir() {
            return shm.to_path_buf();
        }
    }
    dir.to_path_buf()
}

/// Whether a spool of `bytes` bytes may go to a RAM filesystem with `free`
/// bytes free on a machine with `available` bytes of memory available:
/// twice the spool plus 256 MiB free, four times the spool plus 1 GiB
/// available.
fn fits_in_ram(bytes: u64, free: u64, available: u64) -> bool {
    free >= bytes.saturating_mul(2).saturating_add(256 << 20)
        && available >= bytes.saturating_mul(4).saturating_add(1 << 30)
}

/// Free bytes on the filesystem holding `dir`.
#[cfg(target_os = "linux")]
#[allow(clippy::useless_conversion)] // the fields are narrower on some targets
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path; `st` is written by statvfs.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (r == 0).then(|| u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// The kernel's estimate of memory available without swapping, bytes.
#[cfg(target_os = "linux")]
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Whether a process with this id is running (on Unix; elsewhere assumed).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: kill with signal 0 only checks that the process exists.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// The process id in a temporary file lathe names: `.lathe-spool-PID-….f32`
/// (spools) or `.NAME.PID.lathe-partial` (atomic writes).
fn temp_owner(name: &str) -> Option<u32> {
    if let Some(rest) = name.strip_prefix(".lathe-spool-") {
        return rest.split('-').next()?.parse().ok();
    }
    let stem = name.strip_prefix('.')?.strip_suffix(".lathe-partial")?;
    stem.rsplit('.').next()?.parse().ok()
}

/// Remove the temporary files (spools, half-written outputs) that processes
/// no longer running left in `dir`: what a render killed hard leaves behind
/// where the platform cannot unlink them early. Returns the files removed.
pub fn remove_stale(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    let me = std::process::id();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = temp_owner(&name.to_string_lossy()) else {
            continue;
        };
        if pid != me && !process_alive(pid) && e.file_type().is_ok_and(|t| t.is_file()) {
            let p = e.path();
            if std::fs::remove_file(&p).is_ok() {
                removed.push(p);
            }
        }
    }
    removed
}

fn rand_suffix() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (std::ptr::addr_of!(t) as u64)
}

/// Reads a spool back in blocks.
pub struct SpoolReader {
    file: Arc<File>,
    offset: u64,
    channels: usize,
    left: u64,
    bytes: Vec<u8>,
}

impl SpoolReader {
    /// Fill `block` (up to its capacity); returns frames read, 0 at the end.
    pub fn read(&mut self, block: &mut AudioBlock) -> Result<usize> {
        let n = (block.capacity() as u64).min(self.left) as usize;
        self.bytes.resize(n * self.channels * 4, 0);
        read_exact_at(&self.file, &mut self.bytes, self.offset)
            .map_err(|e| LatheError::Invalid(format!("spool read failed: {e}")))?;
        self.offset += self.bytes.len() as u64;
        let stride = self.channels * 4;
        let sample = |b: &[u8]| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        if let [l, r] = &mut block.channels[..] {
            // Stereo, the common case: both channels in one pass.
            for ((l, r), frame) in l[..n]
                .iter_mut()
                .zip(&mut r[..n])
                .zip(self.bytes.chunks_exact(8))
            {
                *l = sample(&frame[..4]);
                *r = sample(&frame[4..]);
            }
        } else {
            for (c, ch) in block.channels.iter_mut().enumerate() {
                for (d, frame) in ch[..n].iter_mut().zip(self.bytes.chunks_exact(stride)) {
                    *d = sample(&frame[c * 4..c * 4 + 4]);
                }
            }
        }
        self.left -= n as u64;
        block.frames = n;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(f, buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spools_go_to_ram_only_with_room_to_spare() {
        let gib = 1u64 << 30;
        // An hour-long album's track (92 MB) on a 24 GiB machine: RAM.
        assert!(fits_in_ram(92 << 20, 12 * gib, 20 * gib));
        // Memory nearly used up, or a RAM filesystem nearly full: disk.
        assert!(!fits_in_ram(92 << 20, 12 * gib, gib));
        assert!(!fits_in_ram(92 << 20, 300 << 20, 20 * gib));
        // A length not known (counted as enormous): disk.
        assert!(!fits_in_ram(u64::MAX / 8 * 8, 1 << 50, 1 << 50));
        // Wherever the spool goes, it can be created, written and read back.
        let dir = tempfile::tempdir().expect("tmp");
        let at = scratch_dir(dir.path(), 1 << 20);
        let mut spool = Spool::create(&at, 2).expect("spool");
        let mut block = AudioBlock::new(2, 4);
        block.channels[0][..4].copy_from_slice(&[0.5, -0.25, 1.0, 0.0]);
        block.channels[1][..4].copy_from_slice(&[0.1, 0.2, 0.3, 0.4]);
        block.frames = 4;
        spool.write(&block).expect("write");
        spool.finish().expect("finish");
        let mut back = AudioBlock::new(2, 8);
        assert_eq!(
            spool
                .reader()
                .expect("reader")
                .read(&mut back)
                .expect("read"),
            4
        );
        assert_eq!(back.channels[0][..4], [0.5, -0.25, 1.0, 0.0]);
        assert_eq!(back.channels[1][..4], [0.1, 0.2, 0.3, 0.4]);
    }

    /// Mono, stereo (its own interleaving loops) and three channels come
    /// back bit for bit, from the start and from a frame inside, across
    /// writes of several blocks.
    #[test]
    fn spools_round_trip_any_channel_count() {
        let dir = tempfile::tempdir().expect("tmp");
        for channels in 1..=3 {
            let mut spool = Spool::create(dir.path(), channels).expect("spool");
            let value = |c: usize, i: usize| (i as f32 * 0.001 - 0.3) * (c as f32 + 1.0);
            for start in [0, 700] {
                let mut block = AudioBlock::new(channels, 700);
                for (c, ch) in block.channels.iter_mut().enumerate() {
                    for (i, v) in ch.iter_mut().enumerate() {
                        *v = value(c, start + i);
                    }
                }
                block.frames = 700;
                spool.write(&block).expect("write");
            }
            spool.finish().expect("finish");
            for from in [0u64, 333] {
                let mut r = spool.reader_at(from).expect("reader");
                let mut back = AudioBlock::new(channels, 512);
                let mut at = from as usize;
                loop {
                    let n = r.read(&mut back).expect("read");
                    if n == 0 {
                        break;
                    }
                    for (c, ch) in back.channels.iter().enumerate() {
                        for (i, v) in ch[..n].iter().enumerate() {
                            assert_eq!(v.to_bits(), value(c, at + i).to_bits(), "{channels} ch");
                        }
                    }
                    at += n;
                }
                assert_eq!(at, 1400, "{channels} channels from {from}");
            }
        }
    }

    #[test]
    fn temp_names_give_their_owner() {
        assert_eq!(temp_owner(".lathe-spool-4242-1f3a.f32"), Some(4242));
        assert_eq!(temp_owner(".01 Quiet.wav.977.lathe-partial"), Some(977));
        assert_eq!(temp_owner("01 Quiet.wav"), None);
        assert_eq!(temp_owner(".hidden"), None);
    }
}
