//! The restoration harness: realistic clean material, known damage, and
//! measurements against the clean original (per band, in dB re full scale).
#![allow(dead_code)]

use std::f64::consts::TAU;

use realfft::RealFftPlanner;

/// Deterministic uniform noise in −1..1 (xorshift64).
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    /// The next value in −1..1.
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn midi_hz(n: f64) -> f64 {
    440.0 * 2f64.powf((n - 69.0) / 12.0)
}

/// Piano-like music: a melody and chords of struck notes (stiff-string
/// partials, each decaying at its own rate, a soft attack thump), a bass
/// line, and a room (a few feedback delays), stereo, about −20 LUFS.
/// Notes include G3 (196 Hz) and G#3 (207.7 Hz), whose partials sit near
/// 200 Hz: music where a 50 Hz hum's 4th harmonic would be.
pub fn piano(seconds: f64, rate: u32) -> Vec<Vec<f32>> {
    let n = (seconds * f64::from(rate)) as usize;
    let r = f64::from(rate);
    let mut dry = vec![0.0f64; n];
    let mut rng = Rng::new(77);
    let melody = [
        67.0, 69.0, 71.0, 72.0, 74.0, 72.0, 71.0, 68.0, 67.0, 64.0, 55.0, 56.0,
    ];
    // C, Am, F, E: the bass (an octave below each root) keeps 2 Hz clear of
    // 50/60 Hz, where any hum removal takes music with the hum.
    let chords = [
        [48.0, 55.0, 64.0],
        [45.0, 52.0, 60.0],
        [41.0, 48.0, 57.0],
        [40.0, 47.0, 56.0],
    ];
    let mut strike = |start: usize, note: f64, vel: f64, dry: &mut Vec<f64>| {
        let f = midi_hz(note);
        let b = 0.0004; // string stiffness
        let len = ((3.5 * r) as usize).min(n.saturating_sub(start));
        for k in 1..=10 {
            let kf = f64::from(k);
            let fk = f * kf * (1.0 + b * kf * kf).sqrt();
            if fk > 0.45 * r {
                break;
            }
            let amp = vel / kf.powf(1.3);
            let decay = 1.2 + 0.6 * kf;
            let phase = rng.next() * TAU;
            for i in 0..len {
                let t = i as f64 / r;
                // A felt hammer: about 2 ms to speak; the damper ends the
                // note over its last 100 ms.
                let attack = 1.0 - (-t / 0.0007).exp();
                let left = (len - i) as f64 / r;
                let release = (left / 0.1).min(1.0);
                dry[start + i] +=
                    amp * attack * release * (-decay * t).exp() * (TAU * fk * t + phase).sin();
            }
        }
        // The hammer's thump: a short burst of filtered noise.
        let mut lp = 0.0;
        let thump = ((0.01 * r) as usize).min(len);
        for i in 0..thump {
            lp += 0.2 * (rng.next() - lp);
            let x = i as f64 / thump as f64;
            // Rises and falls smoothly (a raised sine over 10 ms).
            dry[start + i] += vel * 0.3 * lp * (std::f64::consts::PI * x).sin();
        }
    };
    let beat = (0.5 * r) as usize;
    let mut k = 0;
    while k * beat < n {
        strike(
            k * beat,
            melody[k % melody.len()],
            0.08 + 0.04 * ((k % 3) as f64),
            &mut dry,
        );
        if k % 4 == 0 {
            for (j, c) in chords[(k / 4) % chords.len()].iter().enumerate() {
                strike(k * beat + j * 200, *c, 0.05, &mut dry);
            }
            strike(
                k * beat,
                chords[(k / 4) % chords.len()][0] - 12.0,
                0.09,
                &mut dry,
            );
        }
        k += 1;
    }
    // A small room: three feedback delays per side, different left and right.
    let room = |delays: [f64; 3], seed: u64| -> Vec<f32> {
        let mut out = dry.clone();
        let mut g = Rng::new(seed);
        for d in delays {
            let dl = (d * r) as usize;
            let fb = 0.35 + 0.05 * g.next();
            let mut line = vec![0.0; n];
            for i in dl..n {
                line[i] = dry[i - dl] * 0.25 + line[i - dl] * fb;
            }
            for (o, l) in out.iter_mut().zip(&line) {
                *o += l;
            }
        }
        out.iter().map(|v| *v as f32).collect()
    };
    vec![
        room([0.023, 0.037, 0.051], 1),
        room([0.029, 0.041, 0.047], 2),
    ]
}

/// Add mains hum at `f0` Hz to both channels: harmonics `(number, peak
/// level in dBFS)`, the level drifting slowly by ±1.5 dB.
pub fn add_hum(x: &mut [Vec<f32>], rate: u32, f0: f64, harmonics: &[(u32, f64)]) {
    let r = f64::from(rate);
    for ch in x.iter_mut() {
        for (i, s) in ch.iter_mut().enumerate() {
            let t = i as f64 / r;
            let drift = 10f64.powf(1.5 * (TAU * t / 17.0).sin() / 20.0);
            let h: f64 = harmonics
                .iter()
                .map(|(k, db)| {
                    10f64.powf(db / 20.0) * (TAU * f0 * f64::from(*k) * t + f64::from(*k)).sin()
                })
                .sum();
            *s += (h * drift) as f32;
        }
    }
}

/// Energy of `x` in `lo`..`hi` Hz as the level of a sine of that power,
/// dBFS (one Hann-windowed FFT over the whole signal; bins summed).
pub fn band_level_dbfs(x: &[f32], rate: u32, lo: f64, hi: f64) -> f64 {
    let n = x.len();
    let bin = f64::from(rate) / n as f64;
    let p: f64 = super::hann_power(x)
        .iter()
        .enumerate()
        .filter(|(k, _)| {
            let f = *k as f64 * bin;
            f >= lo && f < hi
        })
        .map(|(_, p)| p)
        .sum();
    // A sine of amplitude A gives a peak of A·n/4 in the Hann-windowed
    // spectrum and about 1.5 bins' worth of power: A² = 16·p / (1.5·n²).
    let a2 = 16.0 * p / (1.5 * (n as f64).powi(2));
    10.0 * a2.max(1e-30).log10()
}

/// `out − clean` per channel (same length; `out` already aligned).
pub fn error(out: &[Vec<f32>], clean: &[Vec<f32>]) -> Vec<Vec<f32>> {
    out.iter()
        .zip(clean)
        .map(|(o, c)| o.iter().zip(c).map(|(a, b)| a - b).collect())
        .collect()
}

/// Add `count` clicks to `x`: decaying noise bursts of 8 to 50 samples,
/// peaks between −36 and −10 dBFS, every third on both channels at once
/// (others on one). Returns each click's (start, length).
pub fn add_clicks(x: &mut [Vec<f32>], count: usize, seed: u64) -> Vec<(usize, usize)> {
    let n = x[0].len();
    let mut rng = Rng::new(seed);
    let mut spots = Vec::new();
    for c in 0..count {
        let start = ((rng.next() * 0.5 + 0.5) * (n - 1000) as f64) as usize + 500;
        let len = 8 + ((rng.next() * 0.5 + 0.5) * 42.0) as usize;
        let peak = 10f64.powf((-36.0 + (rng.next() * 0.5 + 0.5) * 26.0) / 20.0);
        let chans: Vec<usize> = if c % 3 == 0 { vec![0, 1] } else { vec![c % 2] };
        for ch in chans {
            for i in 0..len {
                let env = (-(i as f64) / (len as f64 / 3.0)).exp();
                x[ch][start + i] +=
                    (peak * env * rng.next().signum() * (0.5 + 0.5 * rng.next().abs())) as f32;
            }
        }
        spots.push((start, len));
    }
    spots
}

/// Error energy inside the click regions (each widened by 8 samples), as
/// a level in dBFS (mean square over those samples, both channels).
pub fn click_region_error_db(
    out: &[Vec<f32>],
    clean: &[Vec<f32>],
    spots: &[(usize, usize)],
) -> f64 {
    let (mut e, mut n) = (0.0f64, 0usize);
    for (o, c) in out.iter().zip(clean) {
        for &(s, l) in spots {
            for i in s.saturating_sub(8)..(s + l + 8).min(o.len()) {
                let d = f64::from(o[i] - c[i]);
                e += d * d;
                n += 1;
            }
        }
    }
    10.0 * (e / n.max(1) as f64).max(1e-30).log10()
}

/// Add tape hiss to every channel: Gaussian-like noise (each channel its
/// own), tilted up toward high frequencies (+6 dB at Nyquist re DC, a
/// first-order pre-emphasis), scaled to an RMS of `dbfs` over the band.
pub fn add_hiss(x: &mut [Vec<f32>], dbfs: f64, seed: u64) {
    let mut rng = Rng::new(seed);
    let n = x[0].len();
    for ch in x.iter_mut() {
        let mut prev = 0.0;
        let hiss: Vec<f64> = (0..n)
            .map(|_| {
                // A sum of four uniforms is close to Gaussian.
                let w = (rng.next() + rng.next() + rng.next() + rng.next()) * 0.5;
                let y = 1.5 * w - 0.5 * prev;
                prev = w;
                y
            })
            .collect();
        let rms = (hiss.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt();
        let g = 10f64.powf(dbfs / 20.0) / rms;
        for (s, h) in ch.iter_mut().zip(&hiss) {
            *s += (h * g) as f32;
        }
    }
}

/// Error energy of `x` in `lo`..`hi` Hz as a plain RMS level over that
/// band, dBFS (a noise's level, not a sine's: bins summed, Hann power
/// gain undone).
pub fn band_rms_dbfs(x: &[f32], rate: u32, lo: f64, hi: f64) -> f64 {
    // band_level_dbfs gives the level of a sine (peak²/2 = power·2):
    // A² = 16·p/(1.5·n²) and RMS² = A²/2.
    band_level_dbfs(x, rate, lo, hi) - 3.0103
}

/// How "peaky" `x` is in time and frequency within `lo`..`hi` Hz: the mean
/// over STFT cells (1024-point Hann, hop 512) of P² / E[P]², with each
/// bin's power normalized by its own mean over time. Gaussian noise gives
/// about 2; musical noise (isolated tonal blips left by a noise reducer)
/// gives much more.
pub fn peakiness(x: &[f32], rate: u32, lo: f64, hi: f64) -> f64 {
    const N: usize = 1024;
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(N);
    let bin = f64::from(rate) / N as f64;
    let k0 = (lo / bin).ceil() as usize;
    let k1 = ((hi / bin).floor() as usize).min(N / 2);
    let mut frames: Vec<Vec<f64>> = Vec::new();
    let mut start = 0;
    while start + N <= x.len() {
        let mut input: Vec<f64> = (0..N)
            .map(|i| f64::from(x[start + i]) * (0.5 - 0.5 * (TAU * i as f64 / N as f64).cos()))
            .collect();
        let mut out = fft.make_output_vec();
        fft.process(&mut input, &mut out).expect("fft");
        frames.push(out[k0..k1].iter().map(|c| c.norm_sqr()).collect());
        start += N / 2;
    }
    let (mut sum, mut cells) = (0.0, 0usize);
    for k in 0..k1 - k0 {
        let mean = frames.iter().map(|f| f[k]).sum::<f64>() / frames.len() as f64;
        if mean <= 0.0 {
            continue;
        }
        for f in &frames {
            let p = f[k] / mean;
            sum += p * p;
            cells += 1;
        }
    }
    sum / cells.max(1) as f64
}

/// `out` shifted earlier by the delay (0 to 16,384 frames) that best lines
/// it up with `reference` (largest cross-correlation over the first
/// channel's first 10 s), trimmed or padded with zeros to its length: a
/// peer's output whose filter delays it.
pub fn align(out: &[Vec<f32>], reference: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let n = reference[0].len().min(out[0].len()).min(480_000);
    let lag = (0..16_384usize)
        .max_by(|&a, &b| {
            let c = |l: usize| -> f64 {
                (0..n.saturating_sub(l))
                    .step_by(3)
                    .map(|i| f64::from(out[0][i + l]) * f64::from(reference[0][i]))
                    .sum()
            };
            c(a).total_cmp(&c(b))
        })
        .unwrap_or(0);
    out.iter()
        .map(|ch| {
            let mut v: Vec<f32> = ch.iter().skip(lag).copied().collect();
            v.resize(reference[0].len(), 0.0);
            v
        })
        .collect()
}

/// Add crackle: `per_second` tiny clicks a second on each channel on its
/// own (1 to 4 samples, sharp-edged, peaks between −45 and −25 dBFS), as a
/// worn record's surface noise. Returns each crackle's (start, length).
pub fn add_crackle(
    x: &mut [Vec<f32>],
    rate: u32,
    per_second: f64,
    seed: u64,
) -> Vec<(usize, usize)> {
    let n = x[0].len();
    let mut rng = Rng::new(seed);
    let count = (per_second * n as f64 / f64::from(rate)) as usize;
    let mut spots = Vec::new();
    for c in 0..count {
        let ch = c % x.len();
        let start = ((rng.next() * 0.5 + 0.5) * (n - 1000) as f64) as usize + 500;
        let len = 1 + ((rng.next() * 0.5 + 0.5) * 3.99) as usize;
        let peak = 10f64.powf((-45.0 + (rng.next() * 0.5 + 0.5) * 20.0) / 20.0);
        let sign = rng.next().signum();
        for i in 0..len {
            let shape = 1.0 - 0.5 * i as f64 / len as f64;
            x[ch][start + i] += (sign * peak * shape) as f32;
        }
        spots.push((start, len));
    }
    spots
}

/// A dense master-to-be: [`piano`] with snare-like noise bursts every
/// quarter second (decaying over ~45 ms, falling off above ~3 kHz as real
/// music does), different noise on each side.
pub fn dense_mix(seconds: f64, rate: u32) -> Vec<Vec<f32>> {
    let mut music = piano(seconds, rate);
    let mut n = super::noise(music[0].len(), 11);
    let mut y = 0.0;
    for v in n.iter_mut() {
        y += 0.35 * (*v - y);
        *v = 2.0 * y;
    }
    for (i, v) in n.iter().enumerate() {
        let env = (-((i % 11_025) as f32) / 2_000.0).exp();
        music[0][i] += 0.35 * v * env;
        music[1][i] += 0.35 * n[(i + 7) % n.len()] * env;
    }
    music
}
