//! DDP 2.00 filesets: what a CD pressing plant takes instead of a folder of
//! WAVs. A fileset is one folder:
//!
//! - `DDPID` (128 bytes): "DDP 2.00", the UPC/EAN, the disc type "CD".
//! - `DDPMS`: one 128-byte map packet per stream: the audio (`D0`,
//!   `IMAGE.DAT`, length in sectors, the 2 s pause before track 1 as its
//!   pre-gap), the PQ descriptor (`S0`, "PQ DESCR", `PQDESCR`) and CD-TEXT
//!   (`S0`, "CDTEXT", `CDTEXT.BIN`), lengths of the last two in bytes.
//! - `PQDESCR`: 64-byte entries: track 00 index 00 at 00:00:00 (the pause,
//!   with the UPC/EAN), each track's index 00 (its pregap, when it has one)
//!   and index 01 (with its ISRC), the lead-out `AA`; times in absolute
//!   disc time (minutes, seconds, frames of 1/75 s), so track 1 starts at
//!   00:02:00.
//! - `IMAGE.DAT`: the album's audio after the pause, 16-bit stereo
//!   little-endian PCM at 44.1 kHz, whole sectors of 2,352 bytes (588
//!   frames, 1/75 s), the last padded with silence.
//! - `CDTEXT.BIN`: CD-TEXT packs of 18 bytes (type, track, sequence,
//!   block/character position, 12 bytes of ISO-8859-1 text, CRC-16):
//!   album and track titles (0x80) and performers (0x81), then the size
//!   information (0x8F).
//! - `CHECKSUM.MD5`: the MD5 of every other file, in `md5sum` format (a
//!   plant's convention, not part of DDP 2.00).
//!
//! The fields of each record are written down once, below, with their
//! offsets and sizes ([`ddpid`], [`ms`], [`pq`]); the tests check that each
//! layout tiles its record exactly.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::atomic::AtomicFile;
use crate::error::{LatheError, Result};

/// Bytes in a DDPID record.
pub const DDPID_LEN: usize = 128;
/// Bytes in a DDPMS map packet.
pub const MS_LEN: usize = 128;
/// Bytes in a PQ descriptor entry.
pub const PQ_LEN: usize = 64;
/// Bytes in a CD-TEXT pack.
pub const PACK_LEN: usize = 18;
/// The most CD-TEXT packs a block holds.
pub const MAX_PACKS: usize = 255;
/// Bytes in a CD-DA sector.
pub const SECTOR_BYTES: usize = 2352;
/// Frames (stereo samples) in a sector: 1/75 s at 44.1 kHz.
pub const SECTOR_FRAMES: u64 = 588;
/// Sectors of the pause before track 1 (2 s).
pub const PAUSE_SECTORS: u64 = 150;
/// The audio image's file name.
pub const IMAGE: &str = "IMAGE.DAT";
/// The PQ descriptor's file name.
pub const PQ_FILE: &str = "PQDESCR";
/// The CD-TEXT file's name.
pub const CDTEXT_FILE: &str = "CDTEXT.BIN";
/// The checksum file's name.
pub const CHECKSUMS: &str = "CHECKSUM.MD5";

/// A field of a fixed-width ASCII record: its offset and size, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Offset in the record, bytes.
    pub at: usize,
    /// Size, bytes.
    pub len: usize,
}

const fn f(at: usize, len: usize) -> Field {
    Field { at, len }
}

/// The DDPID record (128 bytes).
pub mod ddpid {
    use super::{Field, f};
    /// "DDP 2.00".
    pub const LEVEL: Field = f(0, 8);
    /// UPC/EAN, 13 digits.
    pub const UPC: Field = f(8, 13);
    /// Map stream start (blank: DDPMS is a file).
    pub const MSS: Field = f(21, 8);
    /// Map stream length (blank).
    pub const MSL: Field = f(29, 8);
    /// Media number.
    pub const MED: Field = f(37, 1);
    /// Master ID.
    pub const MID: Field = f(38, 48);
    /// Book.
    pub const BK: Field = f(86, 1);
    /// Disc type: "CD".
    pub const TYPE: Field = f(87, 2);
    /// Number of sides.
    pub const NSIDE: Field = f(89, 1);
    /// Side.
    pub const SIDE: Field = f(90, 1);
    /// Number of layers.
    pub const NLAYER: Field = f(91, 1);
    /// Layer.
    pub const LAYER: Field = f(92, 1);
    /// User text length.
    pub const TXTLEN: Field = f(93, 2);
    /// User text.
    pub const TXT: Field = f(95, 33);
    /// Every field in order.
    pub const ALL: [Field; 14] = [
        LEVEL, UPC, MSS, MSL, MED, MID, BK, TYPE, NSIDE, SIDE, NLAYER, LAYER, TXTLEN, TXT,
    ];
}

/// A DDPMS map packet (128 bytes).
pub mod ms {
    use super::{Field, f};
    /// "VVVM".
    pub const MPV: Field = f(0, 4);
    /// Data stream type: D0 main (audio), S0 subcode, T0 text.
    pub const DST: Field = f(4, 2);
    /// Data stream pointer (start sector on the disc).
    pub const DSP: Field = f(6, 8);
    /// Data stream length: sectors (D0) or bytes.
    pub const DSL: Field = f(14, 8);
    /// Data stream start (offset in the file).
    pub const DSS: Field = f(22, 8);
    /// Subcode descriptor: "PQ DESCR", "CDTEXT".
    pub const SUB: Field = f(30, 8);
    /// CD mode: "DA".
    pub const CDM: Field = f(38, 2);
    /// Source storage mode: 7 = 2,352 bytes per sector.
    pub const SSM: Field = f(40, 1);
    /// Scrambled: 0.
    pub const SCR: Field = f(41, 1);
    /// Pre-gap part 1, sectors.
    pub const PRE1: Field = f(42, 4);
    /// Pre-gap part 2, sectors (the 2 s pause: 150).
    pub const PRE2: Field = f(46, 4);
    /// Post-gap, sectors.
    pub const PST: Field = f(50, 4);
    /// Media number.
    pub const MED: Field = f(54, 1);
    /// Track number.
    pub const TRK: Field = f(55, 2);
    /// Index number.
    pub const IDX: Field = f(57, 2);
    /// ISRC.
    pub const ISRC: Field = f(59, 12);
    /// File name length.
    pub const SIZ: Field = f(71, 3);
    /// File name.
    pub const NAM: Field = f(74, 17);
    /// New-track flag.
    pub const NEW: Field = f(91, 1);
    /// Pre-gap part 1 of the next stream.
    pub const PRE1NXT: Field = f(92, 4);
    /// Pause add.
    pub const PAUSE: Field = f(96, 8);
    /// Offset.
    pub const OFS: Field = f(104, 9);
    /// Reserved.
    pub const PAD: Field = f(113, 15);
    /// Every field in order.
    pub const ALL: [Field; 23] = [
        MPV, DST, DSP, DSL, DSS, SUB, CDM, SSM, SCR, PRE1, PRE2, PST, MED, TRK, IDX, ISRC, SIZ,
        NAM, NEW, PRE1NXT, PAUSE, OFS, PAD,
    ];
}

/// A PQ descriptor entry (64 bytes).
pub mod pq {
    use super::{Field, f};
    /// "VVVS".
    pub const SPV: Field = f(0, 4);
    /// Track: "00"–"99", "AA" for the lead-out.
    pub const TRK: Field = f(4, 2);
    /// Index: "00"–"99".
    pub const IDX: Field = f(6, 2);
    /// Hours.
    pub const HRS: Field = f(8, 2);
    /// Minutes.
    pub const MIN: Field = f(10, 2);
    /// Seconds.
    pub const SEC: Field = f(12, 2);
    /// Frames (1/75 s).
    pub const FRM: Field = f(14, 2);
    /// Control and address (hex): 01 = two-channel audio, no
    /// pre-emphasis, copy not permitted.
    pub const CTL1: Field = f(16, 2);
    /// Second control byte.
    pub const CTL2: Field = f(18, 2);
    /// ISRC, 12 characters.
    pub const ISRC: Field = f(20, 12);
    /// UPC/EAN, 13 digits.
    pub const UPC: Field = f(32, 13);
    /// Text.
    pub const TXT: Field = f(45, 19);
    /// Every field in order.
    pub const ALL: [Field; 12] = [
        SPV, TRK, IDX, HRS, MIN, SEC, FRM, CTL1, CTL2, ISRC, UPC, TXT,
    ];
}

/// Write `text` into `rec` at `field`, space-padded (ISO-8859-1 bytes; other
/// characters become '?').
pub fn put(rec: &mut [u8], field: Field, text: &str) {
    let bytes: Vec<u8> = latin1(text);
    for i in 0..field.len {
        rec[field.at + i] = bytes.get(i).copied().unwrap_or(b' ');
    }
}

/// The text of `field` in `rec`, trailing spaces and NULs trimmed.
pub fn get(rec: &[u8], field: Field) -> String {
    let raw = rec.get(field.at..field.at + field.len).unwrap_or(&[]);
    raw.iter()
        .map(|&b| b as char)
        .collect::<String>()
        .trim_end_matches([' ', '\0'])
        .to_string()
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn number(rec: &[u8], field: Field) -> Option<u64> {
    let s = get(rec, field);
    let t = s.trim();
    if t.is_empty() { None } else { t.parse().ok() }
}

/// One track of a disc: where it starts and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscTrack {
    /// Title (CD-TEXT).
    pub title: String,
    /// Performer (CD-TEXT; empty: the album's).
    pub performer: String,
    /// ISRC, 12 characters without hyphens.
    pub isrc: Option<String>,
    /// Index 00 (the start of its pregap), sectors from the image's start.
    pub index0: Option<u64>,
    /// Index 01 (the track's start), sectors from the image's start.
    pub index1: u64,
}

/// What a disc carries besides its audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disc {
    /// Album title (CD-TEXT).
    pub title: String,
    /// Album performer (CD-TEXT).
    pub performer: String,
    /// UPC/EAN, 13 digits.
    pub upc: Option<String>,
    /// The tracks in order.
    pub tracks: Vec<DiscTrack>,
    /// The image's length, sectors (the lead-out starts after it).
    pub sectors: u64,
}

/// `mm`, `ss`, `ff` of absolute sector `s`.
pub fn msf(s: u64) -> (u64, u64, u64) {
    (s / 4500, s / 75 % 60, s % 75)
}

/// One PQ entry's bytes.
fn pq_entry(track: &str, index: u8, sector: u64, isrc: Option<&str>, upc: Option<&str>) -> Vec<u8> {
    let mut r = vec![b' '; PQ_LEN];
    let (m, s, fr) = msf(sector);
    put(&mut r, pq::SPV, "VVVS");
    put(&mut r, pq::TRK, track);
    put(&mut r, pq::IDX, &format!("{index:02}"));
    put(&mut r, pq::HRS, "00");
    put(&mut r, pq::MIN, &format!("{m:02}"));
    put(&mut r, pq::SEC, &format!("{s:02}"));
    put(&mut r, pq::FRM, &format!("{fr:02}"));
    put(&mut r, pq::CTL1, "01");
    put(&mut r, pq::CTL2, "00");
    if let Some(i) = isrc {
        put(&mut r, pq::ISRC, i);
    }
    if let Some(u) = upc {
        put(&mut r, pq::UPC, u);
    }
    r
}

/// The PQ descriptor of `disc`.
pub fn pq_bytes(disc: &Disc) -> Vec<u8> {
    let upc = disc.upc.as_deref();
    let mut out = pq_entry("00", 0, 0, None, upc);
    for (k, t) in disc.tracks.iter().enumerate() {
        let num = format!("{:02}", k + 1);
        if let Some(i0) = t.index0 {
            out.extend(pq_entry(&num, 0, PAUSE_SECTORS + i0, None, None));
        }
        out.extend(pq_entry(
            &num,
            1,
            PAUSE_SECTORS + t.index1,
            t.isrc.as_deref(),
            None,
        ));
    }
    out.extend(pq_entry("AA", 1, PAUSE_SECTORS + disc.sectors, None, upc));
    out
}

fn ms_packet(stream: &str, length: u64, subcode: &str, file: &str, audio: bool) -> Vec<u8> {
    let mut r = vec![b' '; MS_LEN];
    put(&mut r, ms::MPV, "VVVM");
    put(&mut r, ms::DST, stream);
    put(&mut r, ms::DSL, &format!("{length:08}"));
    put(&mut r, ms::DSS, &format!("{:08}", 0));
    put(&mut r, ms::SUB, subcode);
    if audio {
        put(&mut r, ms::DSP, &format!("{PAUSE_SECTORS:08}"));
        put(&mut r, ms::CDM, "DA");
        put(&mut r, ms::SSM, "7");
        put(&mut r, ms::SCR, "0");
        put(&mut r, ms::PRE1, "0000");
        put(&mut r, ms::PRE2, &format!("{PAUSE_SECTORS:04}"));
        put(&mut r, ms::PST, "0000");
    }
    put(&mut r, ms::SIZ, &format!("{:03}", file.len()));
    put(&mut r, ms::NAM, file);
    r
}

const CD_TEXT_CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_GSM);

/// CD-TEXT packs for `disc`: titles (0x80) and performers (0x81) of the
/// album (track 0) and each track, then three size-information packs
/// (0x8F). Empty when the disc has no text.
pub fn cd_text_bytes(disc: &Disc) -> Vec<u8> {
    let mut packs: Vec<[u8; PACK_LEN]> = Vec::new();
    let mut counts = [0u8; 16];
    let fields: [(u8, String, Vec<String>); 2] = [
        (
            0x80,
            disc.title.clone(),
            disc.tracks.iter().map(|t| t.title.clone()).collect(),
        ),
        (
            0x81,
            disc.performer.clone(),
            disc.tracks
                .iter()
                .map(|t| {
                    if t.performer.is_empty() {
                        disc.performer.clone()
                    } else {
                        t.performer.clone()
                    }
                })
                .collect(),
        ),
    ];
    for (kind, album, tracks) in &fields {
        if album.is_empty() && tracks.iter().all(String::is_empty) {
            continue;
        }
        // The texts run on from pack to pack, each ending with a NUL; a
        // pack names the track its first character belongs to and how far
        // into that track's text it starts (at most 15).
        let mut stream: Vec<(u8, u8, u8)> = Vec::new(); // (byte, track, position)
        for (n, text) in std::iter::once(album).chain(tracks).enumerate() {
            for (pos, b) in latin1(text).into_iter().chain([0]).enumerate() {
                stream.push((b, n as u8, pos.min(15) as u8));
            }
        }
        for chunk in stream.chunks(12) {
            let mut p = [0u8; PACK_LEN];
            p[0] = *kind;
            p[1] = chunk[0].1;
            p[3] = chunk[0].2;
            for (i, c) in chunk.iter().enumerate() {
                p[4 + i] = c.0;
            }
            packs.push(p);
            counts[usize::from(kind - 0x80)] += 1;
        }
    }
    if packs.is_empty() {
        return Vec::new();
    }
    // Size information: first and last track, pack counts per type, the
    // last sequence number, language code 0x09 (English) for block 0.
    counts[15] = 3;
    let total = packs.len() + 3;
    let mut info = [0u8; 36];
    info[1] = 1;
    info[2] = disc.tracks.len() as u8;
    info[4..20].copy_from_slice(&counts);
    info[20] = (total - 1) as u8;
    info[28] = 0x09;
    for (i, part) in info.chunks(12).enumerate() {
        let mut p = [0u8; PACK_LEN];
        p[0] = 0x8f;
        p[1] = i as u8;
        p[4..16].copy_from_slice(part);
        packs.push(p);
    }
    let mut out = Vec::with_capacity(packs.len() * PACK_LEN);
    for (seq, mut p) in packs.into_iter().enumerate() {
        p[2] = seq as u8;
        let crc = CD_TEXT_CRC.checksum(&p[..16]);
        p[16..].copy_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&p);
    }
    out
}

/// The DDPID record for `disc`.
pub fn ddpid_bytes(disc: &Disc) -> Vec<u8> {
    let mut r = vec![b' '; DDPID_LEN];
    put(&mut r, ddpid::LEVEL, "DDP 2.00");
    if let Some(u) = &disc.upc {
        put(&mut r, ddpid::UPC, u);
    }
    put(&mut r, ddpid::MED, "0");
    put(&mut r, ddpid::TYPE, "CD");
    put(&mut r, ddpid::NSIDE, "1");
    put(&mut r, ddpid::SIDE, "0");
    put(&mut r, ddpid::NLAYER, "1");
    put(&mut r, ddpid::LAYER, "0");
    r
}

/// Writes `IMAGE.DAT`: 16-bit stereo samples, little-endian, padded to a
/// whole sector when finished.
pub struct ImageWriter {
    file: AtomicFile,
    frames: u64,
    buf: Vec<u8>,
}

impl ImageWriter {
    /// Create the image at `path` (a fileset's `IMAGE.DAT`; atomically,
    /// replaced only with `force`).
    pub fn create(path: &Path, force: bool) -> Result<Self> {
        Ok(Self {
            file: AtomicFile::create(path, &[], force)?,
            frames: 0,
            buf: Vec::new(),
        })
    }

    /// Append a block of two channels of samples on the 16-bit grid
    /// (values ±1.0 full scale, rounded as the WAV writer rounds them).
    pub fn write_block(&mut self, block: &super::AudioBlock) -> Result<()> {
        self.buf.clear();
        let right = block.channels.len().min(2) - 1;
        for i in 0..block.frames {
            for ch in [&block.channels[0], &block.channels[right]] {
                let (q, _) = super::encode::to_int(ch[i], 16);
                self.buf.extend_from_slice(&(q as i16).to_le_bytes());
            }
        }
        self.frames += block.frames as u64;
        let target = self.file.target().to_path_buf();
        self.file
            .write_all(&self.buf)
            .map_err(|e| LatheError::write(&target, e.to_string()))
    }

    /// Pad to a whole sector and publish the file; returns its path.
    pub fn finish(mut self) -> Result<PathBuf> {
        let sectors = self.frames.div_ceil(SECTOR_FRAMES);
        let pad = ((sectors * SECTOR_FRAMES - self.frames) * 4) as usize;
        let target = self.file.target().to_path_buf();
        self.file
            .write_all(&vec![0u8; pad])
            .map_err(|e| LatheError::write(&target, e.to_string()))?;
        self.file.commit()
    }
}

fn write_small(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let mut f = AtomicFile::create(path, &[], force)?;
    f.write_all(bytes)
        .map_err(|e| LatheError::write(path, e.to_string()))?;
    f.commit()?;
    Ok(())
}

/// The files of a fileset besides `IMAGE.DAT`, in the order they are
/// written (the checksums last).
pub fn fileset_names() -> [&'static str; 6] {
    ["DDPID", "DDPMS", PQ_FILE, CDTEXT_FILE, IMAGE, CHECKSUMS]
}

/// Write the fileset's description of `disc` into `dir`, where
/// [`ImageWriter`] wrote `IMAGE.DAT`: DDPID, DDPMS, PQDESCR, CDTEXT.BIN
/// (when there is text) and CHECKSUM.MD5 over all of them.
pub fn write_description(dir: &Path, disc: &Disc, force: bool) -> Result<()> {
    let pq = pq_bytes(disc);
    let text = cd_text_bytes(disc);
    if text.len() / PACK_LEN > MAX_PACKS {
        return Err(LatheError::write(
            &dir.join(CDTEXT_FILE),
            format!(
                "the CD-TEXT needs {} packs; at most {MAX_PACKS} fit (shorten the longest titles or names)",
                text.len() / PACK_LEN
            ),
        ));
    }
    let mut map = ms_packet("D0", disc.sectors, "", IMAGE, true);
    map.extend(ms_packet("S0", pq.len() as u64, "PQ DESCR", PQ_FILE, false));
    if !text.is_empty() {
        map.extend(ms_packet(
            "S0",
            text.len() as u64,
            "CDTEXT",
            CDTEXT_FILE,
            false,
        ));
    }
    write_small(&dir.join("DDPID"), &ddpid_bytes(disc), force)?;
    write_small(&dir.join("DDPMS"), &map, force)?;
    write_small(&dir.join(PQ_FILE), &pq, force)?;
    let mut names = vec!["DDPID", "DDPMS", PQ_FILE];
    if text.is_empty() {
        // No text: no CDTEXT.BIN, not even one left by an earlier render.
        let stale = dir.join(CDTEXT_FILE);
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(|e| LatheError::write(&stale, e.to_string()))?;
        }
    } else {
        write_small(&dir.join(CDTEXT_FILE), &text, force)?;
        names.push(CDTEXT_FILE);
    }
    names.push(IMAGE);
    let mut sums = String::new();
    for name in names {
        sums.push_str(&format!("{}  {name}\n", md5_file(&dir.join(name))?));
    }
    write_small(&dir.join(CHECKSUMS), sums.as_bytes(), force)
}

/// The MD5 of a file, lower-case hex.
pub fn md5_file(path: &Path) -> Result<String> {
    use md5::Digest;
    let mut f = std::fs::File::open(path).map_err(|e| LatheError::open(path, e.to_string()))?;
    let mut h = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| LatheError::open(path, e.to_string()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A map packet as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// Stream type: D0, S0, T0…
    pub stream: String,
    /// Data stream pointer (disc sector).
    pub pointer: Option<u64>,
    /// Length (sectors for D0, else bytes).
    pub length: Option<u64>,
    /// Subcode descriptor.
    pub subcode: String,
    /// Pre-gap parts 1 + 2, sectors.
    pub pre_gap: u64,
    /// File name.
    pub file: String,
}

/// A PQ entry as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PqEntry {
    /// Track number (0 for the pause, None for the lead-out "AA").
    pub track: Option<u8>,
    /// Index.
    pub index: u8,
    /// Absolute disc sector (75 per second).
    pub sector: u64,
    /// ISRC.
    pub isrc: Option<String>,
    /// UPC/EAN.
    pub upc: Option<String>,
}

/// A DDP fileset as read from a folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Fileset {
    /// The folder.
    pub dir: PathBuf,
    /// The DDP level ("DDP 2.00").
    pub level: String,
    /// UPC/EAN from DDPID.
    pub upc: Option<String>,
    /// The map packets.
    pub map: Vec<MapEntry>,
    /// The PQ entries.
    pub pq: Vec<PqEntry>,
    /// Titles from CD-TEXT: index 0 the album, then each track.
    pub titles: Vec<String>,
    /// Performers from CD-TEXT, as `titles`.
    pub performers: Vec<String>,
    /// The audio image's path (the first of `images`).
    pub image: PathBuf,
    /// The audio streams in disc order, with the length of each in
    /// sectors: one `IMAGE.DAT`, or (as some tools write) one file per
    /// track, read back to back.
    pub images: Vec<(PathBuf, u64)>,
    /// Disc sector of the image's first byte.
    pub image_sector: u64,
}

fn bad(dir: &Path, why: impl Into<String>) -> LatheError {
    LatheError::decode(dir, why)
}

/// True when `dir` looks like a DDP fileset (has a DDPMS file).
pub fn is_fileset(dir: &Path) -> bool {
    dir.is_dir() && dir.join("DDPMS").is_file()
}

fn read_all(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let p = dir.join(name);
    std::fs::read(&p).map_err(|e| LatheError::open(&p, e.to_string()))
}

/// Read the fileset in `dir` (lathe's or another tool's): DDPID, DDPMS,
/// the PQ descriptor and CD-TEXT it names.
pub fn read(dir: &Path) -> Result<Fileset> {
    let id = read_all(dir, "DDPID")?;
    if id.len() < DDPID_LEN {
        return Err(bad(dir, format!("DDPID is {} bytes, not 128", id.len())));
    }
    let level = get(&id, ddpid::LEVEL);
    if !level.starts_with("DDP") {
        return Err(bad(
            dir,
            format!("DDPID does not start with 'DDP' ({level:?})"),
        ));
    }
    let upc = Some(get(&id, ddpid::UPC)).filter(|u| !u.trim().is_empty());
    let ms_bytes = read_all(dir, "DDPMS")?;
    if ms_bytes.is_empty() || ms_bytes.len() % MS_LEN != 0 {
        return Err(bad(
            dir,
            format!(
                "DDPMS is {} bytes, not a whole number of 128-byte packets",
                ms_bytes.len()
            ),
        ));
    }
    let mut map = Vec::new();
    for rec in ms_bytes.chunks(MS_LEN) {
        if get(rec, ms::MPV) != "VVVM" {
            return Err(bad(
                dir,
                "DDPMS holds a packet that does not start with VVVM",
            ));
        }
        map.push(MapEntry {
            stream: get(rec, ms::DST),
            pointer: number(rec, ms::DSP),
            length: number(rec, ms::DSL),
            subcode: get(rec, ms::SUB).trim().to_string(),
            pre_gap: number(rec, ms::PRE1).unwrap_or(0) + number(rec, ms::PRE2).unwrap_or(0),
            file: get(rec, ms::NAM).trim().to_string(),
        });
    }
    let mut audio: Vec<&MapEntry> = map.iter().filter(|m| m.stream.starts_with('D')).collect();
    audio.sort_by_key(|m| m.pointer.unwrap_or(0));
    let first = *audio
        .first()
        .ok_or_else(|| bad(dir, "DDPMS names no audio stream (D0)"))?;
    let image = dir.join(&first.file);
    // The image begins after the pause when the map says the pause is a
    // pre-gap the plant adds; else it holds the pause itself.
    let image_sector = first.pre_gap.max(first.pointer.unwrap_or(0));
    let mut images = Vec::new();
    for (k, m) in audio.iter().enumerate() {
        let path = dir.join(&m.file);
        let bytes = std::fs::metadata(&path)
            .map_err(|e| LatheError::open(&path, e.to_string()))?
            .len();
        let sectors = bytes / SECTOR_BYTES as u64;
        // Streams after the first must follow on: each starts where the
        // one before ends.
        if let (Some(next), Some(prev)) = (audio.get(k + 1), m.pointer) {
            let want = prev + m.length.unwrap_or(sectors);
            if let Some(p) = next.pointer.filter(|&p| p != want) {
                return Err(bad(
                    dir,
                    format!(
                        "DDPMS: audio stream {} starts at sector {p}, not where {} ends ({want})",
                        next.file, m.file
                    ),
                ));
            }
        }
        images.push((path, sectors));
    }
    let pq_name = map
        .iter()
        .find(|m| m.subcode.starts_with("PQ"))
        .map(|m| m.file.clone())
        .ok_or_else(|| bad(dir, "DDPMS names no PQ descriptor"))?;
    let pq_raw = read_all(dir, &pq_name)?;
    if pq_raw.len() % PQ_LEN != 0 {
        return Err(bad(
            dir,
            format!(
                "{pq_name} is {} bytes, not a whole number of 64-byte entries",
                pq_raw.len()
            ),
        ));
    }
    let mut pq = Vec::new();
    for rec in pq_raw.chunks(PQ_LEN) {
        if get(rec, pq::SPV) != "VVVS" {
            return Err(bad(
                dir,
                format!("{pq_name} holds an entry that does not start with VVVS"),
            ));
        }
        let trk = get(rec, pq::TRK);
        let track = if trk.eq_ignore_ascii_case("AA") {
            None
        } else {
            Some(
                trk.trim()
                    .parse::<u8>()
                    .map_err(|_| bad(dir, format!("{pq_name}: track '{trk}' is not a number")))?,
            )
        };
        let field = |fl: Field, what: &str| -> Result<u64> {
            number(rec, fl).ok_or_else(|| bad(dir, format!("{pq_name}: {what} is not a number")))
        };
        let sector = field(pq::HRS, "hours").unwrap_or(0) * 270_000
            + field(pq::MIN, "minutes")? * 4500
            + field(pq::SEC, "seconds")? * 75
            + field(pq::FRM, "frames")?;
        pq.push(PqEntry {
            track,
            index: field(pq::IDX, "index")? as u8,
            sector,
            isrc: Some(get(rec, pq::ISRC)).filter(|s| !s.trim().is_empty()),
            upc: Some(get(rec, pq::UPC)).filter(|s| !s.trim().is_empty()),
        });
    }
    let (mut titles, mut performers) = (Vec::new(), Vec::new());
    if let Some(t) = map.iter().find(|m| m.subcode.starts_with("CDTEXT")) {
        let raw = read_all(dir, &t.file)?;
        (titles, performers) = parse_cd_text(&raw);
    }
    Ok(Fileset {
        dir: dir.to_path_buf(),
        level,
        upc,
        map,
        pq,
        titles,
        performers,
        image,
        images,
        image_sector,
    })
}

/// Titles (0x80) and performers (0x81) of block 0 of CD-TEXT packs, each
/// indexed by track (0 = the album). Packs with a bad CRC are skipped.
pub fn parse_cd_text(raw: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut out = [Vec::<u8>::new(), Vec::<u8>::new()];
    let mut first_track = [None::<usize>; 2];
    for p in raw.chunks_exact(PACK_LEN) {
        let crc = CD_TEXT_CRC.checksum(&p[..16]);
        if crc.to_be_bytes() != [p[16], p[17]] || p[3] & 0x70 != 0 {
            continue;
        }
        let k = match p[0] {
            0x80 => 0,
            0x81 => 1,
            _ => continue,
        };
        first_track[k].get_or_insert(usize::from(p[1]));
        out[k].extend_from_slice(&p[4..16]);
    }
    let split = |bytes: &[u8], first: Option<usize>| -> Vec<String> {
        let mut v: Vec<String> = vec![String::new(); first.unwrap_or(0)];
        let mut parts: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
        // Trailing NULs of the last pack are padding.
        while parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        v.extend(
            parts
                .iter()
                .map(|p| p.iter().map(|&b| b as char).collect::<String>()),
        );
        v
    };
    (
        split(&out[0], first_track[0]),
        split(&out[1], first_track[1]),
    )
}

impl Fileset {
    /// Check every file `CHECKSUM.MD5` lists; returns each file's name
    /// with `None` when it matches or the reason when it does not. `None`
    /// overall when there is no checksum file.
    pub fn verify(&self) -> Option<Vec<(String, Option<String>)>> {
        let text = std::fs::read_to_string(self.dir.join(CHECKSUMS)).ok()?;
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (sum, name) = match line.split_once(char::is_whitespace) {
                Some((s, n)) => (s.trim(), n.trim().trim_start_matches('*')),
                None => (line.trim(), ""),
            };
            let got = md5_file(&self.dir.join(name));
            let verdict = match got {
                Ok(g) if g.eq_ignore_ascii_case(sum) => None,
                Ok(g) => Some(format!("MD5 {g} does not match {sum}")),
                Err(e) => Some(e.to_string()),
            };
            out.push((name.to_string(), verdict));
        }
        Some(out)
    }

    /// The image's length in sectors (from the streams' sizes).
    pub fn image_sectors(&self) -> Result<u64> {
        Ok(self.images.iter().map(|(_, s)| s).sum())
    }

    /// The tracks: for each track number, its index 00 and 01 sectors
    /// (absolute) and ISRC, in order.
    pub fn tracks(&self) -> Vec<(u8, Option<u64>, u64, Option<String>)> {
        let mut v: Vec<(u8, Option<u64>, u64, Option<String>)> = Vec::new();
        for e in &self.pq {
            let Some(t) = e.track.filter(|&t| t > 0) else {
                continue;
            };
            let at = match v.iter().position(|x| x.0 == t) {
                Some(i) => i,
                None => {
                    v.push((t, None, 0, None));
                    v.len() - 1
                }
            };
            match e.index {
                0 => v[at].1 = Some(e.sector),
                1 => {
                    v[at].2 = e.sector;
                    v[at].3 = e.isrc.clone();
                }
                _ => {}
            }
        }
        v
    }

    /// The lead-out's absolute sector.
    pub fn lead_out(&self) -> Option<u64> {
        self.pq.iter().find(|e| e.track.is_none()).map(|e| e.sector)
    }
}

/// A 44-byte WAV header for `frames` of 16-bit stereo 44.1 kHz PCM: laid
/// in front of `IMAGE.DAT` so the decoder reads the image as a WAV file.
pub fn wav_header(data_bytes: u64) -> [u8; 44] {
    let mut h = [0u8; 44];
    let data = u32::try_from(data_bytes).unwrap_or(u32::MAX - 36);
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(data + 36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&2u16.to_le_bytes());
    h[24..28].copy_from_slice(&44_100u32.to_le_bytes());
    h[28..32].copy_from_slice(&(44_100u32 * 4).to_le_bytes());
    h[32..34].copy_from_slice(&4u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

/// A fileset's audio read as one WAV file: a 44-byte header laid in front
/// of its image (its streams back to back, whole sectors each).
pub struct ImageAsWav {
    header: [u8; 44],
    /// Each stream's file and the image offset it starts at, bytes.
    files: Vec<(std::fs::File, u64)>,
    len: u64,
    pos: u64,
}

impl ImageAsWav {
    /// Open the image of the fileset in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let set = read(dir)?;
        let mut files = Vec::new();
        let mut data = 0u64;
        for (path, _) in &set.images {
            let f = std::fs::File::open(path).map_err(|e| LatheError::open(path, e.to_string()))?;
            let bytes = f
                .metadata()
                .map_err(|e| LatheError::open(path, e.to_string()))?
                .len();
            files.push((f, data));
            data += bytes / 4 * 4;
        }
        Ok(Self {
            header: wav_header(data),
            files,
            len: 44 + data,
            pos: 0,
        })
    }
}

impl Read for ImageAsWav {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::Seek;
        if self.pos >= self.len {
            return Ok(0);
        }
        if self.pos < 44 {
            let n = buf.len().min(44 - self.pos as usize);
            buf[..n].copy_from_slice(&self.header[self.pos as usize..self.pos as usize + n]);
            self.pos += n as u64;
            return Ok(n);
        }
        let at = self.pos - 44;
        let k = self
            .files
            .partition_point(|(_, start)| *start <= at)
            .saturating_sub(1);
        let end = self.files.get(k + 1).map_or(self.len - 44, |f| f.1);
        let Some((file, start)) = self.files.get_mut(k) else {
            return Ok(0);
        };
        file.seek(std::io::SeekFrom::Start(at - *start))?;
        let room = (end - at).min(buf.len() as u64) as usize;
        let n = file.read(&mut buf[..room])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for ImageAsWav {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(p) => p as i64,
            std::io::SeekFrom::End(d) => self.len as i64 + d,
            std::io::SeekFrom::Current(d) => self.pos as i64 + d,
        };
        if target < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        self.pos = target as u64;
        Ok(self.pos)
    }
}

impl symphonia::core::io::MediaSource for ImageAsWav {
    fn is_seekable(&self) -> bool {
        true
    }
    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiles(fields: &[Field], len: usize) {
        let mut at = 0;
        for f in fields {
            assert_eq!(f.at, at, "{f:?} should start at {at}");
            at += f.len;
        }
        assert_eq!(at, len);
    }

    #[test]
    fn layouts_tile_their_records() {
        tiles(&ddpid::ALL, DDPID_LEN);
        tiles(&ms::ALL, MS_LEN);
        tiles(&pq::ALL, PQ_LEN);
        assert_eq!(SECTOR_BYTES as u64, SECTOR_FRAMES * 4);
    }

    fn disc() -> Disc {
        Disc {
            title: "Album".into(),
            performer: "Band".into(),
            upc: Some("0012345678905".into()),
            tracks: vec![
                DiscTrack {
                    title: "One".into(),
                    performer: String::new(),
                    isrc: Some("USABC2600001".into()),
                    index0: None,
                    index1: 0,
                },
                DiscTrack {
                    title: "Two, a longer title".into(),
                    performer: "Guest".into(),
                    isrc: None,
                    index0: Some(18_000),
                    index1: 18_150,
                },
            ],
            sectors: 30_000,
        }
    }

    #[test]
    fn pq_entries_field_by_field() {
        let pq = pq_bytes(&disc());
        assert_eq!(pq.len(), 5 * PQ_LEN);
        let e = |k: usize| &pq[k * PQ_LEN..(k + 1) * PQ_LEN];
        // Track 00 at 00:00:00 with the UPC.
        assert_eq!(get(e(0), pq::SPV), "VVVS");
        assert_eq!(get(e(0), pq::TRK), "00");
        assert_eq!(get(e(0), pq::UPC), "0012345678905");
        // Track 1 index 01 at 00:02:00 with its ISRC.
        assert_eq!(
            (
                get(e(1), pq::TRK),
                get(e(1), pq::IDX),
                get(e(1), pq::MIN),
                get(e(1), pq::SEC),
                get(e(1), pq::FRM)
            ),
            (
                "01".into(),
                "01".into(),
                "00".into(),
                "02".into(),
                "00".into()
            )
        );
        assert_eq!(get(e(1), pq::ISRC), "USABC2600001");
        assert_eq!(get(e(1), pq::CTL1), "01");
        // Track 2 index 00 at 150 + 18,000 sectors = 4:02:00.
        assert_eq!(
            (
                get(e(2), pq::IDX),
                get(e(2), pq::MIN),
                get(e(2), pq::SEC),
                get(e(2), pq::FRM)
            ),
            ("00".into(), "04".into(), "02".into(), "00".into())
        );
        // Index 01 150 sectors later: 4:04:00.
        assert_eq!(
            (get(e(3), pq::MIN), get(e(3), pq::SEC)),
            ("04".into(), "04".into())
        );
        // Lead-out at 150 + 30,000 = 6:42:00.
        assert_eq!(get(e(4), pq::TRK), "AA");
        assert_eq!(
            (get(e(4), pq::MIN), get(e(4), pq::SEC), get(e(4), pq::FRM)),
            ("06".into(), "42".into(), "00".into())
        );
    }

    #[test]
    fn map_packets_and_ddpid_field_by_field() {
        let d = ms_packet("D0", 30_000, "", IMAGE, true);
        assert_eq!(d.len(), MS_LEN);
        assert_eq!(get(&d, ms::MPV), "VVVM");
        assert_eq!(get(&d, ms::DST), "D0");
        assert_eq!(get(&d, ms::DSL), "00030000");
        assert_eq!(get(&d, ms::CDM), "DA");
        assert_eq!(get(&d, ms::SSM), "7");
        assert_eq!(get(&d, ms::PRE2), "0150");
        assert_eq!(get(&d, ms::SIZ), "009");
        assert_eq!(get(&d, ms::NAM), "IMAGE.DAT");
        let s = ms_packet("S0", 320, "PQ DESCR", PQ_FILE, false);
        assert_eq!(get(&s, ms::SUB), "PQ DESCR");
        assert_eq!(get(&s, ms::DSL), "00000320");
        let id = ddpid_bytes(&disc());
        assert_eq!(id.len(), DDPID_LEN);
        assert_eq!(get(&id, ddpid::LEVEL), "DDP 2.00");
        assert_eq!(get(&id, ddpid::UPC), "0012345678905");
        assert_eq!(get(&id, ddpid::TYPE), "CD");
    }

    #[test]
    fn cd_text_round_trips_with_valid_crcs() {
        let d = disc();
        let raw = cd_text_bytes(&d);
        assert_eq!(raw.len() % PACK_LEN, 0);
        // Every pack's CRC-16 (CCITT polynomial, inverted) checks out, and
        // sequence numbers count up from 0.
        for (i, p) in raw.chunks(PACK_LEN).enumerate() {
            assert_eq!(usize::from(p[2]), i);
            assert_eq!(CD_TEXT_CRC.checksum(&p[..16]).to_be_bytes(), [p[16], p[17]]);
        }
        let (titles, performers) = parse_cd_text(&raw);
        assert_eq!(titles, vec!["Album", "One", "Two, a longer title"]);
        assert_eq!(performers, vec!["Band", "Band", "Guest"]);
        // The size information: tracks 1..2, the last sequence number.
        let info: Vec<&[u8]> = raw.chunks(PACK_LEN).filter(|p| p[0] == 0x8f).collect();
        assert_eq!(info.len(), 3);
        assert_eq!((info[0][5], info[0][6]), (1, 2));
        assert_eq!(usize::from(info[1][4 + 8]), raw.len() / PACK_LEN - 1);
        // A damaged pack is skipped, not misread.
        let mut bad = raw.clone();
        bad[5] ^= 0x20;
        let (t, _) = parse_cd_text(&bad);
        assert_ne!(t, titles);
    }

    #[test]
    fn msf_of_sectors() {
        assert_eq!(msf(150), (0, 2, 0));
        assert_eq!(msf(4500 * 79 + 57 * 75 + 74), (79, 57, 74));
    }
}
