//! The command line: argument parsing (clap) here, one file per subcommand
//! beside it (`analyze`, `ui` and `demo`, `master`, `render`, `play` and
//! `devices`, `listen`/`tap`/`remote`).

mod analyze;
mod ddp;
mod master;
mod play;
mod remote;
mod render;
mod ui;

use analyze::cmd_analyze;
pub use analyze::{format_report, format_summary};
use ddp::cmd_ddp;
use master::{MasterArgs, cmd_master, limiting_json};
use play::{cmd_devices, cmd_play};
use remote::{cmd_listen, cmd_remote, ssh_args};
use render::cmd_render;
use ui::{cmd_demo, cmd_ui};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
        /// Also the tonal balance: each file's long-term 1/3-octave spectrum
        /// (loudness-normalized) against the files' average.
        #[arg(long)]
        tonal: bool,
        /// With --tonal (implied): compare each file's tonal balance with
        /// this reference file's instead of the files' average.
        #[arg(long, value_name = "REF")]
        reference: Option<PathBuf>,
        /// Codec check: encode and decode each file through these codecs
        /// (aac-KBPS, mp3-KBPS, opus-KBPS; 96 to 320 kb/s) and report the
        /// decoded peaks, overs, loudness change, artifacts and ceiling trim.
        #[arg(long, value_name = "CODECS", value_delimiter = ',', value_parser = crate::io::lossy::CodecSpec::parse)]
        codec: Vec<crate::io::lossy::CodecSpec>,
        /// With --codec: the ceiling the decoded true peak should stay
        /// under, dBTP (the trim is figured against it).
        #[arg(long, value_name = "DBTP", default_value_t = -1.0, allow_negative_numbers = true)]
        ceiling: f64,
    },
    /// Read a DDP fileset: its PQ sheet, checksums and the Red Book's rules; --extract writes the tracks as WAV plus the image with a CUE sheet.
    Ddp {
        /// The fileset's folder (DDPID, DDPMS, PQ descriptor, image).
        dir: PathBuf,
        /// Write the tracks as WAV, and the whole image as image.wav with
        /// image.cue, into this folder.
        #[arg(long, value_name = "OUT")]
        extract: Option<PathBuf>,
        /// With --extract: replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Master one file through a preset or chain to a loudness target and true-peak ceiling.
    Master(MasterArgs),
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
        Command::Analyze {
            files,
            json,
            tonal,
            reference,
            codec,
            ceiling,
        } => cmd_analyze(&files, json, tonal, reference.as_deref(), &codec, ceiling),
        Command::Demo { write, force, ui } => cmd_demo(write, force, &ui),
        Command::Ddp {
            dir,
            extract,
            force,
        } => cmd_ddp(&dir, extract.as_deref(), force),
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
        Command::Master(args) => {
            if args.list_presets {
                for p in crate::session::presets::PRESETS {
                    println!("# {} — {}\n{}", p.name, p.description, p.toml);
                }
                return ExitCode::SUCCESS;
            }
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

/// The chain from `--chain FILE`, else `--preset NAME`, else the `streaming`
/// preset, with a name for reports.
fn load_chain(
    chain: Option<&std::path::Path>,
    preset: Option<&str>,
) -> crate::Result<(crate::session::ChainConfig, String)> {
    match (chain, preset) {
        (Some(path), _) => {
            let mut cfg = crate::session::ChainConfig::load(path)?;
            // Match references are relative to the chain file.
            let base = path.parent().unwrap_or_else(|| std::path::Path::new("."));
            for m in &mut cfg.modules {
                if let crate::session::chain::ModuleConfig::Match(m) = m
                    && !m.album_reference()
                {
                    m.reference = crate::plan::matching::reference_path(m, base)
                        .display()
                        .to_string();
                }
            }
            Ok((cfg, path.display().to_string()))
        }
        (None, Some(p)) => Ok((crate::session::presets::preset(p)?, p.to_string())),
        (None, None) => Ok((
            crate::session::presets::preset("streaming")?,
            "streaming".to_string(),
        )),
    }
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
