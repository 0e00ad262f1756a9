//! Signal generators shared by the integration tests.
#![allow(dead_code)]

pub mod restore;
pub mod sshd;

use std::f64::consts::TAU;

/// Stereo (or `channels`) sine, `dbfs` peak amplitude, `seconds` long.
pub fn sine(freq: f64, dbfs: f64, seconds: f64, rate: u32, channels: usize) -> Vec<Vec<f32>> {
    let n = (seconds * f64::from(rate)).round() as usize;
    let a = 10f64.powf(dbfs / 20.0);
    let ch: Vec<f32> = (0..n)
        .map(|i| (a * (TAU * freq * i as f64 / f64::from(rate)).sin()) as f32)
        .collect();
    vec![ch; channels]
}

/// Silence.
pub fn silence(seconds: f64, rate: u32, channels: usize) -> Vec<Vec<f32>> {
    let n = (seconds * f64::from(rate)).round() as usize;
    vec![vec![0.0; n]; channels]
}

/// Concatenate planar pieces.
pub fn concat(pieces: &[Vec<Vec<f32>>]) -> Vec<Vec<f32>> {
    let channels = pieces[0].len();
    let mut out = vec![Vec::new(); channels];
    for p in pieces {
        for (o, c) in out.iter_mut().zip(p) {
            o.extend_from_slice(c);
        }
    }
    out
}

/// Deterministic white noise in −1..1.
pub fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

/// Write planar audio to a WAV with hound (test fixture, not lathe's writer).
pub fn write_wav_f32(path: &std::path::Path, planar: &[Vec<f32>], rate: u32) {
    let spec = hound::WavSpec {
        channels: planar.len() as u16,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create fixture");
    for i in 0..planar[0].len() {
        for c in planar {
            w.write_sample(c[i]).expect("write fixture");
        }
    }
    w.finalize().expect("finish fixture");
}

/// Read a 32-bit float WAV as planar audio (test fixture reader).
pub fn read_wav_f32(path: &std::path::Path) -> Vec<Vec<f32>> {
    let mut r = hound::WavReader::open(path).expect("open wav");
    let ch = r.spec().channels as usize;
    let s: Vec<f32> = r.samples::<f32>().map(|v| v.expect("sample")).collect();
    (0..ch)
        .map(|c| s.iter().skip(c).step_by(ch).copied().collect())
        .collect()
}

/// Write planar audio to a 24-bit integer WAV.
pub fn write_wav_i24(path: &std::path::Path, planar: &[Vec<f32>], rate: u32) {
    let spec = hound::WavSpec {
        channels: planar.len() as u16,
        sample_rate: rate,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create fixture");
    for i in 0..planar[0].len() {
        for c in planar {
            let v = (f64::from(c[i]) * 8_388_608.0)
                .round()
                .clamp(-8_388_608.0, 8_388_607.0) as i32;
            w.write_sample(v).expect("write fixture");
        }
    }
    w.finalize().expect("finish fixture");
}

/// Whether a peer program is on PATH.
pub fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty())
}

/// `lathe master` (the library call) of `input` through `chain` to a
/// 32-bit float `output`, no dither, no SRC, replacing it.
pub fn master_float(
    input: &std::path::Path,
    output: &std::path::Path,
    chain: lathe::session::chain::ChainConfig,
) -> lathe::Result<lathe::render::MasterReport> {
    lathe::render::master_file(&lathe::render::MasterOptions {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        chain,
        chain_name: "test".into(),
        rate: None,
        format: lathe::io::encode::SampleFormat::Float32,
        dither: lathe::io::dither::DitherKind::None,
        force: true,
        progress: false,
        curve_csv: None,
    })
}

/// The power spectrum (|X|², bins 0..=n/2) of `x` under one Hann window
/// over its whole length.
pub fn hann_power(x: &[f32]) -> Vec<f64> {
    let n = x.len();
    let fft = realfft::RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut input: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, v)| f64::from(*v) * (0.5 - 0.5 * (TAU * i as f64 / n as f64).cos()))
        .collect();
    let mut out = fft.make_output_vec();
    fft.process(&mut input, &mut out).expect("fft");
    out.iter().map(|c| c.norm_sqr()).collect()
}
