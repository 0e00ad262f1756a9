//! Decoding every supported format, writer round trips, exact seeking and
//! the dither's spectral properties.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use lathe::io::dither::{DitherKind, Quantizer};
use lathe::io::encode::{SampleFormat, WavOutput};
use lathe::io::{AudioBlock, AudioSource, open_source};

fn read_all(path: &Path) -> (lathe::io::SourceInfo, Vec<Vec<f32>>) {
    let mut src = open_source(path).expect("open");
    let info = src.info().clone();
    let mut out = vec![Vec::new(); info.channels];
    let mut block = AudioBlock::new(info.channels, 4096);
    while src.read(&mut block).expect("read") > 0 {
        for (o, c) in out.iter_mut().zip(&block.channels) {
            o.extend_from_slice(&c[..block.frames]);
        }
    }
    (info, out)
}

fn grid_signal(frames: usize, channels: usize, bits: u32) -> Vec<Vec<f32>> {
    let scale = (1u64 << (bits - 1)) as f64;
    (0..channels)
        .map(|c| {
            (0..frames)
                .map(|i| {
                    let v = 0.9 * ((i as f64 * 0.031 * (c + 1) as f64).sin());
                    ((v * scale).round() / scale) as f32
                })
                .collect()
        })
        .collect()
}

fn write_with_lathe(path: &Path, planar: &[Vec<f32>], rate: u32, fmt: SampleFormat) {
    let mut w = WavOutput::create(path, rate, planar.len(), fmt, &[], false).expect("create");
    let mut b = AudioBlock::new(planar.len(), planar[0].len());
    for (d, s) in b.channels.iter_mut().zip(planar) {
        d.copy_from_slice(s);
    }
    b.frames = planar[0].len();
    w.write_block(&b).expect("write");
    w.finish().expect("finish");
}

#[test]
fn every_writer_round_trips_exactly() {
    let dir = tempfile::tempdir().expect("tmp");
    for (fmt, bits) in [
        (SampleFormat::Int16, 16),
        (SampleFormat::Int24, 24),
        (SampleFormat::Float32, 24),
    ] {
        let planar = grid_signal(10_000, 2, bits);
        let path = dir.path().join(format!("rt{}.wav", fmt.bits()));
        write_with_lathe(&path, &planar, 48_000, fmt);
        let (info, back) = read_all(&path);
        assert_eq!(info.sample_rate, 48_000);
        assert_eq!(info.channels, 2);
        assert_eq!(back, planar, "{fmt:?} did not round-trip");
    }
    // Float keeps arbitrary values (not on any integer grid).
    let planar = vec![vec![0.123_456_79f32, -0.987_654_3, 1.5e-9, 0.0]];
    let path = dir.path().join("float.wav");
    write_with_lathe(&path, &planar, 44_100, SampleFormat::Float32);
    assert_eq!(read_all(&path).1, planar);
}

#[test]
fn existing_file_is_not_replaced_without_force_and_no_temp_is_left() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("x.wav");
    std::fs::write(&path, b"keep me").expect("write");
    let r = WavOutput::create(&path, 44_100, 2, SampleFormat::Int16, &[], false);
    assert!(r.is_err());
    assert_eq!(std::fs::read(&path).expect("read"), b"keep me");
    // Refuses to write over an input even with force.
    let r = WavOutput::create(
        &path,
        44_100,
        2,
        SampleFormat::Int16,
        std::slice::from_ref(&path),
        true,
    );
    assert!(r.is_err());
    // Dropping an unfinished writer leaves nothing behind.
    let out = dir.path().join("y.wav");
    {
        let mut w =
            WavOutput::create(&out, 44_100, 1, SampleFormat::Int16, &[], false).expect("create");
        let mut b = AudioBlock::new(1, 100);
        b.frames = 100;
        w.write_block(&b).expect("write");
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(names.len(), 1, "left behind: {names:?}");
}

#[test]
fn wav_integer_and_float_depths_decode_to_the_same_signal() {
    let dir = tempfile::tempdir().expect("tmp");
    let rate = 44_100;
    let reference = common::sine(440.0, -3.0, 0.5, rate, 2);
    for (bits, float) in [
        (8u16, false),
        (16, false),
        (24, false),
        (32, false),
        (32, true),
    ] {
        let path = dir.path().join(format!("d{bits}{float}.wav"));
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for i in 0..reference[0].len() {
            for c in &reference {
                if float {
                    w.write_sample(c[i]).expect("w");
                } else {
                    let scale = (1i64 << (bits - 1)) as f64;
                    let v = (f64::from(c[i]) * scale).round().clamp(-scale, scale - 1.0) as i32;
                    w.write_sample(v).expect("w");
                }
            }
        }
        w.finalize().expect("fin");
        let (info, back) = read_all(&path);
        assert_eq!(back[0].len(), reference[0].len());
        let lsb = if float {
            1e-7
        } else {
            1.0 / (1u64 << (bits - 1)) as f64
        };
        let max_err = back[0]
            .iter()
            .zip(&reference[0])
            .map(|(a, b)| f64::from((a - b).abs()))
            .fold(0.0, f64::max);
        assert!(
            max_err <= lsb,
            "{bits}-bit float={float}: error {max_err} > 1 LSB; format {}",
            info.format
        );
    }
}

/// A WAV with an arbitrary `fmt ` chunk and payload.
fn raw_wav(format_tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block_align = channels * bits / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&format_tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    v.extend_from_slice(&block_align.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn wav_64_bit_float_and_extensible_decode() {
    let dir = tempfile::tempdir().expect("tmp");
    let samples: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.05).sin() * 0.7).collect();
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let path = dir.path().join("f64.wav");
    std::fs::write(&path, raw_wav(3, 1, 48_000, 64, &data)).expect("write");
    let (_, back) = read_all(&path);
    assert_eq!(back[0].len(), 1000);
    for (a, b) in back[0].iter().zip(&samples) {
        assert!((f64::from(*a) - b).abs() < 1e-7);
    }
    // hound writes WAVE_FORMAT_EXTENSIBLE for more than two channels.
    let path = dir.path().join("ext.wav");
    let planar: Vec<Vec<f32>> = (0..6).map(|c| vec![0.1 * c as f32; 480]).collect();
    common::write_wav_i24(&path, &planar, 48_000);
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(
        u16::from_le_bytes([bytes[20], bytes[21]]),
        0xFFFE,
        "fixture is not EXTENSIBLE"
    );
    let (info, back) = read_all(&path);
    assert_eq!(info.channels, 6);
    assert!((back[5][10] - 0.5).abs() < 1e-6);
}

#[test]
fn extreme_rates_and_channel_counts() {
    let dir = tempfile::tempdir().expect("tmp");
    for (rate, ch) in [(8_000u32, 1usize), (384_000, 2), (48_000, 8)] {
        let path = dir.path().join(format!("r{rate}c{ch}.wav"));
        let planar: Vec<Vec<f32>> = (0..ch)
            .map(|c| common::sine(100.0 * (c + 1) as f64, -6.0, 0.2, rate, 1).remove(0))
            .collect();
        common::write_wav_f32(&path, &planar, rate);
        let (info, back) = read_all(&path);
        assert_eq!((info.sample_rate, info.channels), (rate, ch));
        assert_eq!(back, planar);
    }
}

fn seek_matches(path: &Path) {
    let (_, all) = read_all(path);
    let total = all[0].len() as u64;
    let mut src = open_source(path).expect("open");
    for &target in &[total / 2, 12_345, 1, total - 5000, 0, 99_999 % total] {
        src.seek(target).expect("seek");
        let mut b = AudioBlock::new(all.len(), 3000);
        let n = src.read(&mut b).expect("read");
        assert!(n > 0);
        for (c, reference) in all.iter().enumerate() {
            assert_eq!(
                &b.channel(c)[..n.min(3000)],
                &reference[target as usize..target as usize + n],
                "{}: seek to {target} is not exact",
                path.display()
            );
        }
    }
}

#[test]
fn seek_is_sample_accurate_in_wav() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("seek.wav");
    let planar = vec![common::noise(200_000, 1), common::noise(200_000, 2)];
    common::write_wav_i24(&path, &planar, 44_100);
    seek_matches(&path);
}

fn ffmpeg_available() -> bool {
    let ok = common::have("ffmpeg");
    if !ok {
        println!(
            "SKIPPED: ffmpeg is not installed; compressed-format decode tests need it to make fixtures"
        );
    }
    ok
}

fn ffmpeg_encode(src: &Path, dst: &Path, args: &[&str]) -> bool {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(src)
        .args(args)
        .arg(dst)
        .status();
    status.is_ok_and(|s| s.success())
}

#[test]
fn compressed_and_other_containers_decode() {
    if !ffmpeg_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("src.wav");
    let planar = common::sine(1000.0, -6.0, 3.0, 44_100, 2);
    common::write_wav_i24(&src, &planar, 44_100);
    let cases: [(&str, &[&str], bool); 6] = [
        ("a.aiff", &["-c:a", "pcm_s16be"], true),
        ("a.flac", &["-c:a", "flac", "-sample_fmt", "s32"], true),
        ("a.mp3", &["-c:a", "libmp3lame", "-b:a", "192k"], false),
        ("a.ogg", &["-c:a", "libvorbis", "-q:a", "5"], false),
        ("a.m4a", &["-c:a", "aac", "-b:a", "192k"], false),
        ("b.m4a", &["-c:a", "alac"], true),
    ];
    let mut made = 0;
    for (name, args, lossless) in cases {
        let dst: PathBuf = dir.path().join(name);
        if !ffmpeg_encode(&src, &dst, args) {
            println!("SKIPPED: this ffmpeg cannot encode {name}");
            continue;
        }
        made += 1;
        let (info, back) = read_all(&dst);
        assert_eq!(info.channels, 2, "{name}");
        assert_eq!(info.sample_rate, 44_100, "{name}");
        let len = back[0].len() as f64;
        // Lossless formats are exact in length; lossy ones within encoder padding.
        if lossless {
            assert_eq!(back[0].len(), planar[0].len(), "{name} length");
        } else {
            assert!((len - 132_300.0).abs() < 4096.0, "{name}: {len} frames");
        }
        let a = lathe::analysis::analyze_planar(&back, 44_100, &[1.0, 1.0]);
        let r = lathe::analysis::analyze_planar(&planar, 44_100, &[1.0, 1.0]);
        // Lossy encoders move the level a little (LAME: −0.26 dB here, as
        // ffmpeg's own meter also reads); lossless must be exact.
        let tol = if lossless { 0.01 } else { 0.5 };
        assert!(
            (a.0.integrated_lufs - r.0.integrated_lufs).abs() < tol,
            "{name}: loudness {} vs {}",
            a.0.integrated_lufs,
            r.0.integrated_lufs
        );
    }
    assert!(made >= 4, "ffmpeg made only {made} fixtures");
    // Exact seek in FLAC too.
    let flac = dir.path().join("seek.flac");
    let noise_src = dir.path().join("noise.wav");
    common::write_wav_i24(
        &noise_src,
        &[common::noise(300_000, 5), common::noise(300_000, 6)],
        48_000,
    );
    assert!(ffmpeg_encode(&noise_src, &flac, &["-c:a", "flac"]));
    seek_matches(&flac);
}

#[test]
fn tpdf_dither_keeps_a_minus_100_dbfs_tone_and_its_error_is_white() {
    use realfft::RealFftPlanner;
    let rate = 44_100u32;
    let n = 1 << 16;
    let f = 1000.0 * (n as f64 / f64::from(rate)).round() / (n as f64 / f64::from(rate)); // bin-centred
    let bin = (f * n as f64 / f64::from(rate)).round() as usize;
    let amp = 10f64.powf(-100.0 / 20.0);
    let x: Vec<f32> = (0..n)
        .map(|i| (amp * (std::f64::consts::TAU * f * i as f64 / f64::from(rate)).sin()) as f32)
        .collect();
    let run = |kind| {
        let mut b = AudioBlock::new(1, n);
        b.channels[0].copy_from_slice(&x);
        b.frames = n;
        Quantizer::new(16, kind, 1, 42).process(&mut b);
        b.channels.remove(0)
    };
    let spectrum = |v: &[f32]| {
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(n);
        let mut input: Vec<f64> = v
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
                f64::from(s) * w
            })
            .collect();
        let mut out = fft.make_output_vec();
        fft.process(&mut input, &mut out).expect("fft");
        out.iter().map(|c| c.norm_sqr()).collect::<Vec<f64>>()
    };
    let tpdf = run(DitherKind::Tpdf);
    let spec = spectrum(&tpdf);
    let tone = spec[bin - 1..=bin + 1].iter().sum::<f64>();
    let noise_floor: f64 = spec[bin + 50..bin + 2050].iter().sum::<f64>() / 2000.0;
    assert!(
        10.0 * (tone / noise_floor).log10() > 20.0,
        "tone not above the dither noise"
    );
    // Without dither the tone (0.33 LSB) vanishes entirely: all zeros.
    let plain = run(DitherKind::None);
    assert!(plain.iter().all(|&v| v == 0.0));
    // Error spectrum flat: 8 bands of the error spectrum within ±1 dB of their mean.
    let err: Vec<f32> = tpdf.iter().zip(&x).map(|(a, b)| a - b).collect();
    let es = spectrum(&err);
    let bands: Vec<f64> = (0..8)
        .map(|k| {
            let a = 100 + k * (n / 2 - 200) / 8;
            let b = a + (n / 2 - 200) / 8;
            10.0 * (es[a..b].iter().sum::<f64>() / (b - a) as f64).log10()
        })
        .collect();
    let mean = bands.iter().sum::<f64>() / 8.0;
    for (k, b) in bands.iter().enumerate() {
        assert!(
            (b - mean).abs() < 1.0,
            "band {k} of the TPDF error is {:.2} dB off flat",
            b - mean
        );
    }
    // Shaped dither: less error where the ear is most sensitive (2–5 kHz).
    let shaped = run(DitherKind::Shaped);
    let serr: Vec<f32> = shaped.iter().zip(&x).map(|(a, b)| a - b).collect();
    let ss = spectrum(&serr);
    let band = |s: &[f64], lo: f64, hi: f64| {
        let a = (lo * n as f64 / f64::from(rate)) as usize;
        let b = (hi * n as f64 / f64::from(rate)) as usize;
        s[a..b].iter().sum::<f64>()
    };
    let gain_mid = 10.0 * (band(&ss, 2000.0, 5000.0) / band(&es, 2000.0, 5000.0)).log10();
    assert!(
        gain_mid < -3.0,
        "shaped dither only {gain_mid:.1} dB quieter at 2–5 kHz"
    );
}

#[test]
fn flac_writer_round_trips_exactly_at_any_length() {
    use lathe::io::flac::FlacOutput;
    let dir = tempfile::tempdir().expect("tmp");
    for (bits, frames, channels) in [
        (16u32, 10_007usize, 2usize),
        (24, 8192, 2),
        (24, 4095, 1),
        (16, 4096 * 3 + 5, 2),
        (24, 40, 2),
        (16, 31, 2),
        (24, 1, 1),
    ] {
        let planar = grid_signal(frames, channels, bits);
        let path = dir
            .path()
            .join(format!("rt{bits}-{frames}-{channels}.flac"));
        let mut w = FlacOutput::create(&path, 48_000, channels, bits, frames as u64, &[], false)
            .expect("create");
        let mut b = AudioBlock::new(channels, 1000);
        let mut pos = 0;
        while pos < frames {
            let n = (frames - pos).min(1000);
            for (d, s) in b.channels.iter_mut().zip(&planar) {
                d[..n].copy_from_slice(&s[pos..pos + n]);
            }
            b.frames = n;
            w.write_block(&b).expect("write");
            pos += n;
        }
        w.finish().expect("finish");
        let (info, back) = read_all(&path);
        assert_eq!(info.sample_rate, 48_000);
        assert_eq!(info.bits_per_sample, Some(bits));
        assert_eq!(
            back, planar,
            "{bits}-bit, {frames} frames did not round-trip"
        );
        // STREAMINFO's MD5 is the MD5 of the samples (little-endian, interleaved).
        use md5::{Digest, Md5};
        let mut h = Md5::new();
        let scale = f64::from(1u32 << (bits - 1));
        for i in 0..frames {
            for ch in &planar {
                let v = (f64::from(ch[i]) * scale).round() as i32;
                h.update(&v.to_le_bytes()[..bits as usize / 8]);
            }
        }
        let want: [u8; 16] = h.finalize().into();
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(&bytes[26..42], &want, "{bits}-bit, {frames} frames: MD5");
        if common::have("ffmpeg") {
            // An independent decoder agrees the stream (and its MD5) is valid.
            let o = Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&path)
                .args(["-f", "null", "-"])
                .output()
                .expect("ffmpeg");
            assert!(
                o.status.success() && o.stderr.is_empty(),
                "ffmpeg: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    // What FLAC cannot hold is refused before anything is written.
    let odd = dir.path().join("odd.flac");
    assert!(FlacOutput::create(&odd, 48_000, 2, 20, 1000, &[], false).is_err());
    assert!(!odd.exists());
}
