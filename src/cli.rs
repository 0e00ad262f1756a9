//! The command line: argument parsing (clap) and the subcommands.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::analysis::{self, FileAnalysis, platforms};
use crate::units::format_duration;

/// lathe: a mastering workstation for the terminal.
#[derive(Debug, Parser)]
#[command(
    name = "lathe",
    version,
    about,
    long_about = "A mastering workstation for the terminal.\n\nWith a session file (.toml) or audio files and no subcommand, lathe opens its full-screen interface; `lathe demo` opens it on a synthesized album.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (none: open the interface on FILES).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A session (.toml) or audio files to open in the interface.
    pub files: Vec<PathBuf>,
    /// Interface options.
    #[command(flatten)]
    pub ui: UiArgs,
}

/// Options of the interface.
#[derive(Debug, clap::Args)]
pub struct UiArgs {
    /// Theme: default, light, high-contrast, ansi16, a name in the config
    /// folder's themes/, or a .toml file.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Use the silent output even if a sound card exists.
    #[arg(long)]
    pub silent: bool,
    /// Output device (a part of its name, as `lathe devices` lists it).
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,
}

impl UiArgs {
    /// A theme asked for on the command line must exist and be valid
    /// (one from the config file falls back to the default instead).
    fn check(&self) -> crate::Result<()> {
        if let Some(t) = &self.theme {
            let dir = crate::ui::event_loop::config_dir().map(|d| d.join("themes"));
            crate::ui::theme::Theme::load(t, dir.as_deref())?;
        }
        Ok(())
    }

    fn options(&self) -> crate::ui::event_loop::UiOptions {
        crate::ui::event_loop::UiOptions {
            theme: self.theme.clone(),
            silent: self.silent,
            device: self.device.clone(),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure loudness (LUFS, LRA), true peak and what streaming services will do to a file.
    Analyze {
        /// Audio files (WAV, AIFF, FLAC, MP3, Ogg Vorbis, AAC/ALAC in MP4).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object per file, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Master one file through a preset or chain to a loudness target and true-peak ceiling.
    Master {
        /// Input audio file.
        #[arg(required_unless_present = "list_presets")]
        input: Option<PathBuf>,
        /// Output WAV file.
        #[arg(
            short,
            long,
            value_name = "OUT",
            required_unless_present = "list_presets"
        )]
        output: Option<PathBuf>,
        /// A built-in preset (default: streaming). See --list-presets.
        #[arg(long, value_name = "NAME", conflicts_with = "chain")]
        preset: Option<String>,
        /// A chain file (TOML).
        #[arg(long, value_name = "FILE.toml")]
        chain: Option<PathBuf>,
        /// Integrated loudness target, LUFS (-40 to 0); overrides the preset or chain.
        #[arg(long, value_name = "LUFS", allow_hyphen_values = true)]
        target: Option<f64>,
        /// True-peak ceiling, dBTP (-12 to 0); overrides the preset or chain.
        #[arg(long, value_name = "DBTP", allow_hyphen_values = true)]
        ceiling: Option<f64>,
        /// The most gain reduction the limiter may apply to reach the target,
        /// dB (0 to 30): the target becomes a maximum, the master stops
        /// short of it rather than limit more. Overrides the chain's.
        #[arg(long, value_name = "DB")]
        max_limiting: Option<f64>,
        /// Output sample rate, Hz (default: the input's).
        #[arg(long, value_name = "HZ")]
        rate: Option<u32>,
        /// Output word length: 16, 24 or 32f (float). Default 24.
        #[arg(long, value_name = "16|24|32f", default_value = "24")]
        bits: String,
        /// Dither for integer output: tpdf, shaped or none. Default tpdf.
        #[arg(long, value_name = "tpdf|shaped|none", default_value = "tpdf")]
        dither: String,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// List the built-in presets with their chains and exit.
        #[arg(long)]
        list_presets: bool,
    },
    /// Render an album session to every delivery (per-track files, album file + CUE), then measure them.
    Render {
        /// The session file (TOML).
        session: PathBuf,
        /// Output folder; one subfolder per delivery (default: ./render).
        #[arg(short, long, value_name = "DIR", default_value = "render")]
        output: PathBuf,
        /// Render only this delivery.
        #[arg(long, value_name = "NAME")]
        delivery: Option<String>,
        /// Print one JSON object per written audio file, one per line.
        #[arg(long)]
        json: bool,
        /// Replace existing outputs.
        #[arg(long)]
        force: bool,
    },
    /// Play a file through a chain with a one-line live meter (space, a/b, arrows, l, m, q).
    Play {
        /// Audio file, or an album session (.toml) played as it renders.
        file: PathBuf,
        /// With a session: the delivery whose gains, ceiling and rate to
        /// hear (default: the first).
        #[arg(long, value_name = "NAME")]
        delivery: Option<String>,
        /// A built-in preset (default: streaming).
        #[arg(long, value_name = "NAME", conflicts_with = "chain")]
        preset: Option<String>,
        /// A chain file (TOML).
        #[arg(long, value_name = "FILE.toml")]
        chain: Option<PathBuf>,
        /// Use the silent output even if a sound card exists.
        #[arg(long)]
        silent: bool,
        /// Output device (a part of its name, as `lathe devices` lists it).
        #[arg(long, value_name = "NAME")]
        device: Option<String>,
    },
    /// List audio output devices with their rates and channel counts.
    Devices,
    /// Hear a remote lathe: run `ssh HOST lathe tap` and play the server's
    /// monitor output on this machine's sound card (q or Ctrl-C quits).
    Listen {
        /// `[USER@]HOST` as ssh takes it (your ~/.ssh/config applies).
        #[arg(required_unless_present = "via")]
        host: Option<String>,
        /// Run this shell command instead of `ssh HOST lathe tap` (it must
        /// run `lathe tap` somewhere: `docker exec`, `kubectl exec`, tests).
        #[arg(long, value_name = "CMD")]
        via: Option<String>,
        /// An ssh option, as `ssh -o` takes it (repeatable), e.g.
        /// `ProxyJump=gateway`.
        #[arg(short = 'o', long = "ssh-option", value_name = "KEY=VALUE")]
        ssh_option: Vec<String>,
        /// An ssh config file (`ssh -F`).
        #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
        ssh_config: Option<PathBuf>,
        /// The far side's lathe process to hear (default: the newest).
        #[arg(long)]
        pid: Option<u32>,
        /// auto (lossless FLAC, Opus 256 kb/s while the link cannot carry
        /// it), flac, pcm (raw float, for debugging) or opus.
        #[arg(long, default_value = "auto")]
        codec: String,
        /// Output device (a part of its name, as `lathe devices` lists it).
        #[arg(long, value_name = "NAME")]
        device: Option<String>,
        /// Use the silent output even if a sound card exists.
        #[arg(long)]
        silent: bool,
        /// Also write what is received, lossless, to this WAV (32-bit float).
        #[arg(long, value_name = "FILE.wav")]
        record: Option<PathBuf>,
        /// The jitter buffer's starting size, ms (it grows after underruns
        /// and shrinks slowly).
        #[arg(long, value_name = "MS", default_value_t = 40.0)]
        buffer_ms: f64,
        /// The lathe command on the far side.
        #[arg(long, value_name = "CMD", default_value = "lathe")]
        remote_lathe: String,
        /// Stop after this many seconds (tests, benchmarks).
        #[arg(long, hide = true)]
        seconds: Option<f64>,
        /// Run the silent output's clock this many ppm fast (tests).
        #[arg(long, hide = true, allow_hyphen_values = true, default_value_t = 0.0)]
        skew_ppm: f64,
        /// Do not reconnect when the connection drops.
        #[arg(long, hide = true)]
        no_reconnect: bool,
        /// Print a JSON summary at the end (tests, benchmarks).
        #[arg(long, hide = true)]
        json: bool,
    },
    /// Run at the far end of `ssh` by `lathe listen`: relay this machine's
    /// newest lathe monitor output (or process --pid's) to stdout.
    Tap {
        /// The publishing lathe process (default: the newest).
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Master over SSH in one command: open lathe on HOST in this terminal
    /// (`ssh -t HOST lathe ARGS…`) and hear it here at the same time, over
    /// one shared ssh connection.
    Remote {
        /// `[USER@]HOST` as ssh takes it.
        host: String,
        /// An ssh option, as `ssh -o` takes it (repeatable).
        #[arg(short = 'o', long = "ssh-option", value_name = "KEY=VALUE")]
        ssh_option: Vec<String>,
        /// An ssh config file (`ssh -F`).
        #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
        ssh_config: Option<PathBuf>,
        /// The lathe command on the far side.
        #[arg(long, value_name = "CMD", default_value = "lathe")]
        remote_lathe: String,
        /// Use the silent output here (the stream is still received).
        #[arg(long)]
        silent: bool,
        /// Also write what is received to this WAV (tests).
        #[arg(long, hide = true, value_name = "FILE.wav")]
        record: Option<PathBuf>,
        /// Arguments for lathe on HOST (a session file, `demo`, …).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Open the interface on a synthesized demo album (no audio of your own
    /// needed); without a terminal it analyzes and renders the album instead.
    Demo {
        /// Interface options.
        #[command(flatten)]
        ui: UiArgs,
        /// Write the demo into this folder and stop (default: a temporary folder, analyzed, then removed).
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
        /// Replace files that already exist in DIR.
        #[arg(long)]
        force: bool,
    },
}

/// Parse the process arguments and run; returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return cmd_ui(&cli.files, &cli.ui);
    };
    match command {
        Command::Analyze { files, json } => cmd_analyze(&files, json),
        Command::Demo { write, force, ui } => cmd_demo(write, force, &ui),
        Command::Play {
            file,
            delivery,
            preset,
            chain,
            silent,
            device,
        } => match cmd_play(&file, delivery, preset, chain, silent, device) {
            Ok(c) => c,
            Err(e) => {
                eprint_error(&e.to_string());
                ExitCode::from(1)
            }
        },
        Command::Devices => cmd_devices(),
        Command::Tap { pid } => match crate::remote::tap::run(pid) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprint_error(&format!("tap: {e}"));
                ExitCode::from(1)
            }
        },
        Command::Listen {
            host,
            via,
            ssh_option,
            ssh_config,
            pid,
            codec,
            device,
            silent,
            record,
            buffer_ms,
            remote_lathe,
            seconds,
            skew_ppm,
            no_reconnect,
            json,
        } => {
            let auto_codec = codec == "auto";
            let Some(codec) = crate::remote::protocol::Codec::parse(if auto_codec {
                "flac"
            } else {
                codec.as_str()
            }) else {
                eprint_error(&format!("--codec {codec}: use auto, flac, pcm or opus"));
                return ExitCode::from(2);
            };
            if let Err(e) = crate::remote::codec::BlockEncoder::new(
                codec,
                crate::remote::protocol::Format {
                    rate: 48_000,
                    channels: 2,
                    bits: 24,
                },
            ) {
                eprint_error(&format!("--codec {}: {e}", codec.name()));
                return ExitCode::from(2);
            }
            if !(5.0..=2000.0).contains(&buffer_ms) {
                eprint_error(&format!("--buffer-ms {buffer_ms}: allowed 5 to 2000"));
                return ExitCode::from(2);
            }
            let opts = crate::remote::listen::ListenOptions {
                host,
                via,
                ssh_args: ssh_args(&ssh_option, ssh_config.as_deref()),
                remote_lathe,
                pid,
                codec,
                auto_codec,
                device,
                silent,
                record,
                buffer_ms,
                skew_ppm,
                seconds,
                quiet: false,
                reconnect: !no_reconnect,
                keys: true,
            };
            cmd_listen(&opts, json)
        }
        Command::Remote {
            host,
            ssh_option,
            ssh_config,
            remote_lathe,
            silent,
            record,
            args,
        } => cmd_remote(
            &host,
            &ssh_args(&ssh_option, ssh_config.as_deref()),
            &remote_lathe,
            silent,
            record,
            &args,
        ),
        Command::Render {
            session,
            output,
            delivery,
            json,
            force,
        } => cmd_render(session, output, delivery, json, force),
        Command::Master {
            input,
            output,
            preset,
            chain,
            target,
            ceiling,
            max_limiting,
            rate,
            bits,
            dither,
            force,
            json,
            list_presets,
        } => {
            if list_presets {
                for p in crate::session::presets::PRESETS {
                    println!("# {} — {}\n{}", p.name, p.description, p.toml);
                }
                return ExitCode::SUCCESS;
            }
            let args = MasterArgs {
                input,
                output,
                preset,
                chain,
                target,
                ceiling,
                max_limiting,
                rate,
                bits,
                dither,
                force,
                json,
            };
            match cmd_master(args) {
                Ok(code) => code,
                Err(e) => {
                    eprint_error(&e.to_string());
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn eprint_error(msg: &str) {
    eprintln!("lathe: error: {msg}");
}

fn fmt_num(v: f64, unit: &str) -> String {
    if v.is_finite() {
        format!("{v:6.1} {unit}")
    } else {
        format!("{:>6} {unit}", "-inf")
    }
}

/// Text report of one analysis.
pub fn format_report(a: &FileAnalysis) -> String {
    let mut s = String::new();
    // Lossless formats give their bit depth; lossy ones their bit rate.
    let depth = match (a.bits_per_sample, a.bitrate_kbps) {
        (Some(b), _) => format!("  {b}-bit"),
        (None, Some(kbps)) => format!("  {kbps:.0} kb/s"),
        _ => String::new(),
    };
    let input = a
        .input_sample_rate
        .map(|r| format!(" (measured; input was {r} Hz)"))
        .unwrap_or_default();
    s.push_str(&format!(
        "{}\n  {}  {} Hz{}  {} ch{}  {}\n",
        a.file.display(),
        a.format,
        a.sample_rate,
        input,
        a.channels,
        depth,
        format_duration(a.duration_s)
    ));
    let l = &a.loudness;
    let rows = [
        (
            "Integrated",
            fmt_num(l.integrated_lufs, "LUFS"),
            "Loudness range",
            fmt_num(l.loudness_range_lu, "LU"),
        ),
        (
            "True peak",
            fmt_num(a.true_peak_dbtp, "dBTP"),
            "Sample peak",
            fmt_num(a.sample_peak_dbfs, "dBFS"),
        ),
        (
            "Momentary max",
            fmt_num(l.momentary_max_lufs, "LUFS"),
            "Short-term max",
            fmt_num(l.short_term_max_lufs, "LUFS"),
        ),
    ];
    for (a1, v1, a2, v2) in rows {
        s.push_str(&format!("  {a1:<15}{v1:<14}{a2:<16}{v2}\n"));
    }
    s.push_str(&format!("  {:<15}{}\n", "PLR", fmt_num(a.plr_db(), "dB")));
    if l.integrated_lufs.is_finite() {
        s.push_str("  Streaming normalization      gain    true peak after\n");
        for p in platforms::PLATFORMS {
            if let Some(n) = platforms::normalize(p, l.integrated_lufs, a.true_peak_dbtp) {
                let flag = if n.exceeds_peak_warning {
                    "  over -1 dBTP"
                } else {
                    ""
                };
                s.push_str(&format!(
                    "    {:<13}{:>4.0} LUFS  {:+6.1} dB  {}{}\n",
                    n.platform,
                    n.target_lufs,
                    n.gain_db,
                    fmt_num(n.true_peak_after_dbtp, "dBTP"),
                    flag
                ));
            }
        }
    } else {
        s.push_str("  Digital silence: no loudness to normalize.\n");
    }
    for w in &a.warnings {
        s.push_str(&format!("  warning: {w}\n"));
    }
    s
}

/// Aligned one-line-per-file summary for several files.
pub fn format_summary(results: &[&FileAnalysis]) -> String {
    let width = results
        .iter()
        .map(|a| a.file.display().to_string().chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 48);
    let mut s = format!(
        "{:<width$}  {:>11}  {:>8}  {:>10}  {:>8}\n",
        "File", "Integrated", "LRA", "True peak", "PLR"
    );
    for a in results {
        let mut name = a.file.display().to_string();
        if name.chars().count() > width {
            name = name.chars().take(width - 1).collect::<String>() + "~";
        }
        s.push_str(&format!(
            "{:<width$}  {:>11}  {:>8}  {:>10}  {:>8}\n",
            name,
            fmt_num(a.loudness.integrated_lufs, "LUFS"),
            fmt_num(a.loudness.loudness_range_lu, "LU"),
            fmt_num(a.true_peak_dbtp, "dBTP"),
            fmt_num(a.plr_db(), "dB"),
        ));
    }
    s
}

fn cmd_analyze(files: &[PathBuf], json: bool) -> ExitCode {
    use rayon::prelude::*;
    let results: Vec<crate::Result<FileAnalysis>> = files
        .par_iter()
        .map(|f| analysis::analyze_file(f))
        .collect();
    let mut failed = 0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut ok = Vec::new();
    for r in &results {
        match r {
            Ok(a) => {
                for w in &a.warnings {
                    eprintln!("lathe: warning: {w}");
                }
                if json {
                    let _ = writeln!(out, "{}", a.to_json());
                } else {
                    let _ = writeln!(out, "{}", format_report(a));
                }
                ok.push(a);
            }
            Err(e) => {
                failed += 1;
                eprint_error(&e.to_string());
            }
        }
    }
    if !json && ok.len() > 1 {
        let _ = write!(out, "{}", format_summary(&ok));
    }
    if failed > 0 {
        if files.len() > 1 {
            eprint_error(&format!(
                "{failed} of {} files could not be analyzed",
                files.len()
            ));
        }
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn cmd_ui(files: &[PathBuf], ui: &UiArgs) -> ExitCode {
    use clap::CommandFactory;
    if files.is_empty() {
        let _ = Cli::command().print_help();
        return ExitCode::from(2);
    }
    if let Err(e) = ui.check() {
        eprint_error(&e.to_string());
        return ExitCode::from(2);
    }
    for f in files {
        if !f.exists() {
            let bare = f.extension().is_none() && f.components().count() == 1;
            if bare {
                eprint_error(&format!(
                    "'{}' is neither a subcommand nor a file (lathe --help lists the subcommands)",
                    f.display()
                ));
                return ExitCode::from(2);
            }
            eprint_error(&format!("{}: no such file", f.display()));
            return ExitCode::from(1);
        }
    }
    let opts = ui.options();
    let is_session = files.len() == 1
        && files[0]
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let r = if is_session {
        crate::ui::event_loop::run_session(&files[0], &opts)
    } else {
        crate::ui::event_loop::run_files(files, &opts)
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint_error(&e.to_string());
            ExitCode::from(1)
        }
    }
}

fn cmd_demo(write: Option<PathBuf>, force: bool, ui: &UiArgs) -> ExitCode {
    use std::io::IsTerminal;
    if let Err(e) = ui.check() {
        eprint_error(&e.to_string());
        return ExitCode::from(2);
    }
    if write.is_none() && std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        // The interface on the demo album, kept in a temporary folder while it runs.
        let dir = std::env::temp_dir().join(format!("lathe-demo-{}", std::process::id()));
        // Removed on every way out the terminal is restored on (quit, error,
        // panic, signal, a hung-up terminal), not only here.
        crate::ui::event_loop::remove_on_exit(&dir);
        let r = std::fs::create_dir_all(&dir)
            .map_err(|e| {
                crate::LatheError::Invalid(format!("{}: cannot create folder: {e}", dir.display()))
            })
            .and_then(|_| crate::demo::write_demo_session(&dir, true))
            .and_then(|session| crate::ui::event_loop::run_session(&session, &ui.options()));
        let _ = std::fs::remove_dir_all(&dir);
        return match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprint_error(&e.to_string());
                ExitCode::from(1)
            }
        };
    }
    match write {
        Some(dir) => {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprint_error(&format!("{}: cannot create folder: {e}", dir.display()));
                return ExitCode::from(1);
            }
            match crate::demo::write_demo_session(&dir, force) {
                Ok(session) => {
                    println!("wrote the demo album and {}", session.display());
                    println!(
                        "try: lathe render \"{}\" -o \"{}\"",
                        session.display(),
                        dir.join("render").display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprint_error(&e.to_string());
                    ExitCode::from(1)
                }
            }
        }
        None => {
            let dir = std::env::temp_dir().join(format!("lathe-demo-{}", std::process::id()));
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprint_error(&format!("{}: cannot create folder: {e}", dir.display()));
                return ExitCode::from(1);
            }
            println!(
                "lathe demo: a synthesized {}-track album in {}",
                crate::demo::DEMO_TRACKS.len(),
                dir.display()
            );
            for (i, t) in crate::demo::DEMO_TRACKS.iter().enumerate() {
                println!("  {:02} {:<14} {}", i + 1, t.title, t.character);
            }
            println!();
            let code = match crate::demo::write_demo_session(&dir, true) {
                Ok(session) => {
                    println!("The sources:\n");
                    let paths: Vec<PathBuf> = (0..crate::demo::DEMO_TRACKS.len())
                        .map(|i| {
                            dir.join(format!(
                                "{:02} {}.wav",
                                i + 1,
                                crate::demo::DEMO_TRACKS[i].title
                            ))
                        })
                        .collect();
                    let c = cmd_analyze(&paths, false);
                    if c != ExitCode::SUCCESS {
                        c
                    } else {
                        println!(
                            "\nRendering the session (CD: 44.1 kHz/16-bit + album file and CUE; streaming: 48 kHz/24-bit, -14 LUFS):\n"
                        );
                        cmd_render(session, dir.join("render"), None, false, true)
                    }
                }
                Err(e) => {
                    eprint_error(&e.to_string());
                    ExitCode::from(1)
                }
            };
            let _ = std::fs::remove_dir_all(&dir);
            code
        }
    }
}

struct MasterArgs {
    input: Option<PathBuf>,
    output: Option<PathBuf>,
    preset: Option<String>,
    chain: Option<PathBuf>,
    target: Option<f64>,
    ceiling: Option<f64>,
    max_limiting: Option<f64>,
    rate: Option<u32>,
    bits: String,
    dither: String,
    force: bool,
    json: bool,
}

fn cmd_master(a: MasterArgs) -> crate::Result<ExitCode> {
    use crate::LatheError;
    use crate::io::dither::DitherKind;
    use crate::io::encode::SampleFormat;
    let (Some(input), Some(output)) = (a.input, a.output) else {
        return Err(LatheError::Invalid("master needs IN and -o OUT".into()));
    };
    let format = SampleFormat::parse(&a.bits)
        .ok_or_else(|| LatheError::Invalid(format!("--bits {}: use 16, 24 or 32f", a.bits)))?;
    let dither = DitherKind::parse(&a.dither).ok_or_else(|| {
        LatheError::Invalid(format!("--dither {}: use tpdf, shaped or none", a.dither))
    })?;
    if let Some(t) = a.target
        && !(-40.0..=0.0).contains(&t)
    {
        return Err(LatheError::Invalid(format!(
            "--target {t}: allowed -40 to 0 LUFS"
        )));
    }
    if let Some(c) = a.ceiling
        && !(-12.0..=0.0).contains(&c)
    {
        return Err(LatheError::Invalid(format!(
            "--ceiling {c}: allowed -12 to 0 dBTP"
        )));
    }
    if let Some(m) = a.max_limiting
        && !(0.0..=30.0).contains(&m)
    {
        return Err(LatheError::Invalid(format!(
            "--max-limiting {m}: allowed 0 to 30 dB"
        )));
    }
    let (mut cfg, name) = load_chain(a.chain.as_deref(), a.preset.as_deref())?;
    if a.target.is_some() {
        cfg.target_lufs = a.target;
    }
    if a.max_limiting.is_some() {
        cfg.max_limiting_db = a.max_limiting;
    }
    cfg = cfg.with_limiter(a.ceiling);
    crate::cancel::install_handler();
    let opts = crate::render::MasterOptions {
        input,
        output,
        chain: cfg,
        chain_name: name,
        rate: a.rate,
        format,
        dither,
        force: a.force,
        progress: !a.json,
    };
    let r = crate::render::master_file(&opts)?;
    for w in &r.before.warnings {
        eprintln!("lathe: warning: {w}");
    }
    let over = r.after.true_peak_dbtp > r.ceiling_dbtp;
    if a.json {
        println!("{}", master_json(&r, &opts));
    } else {
        print!("{}", master_text(&r, &opts));
    }
    if over {
        eprint_error(&format!(
            "{}: true peak {:.2} dBTP exceeds the {:.1} dBTP ceiling",
            opts.output.display(),
            r.after.true_peak_dbtp,
            r.ceiling_dbtp
        ));
        return Ok(ExitCode::from(1));
    }
    if r.limiting.is_heavy() {
        eprintln!(
            "lathe: warning: {}: {}; lower the target or set max_limiting_db",
            opts.output.display(),
            r.limiting.heavy_text()
        );
    }
    if !r.target_reached {
        if r.limiting_cut_db > 0.0 {
            eprintln!(
                "lathe: warning: target {:.1} LUFS missed by {:.1} LU ({:.1} LUFS): stopped at max_limiting_db {:.1} dB",
                r.target_lufs.unwrap_or(0.0),
                r.target_lufs.unwrap_or(0.0) - r.after.loudness.integrated_lufs,
                r.after.loudness.integrated_lufs,
                r.max_limiting_db.unwrap_or(0.0)
            );
        } else {
            eprintln!(
                "lathe: warning: target {:.1} LUFS not reached ({:.1} LUFS) within the {:.1} dBTP ceiling",
                r.target_lufs.unwrap_or(0.0),
                r.after.loudness.integrated_lufs,
                r.ceiling_dbtp
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn master_text(r: &crate::render::MasterReport, o: &crate::render::MasterOptions) -> String {
    let mut s = format!(
        "{} -> {}\n  chain {}, {} Hz, {}, dither {}\n",
        o.input.display(),
        o.output.display(),
        r.chain_name,
        r.after.sample_rate,
        match r.format {
            crate::io::encode::SampleFormat::Float32 => "32-bit float".to_string(),
            f => format!("{}-bit", f.bits()),
        },
        r.dither.name()
    );
    s.push_str(&format!("  {:<16}{:>12}  {:>12}\n", "", "before", "after"));
    let row = |label: &str, b: f64, a: f64, unit: &str, note: String| {
        format!(
            "  {label:<16}{:>12}  {:>12}{note}\n",
            fmt_num(b, unit),
            fmt_num(a, unit)
        )
    };
    s.push_str(&row(
        "Integrated",
        r.before.loudness.integrated_lufs,
        r.after.loudness.integrated_lufs,
        "LUFS",
        r.target_lufs
            .map(|t| format!("   target {t:.1}"))
            .unwrap_or_default(),
    ));
    s.push_str(&row(
        "Loudness range",
        r.before.loudness.loudness_range_lu,
        r.after.loudness.loudness_range_lu,
        "LU",
        String::new(),
    ));
    s.push_str(&row(
        "True peak",
        r.before.true_peak_dbtp,
        r.after.true_peak_dbtp,
        "dBTP",
        format!("   ceiling {:.1}", r.ceiling_dbtp),
    ));
    s.push_str(&row(
        "PLR",
        r.before.plr_db(),
        r.after.plr_db(),
        "dB",
        String::new(),
    ));
    s.push_str(&format!(
        "  Gain into limiter {:+.2} dB ({} search passes)\n",
        r.gain_db, r.search_passes
    ));
    let grs: Vec<String> = r
        .max_gain_reduction
        .iter()
        .filter(|(_, g)| *g > 0.005)
        .map(|(n, g)| format!("{n} {g:.1} dB"))
        .collect();
    if !grs.is_empty() {
        s.push_str(&format!("  Max gain reduction: {}\n", grs.join(", ")));
    }
    s.push_str(&format!(
        "  Limiting          {}\n",
        limiting_text(&r.limiting)
    ));
    if r.limiting_cut_db > 0.0 {
        s.push_str(&format!(
            "  Target missed by {:.1} LU: stopped at max_limiting_db {:.1} dB (the target needed {:.1} dB more gain)\n",
            r.target_lufs.unwrap_or(0.0) - r.after.loudness.integrated_lufs,
            r.max_limiting_db.unwrap_or(0.0),
            r.limiting_cut_db
        ));
    }
    s
}

/// "peak 6.0 dB, mean 1.2 dB, over 3 dB 12.5 % and over 6 dB 0.4 % of the time".
fn limiting_text(l: &crate::dsp::limiter::LimitingStats) -> String {
    format!(
        "peak {:.1} dB, mean {:.1} dB, over 3 dB {:.1} % and over 6 dB {:.1} % of the time",
        l.peak_gr_db(),
        l.mean_gr_db(),
        l.share_over_3db() * 100.0,
        l.share_over_6db() * 100.0
    )
}

/// The limiter's work as JSON.
fn limiting_json(l: &crate::dsp::limiter::LimitingStats) -> serde_json::Value {
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    serde_json::json!({
        "peak_gr_db": r3(l.peak_gr_db()),
        "mean_gr_db": r3(l.mean_gr_db()),
        "share_over_3db": r3(l.share_over_3db()),
        "share_over_6db": r3(l.share_over_6db()),
        "heavy": l.is_heavy(),
    })
}

fn master_json(
    r: &crate::render::MasterReport,
    o: &crate::render::MasterOptions,
) -> serde_json::Value {
    let num = |v: f64| {
        if v.is_finite() {
            serde_json::json!((v * 1000.0).round() / 1000.0)
        } else {
            serde_json::Value::Null
        }
    };
    let side = |a: &FileAnalysis| {
        serde_json::json!({
            "integrated_lufs": num(a.loudness.integrated_lufs),
            "loudness_range_lu": num(a.loudness.loudness_range_lu),
            "true_peak_dbtp": num(a.true_peak_dbtp),
            "sample_peak_dbfs": num(a.sample_peak_dbfs),
            "plr_db": num(a.plr_db()),
            "sample_rate": a.sample_rate,
        })
    };
    let gr: serde_json::Map<String, serde_json::Value> = r
        .max_gain_reduction
        .iter()
        .map(|(n, g)| (n.clone(), num(*g)))
        .collect();
    serde_json::json!({
        "input": o.input.display().to_string(),
        "output": o.output.display().to_string(),
        "chain": r.chain_name,
        "target_lufs": r.target_lufs,
        "ceiling_dbtp": r.ceiling_dbtp,
        "gain_db": num(r.gain_db),
        "target_reached": r.target_reached,
        "bits": r.format.bits(),
        "float": !r.format.is_int(),
        "dither": r.dither.name(),
        "before": side(&r.before),
        "after": side(&r.after),
        "max_gain_reduction_db": gr,
        "limiting": limiting_json(&r.limiting),
        "max_limiting_db": r.max_limiting_db,
        "limiting_cut_db": num(r.limiting_cut_db),
    })
}

fn cmd_render(
    session: PathBuf,
    out_dir: PathBuf,
    delivery: Option<String>,
    json: bool,
    force: bool,
) -> ExitCode {
    use std::io::IsTerminal;
    crate::cancel::install_handler();
    let opts = crate::render::album::RenderOptions {
        session,
        out_dir,
        delivery,
        force,
    };
    // On a terminal: one live line per delivery (indicatif); piped: plain lines.
    let multi = (!json && std::io::stderr().is_terminal()).then(indicatif::MultiProgress::new);
    let lines: std::sync::Mutex<Vec<(String, indicatif::ProgressBar)>> =
        std::sync::Mutex::new(Vec::new());
    let piped = !json && multi.is_none();
    let progress = |msg: &str| {
        if let Some(m) = &multi {
            let (key, text) = msg.split_once(": ").unwrap_or(("", msg));
            if let Ok(mut l) = lines.lock() {
                if let Some((_, pb)) = l.iter().find(|(k, _)| k == key) {
                    pb.set_message(text.to_string());
                } else {
                    let pb = m.add(indicatif::ProgressBar::new_spinner());
                    if let Ok(style) =
                        indicatif::ProgressStyle::with_template("{spinner} {prefix:>12}  {msg}")
                    {
                        pb.set_style(style);
                    }
                    pb.set_prefix(key.to_string());
                    pb.set_message(text.to_string());
                    pb.enable_steady_tick(std::time::Duration::from_millis(120));
                    l.push((key.to_string(), pb));
                }
            }
        } else if piped {
            eprintln!("lathe: {msg}");
        }
    };
    let result = crate::render::album::render_session(&opts, &progress);
    if let Ok(l) = lines.lock() {
        for (_, pb) in l.iter() {
            pb.finish_and_clear();
        }
    }
    let reports = match result {
        Ok(r) => r,
        Err(e) => {
            eprint_error(&e.to_string());
            return ExitCode::from(1);
        }
    };
    // What reading the inputs found (e.g. a header that claims more data than
    // the file holds), once per input.
    let mut warned: Vec<&String> = Vec::new();
    for w in reports
        .iter()
        .filter_map(|r| r.before.as_ref())
        .flat_map(|b| &b.warnings)
    {
        if !warned.contains(&w) {
            eprintln!("lathe: warning: {w}");
            warned.push(w);
        }
    }
    let num = |v: f64| {
        if v.is_finite() {
            serde_json::json!((v * 1000.0).round() / 1000.0)
        } else {
            serde_json::Value::Null
        }
    };
    if json {
        for r in &reports {
            let v = serde_json::json!({
                "delivery": r.delivery,
                "file": r.file.display().to_string(),
                "track": r.track.map(|i| i + 1),
                "integrated_lufs": num(r.analysis.loudness.integrated_lufs),
                "true_peak_dbtp": num(r.analysis.true_peak_dbtp),
                "loudness_range_lu": num(r.analysis.loudness.loudness_range_lu),
                "target_lufs": r.target_lufs,
                "ceiling_dbtp": r.ceiling_dbtp,
                "sample_rate": r.analysis.sample_rate,
                "bits": r.bits,
                "gain_db": num(r.gain_db),
                "before_integrated_lufs": r.before.as_ref().map(|b| num(b.loudness.integrated_lufs)),
                "before_true_peak_dbtp": r.before.as_ref().map(|b| num(b.true_peak_dbtp)),
                "ok": r.failure.is_none(),
                "failure": r.failure,
                "limiting": limiting_json(&r.limiting),
                "limiting_cut_db": num(r.limiting_cut_db),
                "notes": r.notes,
            });
            println!("{v}");
        }
    } else {
        let width = reports
            .iter()
            .map(|r| r.file.display().to_string().chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 60);
        println!(
            "{:<width$}  {:>22}  {:>8}  {:>22}  {:>8}  {:>15}",
            "File",
            "Integrated before/after",
            "LRA",
            "True peak before/after",
            "Gain",
            "Limiting pk >3dB"
        );
        for r in &reports {
            let (bi, bt) = r.before.as_ref().map_or((f64::NAN, f64::NAN), |b| {
                (b.loudness.integrated_lufs, b.true_peak_dbtp)
            });
            let opt = |v: f64, unit: &str| {
                if v.is_nan() {
                    format!("{:>6} {unit}", "")
                } else {
                    fmt_num(v, unit)
                }
            };
            println!(
                "{:<width$}  {} {}  {}  {} {}  {:>8}  {:>7.1} dB {:>3.0}%{}",
                r.file.display(),
                opt(bi, ""),
                fmt_num(r.analysis.loudness.integrated_lufs, "LUFS"),
                fmt_num(r.analysis.loudness.loudness_range_lu, "LU"),
                opt(bt, ""),
                fmt_num(r.analysis.true_peak_dbtp, "dBTP"),
                if r.gain_db.is_finite() {
                    format!("{:+.2} dB", r.gain_db)
                } else {
                    String::new()
                },
                r.limiting.peak_gr_db(),
                r.limiting.share_over_3db() * 100.0,
                r.failure
                    .as_ref()
                    .map(|f| format!("  FAILED: {f}"))
                    .unwrap_or_default()
            );
        }
    }
    for r in &reports {
        for n in &r.notes {
            eprintln!("lathe: warning: {}: {n}", r.file.display());
        }
    }
    let failed: Vec<&crate::render::album::FileReport> =
        reports.iter().filter(|r| r.failure.is_some()).collect();
    for f in &failed {
        eprint_error(&format!(
            "{}: {}",
            f.file.display(),
            f.failure.clone().unwrap_or_default()
        ));
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn cmd_devices() -> ExitCode {
    use cpal::traits::{DeviceTrait, HostTrait};
    // ALSA is noisy on stderr when no card exists: silence fd 2 while probing.
    let quiet = crate::engine::session::StderrSilencer::new();
    let host = cpal::default_host();
    let mut rows = Vec::new();
    if let Ok(devs) = host.output_devices() {
        for d in devs {
            let name = d
                .description()
                .map(|x| x.name().to_string())
                .unwrap_or_else(|_| "?".into());
            if let Ok(cfgs) = d.supported_output_configs() {
                let mut ch = Vec::new();
                let mut lo = u32::MAX;
                let mut hi = 0;
                for c in cfgs {
                    ch.push(c.channels());
                    lo = lo.min(c.min_sample_rate());
                    hi = hi.max(c.max_sample_rate());
                }
                if let (Some(a), Some(b)) = (ch.iter().min(), ch.iter().max()) {
                    let chs = if a == b {
                        format!("{a}")
                    } else {
                        format!("{a}-{b}")
                    };
                    let default = d
                        .default_output_config()
                        .map(|c| format!("  default {} Hz", c.sample_rate()))
                        .unwrap_or_default();
                    rows.push(format!("{name}  {lo}-{hi} Hz  {chs} channels{default}"));
                }
            }
        }
    }
    drop(quiet);
    if rows.is_empty() {
        println!(
            "no audio output device: lathe plays through its silent output (meters stay live)"
        );
    } else {
        for r in rows {
            println!("{r}");
        }
    }
    ExitCode::SUCCESS
}

fn meter_line(
    p: &crate::engine::session::Playback,
    processed: bool,
    level_match: bool,
    listen: crate::engine::ListenMode,
    playing: bool,
) -> String {
    let m = p.meters();
    let pos = p.position_s();
    let track = if p.timeline.spans.len() > 1 {
        format!("T{} ", p.current_track() + 1)
    } else {
        String::new()
    };
    let total = p
        .total_frames
        .map(|t| t as f64 / f64::from(p.rate))
        .unwrap_or(0.0);
    let gr = p
        .shared
        .gr_milli_db
        .load(std::sync::atomic::Ordering::Relaxed) as f64
        / 1000.0;
    let f = |v: f64| {
        if v.is_finite() {
            format!("{v:6.1}")
        } else {
            "  -inf".into()
        }
    };
    format!(
        "{} {track}{}/{}  M {} S {} I {} LUFS  TP {} dBTP  GR {:4.1} dB  [{}{}] {:?}{}{}  underruns {}",
        if playing { ">" } else { "||" },
        format_duration(pos),
        format_duration(total),
        f(m.momentary_lufs),
        f(m.short_term_lufs),
        f(m.integrated_lufs),
        f(m.true_peak_dbtp),
        gr,
        if processed {
            "B processed"
        } else {
            "A original"
        },
        if !processed && level_match {
            ", level-matched"
        } else {
            ""
        },
        listen,
        if p.loop_region().is_some() {
            " loop"
        } else {
            ""
        },
        p.listeners()
            .iter()
            .map(|l| format!(
                "  ⇄ {} {}",
                l.codec.name(),
                l.latency_ms
                    .map_or("…".to_string(), |v| format!("{v:.0} ms"))
            ))
            .collect::<String>(),
        p.shared
            .underruns
            .load(std::sync::atomic::Ordering::Relaxed),
    )
}

fn cmd_play(
    file: &std::path::Path,
    delivery: Option<String>,
    preset: Option<String>,
    chain: Option<PathBuf>,
    silent: bool,
    device: Option<String>,
) -> crate::Result<ExitCode> {
    use crate::engine::session::{PlayOptions, Playback};
    use crate::engine::{Command as C, ListenMode};
    use crate::plan::Plan;
    use ratatui::crossterm::event::{self, Event, KeyCode};
    use std::io::IsTerminal;
    let is_session = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let (plan, what) = if is_session {
        if chain.is_some() || preset.is_some() {
            return Err(crate::LatheError::Invalid(
                "--chain/--preset apply to a file; a session brings its own chain".into(),
            ));
        }
        eprintln!("lathe play: planning gains as lathe render does…");
        let plan = Plan::session(file, delivery.as_deref())?;
        let what = format!("{} tracks", plan.tracks.len());
        (plan, what)
    } else {
        if delivery.is_some() {
            return Err(crate::LatheError::Invalid(
                "--delivery applies to a session file".into(),
            ));
        }
        let (cfg, _) = load_chain(chain.as_deref(), preset.as_deref())?;
        for w in crate::io::AudioSource::take_warnings(&mut crate::io::open_source(file)?) {
            eprintln!("lathe: warning: {w}");
        }
        let (gain, input_lufs) = crate::plan::gain_plan(file, &cfg)?;
        let processed_lufs = cfg.target_lufs.unwrap_or(input_lufs);
        let matched = if input_lufs.is_finite() {
            processed_lufs - input_lufs
        } else {
            0.0
        };
        let what = format!(
            "{} (gain into limiter {gain:+.2} dB)",
            cfg.name.clone().unwrap_or_else(|| "chain".into())
        );
        (Plan::file(file, &cfg, gain, matched)?, what)
    };
    let monitor = match crate::remote::hub::Monitor::start() {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("lathe play: remote listening off: {e}");
            None
        }
    };
    let mut p = Playback::open_plan(
        plan,
        &PlayOptions {
            device,
            force_null: silent,
            monitor,
            ..PlayOptions::default()
        },
    )?;
    p.send(C::Play);
    eprintln!(
        "lathe play: {} through {what}; output: {}",
        file.display(),
        p.output_description()
    );
    for n in p.poll() {
        eprintln!("lathe play: {n}");
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (mut processed, mut level_match, mut listen, mut playing) =
        (true, true, ListenMode::Stereo, true);
    if !interactive {
        // Piped: play to the end, a meter line per second.
        let mut last = std::time::Instant::now();
        while !p.finished() {
            std::thread::sleep(std::time::Duration::from_millis(20));
            for n in p.poll() {
                eprintln!("lathe play: {n}");
            }
            if last.elapsed().as_secs_f64() >= 1.0 {
                println!(
                    "{}",
                    meter_line(&p, processed, level_match, listen, playing)
                );
                last = std::time::Instant::now();
            }
        }
        println!(
            "{}",
            meter_line(&p, processed, level_match, listen, playing)
        );
        return Ok(ExitCode::SUCCESS);
    }
    ratatui::crossterm::terminal::enable_raw_mode()
        .map_err(|e| crate::LatheError::Invalid(format!("terminal: {e}")))?;
    let mut run_keys = || -> crate::Result<()> {
        loop {
            print!(
                "\r\x1b[2K{}",
                meter_line(&p, processed, level_match, listen, playing)
            );
            let _ = std::io::Write::flush(&mut std::io::stdout());
            if event::poll(std::time::Duration::from_millis(100)).unwrap_or(false)
                && let Ok(Event::Key(k)) = event::read()
            {
                let step = |p: &crate::engine::session::Playback, s: f64| {
                    ((p.position_s() + s).max(0.0) * f64::from(p.rate)) as u64
                };
                match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => break,
                    KeyCode::Char('n') => p.next_track(),
                    KeyCode::Char('p') => p.previous_track(),
                    KeyCode::Char('s') => {
                        playing = false;
                        p.stop();
                    }
                    KeyCode::Char('[') => {
                        // Loop the next 8 s from the playhead; again to clear.
                        if p.loop_region().is_some() {
                            p.set_loop(None);
                        } else {
                            let a = p.position_frames();
                            p.set_loop(Some((a, a + 8 * u64::from(p.rate))));
                        }
                    }
                    KeyCode::Char(' ') => {
                        playing = !playing;
                        p.send(if playing { C::Play } else { C::Pause });
                    }
                    KeyCode::Char('a') | KeyCode::Char('b') => {
                        processed = k.code == KeyCode::Char('b')
                            || !processed && k.code != KeyCode::Char('a');
                        p.send(C::SetProcessed(processed));
                    }
                    KeyCode::Char('l') => {
                        level_match = !level_match;
                        p.send(C::SetLevelMatch(level_match));
                    }
                    KeyCode::Char('m') => {
                        listen = listen.next();
                        p.send(C::SetListen(listen));
                    }
                    KeyCode::Left => {
                        let f = step(&p, -5.0);
                        p.seek(f)
                    }
                    KeyCode::Right => {
                        let f = step(&p, 5.0);
                        p.seek(f)
                    }
                    KeyCode::Down => {
                        let f = step(&p, -30.0);
                        p.seek(f)
                    }
                    KeyCode::Up => {
                        let f = step(&p, 30.0);
                        p.seek(f)
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    };
    let result = run_keys();
    let _ = ratatui::crossterm::terminal::disable_raw_mode();
    println!();
    result.map(|_| ExitCode::SUCCESS)
}

/// The chain from `--chain FILE`, else `--preset NAME`, else the `streaming`
/// preset, with a name for reports.
fn load_chain(
    chain: Option<&std::path::Path>,
    preset: Option<&str>,
) -> crate::Result<(crate::session::ChainConfig, String)> {
    match (chain, preset) {
        (Some(path), _) => Ok((
            crate::session::ChainConfig::load(path)?,
            path.display().to_string(),
        )),
        (None, Some(p)) => Ok((crate::session::presets::preset(p)?, p.to_string())),
        (None, None) => Ok((
            crate::session::presets::preset("streaming")?,
            "streaming".to_string(),
        )),
    }
}

/// ssh arguments from `-o KEY=VALUE` options and a `-F` config file.
fn ssh_args(options: &[String], config: Option<&std::path::Path>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(c) = config {
        v.push("-F".to_string());
        v.push(c.display().to_string());
    }
    for o in options {
        v.push("-o".to_string());
        v.push(o.clone());
    }
    v
}

/// Ctrl-C, SIGTERM and SIGHUP set `flag`.
fn quit_on_signals() -> &'static std::sync::atomic::AtomicBool {
    static QUIT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    extern "C" fn on_signal(_: libc::c_int) {
        QUIT.store(true, std::sync::atomic::Ordering::Release);
    }
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
        // A listener whose ssh died must not die of the broken pipe.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    &QUIT
}

fn cmd_listen(opts: &crate::remote::listen::ListenOptions, json: bool) -> ExitCode {
    use std::io::IsTerminal;
    let quit = quit_on_signals();
    let keys = (opts.keys && std::io::stdin().is_terminal()).then(|| {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f2 = flag.clone();
        // Mirror q/Ctrl-C from the terminal into the quit flag.
        std::thread::spawn(move || {
            while !f2.load(std::sync::atomic::Ordering::Acquire) {
                if quit.load(std::sync::atomic::Ordering::Acquire) {
                    f2.store(true, std::sync::atomic::Ordering::Release);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            quit.store(true, std::sync::atomic::Ordering::Release);
        });
        (flag.clone(), crate::remote::listen::watch_keys(flag))
    });
    let r = crate::remote::listen::run(opts, quit);
    quit.store(true, std::sync::atomic::Ordering::Release);
    if let Some((flag, t)) = keys {
        flag.store(true, std::sync::atomic::Ordering::Release);
        let _ = t.join();
    }
    eprintln!();
    match r {
        Ok(s) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "frames_received": s.frames_received,
                        "underruns": s.underruns,
                        "gap_frames": s.gap_frames,
                        "bad_blocks": s.bad_blocks,
                        "connections": s.connections,
                        "max_buffer_ms": s.max_buffer_ms,
                        "drift_ppm": s.drift_ppm,
                        "rate": s.format.map(|f| f.rate),
                        "codec": s.codec.map(|c| c.name()),
                        "codec_switches": s.codec_switches,
                    })
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint_error(&format!("listen: {e}"));
            ExitCode::from(1)
        }
    }
}

fn cmd_remote(
    host: &str,
    ssh_args: &[String],
    remote_lathe: &str,
    silent: bool,
    record: Option<PathBuf>,
    args: &[String],
) -> ExitCode {
    use std::sync::atomic::Ordering;
    let dir = match crate::remote::socket::runtime_dir() {
        Ok(d) => d,
        Err(e) => {
            eprint_error(&format!("remote: {e}"));
            return ExitCode::from(1);
        }
    };
    // One authentication: the interactive ssh is the master of a private
    // control socket, and the listener's ssh rides on it.
    let control = dir.join(format!("cm-{}", std::process::id()));
    let _ = std::fs::remove_file(&control);
    let cp = format!("ControlPath={}", control.display());
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let remote_cmd = std::iter::once(remote_lathe.to_string())
        .chain(args.iter().map(|a| quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut ui = std::process::Command::new("ssh");
    ui.arg("-t")
        .args([
            "-o",
            "ControlMaster=yes",
            "-o",
            &cp,
            "-o",
            "ControlPersist=no",
        ])
        .args(ssh_args)
        .arg(host)
        .arg(&remote_cmd);
    let quit = quit_on_signals();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = {
        let done = done.clone();
        let mut largs = ssh_args.to_vec();
        largs.extend([
            "-o".into(),
            "ControlMaster=no".into(),
            "-o".into(),
            cp.clone(),
        ]);
        let opts = crate::remote::listen::ListenOptions {
            host: Some(host.to_string()),
            ssh_args: largs,
            remote_lathe: remote_lathe.to_string(),
            silent,
            record,
            quiet: true,
            reconnect: true,
            ..Default::default()
        };
        let control = control.clone();
        std::thread::spawn(move || {
            // Wait for the interface's connection (and its password prompt).
            while !control.exists() && !done.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            if !done.load(Ordering::Acquire) {
                let _ = crate::remote::listen::run(&opts, &done);
            }
        })
    };
    let status = ui.status();
    done.store(true, Ordering::Release);
    let _ = quit.load(Ordering::Acquire);
    let _ = listener.join();
    let _ = std::fs::remove_file(&control);
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => {
            eprint_error(&format!("remote: cannot run ssh: {e}"));
            ExitCode::from(1)
        }
    }
}
