//! `lathe ddp`: read a DDP fileset (lathe's or another tool's): its PQ
//! sheet, checksums and the Red Book's rules; `--extract` writes the tracks
//! as WAV plus the whole image with a CUE sheet.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::*;
use crate::io::ddp::{self, Fileset, SECTOR_FRAMES};
use crate::io::{AudioBlock, AudioSource};

/// One track of a fileset: number, index 00 and 01 and end (absolute
/// sectors), ISRC.
struct Row {
    number: u8,
    index0: Option<u64>,
    index1: u64,
    end: u64,
    isrc: Option<String>,
}

fn length(sectors: u64) -> String {
    format!(
        "{}:{:02}.{:02}",
        sectors / 4500,
        sectors / 75 % 60,
        sectors % 75
    )
}

fn rows(set: &Fileset) -> Vec<Row> {
    let tracks = set.tracks();
    let lead_out = set.lead_out().unwrap_or(0);
    tracks
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let end = tracks.get(k + 1).map_or(lead_out, |n| n.1.unwrap_or(n.2));
            Row {
                number: t.0,
                index0: t.1,
                index1: t.2,
                end,
                isrc: t.3.clone(),
            }
        })
        .collect()
}

/// The Red Book's rules on a fileset: (errors, warnings).
fn red_book(set: &Fileset, rows: &[Row]) -> (Vec<String>, Vec<String>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    if rows.is_empty() {
        errors.push("the PQ descriptor lists no tracks".to_string());
    }
    if rows.len() > 99 {
        errors.push(format!("{} tracks; a CD holds at most 99", rows.len()));
    }
    if let Some(first) = rows.first()
        && first.index1 < ddp::PAUSE_SECTORS
    {
        errors.push(format!(
            "track 1 starts at {}; the Red Book asks for 2 s of pause first (00:02:00)",
            crate::render::album::cue_time(first.index1)
        ));
    }
    for r in rows {
        if r.end < r.index1 + 4 * 75 {
            errors.push(format!(
                "track {}: is {} long; a CD track must last at least 4 s",
                r.number,
                length(r.end.saturating_sub(r.index1))
            ));
        }
        if let Some(i) = &r.isrc
            && !crate::session::album::valid_isrc(i)
        {
            errors.push(format!("track {}: ISRC '{i}' is malformed", r.number));
        }
        if let Some(i0) = r.index0
            && r.index1 - i0 > 3 * 75
            && r.number > 1
        {
            warnings.push(format!(
                "track {}: a pregap of {}; some recorders refuse more than 3 s",
                r.number,
                length(r.index1 - i0)
            ));
        }
    }
    let lead_out = set.lead_out().unwrap_or(0);
    if set.lead_out().is_none() {
        errors.push("the PQ descriptor has no lead-out (AA)".to_string());
    }
    if lead_out > 79 * 4500 + 57 * 75 {
        errors.push(format!(
            "the programme lasts {} (to the lead-out); a CD holds 79:57",
            length(lead_out)
        ));
    } else if lead_out > 74 * 4500 {
        warnings.push(format!(
            "the programme lasts {}; some plants press at most 74 minutes",
            length(lead_out)
        ));
    }
    if let Some(u) = &set.upc
        && !crate::session::album::valid_upc(u)
    {
        errors.push(format!("UPC/EAN '{u}' fails its check digit"));
    }
    let with_isrc = rows.iter().filter(|r| r.isrc.is_some()).count();
    if with_isrc > 0 && with_isrc < rows.len() {
        warnings.push(format!(
            "{with_isrc} of {} tracks have ISRCs; the others have none",
            rows.len()
        ));
    }
    match set.image_sectors() {
        Ok(have) => {
            let need = lead_out.saturating_sub(set.image_sector);
            if have < need {
                errors.push(format!(
                    "the image holds {have} sectors; the PQ descriptor's lead-out needs {need}"
                ));
            }
        }
        Err(e) => errors.push(e.to_string()),
    }
    (errors, warnings)
}

pub(super) fn cmd_ddp(dir: &Path, extract: Option<&Path>, force: bool) -> ExitCode {
    let set = match ddp::read(dir) {
        Ok(s) => s,
        Err(e) => {
            eprint_error(&e.to_string());
            return ExitCode::from(1);
        }
    };
    let rows = rows(&set);
    let lead_out = set.lead_out().unwrap_or(0);
    println!(
        "{}: {}  UPC/EAN {}  {} tracks  {} (lead-out {})",
        dir.display(),
        set.level,
        set.upc.as_deref().unwrap_or("none"),
        rows.len(),
        length(lead_out.saturating_sub(ddp::PAUSE_SECTORS)),
        crate::render::album::cue_time(lead_out)
    );
    if let Some(t) = set.titles.first().filter(|t| !t.is_empty()) {
        let by = set.performers.first().cloned().unwrap_or_default();
        println!(
            "  {t}{}",
            if by.is_empty() {
                String::new()
            } else {
                format!(" / {by}")
            }
        );
    }
    println!("  Track  Index  Start     Length    ISRC          Title / Performer");
    for r in &rows {
        let n = usize::from(r.number);
        let title = set.titles.get(n).cloned().unwrap_or_default();
        let by = set.performers.get(n).cloned().unwrap_or_default();
        let name = match (title.is_empty(), by.is_empty()) {
            (false, false) => format!("{title} / {by}"),
            (false, true) => title,
            (true, false) => format!("/ {by}"),
            (true, true) => String::new(),
        };
        if let Some(i0) = r.index0 {
            println!(
                "  {:02}     00     {}  {:<8}",
                r.number,
                crate::render::album::cue_time(i0),
                length(r.index1 - i0)
            );
        }
        println!(
            "  {:02}     01     {}  {:<8}  {:<12}  {name}",
            r.number,
            crate::render::album::cue_time(r.index1),
            length(r.end.saturating_sub(r.index1)),
            r.isrc.as_deref().unwrap_or("")
        );
    }
    let mut failed = false;
    match set.verify() {
        None => println!("Checksums: no {} (nothing to verify)", ddp::CHECKSUMS),
        Some(list) => {
            let bad: Vec<&(String, Option<String>)> =
                list.iter().filter(|(_, v)| v.is_some()).collect();
            if bad.is_empty() {
                println!(
                    "Checksums: {} files verified ({})",
                    list.len(),
                    ddp::CHECKSUMS
                );
            } else {
                failed = true;
                for (name, why) in bad {
                    eprint_error(&format!(
                        "{}: {name}: {}",
                        dir.display(),
                        why.clone().unwrap_or_default()
                    ));
                }
            }
        }
    }
    let (errors, warnings) = red_book(&set, &rows);
    for w in &warnings {
        eprintln!("lathe: warning: {}: {w}", dir.display());
    }
    if errors.is_empty() {
        println!("Red Book: OK");
    } else {
        failed = true;
        for e in &errors {
            eprint_error(&format!("{}: {e}", dir.display()));
        }
    }
    if let Some(out) = extract {
        match extract_to(&set, &rows, out, force) {
            Ok(files) => {
                for f in files {
                    println!("wrote {}", f.display());
                }
            }
            Err(e) => {
                eprint_error(&e.to_string());
                return ExitCode::from(1);
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Write each track (index 01 to the next track's index 00, or the
/// lead-out) as `NN Title.wav`, and the whole image as `image.wav` with
/// `image.cue`, into `out`. Nothing is replaced without `force`; each
/// file appears whole or not at all.
fn extract_to(set: &Fileset, rows: &[Row], out: &Path, force: bool) -> crate::Result<Vec<PathBuf>> {
    use crate::io::encode::{SampleFormat, WavOutput};
    std::fs::create_dir_all(out)
        .map_err(|e| crate::LatheError::write(out, format!("cannot create the folder: {e}")))?;
    let name = |n: usize, r: &Row| {
        let title = set.titles.get(n).cloned().unwrap_or_default();
        let stem = if title.trim().is_empty() {
            format!("Track {:02}", r.number)
        } else {
            crate::render::album::safe_name(&title)
        };
        out.join(format!("{:02} {stem}.wav", r.number))
    };
    let mut targets: Vec<PathBuf> = rows
        .iter()
        .map(|r| name(usize::from(r.number), r))
        .collect();
    targets.push(out.join("image.wav"));
    targets.push(out.join("image.cue"));
    for t in &targets {
        crate::io::atomic::check_output(t, &[], force)?;
    }
    let mut src = crate::io::FileSource::open(&set.dir)?;
    let image_frames = src.info().total_frames.unwrap_or(0);
    let frame = |sector: u64| sector.saturating_sub(set.image_sector) * SECTOR_FRAMES;
    let mut block = AudioBlock::new(2, 8192);
    let mut copy = |from: u64, to: u64, path: &Path, src: &mut crate::io::FileSource| {
        let mut w = WavOutput::create(path, 44_100, 2, SampleFormat::Int16, &[], force)?;
        src.seek(from)?;
        let mut left = to.saturating_sub(from);
        while left > 0 {
            let n = src.read(&mut block)?;
            if n == 0 {
                break;
            }
            block.frames = n.min(left as usize);
            w.write_block(&block)?;
            left -= block.frames as u64;
        }
        w.finish()
    };
    let mut written = Vec::new();
    for (r, path) in rows.iter().zip(&targets) {
        let end = frame(r.end).min(image_frames);
        written.push(copy(frame(r.index1), end, path, &mut src)?);
    }
    written.push(copy(0, image_frames, &targets[rows.len()], &mut src)?);
    let mut cue = format!(
        "{}{}FILE \"image.wav\" WAVE\n",
        set.performers
            .first()
            .filter(|p| !p.is_empty())
            .map(|p| format!("PERFORMER \"{}\"\n", crate::render::album::quote(p)))
            .unwrap_or_default(),
        set.titles
            .first()
            .filter(|t| !t.is_empty())
            .map(|t| format!("TITLE \"{}\"\n", crate::render::album::quote(t)))
            .unwrap_or_default(),
    );
    if let Some(u) = &set.upc {
        cue = format!("CATALOG {u}\n{cue}");
    }
    let rel = |sector: u64| crate::render::album::cue_time(sector.saturating_sub(set.image_sector));
    for r in rows {
        let n = usize::from(r.number);
        cue.push_str(&format!("  TRACK {:02} AUDIO\n", r.number));
        if let Some(t) = set.titles.get(n).filter(|t| !t.is_empty()) {
            cue.push_str(&format!(
                "    TITLE \"{}\"\n",
                crate::render::album::quote(t)
            ));
        }
        if let Some(p) = set.performers.get(n).filter(|p| !p.is_empty()) {
            cue.push_str(&format!(
                "    PERFORMER \"{}\"\n",
                crate::render::album::quote(p)
            ));
        }
        if let Some(i) = &r.isrc {
            cue.push_str(&format!("    ISRC {i}\n"));
        }
        if let Some(i0) = r.index0 {
            cue.push_str(&format!("    INDEX 00 {}\n", rel(i0)));
        }
        cue.push_str(&format!("    INDEX 01 {}\n", rel(r.index1)));
    }
    let cue_path = &targets[rows.len() + 1];
    let mut f = crate::io::atomic::AtomicFile::create(cue_path, &[], force)?;
    use std::io::Write;
    f.write_all(cue.as_bytes())
        .map_err(|e| crate::LatheError::write(cue_path, e.to_string()))?;
    written.push(f.commit()?);
    Ok(written)
}
