//! The Tracks pane: the album's tracks with their measurements, and its keys
//! (move, remove, add, copy modules to all, play the selected track).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::widgets::{Row as TRow, Table};

use super::*;
use std::path::Path;

use crate::engine::Command as C;
use crate::session::album::Track;
use crate::ui::action::{Action, Pane};
use crate::ui::app::{App, Effect};

pub(super) fn tracks(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let target = app.target_lufs();
    let ceiling = app.ceiling_dbtp();
    let wide = area.width >= 70;
    // Each track's tonal balance against the album's average (as planned):
    // one number, the RMS deviation over 40 Hz – 12 kHz.
    let tonal: Vec<Vec<f64>> = (0..app.session.tracks.len())
        .map(|k| {
            app.track_path(k)
                .and_then(|p| app.info.get(&p))
                .map(|i| i.tonal_after.clone())
                .unwrap_or_default()
        })
        .collect();
    let planned: Vec<&[f64]> = tonal
        .iter()
        .filter(|p| p.len() == crate::analysis::tonal::BANDS)
        .map(|p| p.as_slice())
        .collect();
    let album_tone = crate::analysis::tonal::average_of(&planned);
    let tone_of = |k: usize| -> Option<f64> {
        (planned.len() >= 2 && tonal[k].len() == crate::analysis::tonal::BANDS).then(|| {
            crate::analysis::tonal::rms_deviation_db(&crate::analysis::tonal::deviation_of(
                &tonal[k],
                &album_tone,
            ))
        })
    };
    let mut rows = Vec::new();
    for (i, tr) in app.session.tracks.iter().enumerate() {
        let path = app.track_path(i);
        let info = path.as_ref().and_then(|p| app.info.get(p));
        let missing = path.as_ref().is_some_and(|p| !p.exists());
        let playing = app.transport.current_track == i && app.transport.playing;
        let mut problems = Vec::new();
        if missing {
            problems.push("missing");
        }
        if let Some(tp) = info.and_then(|i| i.tp_after)
            && tp > ceiling + 0.05
        {
            problems.push("over");
        }
        let limiting = info.and_then(|i| i.limiting);
        // Short of the target on purpose (max_limiting_db) is not a miss.
        if let (Some(after), Some(tg)) = (info.and_then(|i| i.lufs_after), target)
            && app.session.album.balance == crate::session::album::Balance::Track
            && (after - tg).abs() > 1.0
            && app.limiting_cut_db == 0.0
        {
            problems.push("target");
        }
        if limiting.is_some_and(|l| l.is_heavy()) {
            problems.push("limiting");
        }
        let mark = if !problems.is_empty() {
            "!"
        } else if playing {
            "▶"
        } else if app.transport.current_track == i {
            "·"
        } else {
            " "
        };
        let dur = info.map_or("--:--".into(), |i| format_duration(i.duration_s));
        let before = info.map_or(String::from("    …"), |i| fmt_db(i.lufs_before, 5));
        let after = info
            .and_then(|i| i.lufs_after)
            .map_or(String::from("    …"), |v| fmt_db(v, 5));
        let tpb = info.map_or(String::from("    …"), |i| fmt_db(i.tp_before, 5));
        let tpa = info
            .and_then(|i| i.tp_after)
            .map_or(String::from("    -"), |v| fmt_db(v, 5));
        let style = if i == app.track_sel {
            t.selected()
        } else if !problems.is_empty() {
            t.over()
        } else {
            t.text()
        };
        let mut cells = vec![
            mark.to_string(),
            format!("{:>2}", i + 1),
            tr.title.clone(),
            dur,
            format!("{:>4.1}", tr.gap_s),
            format!("{before}→{after}"),
        ];
        if wide {
            cells.push(format!("{tpb}→{tpa}"));
            cells.push(limiting.map_or(String::from("    -"), |l| {
                format!("{:>4.1}", l.peak_gr_db())
            }));
            cells.push(tone_of(i).map_or(String::from("   -"), |v| format!("{v:>4.1}")));
            cells.push(if problems.is_empty() {
                if tr.gain_db != 0.0 {
                    format!("{:+.1} dB", tr.gain_db)
                } else {
                    String::new()
                }
            } else {
                problems.join(",")
            });
        }
        rows.push(TRow::new(cells).style(style));
    }
    let mut header = vec!["", " #", "Title", "Length", "Gap", "LUFS in→out"];
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(8),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(11),
    ];
    if wide {
        header.push("dBTP in→out");
        header.push("Lim");
        header.push("Tone");
        header.push("Note");
        widths.push(Constraint::Length(11));
        widths.push(Constraint::Length(4));
        widths.push(Constraint::Length(4));
        widths.push(Constraint::Length(8));
    }
    // The album as planned against its target: a miss of more than 0.5 LU
    // (the limiter could not get there) is flagged.
    let album = match (app.album_lufs, target) {
        (Some(a), Some(tg))
            if matches!(
                app.session.album.balance,
                crate::session::album::Balance::Album | crate::session::album::Balance::Consistent
            ) =>
        {
            format!(
                " · album {a:.1}{}",
                if app.limiting_cut_db > 0.0 {
                    " (short: max limiting)"
                } else if (a - tg).abs() > 0.5 {
                    " ! missed"
                } else {
                    ""
                }
            )
        }
        (Some(a), _) => format!(" · album {a:.1}"),
        _ => String::new(),
    };
    // How level the tracks come out as planned: the spread of their loud
    // passages and of their integrated loudness.
    let planned = |f: fn(&crate::ui::app::TrackInfo) -> Option<f64>| -> Vec<f64> {
        (0..app.session.tracks.len())
            .filter_map(|k| app.track_path(k))
            .filter_map(|p| app.info.get(&p).and_then(f))
            .collect()
    };
    let spread = |v: &[f64]| {
        v.iter().copied().fold(f64::MIN, f64::max) - v.iter().copied().fold(f64::MAX, f64::min)
    };
    let (loud, integrated) = (planned(|i| i.loud_after), planned(|i| i.lufs_after));
    let levels = if loud.len() >= 2 && integrated.len() >= 2 {
        format!(
            " · spread loud {:.1} int {:.1} LU",
            spread(&loud),
            spread(&integrated)
        )
    } else {
        String::new()
    };
    let head = format!(
        " · {} {}{album}",
        app.session
            .deliveries
            .get(app.delivery)
            .map_or("no delivery", |d| d.name.as_str()),
        crate::ui::app::fmt_target(target)
    );
    // The spreads where the title has room for them (" 1 Tracks" and the
    // corners take 12 columns).
    let extra = if head.chars().count() + levels.chars().count() + 12 <= area.width as usize {
        head + &levels
    } else {
        head
    };
    let table = Table::new(rows, widths)
        .header(TRow::new(header).style(t.dim().add_modifier(Modifier::BOLD)))
        .block(block(app, Pane::Tracks, &extra))
        .column_spacing(1);
    f.render_widget(table, area);
}

impl App {
    /// Add `path` as a new track after the selected one.
    pub fn add_track(&mut self, path: &Path) -> Vec<Effect> {
        if let Err(e) = crate::io::FileSource::open(path) {
            self.error(e.to_string());
            return vec![];
        }
        let stored = self
            .session_path
            .as_ref()
            .and_then(|s| s.parent())
            .and_then(|d| path.strip_prefix(d).ok())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| path.to_path_buf());
        let title = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "untitled".into());
        let at = (self.track_sel + 1).min(self.session.tracks.len());
        let mut track = Track::new(stored, title.clone());
        // A new track after another gets the usual two-second gap.
        if at > 0 {
            track.gap_s = 2.0;
        }
        if self.edit(|s| {
            s.tracks.insert(at, track);
            Ok(())
        }) {
            self.track_sel = at;
            self.message(format!("added track {}: {title}", at + 1));
            return vec![
                Effect::Analyze(vec![path.to_path_buf()]),
                Effect::TimelineChanged,
            ];
        }
        vec![]
    }

    /// Move the track selection by `d` rows (Up/Down in the Tracks pane).
    pub(crate) fn tracks_select_by(&mut self, d: isize) {
        let n = self.session.tracks.len();
        if n > 0 {
            self.track_sel = (self.track_sel as isize + d).clamp(0, n as isize - 1) as usize;
        }
        self.clamp_selection();
    }

    /// The Tracks pane's keys: copy the selected track's modules to all,
    /// move it, remove it, add one (the file picker), play it.
    pub(crate) fn tracks_action(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::CopyToAll => {
                let Some(src) = self
                    .session
                    .tracks
                    .get(self.track_sel)
                    .map(|t| t.modules.clone())
                else {
                    return vec![];
                };
                let n = self.session.tracks.len();
                if self.edit(|s| {
                    for t in &mut s.tracks {
                        t.modules = src.clone();
                    }
                    Ok(())
                }) {
                    self.message(format!(
                        "track {}'s modules copied to all {n} tracks",
                        self.track_sel + 1
                    ));
                    return vec![Effect::ChainsChanged(None)];
                }
                vec![]
            }
            Action::MoveUp | Action::MoveDown => {
                let i = self.track_sel;
                let n = self.session.tracks.len();
                let j = if action == Action::MoveUp {
                    i.checked_sub(1)
                } else {
                    (i + 1 < n).then_some(i + 1)
                };
                let Some(j) = j else { return vec![] };
                if self.edit(|s| {
                    s.tracks.swap(i, j);
                    Ok(())
                }) {
                    self.track_sel = j;
                    return vec![Effect::TimelineChanged];
                }
                vec![]
            }
            Action::Remove => {
                if self.session.tracks.len() <= 1 {
                    self.error("a session keeps at least one track");
                    return vec![];
                }
                let i = self.track_sel;
                let title = self.session.tracks[i].title.clone();
                if self.edit(|s| {
                    s.tracks.remove(i);
                    Ok(())
                }) {
                    self.clamp_selection();
                    self.message(format!("removed track {} ({title}); u undoes", i + 1));
                    return vec![Effect::TimelineChanged];
                }
                vec![]
            }
            Action::Add => {
                let dir = self
                    .track_path(self.track_sel)
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .unwrap_or_else(|| self.base_dir.clone());
                self.open_picker(dir);
                vec![]
            }
            Action::PlaySelected => {
                self.transport.playing = true;
                vec![Effect::SeekTrack(self.track_sel), Effect::Engine(C::Play)]
            }
            _ => vec![],
        }
    }
}
