//! The built-in demo material: a short synthesized album of different
//! loudness and character, so anyone can try lathe with no audio of their own.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::AudioBlock;
use crate::io::encode::{SampleFormat, WavOutput};

/// Sample rate of the demo tracks, Hz.
pub const DEMO_RATE: u32 = 44_100;

/// One synthesized demo track.
#[derive(Debug, Clone, Copy)]
pub struct DemoTrack {
    /// File stem and title.
    pub title: &'static str,
    /// What it is meant to show.
    pub character: &'static str,
    /// Length, seconds.
    pub seconds: f64,
}

/// The demo album in play order.
pub const DEMO_TRACKS: &[DemoTrack] = &[
    DemoTrack {
        title: "Quiet Ballad",
        character: "soft decaying tones that swell and fall back, about -24 LUFS",
        seconds: 16.0,
    },
    DemoTrack {
        title: "Loud Single",
        character: "a dense, hot mix (about -10 LUFS) with inter-sample overs",
        seconds: 14.0,
    },
    DemoTrack {
        title: "Dusty Tape",
        character: "melody with clicks and hiss",
        seconds: 14.0,
    },
    DemoTrack {
        title: "Wide Pads",
        character: "slow stereo pads with wide side content",
        seconds: 16.0,
    },
];

/// Deterministic noise source (xorshift32), uniform in −1..1.
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        (x as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}

fn midi_hz(note: f32) -> f32 {
    440.0 * 2f32.powf((note - 69.0) / 12.0)
}

/// Synthesize track `index` of [`DEMO_TRACKS`] as planar stereo at [`DEMO_RATE`].
pub fn synthesize(index: usize) -> Vec<Vec<f32>> {
    let t = DEMO_TRACKS[index % DEMO_TRACKS.len()];
    let rate = DEMO_RATE as f32;
    let n = (t.seconds * f64::from(DEMO_RATE)) as usize;
    let mut l = vec![0f32; n];
    let mut r = vec![0f32; n];
    let mut noise = Noise(0x9e37_79b9 ^ index as u32);
    let tau = std::f32::consts::TAU;
    match index % DEMO_TRACKS.len() {
        0 => {
            // Quiet ballad: a slow arpeggio of decaying harmonic tones.
            let notes = [57.0, 60.0, 64.0, 67.0, 65.0, 62.0, 59.0, 55.0];
            let step = (rate * 1.0) as usize;
            for (k, start) in (0..n).step_by(step).enumerate() {
                let f = midi_hz(notes[k % notes.len()]);
                let pan = 0.35 + 0.3 * ((k % 3) as f32 / 2.0);
                // The song swells to its loudest part and falls back.
                let swell = 0.45 + 0.55 * (std::f32::consts::PI * start as f32 / n as f32).sin();
                for i in start..(start + 3 * step).min(n) {
                    let tt = (i - start) as f32 / rate;
                    let env = (-tt * 1.6).exp() * (1.0 - (-tt * 200.0).exp());
                    let s = 0.33
                        * swell
                        * env
                        * ((tau * f * tt).sin()
                            + 0.3 * (tau * 2.0 * f * tt).sin()
                            + 0.1 * (tau * 3.0 * f * tt).sin());
                    l[i] += s * (1.0 - pan);
                    r[i] += s * pan;
                }
            }
        }
        1 => {
            // Loud single: kick, bass and bright saw chords, driven into a
            // soft clipper and mixed hot (sample peaks at -1 dBFS).
            let beat = (rate * 0.5) as usize;
            let chord = [48.0, 55.0, 60.0, 64.0];
            for i in 0..n {
                let tt = i as f32 / rate;
                let bt = (i % beat) as f32 / rate;
                let kick =
                    (tau * (50.0 + 120.0 * (-bt * 30.0).exp()) * bt).sin() * (-bt * 8.0).exp();
                let bass = (tau * midi_hz(36.0) * tt).sin() * 0.5;
                let mut saw = 0.0;
                for (j, nte) in chord.iter().enumerate() {
                    let ph = (midi_hz(*nte) * tt + j as f32 * 0.13).fract();
                    saw += 2.0 * ph - 1.0;
                }
                let hat = if (i % (beat / 2)) < 2000 {
                    noise.next() * 0.3
                } else {
                    0.0
                };
                let drive = 0.6;
                l[i] = 0.89 * (drive * (kick + bass + 0.25 * saw + hat)).tanh();
                r[i] = 0.89 * (drive * (kick + bass + 0.25 * saw - hat * 0.5)).tanh();
            }
            // An fs/4 burst at 45° (a hot mix's inter-sample over): samples
            // at -3 dBFS, true peak about +0.8 dBTP (the burst's edges ring).
            let start = n / 2;
            for i in start..start + 2205 {
                let v = (tau * 0.25 * i as f32 + tau / 8.0).sin();
                l[i] = v;
                r[i] = l[i];
            }
        }
        2 => {
            // Dusty tape: a melody under hiss, with clicks.
            let notes = [69.0, 71.0, 72.0, 74.0, 76.0, 74.0, 72.0, 71.0];
            let step = (rate * 0.5) as usize;
            for i in 0..n {
                let tt = i as f32 / rate;
                let k = i / step;
                let nt = (i % step) as f32 / rate;
                let f = midi_hz(notes[k % notes.len()]);
                let env = (-nt * 3.0).exp();
                let s = 0.25 * env * (tau * f * tt).sin();
                let hiss = 0.01 * noise.next();
                l[i] = s + hiss;
                r[i] = s + 0.01 * noise.next();
            }
            for c in 0..40 {
                let at = (c * 15_013 + 7_919) % (n - 10);
                let amp = 0.6 * if c % 2 == 0 { 1.0 } else { -1.0 };
                for (j, d) in [1.0, 0.6, -0.3].iter().enumerate() {
                    l[at + j] += amp * d;
                    r[at + j] += amp * d * 0.8;
                }
            }
        }
        _ => {
            // Wide pads: detuned chords with different phases left and right.
            let chord = [53.0, 57.0, 60.0, 64.0];
            for i in 0..n {
                let tt = i as f32 / rate;
                let swell = 0.5 - 0.5 * (tau * tt / 8.0).cos();
                let (mut a, mut b) = (0.0, 0.0);
                for (j, nte) in chord.iter().enumerate() {
                    let f = midi_hz(*nte);
                    a += (tau * f * 1.003 * tt + j as f32).sin();
                    b += (tau * f * 0.997 * tt + 2.0 * j as f32).sin();
                }
                l[i] = 0.06 * swell * a;
                r[i] = 0.06 * swell * b;
            }
        }
    }
    vec![l, r]
}

/// Write the demo album as 24-bit WAV files into `dir`; returns their paths.
pub fn write_demo_audio(dir: &Path, force: bool) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for (i, t) in DEMO_TRACKS.iter().enumerate() {
        let path = dir.join(format!("{:02} {}.wav", i + 1, t.title));
        let planar = synthesize(i);
        let mut out = WavOutput::create(&path, DEMO_RATE, 2, SampleFormat::Int24, &[], force)?;
        let frames = planar[0].len();
        let mut block = AudioBlock::new(2, 8192);
        let mut pos = 0;
        while pos < frames {
            let n = (frames - pos).min(8192);
            for (b, p) in block.channels.iter_mut().zip(&planar) {
                b[..n].copy_from_slice(&p[pos..pos + n]);
            }
            block.frames = n;
            out.write_block(&block)?;
            pos += n;
        }
        paths.push(out.finish()?);
    }
    Ok(paths)
}

/// The demo session's TOML (tracks refer to the files [`write_demo_audio`] writes).
pub fn demo_session_toml() -> String {
    let mut s = String::from(
        r#"version = 1

[album]
title = "lathe demo"
artist = "lathe"
year = 2026
balance = "consistent"

[chain]
target_lufs = -14.0

[[chain.module]]
type = "dc-removal"

[[chain.module]]
type = "eq"
[[chain.module.band]]
type = "high-pass"
freq_hz = 25.0
slope_db_oct = 24
[[chain.module.band]]
type = "high-shelf"
freq_hz = 10000.0
gain_db = 1.0

[[chain.module]]
type = "compressor"
threshold_db = -20.0
ratio = 1.5
knee_db = 8.0
attack_ms = 30.0
release_ms = 250.0

[[chain.module]]
type = "limiter"
ceiling_dbtp = -1.0
"#,
    );
    let extra = [
        "fade_in_s = 0.5\ngap_s = 0.0\n",
        "gap_s = 2.0\n",
        "gap_s = 0.0\n\n[[track.module]]\ntype = \"declick\"\n\n[[track.module]]\ntype = \"dehiss\"\n\n[[track.module]]\ntype = \"match\"\nreference = \"album\"\namount_pct = 40.0\n",
        "gap_s = 1.5\nfade_out_s = 3.0\n",
    ];
    for (i, t) in DEMO_TRACKS.iter().enumerate() {
        s.push_str(&format!(
            "\n[[track]]\npath = \"{:02} {}.wav\"\ntitle = \"{}\"\nisrc = \"XX-LTH-26-{:05}\"\n{}",
            i + 1,
            t.title,
            t.title,
            i + 1,
            extra[i % extra.len()]
        ));
    }
    s.push_str(
        r#"
[[delivery]]
name = "cd"
format = "wav"
bits = "16"
rate_hz = 44100
dither = "tpdf"
target_lufs = -11.0
ceiling_dbtp = -0.5
track_files = true
album_file = true

[[delivery]]
name = "streaming"
format = "flac"
bits = "24"
rate_hz = 48000
target_lufs = -14.0
ceiling_dbtp = -1.0
codec_check = ["aac-256", "mp3-320", "opus-160"]
"#,
    );
    s
}

/// Write the demo album's audio and `session.toml` into `dir`; returns the session path.
pub fn write_demo_session(dir: &Path, force: bool) -> Result<PathBuf> {
    write_demo_audio(dir, force)?;
    let path = dir.join("session.toml");
    crate::io::atomic::check_output(&path, &[], force)?;
    let mut f = crate::io::atomic::AtomicFile::create(&path, &[], force)?;
    use std::io::Write;
    f.write_all(demo_session_toml().as_bytes())
        .map_err(|e| crate::LatheError::write(&path, e.to_string()))?;
    f.commit()
}
