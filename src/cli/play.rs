//! `lathe play` (the one-line player) and `lathe devices`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::units::format_duration;

use super::*;

pub(super) fn cmd_devices() -> ExitCode {
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

pub(super) fn meter_line(
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

pub(super) fn cmd_play(
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
        // A DDP fileset plays as the plant will press it: no chain, unless
        // one is asked for.
        let (mut cfg, _) =
            if crate::io::ddp::is_fileset(file) && chain.is_none() && preset.is_none() {
                let cfg = crate::session::chain::ChainConfig::from_toml(
                    "name = \"the DDP image as pressed\"\n",
                    "ddp",
                )?;
                (cfg, String::new())
            } else {
                load_chain(chain.as_deref(), preset.as_deref())?
            };
        crate::plan::matching::resolve_file(&mut cfg, file, std::path::Path::new("."))?;
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
