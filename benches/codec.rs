//! The codec check beside ffmpeg on the same 4-minute master.
//!
//! Run with `cargo bench --bench codec`. Generates a 4-minute 44.1 kHz
//! stereo mix (kick, bass, chords, hats), masters it with `lathe master
//! --target -9 --ceiling -1`, then times, in the same run:
//! - `lathe analyze MASTER --codec aac-256,mp3-320,opus-160` (the three
//!   codecs in parallel, decoded streams measured as they arrive), and each
//!   codec alone;
//! - ffmpeg encoding and decoding the same three (libmp3lame, native aac,
//!   libopus; each an encoder piped into a decoder writing raw float to
//!   /dev/null, the three pipelines in parallel), which measures nothing.
//!
//! Reports wall time, CPU time and peak resident memory (of the child,
//! from `wait4`), the ratio, and lathe's peak memory on a 1-minute and an
//! 8-minute master (memory flat with length).

use std::path::Path;
use std::process::Command;

#[path = "launch.rs"]
mod launch;

const RATE: u32 = 44_100;

/// A music-like stereo mix of `seconds`: kick, bass, chords and hats.
fn write_mix(path: &Path, seconds: usize) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let rate = f64::from(RATE);
    let tau = std::f64::consts::TAU;
    let chords = [
        [110.0, 138.6, 164.8],
        [98.0, 123.5, 146.8],
        [87.3, 110.0, 130.8],
    ];
    let mut hp = [0.0f64; 2];
    for i in 0..seconds * RATE as usize {
        let t = i as f64 / rate;
        let beat = t % 0.5;
        let kick = (tau * (50.0 + 80.0 * (-beat * 30.0).exp()) * beat).sin() * (-beat * 8.0).exp();
        let chord = chords[(t / 2.0) as usize % 3];
        let bass = 0.5 * (tau * chord[0] / 2.0 * t).sin();
        let pads: f64 = chord.iter().map(|f| (tau * f * 2.0 * t).sin()).sum::<f64>() * 0.15;
        let hat_t = t % 0.25;
        let mut out = [0.0; 2];
        for (c, o) in out.iter_mut().enumerate() {
            let n = rnd();
            hp[c] = 0.6 * (hp[c] + n) - 0.6 * hp[c];
            let hat = (n - hp[c]) * (-hat_t * 40.0).exp() * 0.25;
            let pan = if c == 0 { 0.9 } else { 1.1 };
            *o = 0.4 * (kick + bass + pads * pan + hat);
        }
        for o in out {
            w.write_sample(o as f32).expect("write");
        }
    }
    w.finalize().expect("finalize");
}

fn lathe_bin() -> std::path::PathBuf {
    let me = std::env::current_exe().expect("exe");
    let dir = me.parent().and_then(Path::parent).expect("target dir");
    dir.join("lathe")
}

fn master(dir: &Path, seconds: usize) -> std::path::PathBuf {
    let mix = dir.join(format!("mix{seconds}.wav"));
    let out = dir.join(format!("master{seconds}.wav"));
    write_mix(&mix, seconds);
    let st = Command::new(lathe_bin())
        .args([
            "master",
            "--target",
            "-9",
            "--ceiling",
            "-1",
            "--force",
            "-o",
        ])
        .arg(&out)
        .arg(&mix)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("lathe master");
    assert!(st.success(), "lathe master failed");
    out
}

fn main() {
    launch::launcher_main();
    let dir = tempfile::tempdir().expect("tmp");
    let lathe = lathe_bin();
    let lathe = lathe.to_str().expect("utf-8 path");
    let m240 = master(dir.path(), 240);
    let codecs = "aac-256,mp3-320,opus-160";
    println!("codec check of a 4-minute 44.1 kHz stereo master ({codecs})");
    let run = |what: &str, prog: &str, args: &[&std::ffi::OsStr]| {
        let (t, mem, ok, cpu) = launch::run_cpu(prog, args);
        println!(
            "  {what:<34} {:>6.2} s  cpu {:>6.2} s  {:>7.1} MB{}",
            t.as_secs_f64(),
            cpu,
            mem,
            if ok { "" } else { "  FAILED" }
        );
        t.as_secs_f64()
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let lathe_all = run(
        "lathe analyze --codec (3 codecs)",
        lathe,
        &[
            os("analyze").as_os_str(),
            m240.as_os_str(),
            &os("--codec"),
            &os(codecs),
        ],
    );
    for c in codecs.split(',') {
        run(
            &format!("lathe analyze --codec {c}"),
            lathe,
            &[
                os("analyze").as_os_str(),
                m240.as_os_str(),
                &os("--codec"),
                &os(c),
            ],
        );
    }
    let src = m240.to_str().expect("utf-8 path");
    let pipe = |enc: &str, mux: &str, demux: &str| {
        format!(
            "(ffmpeg -v error -i '{src}' {enc} -f {mux} - | ffmpeg -v error -f {demux} -i - -f f32le - > /dev/null)"
        )
    };
    let parts = [
        pipe("-c:a aac -b:a 256k", "adts", "aac"),
        pipe("-c:a libmp3lame -b:a 320k", "mp3", "mp3"),
        pipe("-c:a libopus -b:a 160k", "ogg", "ogg"),
    ];
    let have_ffmpeg = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_ffmpeg {
        let script = format!("{} & {} & {} & wait", parts[0], parts[1], parts[2]);
        let ff = run(
            "ffmpeg encode+decode (3 in parallel)",
            "bash",
            &[os("-c").as_os_str(), &os(&script)],
        );
        for (c, p) in codecs.split(',').zip(&parts) {
            run(
                &format!("ffmpeg encode+decode {c}"),
                "bash",
                &[&os("-c"), &os(p)],
            );
        }
        println!("  ratio lathe / ffmpeg (3 codecs): {:.2}", lathe_all / ff);
    } else {
        println!("  ffmpeg: SKIPPED (not installed; apt-get install ffmpeg)");
    }
    println!("memory with length (lathe, 3 codecs)");
    for secs in [60, 480] {
        let m = master(dir.path(), secs);
        run(
            &format!("{} s master", secs),
            lathe,
            &[
                os("analyze").as_os_str(),
                m.as_os_str(),
                &os("--codec"),
                &os(codecs),
            ],
        );
    }
}
