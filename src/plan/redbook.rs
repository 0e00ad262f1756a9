//! Red Book checks for a CD delivery (`cd = true`), made before anything
//! is rendered: what a pressing plant would reject is an error, what it
//! would question is a warning. Each names the session file, the line and
//! the track.
//!
//! Errors: more than 99 tracks; a track shorter than 4 s; a programme
//! longer than 79:57 (the 2 s pause before track 1, every track after its
//! trims, the gaps, less the crossfades); a rate other than 44,100 Hz or a
//! word length other than 16 bits; a gap off the CD frame grid (1/75 s:
//! the index 0 of the next track would not fall where the session says).
//! ISRCs and the UPC/EAN (its check digit) are checked when the session is
//! read. Warnings: a programme longer than 74 minutes (some players and
//! plants stop there); a pregap longer than 3 s; ISRCs on some tracks but
//! not all.

use crate::session::album::{Delivery, Session, line_of};

/// The most tracks on a CD.
pub const MAX_TRACKS: usize = 99;
/// The shortest track, s.
pub const MIN_TRACK_S: f64 = 4.0;
/// The longest programme, s (79:57).
pub const MAX_TOTAL_S: f64 = 79.0 * 60.0 + 57.0;
/// A programme longer than this draws a warning, s (74:00).
pub const WARN_TOTAL_S: f64 = 74.0 * 60.0;
/// A pregap longer than this draws a warning, s.
pub const WARN_PREGAP_S: f64 = 3.0;
/// The pause before track 1, s.
pub const LEAD_PAUSE_S: f64 = 2.0;
/// CD frames a second.
pub const FRAMES_PER_S: f64 = 75.0;

/// What the checks found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CdCheck {
    /// Problems that stop the render, one line each.
    pub errors: Vec<String>,
    /// Problems to know about, one line each.
    pub warnings: Vec<String>,
}

/// Check delivery `d` of `session` (read from `origin`, whose text is
/// `text`, for line numbers) against the Red Book; `lengths_s` is each
/// track's audio length before trims, s.
pub fn check(
    session: &Session,
    origin: &str,
    text: &str,
    lengths_s: &[f64],
    d: &Delivery,
) -> CdCheck {
    let mut out = CdCheck::default();
    let di = session
        .deliveries
        .iter()
        .position(|x| x.name == d.name)
        .unwrap_or(0);
    let dline = line_of(text, "[[delivery]]", di);
    let at = |k: usize| {
        format!(
            "{origin}:{}: track {}",
            line_of(text, "[[track]]", k),
            k + 1
        )
    };
    let n = session.tracks.len();
    if n > MAX_TRACKS {
        out.errors.push(format!(
            "{}: a CD holds at most {MAX_TRACKS} tracks; this album has {n}",
            at(MAX_TRACKS)
        ));
    }
    if d.rate_hz != 44_100 || d.bits != "16" {
        out.errors.push(format!(
            "{origin}:{dline}: delivery '{}' is for CD (cd = true) but writes {} Hz, {} bits; a CD is 44100 Hz, 16-bit",
            d.name, d.rate_hz, d.bits
        ));
    }
    let mut total = LEAD_PAUSE_S;
    for (k, (t, len)) in session.tracks.iter().zip(lengths_s).enumerate() {
        let played = (len - t.trim_start_s - t.trim_end_s).max(0.0);
        if played < MIN_TRACK_S {
            out.errors.push(format!(
                "{}: is {played:.2} s long; a CD track must last at least {MIN_TRACK_S} s",
                at(k)
            ));
        }
        total += played;
        if k > 0 {
            total += t.gap_s;
            if t.gap_s == 0.0 {
                total -= t.crossfade_s;
            }
            if t.gap_s > WARN_PREGAP_S {
                out.warnings.push(format!(
                    "{}: a pregap of {:.2} s (more than {WARN_PREGAP_S} s): players count it down before the track",
                    at(k),
                    t.gap_s
                ));
            }
        }
        let frames = t.gap_s * FRAMES_PER_S;
        if (frames - frames.round()).abs() > 1e-6 {
            out.errors.push(format!(
                "{}: gap_s = {} is not on the CD frame grid (1/75 s); use {:.4} or {:.4}",
                at(k),
                t.gap_s,
                frames.floor() / FRAMES_PER_S,
                frames.ceil() / FRAMES_PER_S
            ));
        }
    }
    let mmss = |s: f64| format!("{}:{:02}", (s / 60.0).floor(), (s % 60.0).floor());
    if total > MAX_TOTAL_S {
        out.errors.push(format!(
            "{origin}:{dline}: delivery '{}': the programme lasts {} (with the 2 s pause before track 1); a CD holds at most 79:57",
            d.name,
            mmss(total)
        ));
    } else if total > WARN_TOTAL_S {
        out.warnings.push(format!(
            "{origin}:{dline}: delivery '{}': the programme lasts {}, over 74 minutes: some plants and players stop at 74:00",
            d.name,
            mmss(total)
        ));
    }
    let with: Vec<usize> = (0..n)
        .filter(|&k| session.tracks[k].isrc.is_some())
        .collect();
    if !with.is_empty() && with.len() < n {
        let without: Vec<String> = (0..n)
            .filter(|k| !with.contains(k))
            .map(|k| (k + 1).to_string())
            .collect();
        let first = (0..n).find(|k| !with.contains(k)).unwrap_or(0);
        out.warnings.push(format!(
            "{}: no ISRC while other tracks have one (tracks without: {})",
            at(first),
            without.join(", ")
        ));
    }
    out
}
