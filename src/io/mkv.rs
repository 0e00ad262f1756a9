//! A look at a Matroska/WebM file's element tree before symphonia reads it.
//!
//! Two things symphonia's Matroska reader does not do and lathe needs:
//!
//! - **Cut files.** A download or copy that stopped early leaves a Segment
//!   (and a last Cluster) whose size claims more than the file holds;
//!   symphonia then refuses the whole file. ffmpeg reads what is there, and so
//!   does lathe: the true sizes are laid over the size fields in memory
//!   through [`super::riff::PatchedFile`] (the file is never written).
//! - **End padding.** An encoder's padding at the end of an Opus track is
//!   signalled by the `DiscardPadding` element of the track's last block (in
//!   nanoseconds); [`MkvLayout::end_padding_ns`] finds it so the reader can
//!   drop those samples, as ffmpeg does.
//!
//! Only the top of the tree is walked (header, Segment, the Segment's
//! children by size, and the last Cluster's blocks), so this costs a few
//! reads whatever the file's length.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

const ID_EBML: u64 = 0x1A45_DFA3;
const ID_SEGMENT: u64 = 0x1853_8067;
const ID_CLUSTER: u64 = 0x1F43_B675;
const ID_BLOCK_GROUP: u64 = 0xA0;
const ID_BLOCK: u64 = 0xA1;
const ID_SIMPLE_BLOCK: u64 = 0xA3;
const ID_DISCARD_PADDING: u64 = 0x75A2;

/// What the walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MkvLayout {
    /// Size fields to present in place of the stored ones: (file offset,
    /// bytes), for elements that claim more than the file holds.
    pub patches: Vec<(u64, Vec<u8>)>,
    /// True when the file ends inside its Segment (it was cut short).
    pub truncated: bool,
    /// For each track number, the `DiscardPadding` of its last block in
    /// nanoseconds (0 when the last block has none). Empty for cut files.
    pub end_padding_ns: HashMap<u64, i64>,
}

/// An element header: ID, data offset, data size (`None`: unknown size),
/// and where the size field sits (offset, width in bytes).
struct Header {
    id: u64,
    data: u64,
    size: Option<u64>,
    size_at: u64,
    size_width: usize,
}

/// Read a variable-length integer from `b`: (value with the length marker
/// removed, width, all value bits set).
fn vint(b: &[u8]) -> Option<(u64, usize, bool)> {
    let first = *b.first()?;
    let width = first.leading_zeros() as usize + 1;
    if width > 8 || b.len() < width {
        return None;
    }
    let mut v = u64::from(first) & (0xFF >> width);
    for &x in &b[1..width] {
        v = (v << 8) | u64::from(x);
    }
    let all_ones = v == (1u64 << (7 * width)) - 1;
    Some((v, width, all_ones))
}

fn header_at(file: &File, pos: u64, len: u64) -> Option<Header> {
    let mut b = [0u8; 12];
    let n = (len.saturating_sub(pos)).min(12) as usize;
    file.read_exact_at(&mut b[..n], pos).ok()?;
    let b = &b[..n];
    let first = *b.first()?;
    let id_width = first.leading_zeros() as usize + 1;
    if id_width > 4 || b.len() < id_width {
        return None;
    }
    let id = b[..id_width]
        .iter()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    let (size, size_width, unknown) = vint(&b[id_width..])?;
    Some(Header {
        id,
        data: pos + (id_width + size_width) as u64,
        size: (!unknown).then_some(size),
        size_at: pos + id_width as u64,
        size_width,
    })
}

/// `value` as a size field of `width` bytes.
fn size_field(value: u64, width: usize) -> Vec<u8> {
    let mut out = vec![0u8; width];
    let mut v = value;
    for byte in out.iter_mut().rev() {
        *byte = (v & 0xFF) as u8;
        v >>= 8;
    }
    out[0] |= 0x80 >> (width - 1);
    out
}

/// Walk a Matroska/WebM file of `len` bytes; `None` when it is not one.
pub fn inspect(file: &File, len: u64) -> Option<MkvLayout> {
    let ebml = header_at(file, 0, len)?;
    if ebml.id != ID_EBML {
        return None;
    }
    let seg_pos = ebml.data + ebml.size?;
    let seg = header_at(file, seg_pos, len)?;
    if seg.id != ID_SEGMENT {
        return None;
    }
    let mut layout = MkvLayout::default();
    let seg_end = match seg.size {
        Some(s) if seg.data + s > len => {
            layout.truncated = true;
            layout
                .patches
                .push((seg.size_at, size_field(len - seg.data, seg.size_width)));
            len
        }
        Some(s) => seg.data + s,
        None => len,
    };
    // The Segment's children, by size, to find the last Cluster.
    let mut last_cluster = None;
    let mut pos = seg.data;
    while pos < seg_end {
        let Some(h) = header_at(file, pos, len) else {
            layout.truncated = true;
            break;
        };
        let Some(size) = h.size else {
            // A live stream's Cluster of unknown size: no walking on by size.
            return Some(layout);
        };
        let end = h.data + size;
        if end > seg_end {
            layout.truncated = true;
            if h.id == ID_CLUSTER && h.data < len {
                layout
                    .patches
                    .push((h.size_at, size_field(len - h.data, h.size_width)));
            }
            break;
        }
        if h.id == ID_CLUSTER {
            last_cluster = Some((h.data, end));
        }
        pos = end;
    }
    if layout.truncated {
        return Some(layout);
    }
    if let Some((start, end)) = last_cluster {
        layout.end_padding_ns = last_block_padding(file, start, end, len);
    }
    Some(layout)
}

/// The track number a Block or SimpleBlock at `data` belongs to.
fn block_track(file: &File, data: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    file.read_exact_at(&mut b, data).ok()?;
    vint(&b).map(|(v, _, _)| v)
}

/// Each track's last block's `DiscardPadding` in the Cluster `start..end`.
fn last_block_padding(file: &File, start: u64, end: u64, len: u64) -> HashMap<u64, i64> {
    let mut out = HashMap::new();
    let mut pos = start;
    while pos < end {
        let Some(h) = header_at(file, pos, len) else {
            break;
        };
        let Some(size) = h.size else {
            break;
        };
        match h.id {
            ID_SIMPLE_BLOCK => {
                if let Some(t) = block_track(file, h.data) {
                    out.insert(t, 0);
                }
            }
            ID_BLOCK_GROUP => {
                let mut track = None;
                let mut padding = 0i64;
                let mut p = h.data;
                while p < h.data + size {
                    let Some(c) = header_at(file, p, len) else {
                        break;
                    };
                    let Some(csize) = c.size else {
                        break;
                    };
                    if c.id == ID_BLOCK {
                        track = block_track(file, c.data);
                    } else if c.id == ID_DISCARD_PADDING && (1..=8).contains(&csize) {
                        let mut b = vec![0u8; csize as usize];
                        if file.read_exact_at(&mut b, c.data).is_ok() {
                            // A signed big-endian integer of 1–8 bytes.
                            let mut v: i64 = if b[0] & 0x80 != 0 { -1 } else { 0 };
                            for &x in &b {
                                v = (v << 8) | i64::from(x);
                            }
                            padding = v;
                        }
                    }
                    p = c.data + csize;
                }
                if let Some(t) = track {
                    out.insert(t, padding);
                }
            }
            _ => {}
        }
        pos = h.data + size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints_and_size_fields_round_trip() {
        assert_eq!(vint(&[0x81]), Some((1, 1, false)));
        assert_eq!(vint(&[0x40, 0x02]), Some((2, 2, false)));
        assert_eq!(vint(&[0xFF]), Some((127, 1, true)));
        assert_eq!(
            vint(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).map(|v| v.2),
            Some(true)
        );
        for (v, w) in [(5u64, 1usize), (1000, 2), (123_456_789, 8), (0, 4)] {
            let f = size_field(v, w);
            assert_eq!(f.len(), w);
            assert_eq!(vint(&f), Some((v, w, false)));
        }
        assert_eq!(vint(&[0x00]), None);
    }
}
