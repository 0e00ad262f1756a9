//! What planning spends its time on, kernel by kernel (run: `cargo bench
//! --bench kernels`): each module of the benchmarks' chain and each meter
//! the planning runs, alone on one thread over 4 minutes of 48 kHz stereo
//! (one track of the hour-long album), in ns per frame, with a hash of the
//! output so that an optimization can be checked to leave it bit for bit
//! the same.

use std::time::Instant;

#[path = "full_chain.rs"]
mod full_chain;

use lathe::analysis::loudness::LoudnessMeter;
use lathe::analysis::tonal::TonalAnalyzer;
use lathe::analysis::truepeak::TruePeakMeter;
use lathe::dsp::chain::Chain;
use lathe::io::AudioBlock;
use lathe::plan::model::PeakRecorder;
use lathe::session::chain::ChainConfig;

const RATE: u32 = 48_000;
const BLOCK: usize = 8192;

/// The hour-long album's track: noise with a slow swell.
fn track() -> Vec<Vec<f32>> {
    let n = RATE as usize * 240;
    let mut out = vec![Vec::with_capacity(n), Vec::with_capacity(n)];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            * 0.5
            * (1.0 + (i as f32 / 48_000.0).sin());
        out[0].push(v * 20_000.0 / 32_768.0);
        out[1].push(v * 15_000.0 / 32_768.0);
    }
    out
}

/// FNV-1a over the samples' bits.
fn hash(planar: &[Vec<f32>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for ch in planar {
        for v in ch {
            h ^= u64::from(v.to_bits());
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// Run `f` over `planar` in blocks; returns ns per frame.
fn blocks(planar: &mut [Vec<f32>], mut f: impl FnMut(&mut AudioBlock)) -> f64 {
    let n = planar[0].len();
    let mut block = AudioBlock::new(planar.len(), BLOCK);
    let start = Instant::now();
    let mut pos = 0;
    while pos < n {
        let k = (n - pos).min(BLOCK);
        for (d, s) in block.channels.iter_mut().zip(planar.iter()) {
            d[..k].copy_from_slice(&s[pos..pos + k]);
        }
        block.frames = k;
        f(&mut block);
        for (d, s) in planar.iter_mut().zip(&block.channels) {
            d[pos..pos + k].copy_from_slice(&s[..k]);
        }
        pos += k;
    }
    start.elapsed().as_secs_f64() * 1e9 / n as f64
}

/// The benchmarks' chain's module `index` alone (the limiter last).
fn module(index: usize) -> (String, Chain) {
    let parts: Vec<&str> = full_chain::CHAIN.split("[[module]]").collect();
    let toml = format!("[[module]]{}", parts[index + 1]);
    let cfg = ChainConfig::from_toml(&toml, "bench").expect("chain");
    let name = toml
        .lines()
        .find_map(|l| l.strip_prefix("type = "))
        .unwrap_or("?")
        .trim_matches('"')
        .to_string();
    (name, Chain::from_config(&cfg, RATE, 2).expect("build"))
}

fn main() {
    let source = track();
    println!("  kernel                      ns/frame   output hash");
    for i in 0..4 {
        let (name, mut chain) = module(i);
        let mut x = source.clone();
        let ns = blocks(&mut x, |b| chain.process(b));
        println!("  {name:<26} {ns:>9.2}   {:016x}", hash(&x));
    }
    let cfg = ChainConfig::from_toml(full_chain::CHAIN, "bench").expect("chain");
    let mut chain = Chain::from_config(&cfg, RATE, 2).expect("build");
    let mut x = source.clone();
    let ns = blocks(&mut x, |b| chain.process_pre(b));
    println!(
        "  {:<26} {ns:>9.2}   {:016x}",
        "pre-limiter chain",
        hash(&x)
    );
    let mut chain = Chain::from_config(&cfg, RATE, 2).expect("build");
    let mut x = source.clone();
    let ns = blocks(&mut x, |b| chain.process(b));
    println!("  {:<26} {ns:>9.2}   {:016x}", "whole chain", hash(&x));

    let mut meter = LoudnessMeter::new(RATE, &[1.0, 1.0]);
    let mut x = source.clone();
    let ns = blocks(&mut x, |b| meter.push(&b.channels, b.frames));
    let lufs = meter.stats().integrated_lufs;
    println!(
        "  {:<26} {ns:>9.2}   {:016x}",
        "loudness meter",
        lufs.to_bits()
    );
    let mut meter = LoudnessMeter::new(RATE, &[1.0, 1.0]);
    meter.record_fine(lathe::plan::model::STEP);
    let mut x = source.clone();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let ns = blocks(&mut x, |b| {
        meter.push(&b.channels, b.frames);
        for e in meter.drain_fine() {
            h = (h ^ u64::from(e.to_bits())).wrapping_mul(0x100_0000_01b3);
        }
    });
    println!("  {:<26} {ns:>9.2}   {h:016x}", "loudness meter, pieces");
    let mut meters = [TruePeakMeter::new(RATE), TruePeakMeter::new(RATE)];
    let mut x = source.clone();
    let ns = blocks(&mut x, |b| {
        for (m, c) in meters.iter_mut().zip(&b.channels) {
            m.push(&c[..b.frames]);
        }
    });
    let tp = meters[0].true_peak() + meters[1].true_peak();
    println!(
        "  {:<26} {ns:>9.2}   {:016x}",
        "true-peak meter",
        tp.to_bits()
    );
    let mut rec = PeakRecorder::new(RATE, 2);
    let mut x = source.clone();
    let ns = blocks(&mut x, |b| rec.push(b));
    let peaks = rec.finish();
    let h = peaks.iter().fold(0u64, |h, p| {
        (h ^ u64::from(p.to_bits())).wrapping_mul(0x100_0000_01b3)
    });
    println!("  {:<26} {ns:>9.2}   {h:016x}", "peak recorder (model)");
    let mut tonal = TonalAnalyzer::new(RATE, 2);
    let mut x = source.clone();
    let ns = blocks(&mut x, |b| tonal.push(&b.channels, b.frames));
    let h = tonal
        .finish(-14.0)
        .bands_db
        .iter()
        .fold(0u64, |h, b| (h ^ b.to_bits()).wrapping_mul(0x100_0000_01b3));
    println!("  {:<26} {ns:>9.2}   {h:016x}", "tonal balance");
}
