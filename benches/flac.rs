//! FLAC encoders side by side (run: `cargo bench --bench flac`): libFLAC
//! (the reference encoder, through `libflac-sys`) and `flacenc`, on the
//! render benchmark's dense material (4 minutes, 48 kHz, 24-bit stereo, loud
//! and noisy, the worst case for FLAC) and on a quieter 16-bit mix: encode
//! speed, size against raw PCM, and correctness (symphonia decodes the same
//! samples, STREAMINFO's MD5 is the audio's, ffmpeg decodes the same
//! samples when installed).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[path = "dense.rs"]
mod dense;
#[path = "flacenc_writer.rs"]
mod flacenc_writer;

use flacenc_writer::FlacencOutput;
use lathe::io::flac::FlacOutput;
use lathe::io::{AudioBlock, AudioSource, open_source};
use md5::{Digest, Md5};

fn material(seconds: usize, rate: u32, level: f64, bits: u32) -> Vec<Vec<f32>> {
    let scale = f64::from(1u32 << (bits - 1));
    let mut dense = dense::Dense::new(0x2545_f491_4f6c_dd1d, rate, level);
    let n = seconds * rate as usize;
    let mut out: Vec<Vec<f32>> = (0..2).map(|_| Vec::with_capacity(n)).collect();
    for i in 0..n {
        for (o, v) in out.iter_mut().zip(dense.frame(i)) {
            o.push(((v * scale).round().clamp(-scale, scale - 1.0) / scale) as f32);
        }
    }
    out
}

fn md5_of(planar: &[Vec<f32>], bits: u32) -> [u8; 16] {
    let scale = f64::from(1u32 << (bits - 1));
    let mut h = Md5::new();
    let bytes = bits as usize / 8;
    for i in 0..planar[0].len() {
        for ch in planar {
            let v = (f64::from(ch[i]) * scale).round() as i32;
            h.update(&v.to_le_bytes()[..bytes]);
        }
    }
    h.finalize().into()
}

fn decode(path: &Path) -> Vec<Vec<f32>> {
    let mut src = open_source(path).expect("open");
    let mut out = vec![Vec::new(); 2];
    let mut b = AudioBlock::new(2, 8192);
    while src.read(&mut b).expect("read") > 0 {
        for (o, c) in out.iter_mut().zip(&b.channels) {
            o.extend_from_slice(&c[..b.frames]);
        }
    }
    out
}

fn ffmpeg_same(path: &Path, planar: &[Vec<f32>], bits: u32) -> Option<bool> {
    let o = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-f", "s32le", "-"])
        .output()
        .ok()?;
    if !o.status.success() {
        return Some(false);
    }
    let scale = f64::from(1u32 << (bits - 1));
    let got: Vec<i32> = o
        .stdout
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) >> (32 - bits))
        .collect();
    let n = planar[0].len();
    Some(
        got.len() == n * 2
            && (0..n).all(|i| {
                (0..2).all(|c| got[i * 2 + c] == (f64::from(planar[c][i]) * scale).round() as i32)
            }),
    )
}

fn streaminfo_md5(path: &Path) -> [u8; 16] {
    let bytes = std::fs::read(path).expect("read");
    let mut m = [0u8; 16];
    m.copy_from_slice(&bytes[8 + 18..8 + 34]);
    m
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let has_ffmpeg = Command::new("ffmpeg").arg("-version").output().is_ok();
    println!("FLAC encoders, 4 minutes of stereo each (speed ×real time, size against raw PCM):");
    for (name, rate, bits, level) in [
        ("dense, loud", 48_000u32, 24u32, 1.6),
        ("quiet mix", 44_100, 16, 0.3),
    ] {
        let audio = material(240, rate, level, bits);
        let frames = audio[0].len() as u64;
        let raw = frames * 2 * u64::from(bits / 8);
        let want_md5 = md5_of(&audio, bits);
        for enc in ["libFLAC", "flacenc"] {
            let path = dir.path().join(format!("{enc}-{bits}.flac"));
            let t = Instant::now();
            let mut block = AudioBlock::new(2, 8192);
            let mut pos = 0usize;
            macro_rules! run {
                ($w:expr) => {{
                    let mut w = $w;
                    while pos < frames as usize {
                        let k = (frames as usize - pos).min(8192);
                        for (d, s) in block.channels.iter_mut().zip(&audio) {
                            d[..k].copy_from_slice(&s[pos..pos + k]);
                        }
                        block.frames = k;
                        w.write_block(&block).expect("write");
                        pos += k;
                    }
                    w.finish().expect("finish");
                }};
            }
            if enc == "libFLAC" {
                run!(FlacOutput::create(&path, rate, 2, bits, frames, &[], true).expect("create"));
            } else {
                run!(
                    FlacencOutput::create(&path, rate, 2, bits, frames, &[], true).expect("create")
                );
            }
            let secs = t.elapsed().as_secs_f64();
            let size = std::fs::metadata(&path).expect("size").len();
            let back = decode(&path);
            let symphonia_ok = back == audio;
            let md5_ok = streaminfo_md5(&path) == want_md5;
            let ffmpeg = if has_ffmpeg {
                match ffmpeg_same(&path, &audio, bits) {
                    Some(true) => "same samples",
                    Some(false) => "DIFFERENT",
                    None => "failed",
                }
            } else {
                "not installed"
            };
            println!(
                "  {name:<12} {bits}-bit {enc:<8} {:>6.1} s  {:>6.0}x  {:>6.1} MB = {:>5.1} % of PCM  symphonia: {}  MD5: {}  ffmpeg: {ffmpeg}",
                secs,
                240.0 / secs,
                size as f64 / 1e6,
                100.0 * size as f64 / raw as f64,
                if symphonia_ok {
                    "same samples"
                } else {
                    "DIFFERENT"
                },
                if md5_ok { "right" } else { "WRONG" },
            );
        }
    }
}
