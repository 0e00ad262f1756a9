//! Shared by the benchmarks: a generated music-like mix.

use std::path::Path;

/// The mix's sample rate, Hz.
pub const RATE: u32 = 44_100;

/// A music-like stereo mix: kick, bass, chords, hats and a wide pad.
/// `bright` tilts it up (dB per octave above 1 kHz), `width` scales the side.
pub fn write_mix(path: &Path, seconds: usize, seed: u64, gain: f64, tilt_db: f64, width: f64) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let rate = f64::from(RATE);
    let tau = std::f64::consts::TAU;
    // One-pole tilt: a high shelf made of a low-pass split.
    let a = (-tau * 1000.0 / rate).exp();
    let hi_gain = 10f64.powf(tilt_db * 3.0 / 20.0);
    let mut lp = [0.0f64; 2];
    let mut pad = [0.0f64; 2];
    let n = seconds * RATE as usize;
    let chords = [
        [110.0, 138.6, 164.8],
        [98.0, 123.5, 146.8],
        [87.3, 110.0, 130.8],
    ];
    for i in 0..n {
        let t = i as f64 / rate;
        let beat = t % 0.5;
        let bar = ((t / 2.0) as usize) % chords.len();
        let kick = (tau * (45.0 + 90.0 * (-beat * 25.0).exp()) * beat).sin() * (-beat * 7.0).exp();
        let bass = (tau * chords[bar][0] / 2.0 * t).sin() * 0.5;
        let chord: f64 = chords[bar]
            .iter()
            .map(|f| (tau * f * 2.0 * t).sin() + 0.3 * (tau * f * 4.0 * t).sin())
            .sum::<f64>()
            / 4.0;
        let hat_env = if (t % 0.25) < 0.04 {
            1.0 - (t % 0.25) / 0.04
        } else {
            0.0
        };
        let section = 0.7 + 0.3 * (tau * t / 30.0).sin();
        let mut out = [0.0f64; 2];
        for c in 0..2 {
            pad[c] += 0.05 * (rnd() - pad[c]);
            let hat = rnd() * hat_env * 0.25;
            let mono = kick * 0.8 + bass + chord * 0.5 + hat;
            let side = (pad[c] * 2.0 + hat * 0.5) * if c == 0 { 1.0 } else { -1.0 };
            let v = section * (mono + width * side);
            lp[c] = (1.0 - a) * v + a * lp[c];
            out[c] = lp[c] + hi_gain * (v - lp[c]);
        }
        for v in out {
            w.write_sample((v * gain) as f32).expect("write");
        }
    }
    w.finalize().expect("finalize");
}
