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
#[path = "mix.rs"]
mod mix;

fn lathe_bin() -> std::path::PathBuf {
    let me = std::env::current_exe().expect("exe");
    let dir = me.parent().and_then(Path::parent).expect("target dir");
    dir.join("lathe")
}

fn master(dir: &Path, seconds: usize) -> std::path::PathBuf {
    let mix = dir.join(format!("mix{seconds}.wav"));
    let out = dir.join(format!("master{seconds}.wav"));
    // A loud, bright, wide mix (the matching benchmark's reference).
    mix::write_mix(&mix, seconds, 7, 0.55, 1.0, 1.0);
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
