//! Writing and verifying a 60-minute DDP image.
//!
//! Run with `cargo bench --bench ddp`. Writes 60 minutes of 16-bit stereo
//! 44.1 kHz audio (a tone with noise, generated in blocks) as a fileset of
//! 15 four-minute tracks — IMAGE.DAT through `io::ddp::ImageWriter`, then
//! DDPID, DDPMS, the PQ descriptor, CD-TEXT and CHECKSUM.MD5 — then reads
//! it back with `io::ddp::read` and verifies every checksum, as `lathe
//! ddp` does. Reports each step's speed as a multiple of real time, and
//! the process's peak memory after 10 and after 60 minutes (flat with
//! length: the image is streamed).

use std::time::Instant;

use lathe::io::AudioBlock;
use lathe::io::ddp::{self, Disc, DiscTrack, ImageWriter};

fn peak_rss_mb() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

fn run(dir: &std::path::Path, minutes: u64) -> (f64, f64, f64) {
    let frames = minutes * 60 * 44_100;
    let mut block = AudioBlock::new(2, 8192);
    let t0 = Instant::now();
    let mut w = ImageWriter::create(&dir.join(ddp::IMAGE), true).expect("create");
    let mut done = 0u64;
    let mut x = 1u32;
    while done < frames {
        let n = (frames - done).min(8192) as usize;
        for c in 0..2 {
            for i in 0..n {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let t = (done + i as u64) as f32 / 44_100.0;
                let v = 0.3 * (t * 440.0 * std::f32::consts::TAU).sin()
                    + 0.05 * ((x >> 8) as f32 / (1 << 24) as f32 - 0.5);
                block.channels[c][i] = (v * 32768.0).round() / 32768.0;
            }
        }
        block.frames = n;
        w.write_block(&block).expect("write");
        done += n as u64;
    }
    w.finish().expect("finish");
    let sectors = frames.div_ceil(ddp::SECTOR_FRAMES);
    let per = sectors / 15;
    let disc = Disc {
        title: "Bench".into(),
        performer: "lathe".into(),
        upc: Some("0012345678905".into()),
        tracks: (0..15)
            .map(|k| DiscTrack {
                title: format!("Track {}", k + 1),
                performer: String::new(),
                isrc: Some(format!("USABC26{:05}", k + 1)),
                index0: None,
                index1: k * per,
            })
            .collect(),
        sectors,
    };
    ddp::write_description(dir, &disc, true).expect("describe");
    let write_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let set = ddp::read(dir).expect("read");
    let sums = set.verify().expect("checksums");
    assert!(sums.iter().all(|(_, v)| v.is_none()));
    let verify_s = t1.elapsed().as_secs_f64();
    (write_s, verify_s, peak_rss_mb())
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, _, rss10) = run(dir.path(), 10);
    let (w, v, rss60) = run(dir.path(), 60);
    let audio = 3600.0;
    println!("DDP image, 60 minutes, 15 tracks:");
    println!(
        "  write (image + description + MD5)   {w:6.2} s   {:6.0}x real time",
        audio / w
    );
    println!(
        "  read + verify checksums             {v:6.2} s   {:6.0}x real time",
        audio / v
    );
    println!(
        "  write and verify                    {:6.2} s   {:6.0}x real time",
        w + v,
        audio / (w + v)
    );
    println!("  peak memory: {rss10:.1} MB after 10 minutes, {rss60:.1} MB after 60");
}
