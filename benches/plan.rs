//! Planning figures (run: `cargo bench --bench plan`): an hour-long album
//! (fifteen 4-minute tracks at 48 kHz, the engine bench's chain, album
//! balance to −14 LUFS) planned as `lathe render` plans it, then planned
//! again after a change of target, ceiling and balance (the spooled tracks
//! reused), and the gains checked against an exact search to 0.01 dB.

use std::time::Instant;

#[path = "full_chain.rs"]
mod full_chain;
#[path = "hour_album.rs"]
mod hour_album;

use lathe::plan::Plan;
use lathe::plan::delivery::SpoolCache;
use lathe::session::album::{Balance, Session};

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let sp = hour_album::write(dir.path(), true);

    let cache = SpoolCache::new();
    let mut sess = Session::load(&sp).expect("load");
    let t = Instant::now();
    let first = Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("plan");
    println!(
        "  planning an hour-long album: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    if std::env::var_os("LATHE_BENCH_FIRST_ONLY").is_some() {
        // For profiling the first plan alone.
        return;
    }
    let mut check = vec![("first", sess.clone(), first)];
    sess.chain.target_lufs = Some(-16.0);
    let t = Instant::now();
    let p = Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("replan");
    println!(
        "  again after a target change: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    check.push(("target", sess.clone(), p));
    sess.deliveries[0].ceiling_dbtp = -2.0;
    let t = Instant::now();
    let p = Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("replan");
    println!(
        "  again after a ceiling change: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    check.push(("ceiling", sess.clone(), p));
    sess.album.balance = Balance::Track;
    let t = Instant::now();
    let p = Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("replan");
    println!(
        "  again after a balance change (album → track): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    check.push(("balance", sess.clone(), p));
    println!("  spooled tracks reused: {}", cache.hits());
    // Each plan's gains against an exact secant search (every evaluation
    // an exact pass over every track) to 0.0005 LU, on the cached spools.
    for (what, s, plan) in &check {
        let worst = exact_gap(s, &sp, &cache, plan);
        println!("  {what}: largest gain difference from an exact search {worst:.4} dB");
        assert!(worst <= 0.01, "{what}: {worst} dB");
    }
}

/// The largest difference between `plan`'s gains and an exact search's, dB.
fn exact_gap(s: &Session, sp: &std::path::Path, cache: &SpoolCache, plan: &Plan) -> f64 {
    use lathe::plan::delivery::{exact_pass, prepare_delivery};
    use lathe::plan::gain::secant_within;
    let d = s.deliveries[0].clone();
    let paths: Vec<_> = s.tracks.iter().map(|t| s.track_path(sp, t)).collect();
    let dir = std::env::temp_dir();
    let (prepared, lim, _, cuts, _) =
        prepare_delivery(s, &dir, &paths, &d, &dir, &|_| {}, Some(cache), false).expect("prepare");
    let offs: Vec<f64> = s.tracks.iter().map(|t| t.gain_db).collect();
    let t = d.target_lufs.or(s.chain.target_lufs).expect("target");
    let rate = d.rate_hz;
    let gains: Vec<f64> = match s.album.balance {
        Balance::Album => {
            use rayon::prelude::*;
            let loud = |g: f64| {
                let sums: Vec<_> = prepared
                    .par_iter()
                    .zip(lim.par_iter())
                    .zip(offs.par_iter())
                    .map(|((p, l), o)| {
                        exact_pass(p, l, rate, g + o, false, None).map(|x| x.summary)
                    })
                    .collect::<lathe::error::Result<_>>()?;
                let mut all = lathe::analysis::loudness::LoudnessSummary::default();
                sums.iter().for_each(|x| all.merge(x));
                Ok(all.stats().integrated_lufs)
            };
            let (g, _, _) = secant_within(loud, 0.0, t, 0.0005, 30, &|_| {}).expect("search");
            offs.iter().map(|o| g + o).collect()
        }
        _ => prepared
            .iter()
            .zip(&lim)
            .zip(&offs)
            .map(|((p, l), o)| {
                let loud = |g: f64| {
                    exact_pass(p, l, rate, g, false, None)
                        .map(|x| x.summary.stats().integrated_lufs)
                };
                secant_within(loud, 0.0, t, 0.0005, 30, &|_| {})
                    .expect("search")
                    .0
                    + o
            })
            .collect(),
    };
    plan.tracks
        .iter()
        .zip(gains.iter().zip(&cuts))
        .map(|(pt, (g, c))| (pt.gain_db - (g - c)).abs())
        .fold(0.0, f64::max)
}
