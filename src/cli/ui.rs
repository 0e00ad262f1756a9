//! `lathe` with files or a session (the interface) and `lathe demo`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::*;

pub(super) fn cmd_ui(files: &[PathBuf], ui: &UiArgs) -> ExitCode {
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

pub(super) fn cmd_demo(write: Option<PathBuf>, force: bool, ui: &UiArgs) -> ExitCode {
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
                    let c = cmd_analyze(&paths, false, false, None, &[], -1.0);
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
