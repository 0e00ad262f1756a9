//! The interface without a terminal: every pane drawn into ratatui's
//! TestBackend at 80×24 and 200×60 (insta snapshots), and keyboard-driven
//! editing through the app's own key handling: edit → undo → redo → save →
//! reload.

use std::path::{Path, PathBuf};

use lathe::engine::session::MeterSnapshot;
use lathe::ui::action::{Action, Pane};
use lathe::ui::app::{App, Effect, Overlay, TrackInfo};
use lathe::ui::keymap::{Key, Keymap};
use lathe::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The demo session's text with tracks that need no audio on disk (the
/// panes show what the app knows; measurements are injected).
fn app_at(dir: &Path) -> App {
    let text = lathe::demo::demo_session_toml();
    let path = dir.join("session.toml");
    std::fs::write(&path, &text).expect("write session");
    let session = lathe::session::album::Session::load(&path).expect("load");
    let mut app = App::new(session, Some(path), dir.to_path_buf());
    app.theme = Theme::load("ansi16", None).expect("theme");
    // Known measurements, as the background analysis would report them.
    for i in 0..app.session.tracks.len() {
        let p = app.track_path(i).expect("path");
        std::fs::write(&p, b"").expect("placeholder");
        let series: Vec<f64> = (0..150)
            .map(|k| -20.0 - 6.0 * ((k as f64) / 20.0 + i as f64).sin())
            .collect();
        app.info.insert(
            p,
            TrackInfo {
                duration_s: 15.0,
                lufs_before: -20.0 - i as f64,
                tp_before: -3.0 - i as f64 * 0.5,
                lufs_after: Some(-11.0),
                tp_after: Some(-0.6),
                series_after: series.iter().map(|v| v + 9.0).collect(),
                series,
                limiting: None,
                loud_after: Some(-8.0 - i as f64 * 0.2),
                // A slope that tilts with the track: 0.1 dB per band each.
                tonal_after: (0..29)
                    .map(|b| -10.0 - 0.3 * b as f64 + 0.1 * b as f64 * i as f64)
                    .collect(),
                // Before the chain: twice the tilt.
                tonal_before: (0..29)
                    .map(|b| -10.0 - 0.3 * b as f64 + 0.2 * b as f64 * i as f64)
                    .collect(),
                tonal_reference: None,
            },
        );
    }
    app.transport.track_starts = vec![0.0, 17.0, 32.0, 48.5];
    app.album_lufs = Some(-11.02);
    app.transport.duration_s = 63.5;
    app.transport.position_s = 20.5;
    app.transport.current_track = 1;
    app.transport.playing = true;
    app.transport.output = "no audio device: silent output".into();
    app.transport.rate = 44_100;
    app.transport.load_pct = 1.0;
    app.transport.correlation = 0.62;
    app.transport.gain_reduction = vec![
        ("dc-removal".into(), 0.0),
        ("eq".into(), 0.0),
        ("compressor".into(), 2.5),
        ("limiter".into(), 1.2),
    ];
    let bands: Vec<f32> = (0..lathe::analysis::spectrum::BANDS)
        .map(|b| -30.0 - 0.6 * b as f32)
        .collect();
    app.set_meters(MeterSnapshot {
        momentary_lufs: -10.4,
        short_term_lufs: -11.2,
        integrated_lufs: -11.0,
        range_lu: 5.3,
        true_peak_dbtp: -0.7,
        true_peak_now_dbtp: -1.4,
        spectrum_after: bands.clone(),
        spectrum_before: bands.iter().map(|v| v - 6.0).collect(),
        spectrum_peak: bands.iter().map(|v| v + 4.0).collect(),
        history: (0..40).map(|k| (17.0 + k as f64 * 0.1, -12.0)).collect(),
    });
    app.message("session.toml · 4 tracks · ? for help");
    app.error("03 Dusty Tape.wav: file missing");
    app.status = "ready".into();
    app
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| lathe::ui::panes::draw(f, app)).expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn every_pane_at_80x24_and_200x60() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    insta::assert_snapshot!("all_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("all_200x60", screen(&app, 200, 60));
    // Each pane alone (zoomed), small and large: all readable at 80 columns.
    for p in Pane::ALL {
        app.focus = p;
        app.zoom = true;
        let small = screen(&app, 80, 24);
        assert!(small.contains(p.title()), "{p:?} has no title at 80×24");
        insta::assert_snapshot!(format!("{}_80x24", p.title().to_lowercase()), small);
        insta::assert_snapshot!(
            format!("{}_200x60", p.title().to_lowercase()),
            screen(&app, 200, 60)
        );
    }
}

#[test]
fn overlays_help_command_line_and_quit_prompt() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    app.focus = Pane::Chain;
    app.overlay = Overlay::Help(0);
    let help = screen(&app, 80, 24);
    // Help is generated from the keymap: the Chain pane's own keys show.
    assert!(help.contains("bypass the module"), "{help}");
    insta::assert_snapshot!("help_chain_80x24", help);
    app.overlay = Overlay::Command("render str".into());
    let line = screen(&app, 80, 24);
    assert!(
        line.lines()
            .last()
            .is_some_and(|l| l.starts_with(":render str")),
        "{line}"
    );
    app.overlay = Overlay::ConfirmQuit;
    assert!(screen(&app, 80, 24).contains("Unsaved changes"));
}

/// Press keys as the terminal would deliver them, through the app's key
/// handling and keymap; saves are carried out as the event loop does.
fn press(app: &mut App, keys: &[&str]) -> Vec<Effect> {
    let mut all = Vec::new();
    for k in keys {
        let key = Key::parse(k).unwrap_or_else(|| panic!("key {k}"));
        let fx = match app.overlay_key(key) {
            Some(fx) => fx,
            None => match app.keymap.lookup(app.focus, key).cloned() {
                Some(a) => app.update(a),
                None => vec![],
            },
        };
        for e in &fx {
            if let Effect::Save(p) = e {
                app.save_to(p).expect("save");
            }
        }
        all.extend(fx);
    }
    all
}

fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    let keys: Vec<String> = text
        .chars()
        .map(|c| {
            if c == ' ' {
                "space".into()
            } else {
                c.to_string()
            }
        })
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    press(app, &refs)
}

#[test]
fn edit_undo_redo_save_and_reload_from_the_keyboard() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    let original = app.session.clone();
    // Opening and auditioning change nothing: q quits at once.
    let fx = press(&mut app, &["space", "b", "a", "m", "tab", "tab"]);
    assert!(fx.iter().any(|e| matches!(e, Effect::Engine(_))));
    assert!(!app.dirty());
    // Chain pane: down to the compressor's threshold, raise it 1 dB.
    press(&mut app, &["2"]);
    assert_eq!(app.focus, Pane::Chain);
    let rows = app.chain_rows();
    let at = rows
        .iter()
        .position(|r| matches!(r, lathe::ui::app::Row::Param(_, p) if p.leaf() == "threshold_db"))
        .expect("threshold row");
    for _ in 0..at {
        press(&mut app, &["j"]);
    }
    let fx = press(&mut app, &["l"]);
    assert!(fx.contains(&Effect::ChainsChanged(None)), "{fx:?}");
    let threshold = |a: &App| -> f64 {
        a.session
            .chain
            .modules
            .iter()
            .find_map(|m| match m {
                lathe::session::chain::ModuleConfig::Compressor(c) => Some(c.threshold_db),
                _ => None,
            })
            .expect("compressor")
    };
    assert_eq!(threshold(&app), -19.0);
    // Fine step (shift-l) and a typed value.
    press(&mut app, &["L"]);
    assert!((threshold(&app) + 18.9).abs() < 1e-9);
    press(&mut app, &["enter", "ctrl-u"]);
    type_text(&mut app, "set -24.5");
    press(&mut app, &["enter"]);
    assert_eq!(threshold(&app), -24.5);
    // Out of range: refused with the range, nothing changes.
    press(&mut app, &[":"]);
    type_text(&mut app, "set 3");
    press(&mut app, &["enter"]);
    assert_eq!(threshold(&app), -24.5);
    assert!(app.status.contains("out of range"), "{}", app.status);
    assert!(app.dirty());
    // Undo three times: back to the original; redo once.
    press(&mut app, &["u", "u", "u"]);
    assert_eq!(app.session, original);
    assert!(!app.dirty());
    press(&mut app, &["ctrl-r"]);
    assert_eq!(threshold(&app), -19.0);
    // Tracks: move track 2 up, set its gap from the command line.
    press(&mut app, &["1", "j", "K"]);
    assert_eq!(app.session.tracks[0].title, original.tracks[1].title);
    press(&mut app, &["g"]);
    type_text(&mut app, "3.5");
    press(&mut app, &["enter"]);
    assert_eq!(app.session.tracks[0].gap_s, 3.5);
    // Quitting now asks; cancel, save with :w, then q quits at once.
    press(&mut app, &["q"]);
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    press(&mut app, &["esc"]);
    assert!(!app.quit);
    press(&mut app, &[":"]);
    type_text(&mut app, "w");
    press(&mut app, &["enter"]);
    assert!(!app.dirty());
    let reloaded =
        lathe::session::album::Session::load(&dir.path().join("session.toml")).expect("reload");
    assert_eq!(reloaded, app.session);
    assert!(dir.path().join("session.toml.bak").exists());
    let fx = press(&mut app, &["q"]);
    assert!(fx.contains(&Effect::Quit) && app.quit);
}

#[test]
fn the_command_line_completes_and_rejects_bad_input_in_one_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    assert_eq!(app.complete("ren".into()), "render ");
    assert_eq!(app.complete("preset str".into()), "preset streaming");
    assert_eq!(app.complete("delivery st".into()), "delivery streaming");
    assert_eq!(app.complete("show sp".into()), "show spectrum");
    let fx = app.run("target -16");
    assert!(fx.contains(&Effect::TimelineChanged));
    assert_eq!(app.session.chain.target_lufs, Some(-16.0));
    for (cmd, says) in [
        ("target loud", "not a number"),
        ("target 5", "out of range"),
        ("ceiling -20", "out of range"),
        ("preset nope", "unknown preset"),
        ("goto x:1", "not a time"),
        ("frobnicate", "unknown command"),
        ("delivery vinyl", "not in the session"),
    ] {
        let before = app.session.clone();
        app.run(cmd);
        assert!(
            app.status.starts_with("error:") && app.status.contains(says),
            ":{cmd} → {}",
            app.status
        );
        assert!(!app.status.contains('\n'));
        assert_eq!(app.session, before, ":{cmd} changed the session");
    }
    assert_eq!(app.run("goto 1:30"), vec![Effect::SeekTo(90.0)]);
    assert_eq!(app.run("goto t3"), vec![Effect::SeekTrack(2)]);
    let fx = app.run("ceiling -0.3");
    assert!(fx.contains(&Effect::ChainsChanged(None)));
    assert_eq!(app.ceiling_dbtp(), -0.3);
    assert_eq!(app.session.chain.limiter().ceiling_dbtp, -0.3);
    let fx = app.run("preset gentle");
    assert!(fx.contains(&Effect::ChainsChanged(None)));
    // :w on a new session needs a file name.
    let mut fresh = App::new(app.session.clone(), None, dir.path().to_path_buf());
    assert!(fresh.run("w").is_empty());
    assert!(fresh.status.contains(":w FILE"));
    let target = dir.path().join("elsewhere").join("new.toml");
    std::fs::create_dir_all(target.parent().expect("parent")).expect("dir");
    let fx = fresh.run(&format!("w {}", target.display()));
    assert_eq!(fx, vec![Effect::Save(target.clone())]);
    fresh.save_to(&target).expect("save");
    // Saved into another folder: the tracks still resolve to the same files.
    for i in 0..fresh.session.tracks.len() {
        assert_eq!(fresh.track_path(i), app.track_path(i));
    }
}

#[test]
fn panes_focus_zoom_hide_and_resize() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    press(&mut app, &["tab", "tab"]);
    assert_eq!(app.focus, Pane::Meters);
    press(&mut app, &["shift-tab"]);
    assert_eq!(app.focus, Pane::Chain);
    press(&mut app, &["x"]);
    assert!(app.hidden.contains(&Pane::Chain) && app.focus != Pane::Chain);
    assert!(!screen(&app, 80, 24).contains("2 Chain"));
    press(&mut app, &["X"]);
    assert!(app.hidden.is_empty());
    press(&mut app, &["4", "z"]);
    let z = screen(&app, 80, 24);
    assert!(z.contains("Spectrum") && !z.contains("Tracks"));
    press(&mut app, &["z", "]", "]"]);
    assert_eq!(app.left_pct, 65);
    // Every action the keys file can name exists in the default keymap's help or by name.
    assert!(Keymap::action_names().len() > 40);
    assert_eq!(Action::parse("play-pause"), Some(Action::PlayPause));
}

#[test]
fn key_overrides_and_their_errors() {
    let mut km = Keymap::default();
    km.apply_toml(
        "[global]\n\"ctrl-p\" = \"play-pause\"\n[chain]\n\"=\" = \"increase\"\n",
        "keys.toml",
    )
    .expect("valid");
    assert_eq!(
        km.lookup(Pane::Tracks, Key::parse("ctrl-p").expect("k")),
        Some(&Action::PlayPause)
    );
    assert_eq!(
        km.lookup(Pane::Chain, Key::parse("=").expect("k")),
        Some(&Action::Increase)
    );
    for (text, says) in [
        (
            "[global]\n\"ctrl-p\" = \"dance\"\n",
            "keys.toml:2: \"ctrl-p\" = \"dance\": unknown action",
        ),
        (
            "[global]\n\n\"hyper-q\" = \"quit\"\n",
            "keys.toml:3: unknown key \"hyper-q\"",
        ),
        (
            "[kitchen]\n\"q\" = \"quit\"\n",
            "keys.toml:1: unknown section [kitchen]",
        ),
        ("[global\n", "keys.toml:1"),
    ] {
        let mut k = Keymap::default();
        let e = k.apply_toml(text, "keys.toml").expect_err(text).to_string();
        assert!(e.contains(says), "{e}");
        assert!(!e.contains('\n'), "{e}");
        // A bad file changes nothing.
        assert_eq!(k.bindings, Keymap::default().bindings);
    }
}

#[test]
fn themes_load_and_bad_ones_are_named_with_line_and_key() {
    for (name, _) in lathe::ui::theme::BUILT_IN {
        let t = Theme::load(name, None).expect(name);
        assert_eq!(t.name, name);
    }
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("mine.toml");
    std::fs::write(
        &bad,
        "name = \"mine\"\n[colors]\nforeground = \"#ffffff\"\naccent = \"sparkly\"\n",
    )
    .expect("w");
    let e = Theme::load(bad.to_str().expect("utf8"), None)
        .expect_err("bad")
        .to_string();
    assert!(
        e.contains("mine.toml:4: accent: \"sparkly\" is not a colour"),
        "{e}"
    );
    std::fs::write(&bad, "name = \"mine\"\n[colors]\nglitter = \"red\"\n").expect("w");
    let e = Theme::load(bad.to_str().expect("utf8"), None)
        .expect_err("bad")
        .to_string();
    assert!(
        e.contains("mine.toml:3: glitter: unknown colour key"),
        "{e}"
    );
    // A user theme by name from the themes folder.
    std::fs::write(
        dir.path().join("night.toml"),
        "name = \"night\"\n[colors]\naccent = \"red\"\n",
    )
    .expect("w");
    assert_eq!(
        Theme::load("night", Some(dir.path())).expect("user").name,
        "night"
    );
    assert!(Theme::load("nope", None).is_err());
    // NO_COLOR: nothing but the terminal's own colours.
    let plain = Theme::default_theme().without_color();
    assert!(!plain.color);
    assert_eq!(plain.accent, ratatui::style::Color::Reset);
}

#[test]
fn adding_a_track_from_the_picker_and_removing_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    let extra = dir.path().join("zz extra.wav");
    let tone: Vec<Vec<f32>> = vec![(0..4800).map(|i| (i as f32 * 0.05).sin() * 0.1).collect()];
    let mut w = hound::WavWriter::create(
        &extra,
        hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        },
    )
    .expect("wav");
    for v in &tone[0] {
        w.write_sample(*v).expect("s");
    }
    w.finalize().expect("fin");
    let n = app.session.tracks.len();
    press(&mut app, &["1", "A"]);
    let Overlay::Picker(_, entries, _) = &app.overlay else {
        panic!("no picker");
    };
    let at = entries.iter().position(|p| p == &extra).expect("listed");
    for _ in 0..at {
        press(&mut app, &["down"]);
    }
    let fx = press(&mut app, &["enter"]);
    assert!(
        fx.contains(&Effect::TimelineChanged),
        "{fx:?} {}",
        app.status
    );
    assert_eq!(app.session.tracks.len(), n + 1);
    assert_eq!(app.session.tracks[1].title, "zz extra");
    // Stored relative to the session file.
    assert_eq!(app.session.tracks[1].path, PathBuf::from("zz extra.wav"));
    // + and - nudge the track's gain by 0.5 dB.
    press(&mut app, &["+", "+", "+", "-"]);
    assert_eq!(app.session.tracks[1].gain_db, 1.0);
    press(&mut app, &["u", "u", "u", "u"]);
    press(&mut app, &["d"]);
    assert_eq!(app.session.tracks.len(), n);
    press(&mut app, &["u"]);
    assert_eq!(app.session.tracks.len(), n + 1);
}

#[test]
fn modules_are_added_and_removed_from_the_chain_pane() {
    use lathe::session::chain::ModuleConfig;
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    let original = app.session.clone();
    press(&mut app, &["1", "j", "2", "I"]);
    type_text(&mut app, "dehi");
    press(&mut app, &["tab", "enter"]);
    assert!(matches!(
        app.session.tracks[1].modules.last(),
        Some(ModuleConfig::Dehiss(_))
    ));
    assert!(
        app.status.contains("added dehiss to track 2"),
        "{}",
        app.status
    );
    // The new module's row is selected; its parameters follow it.
    let rows = app.chain_rows();
    assert_eq!(
        rows[app.chain_sel],
        lathe::ui::app::Row::Module(lathe::ui::app::ModRef::Track(0))
    );
    let fx = app.run("module album hum");
    assert!(fx.contains(&Effect::ChainsChanged(None)));
    let n = app.session.chain.modules.len();
    assert!(matches!(
        app.session.chain.modules[n - 2],
        ModuleConfig::Hum(_)
    ));
    assert!(matches!(
        app.session.chain.modules[n - 1],
        ModuleConfig::Limiter(_)
    ));
    for (cmd, says) in [
        ("module limiter", "one limiter"),
        ("module flanger", "unknown type"),
    ] {
        app.run(cmd);
        assert!(app.status.contains(says), "{}", app.status);
    }
    // D on the hum removes it; on the limiter it refuses.
    press(&mut app, &["D"]);
    assert!(
        !app.session
            .chain
            .modules
            .iter()
            .any(|m| matches!(m, ModuleConfig::Hum(_)))
    );
    let lim = app
        .chain_rows()
        .iter()
        .rposition(|r| matches!(r, lathe::ui::app::Row::Module(_)))
        .expect("limiter row");
    app.chain_sel = lim;
    press(&mut app, &["D"]);
    assert!(app.status.contains("the limiter stays"), "{}", app.status);
    press(&mut app, &["u", "u", "u"]);
    assert_eq!(app.session, original);
}

#[test]
fn drawing_never_panics_at_any_size_or_zoom() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    for (w, h) in [
        (1u16, 1u16),
        (10, 3),
        (20, 5),
        (40, 10),
        (60, 20),
        (79, 23),
        (80, 24),
        (120, 40),
        (300, 90),
    ] {
        for zoom in [
            None,
            Some(Pane::Spectrum),
            Some(Pane::History),
            Some(Pane::Meters),
            Some(Pane::Chain),
        ] {
            app.zoom = zoom.is_some();
            if let Some(p) = zoom {
                app.focus = p;
            }
            for overlay in [
                Overlay::None,
                Overlay::Help(3),
                Overlay::ConfirmQuit,
                Overlay::Command("w".into()),
            ] {
                app.overlay = overlay;
                let _ = screen(&app, w, h);
            }
        }
    }
    // Empty meters and no measurements yet (just opened) draw too.
    let mut fresh = App::new(app.session.clone(), None, dir.path().to_path_buf());
    fresh.transport.duration_s = 0.0;
    for (w, h) in [(80u16, 24u16), (30, 8)] {
        assert!(screen(&fresh, w, h).contains("Tracks") || w < 40);
    }
}

#[test]
fn thousands_of_random_keys_never_panic_and_undo_all_the_way_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    let original = app.session.clone();
    let mut keys: Vec<String> = app.keymap.bindings.iter().map(|b| b.key.label()).collect();
    keys.retain(|k| !["q", "ctrl-s", "R", "A"].contains(&k.as_str()));
    for k in [
        "x",
        "1",
        "-",
        "9",
        "enter",
        "backspace",
        "tab",
        "esc",
        "space",
        ".",
        "k",
    ] {
        keys.push(k.to_string());
    }
    // Arrow labels in help are glyphs; map them back to key names.
    let keys: Vec<String> = keys
        .into_iter()
        .map(|k| {
            k.replace('↑', "up")
                .replace('↓', "down")
                .replace('←', "left")
                .replace('→', "right")
        })
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut edits = 0;
    for _ in 0..5000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = &keys[(x % keys.len() as u64) as usize];
        let Some(key) = Key::parse(k) else {
            continue;
        };
        let fx = match app.overlay_key(key) {
            Some(fx) => fx,
            None => match app.keymap.lookup(app.focus, key).cloned() {
                Some(lathe::ui::action::Action::Quit)
                | Some(lathe::ui::action::Action::ForceQuit) => vec![],
                Some(a) => app.update(a),
                None => vec![],
            },
        };
        if fx
            .iter()
            .any(|e| matches!(e, Effect::ChainsChanged(_) | Effect::TimelineChanged))
        {
            edits += 1;
        }
        // The screen draws in every state reached.
        if x.is_multiple_of(50) {
            let _ = screen(&app, 80, 24);
        }
        app.quit = false;
    }
    println!("{edits} edits in 5000 random keys");
    assert!(edits > 10, "only {edits} edits in 5000 keys");
    // Undo everything: back to the session as opened.
    app.overlay = Overlay::None;
    for _ in 0..600 {
        app.update(lathe::ui::action::Action::Undo);
    }
    assert_eq!(app.session, original);
}

#[test]
fn the_tracks_pane_marks_missing_files_and_overs() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    app.transport.playing = false;
    // Track 3's file disappears; track 4's render went over the ceiling.
    let p3 = app.track_path(2).expect("p3");
    std::fs::remove_file(&p3).expect("rm");
    let p4 = app.track_path(3).expect("p4");
    let over = app.ceiling_dbtp() + 0.3;
    if let Some(i) = app.info.get_mut(&p4) {
        i.tp_after = Some(over);
    }
    // Wide: the mark and what is wrong; at 80 columns the mark.
    for (w, h, says) in [(200u16, 60u16, true), (80, 24, false)] {
        let s = screen(&app, w, h);
        let row = |title: &str| {
            s.lines()
                .find(|l| l.contains(title))
                .unwrap_or("")
                .to_string()
        };
        let dusty = row("Dusty Tape");
        assert!(dusty.contains("!  3"), "{dusty}");
        assert_eq!(dusty.contains("missing"), says, "{dusty}");
        let wide = row("Wide Pads");
        assert!(wide.contains("!  4"), "{wide}");
        assert_eq!(wide.contains("over"), says, "{wide}");
        assert!(!row("Quiet Ballad").contains('!'));
    }
}

#[test]
fn a_track_measures_as_lathe_analyze_measures_it() {
    let dir = tempfile::tempdir().expect("tmp");
    lathe::demo::write_demo_audio(dir.path(), true).expect("demo");
    let f = dir.path().join("02 Loud Single.wav");
    let m = lathe::ui::event_loop::measure(&f).expect("measure");
    let a = lathe::analysis::analyze_file(&f).expect("analyze");
    assert!(
        (m.lufs_before - a.loudness.integrated_lufs).abs() < 1e-6,
        "{} vs {}",
        m.lufs_before,
        a.loudness.integrated_lufs
    );
    assert!(
        (m.tp_before - a.true_peak_dbtp).abs() < 1e-6,
        "{} vs {}",
        m.tp_before,
        a.true_peak_dbtp
    );
    assert!((m.duration_s - a.duration_s).abs() < 1e-9);
    assert_eq!(
        m.series.len(),
        (a.frames * 10 / u64::from(a.sample_rate)) as usize
    );
}

/// Issue 10.5: the Chain pane's first row shows the target and ceiling in
/// effect for the heard delivery and where they come from, and editing it
/// changes what is heard: the plan playback uses then meets the new target.
#[test]
fn the_chain_pane_shows_and_edits_the_target_in_effect() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = lathe::demo::write_demo_session(dir.path(), true).expect("demo");
    let session = lathe::session::album::Session::load(&path).expect("load");
    let mut app = App::new(session, Some(path.clone()), dir.path().to_path_buf());
    assert_eq!(app.session.chain.target_lufs, Some(-14.0));
    press(&mut app, &["2"]);
    let s = screen(&app, 100, 30);
    assert!(
        s.contains("cd: target -11.0 LUFS  ceiling -0.5 dBTP"),
        "the heard delivery's target and ceiling:\n{s}"
    );
    let fx = press(&mut app, &["l"]);
    assert!(fx.contains(&Effect::TimelineChanged), "{fx:?}");
    assert_eq!(app.target_lufs(), Some(-10.0));
    assert_eq!(app.session.deliveries[0].target_lufs, Some(-10.0));
    assert_eq!(
        app.session.chain.target_lufs,
        Some(-14.0),
        "the chain's is not in effect"
    );
    assert!(screen(&app, 100, 30).contains("cd: target -10.0 LUFS"));
    // What is heard: the plan the engine plays meets the edited target.
    let plan = lathe::plan::Plan::from_session(&app.session, &path, Some("cd")).expect("plan");
    let album = plan.planned_album_lufs.expect("album loudness");
    assert!((album + 10.0).abs() < 0.2, "planned {album} LUFS");
    // A delivery without a target of its own: the chain's is in effect and
    // the row says so; editing it edits the chain.
    app.session.deliveries[0].target_lufs = None;
    let s = screen(&app, 100, 30);
    assert!(
        s.contains("target -14.0 LUFS (chain)  ceiling -0.5 dBTP (cd)"),
        "{s}"
    );
    press(&mut app, &["h"]);
    assert_eq!(app.session.chain.target_lufs, Some(-15.0));
    assert_eq!(app.target_lufs(), Some(-15.0));
}

/// Issue 10.7: the History chart is scaled to the data around the target
/// (a 6 LU swing spans a good part of the chart, not a flat line at 5 dB a
/// dot) and gets the rows the layout can spare.
#[test]
fn history_is_scaled_to_the_data_and_gets_the_spare_rows() {
    use lathe::ui::panes::{history_bounds, layout};
    // A master swinging 6 LU around a −14 LUFS target: ±10 LU around it.
    let swing: Vec<f64> = (0..600)
        .map(|k| -14.0 + 3.0 * (k as f64 / 30.0).sin())
        .collect();
    assert_eq!(history_bounds(Some(-14.0), &swing), (-24.0, -4.0));
    // A quiet source 10 LU under it widens the range to hold both.
    let mut both = swing.clone();
    both.extend(swing.iter().map(|v| v - 10.0));
    let (lo, hi) = history_bounds(Some(-14.0), &both);
    assert!(lo <= -27.0 + 1e-9 && hi >= -11.0 - 1e-9, "({lo}, {hi})");
    assert!(hi - lo <= 50.0);
    // Loud masters never put the top above 0 LUFS; no data: around the target.
    assert_eq!(history_bounds(Some(-8.0), &[]), (-18.0, 0.0));
    assert_eq!(history_bounds(None, &[]), (-33.0, -13.0));
    // At 80×24 the panes above need every row (6, as before); at 100×30
    // the chart gets 12 rows (was 6), at 100×40 16 (was 6).
    let dir = tempfile::tempdir().expect("tmp");
    let app = app_at(dir.path());
    for (w, h, want) in [(80u16, 22u16, 6u16), (100, 28, 12), (100, 38, 16)] {
        let panes = layout(&app, ratatui::layout::Rect::new(0, 0, w, h));
        let hist = panes
            .iter()
            .find(|(p, _)| *p == Pane::History)
            .expect("history");
        assert_eq!(hist.1.height, want, "{w}×{h}");
        let tracks = panes
            .iter()
            .find(|(p, _)| *p == Pane::Tracks)
            .expect("tracks");
        assert!(tracks.1.height >= 7, "the four tracks still show");
    }
}

/// Issue 10.6: the Tracks pane shows each track's peak limiting (wide) and
/// marks heavy limiting as a problem.
#[test]
fn the_tracks_pane_shows_limiting_and_marks_heavy_limiting() {
    use lathe::dsp::limiter::LimitingStats;
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    let heavy = LimitingStats {
        frames: 1000,
        frames_over_3db: 400,
        frames_over_6db: 100,
        min_gain: 10f64.powf(-14.0 / 20.0),
        sum_gr_db: 4000.0,
    };
    let light = LimitingStats {
        frames: 1000,
        frames_over_3db: 5,
        frames_over_6db: 0,
        min_gain: 10f64.powf(-3.5 / 20.0),
        sum_gr_db: 20.0,
    };
    assert!(heavy.is_heavy() && !light.is_heavy());
    for (i, l) in [(0, light), (1, heavy)] {
        let p = app.track_path(i).expect("path");
        if let Some(info) = app.info.get_mut(&p) {
            info.limiting = Some(l);
        }
    }
    app.update(Action::Focus(Pane::Tracks));
    app.zoom = true;
    let s = screen(&app, 200, 20);
    let row = |title: &str| -> String {
        s.lines()
            .find(|l| l.contains(title))
            .unwrap_or_default()
            .to_string()
    };
    assert!(s.contains("Lim"), "{s}");
    assert!(
        row("Quiet Ballad").contains(" 3.5"),
        "{}",
        row("Quiet Ballad")
    );
    let loud = row("Loud Single");
    assert!(loud.contains("14.0") && loud.contains("limiting"), "{loud}");
    assert!(
        loud.trim_start_matches(['┃', '│', ' ']).starts_with('!'),
        "{loud}"
    );
}

/// Issue 11: with a remote listener attached the status bar shows its
/// codec, bit rate, latency, buffer, drift and underruns, and the A/B it
/// hears; T switches to engine time.
#[test]
fn the_status_bar_shows_a_remote_listener() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    app.transport.listeners = vec![lathe::remote::hub::ListenerStatus {
        codec: lathe::remote::protocol::Codec::Flac,
        kbps: 1234.4,
        latency_ms: Some(62.0),
        buffer_ms: 40.0,
        drift_ppm: -12.0,
        underruns: 1,
        dropped_frames: 0,
    }];
    app.transport.heard_delay_ms = Some(62.0);
    // The engine already plays A; the listener still hears B.
    app.transport.processed = false;
    app.transport.heard_processed = Some(true);
    let s = screen(&app, 200, 40);
    let bar = s
        .lines()
        .find(|l| l.contains("⇄"))
        .unwrap_or_else(|| panic!("no listener in the status bar:\n{s}"));
    assert!(
        bar.contains("⇄ flac 1234kb/s 62ms buf 40ms -12ppm xr 1 heard"),
        "{bar}"
    );
    assert!(bar.contains("B processed"), "{bar}");
    assert!(app.heard_time);
    press(&mut app, &["T"]);
    assert!(!app.heard_time);
}

#[test]
fn the_spectrum_pane_shows_a_tracks_tonal_balance_against_the_album() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    app.focus = Pane::Spectrum;
    app.zoom = true;
    assert!(screen(&app, 80, 24).contains("after █"));
    press(&mut app, &["v"]);
    assert!(app.tonal_view);
    // Track 4 of 4: its levels tilt 0.1 dB per band per track (see
    // `app_at`), so against the average of tracks 1–4 it tilts
    // 0.15 dB per band; the RMS over the bands from 40 Hz (band 2) to
    // 10 kHz (band 26) follows.
    app.track_sel = 3;
    let rms = ((2..=26).map(|b| (0.15 * b as f64).powi(2)).sum::<f64>() / 25.0).sqrt();
    let s = screen(&app, 80, 24);
    assert!(
        s.contains(&format!("tonal: track 4 vs album · RMS {rms:.1} dB")),
        "{s}"
    );
    // Before the chain it tilted 0.2 dB per band per track: track 4 by
    // 0.6 dB per band, 0.45 dB per band against the average after; shown
    // in the title and as dots.
    let before = ((2..=26).map(|b| (0.45 * b as f64).powi(2)).sum::<f64>() / 25.0).sqrt();
    assert!(s.contains(&format!("(before {before:.1})")), "{s}");
    assert!(s.contains('•'), "{s}");
    insta::assert_snapshot!("tonal_80x24", s);
    // A track whose match module matches a file is shown against it.
    let p = app.track_path(3).expect("p");
    if let Some(i) = app.info.get_mut(&p) {
        i.tonal_reference = Some((
            "ref.wav".into(),
            (0..29).map(|b| -10.0 - 0.3 * b as f64).collect(),
        ));
    }
    let s = screen(&app, 80, 24);
    // Track 4 tilts 0.3 dB per band against the untilted reference.
    let rms3 = ((2..=26).map(|b| (0.3 * b as f64).powi(2)).sum::<f64>() / 25.0).sqrt();
    assert!(
        s.contains(&format!("track 4 vs ref.wav · RMS {rms3:.1} dB")),
        "{s}"
    );
    if let Some(i) = app.info.get_mut(&p) {
        i.tonal_reference = None;
    }
    // The middle track of a symmetric tilt has none.
    app.track_sel = 1;
    let rms = ((2..=26).map(|b| (0.05 * b as f64).powi(2)).sum::<f64>() / 25.0).sqrt();
    assert!(screen(&app, 80, 24).contains(&format!("RMS {rms:.1} dB")));
    for (w, h) in [(1u16, 1u16), (10, 3), (20, 5), (200, 60)] {
        let _ = screen(&app, w, h);
    }
    press(&mut app, &["v"]);
    assert!(screen(&app, 80, 24).contains("after █"));
    // The Tracks pane gives each track's RMS deviation in its Tone column.
    app.focus = Pane::Tracks;
    let s = screen(&app, 80, 24);
    let rms = |k: f64| ((2..=26).map(|b| (k * b as f64).powi(2)).sum::<f64>() / 25.0).sqrt();
    assert!(s.contains("Tone"), "{s}");
    for (title, k) in [
        ("Quiet Ballad", 0.15),
        ("Loud Single", 0.05),
        ("Wide Pads", 0.15),
    ] {
        let row = s.lines().find(|l| l.contains(title)).expect("row");
        assert!(row.contains(&format!(" {:.1} ", rms(k))), "{row}");
    }
}

#[test]
fn a_match_module_is_added_and_its_settings_edited() {
    use lathe::session::chain::{MatchPhase, ModuleConfig};
    use lathe::ui::params::{Path as P, parse_typed, step};
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    let fx = app.run("module album match");
    assert!(fx.contains(&Effect::ChainsChanged(None)), "{}", app.status);
    let n = app.session.chain.modules.len();
    let m = app.session.chain.modules[n - 2].clone();
    let ModuleConfig::Match(c) = &m else {
        panic!("not a match module: {m:?}")
    };
    assert!(c.album_reference() && c.amount_pct == 50.0);
    // Words cycle through what the setting accepts; the reference is typed.
    let m2 = step(&m, &P::Key("phase".into()), 1, false).expect("phase");
    assert!(matches!(&m2, ModuleConfig::Match(c) if c.phase == MatchPhase::Minimum));
    let e = step(&m, &P::Key("reference".into()), 1, false).expect_err("reference steps");
    assert!(e.contains("type a file"), "{e}");
    let m3 = parse_typed(&m, &P::Key("reference".into()), "ref.wav").expect("typed");
    assert!(matches!(&m3, ModuleConfig::Match(c) if c.reference == "ref.wav"));
    let m4 = step(&m, &P::Key("smoothing_oct".into()), -1, false).expect("smoothing");
    assert!(matches!(&m4, ModuleConfig::Match(c) if (c.smoothing_oct - 1.0 / 6.0).abs() < 0.01));
    let e = parse_typed(&m, &P::Key("amount_pct".into()), "140").expect_err("range");
    assert!(e.contains("0 to 100"), "{e}");
}

#[test]
fn a_module_is_soloed_to_hear_what_it_changes() {
    use lathe::engine::Command;
    use lathe::session::chain::ModuleConfig;
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    // A de-hisser on track 2, selected in the Chain pane.
    press(&mut app, &["1", "j", "2", "I"]);
    type_text(&mut app, "dehi");
    press(&mut app, &["tab", "enter"]);
    let album_modules = app
        .session
        .chain
        .modules
        .iter()
        .filter(|m| !matches!(m, ModuleConfig::Limiter(_)))
        .count();
    let own = app.session.tracks[1].modules.len();
    let fx = press(&mut app, &["S"]);
    assert!(
        fx.contains(&Effect::Engine(Command::SetSolo {
            track: Some(1),
            module: Some(album_modules + own - 1),
        })),
        "{fx:?}"
    );
    assert!(
        app.status.contains("hearing what dehiss changes"),
        "{}",
        app.status
    );
    assert!(screen(&app, 200, 60).contains("solo Δ dehiss"));
    // Again: off.
    let fx = press(&mut app, &["S"]);
    assert!(fx.contains(&Effect::Engine(Command::SetSolo {
        track: None,
        module: None
    })));
    assert!(!screen(&app, 200, 60).contains("solo Δ"));
    // The limiter (an album module, last in every track's chain): what it
    // takes off, on every track.
    let lim = app
        .chain_rows()
        .iter()
        .rposition(|r| matches!(r, lathe::ui::app::Row::Module(_)))
        .expect("limiter row");
    app.chain_sel = lim;
    let fx = press(&mut app, &["S"]);
    assert!(fx.contains(&Effect::Engine(Command::SetSolo {
        track: None,
        module: Some(album_modules + own),
    })));
    // Soloing a removed module ends the solo.
    press(&mut app, &["k"]);
    while !matches!(
        app.chain_rows()[app.chain_sel],
        lathe::ui::app::Row::Module(lathe::ui::app::ModRef::Track(_))
    ) {
        press(&mut app, &["k"]);
    }
    press(&mut app, &["S", "D"]);
    assert_eq!(
        app.recheck_solo(),
        Command::SetSolo {
            track: None,
            module: None
        }
    );
    assert!(
        app.solo.is_none() && app.status.contains("solo off"),
        "{}",
        app.status
    );
}

/// `:codec SPEC` asks for the selected track's codec preview (the status
/// bar marks it while it encodes), `:codec off` ends it; a bad codec is one
/// line and asks for nothing.
#[test]
fn the_codec_command_starts_and_ends_a_preview() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut app = app_at(dir.path());
    let spec = lathe::io::lossy::CodecSpec::parse("opus-160").expect("spec");
    assert_eq!(app.run("codec opus-160"), vec![Effect::Codec(Some(spec))]);
    let sel = app.codec.expect("a preview asked for");
    assert_eq!(
        (sel.spec, sel.track, sel.ready),
        (spec, app.track_sel, false)
    );
    assert!(app.status.contains("encoding track 1"), "{}", app.status);
    let s = screen(&app, 200, 60);
    assert!(s.contains("codec opus-160 T1 encoding…"), "{s}");
    assert_eq!(app.run("codec off"), vec![Effect::Codec(None)]);
    assert!(app.codec.is_none());
    assert!(!screen(&app, 200, 60).contains("codec opus-160"));
    for (cmd, says) in [
        ("codec wma-128", "use aac-KBPS"),
        ("codec mp3-200", "MP3 has no 200 kb/s"),
        ("codec", ":codec aac-256"),
    ] {
        assert!(app.run(cmd).is_empty(), "{cmd}");
        assert!(
            app.status.starts_with("error:") && app.status.contains(says),
            ":{cmd} → {}",
            app.status
        );
        assert!(!app.status.contains('\n'));
        assert!(app.codec.is_none());
    }
}
