//! De-clicker after Godsill & Rayner, "Digital Audio Restoration" (1998):
//! an autoregressive model of the recent audio (Burg's method, order 24)
//! predicts each sample forwards and backwards; where both prediction
//! errors exceed `k·σ` (σ a robust, median-based estimate of the error's
//! spread; `k` set by `sensitivity`) a click starts, and it lasts while the
//! smaller of the two errors stays above 0.3 of the threshold within ±3
//! samples (just outside a click only one of them is large), so a decaying
//! burst is taken whole. A run is repaired only when it stands alone (see
//! `isolated`), so note onsets are left alone. Repairs are least-squares AR
//! interpolation (LSAR: the values that minimize the model's prediction
//! error across the gap, from a Cholesky solve of the AR coefficients'
//! autocorrelation system), twice: with the detection model, then with a
//! model of order 5× the hop's longest gap (48 to 200) refitted on the
//! repaired music around the gaps, since long gaps in dense music need
//! many poles; a repair louder than 3× the music beside it is dropped.
//!
//! Works on hops of 1024 samples with 1024 samples of context either side;
//! latency is 2048 samples. Gaps are at most 64 samples (longer events are
//! left alone rather than invented). Allocation-free after construction.

use super::Processor;
use crate::audio::AudioBlock;
use crate::session::chain::DeclickConfig;

/// AR model order for detection.
const ORDER: usize = 24;

/// Most AR model order for interpolation (long gaps in dense music need
/// many poles: at order 24 a 37-sample gap in piano-like music came back
/// only 11 dB under the music, at 100 about 20 to 34 dB).
const MAX_ORDER: usize = 200;
const HOP: usize = 1024;
const BUF: usize = 3 * HOP;
const MAX_GAP: usize = 64;
/// How far either side of a run its surroundings are measured, samples.
const NEIGHBOURHOOD: usize = 256;
/// Samples next to a run left out of its surroundings.
const GUARD: usize = 16;
/// A repair louder (RMS) than this times the music either side of it is
/// taken for a failed interpolation and not used.
const PLAUSIBLE: f64 = 3.0;
/// Samples either side of a repair its loudness is checked against.
const CONTEXT: usize = 64;
/// A run is widened while the click goes on (see `analyze_channel`):
/// the smaller prediction error stays above this times the threshold…
const TAIL: f64 = 0.3;
/// …at its largest within ± this many samples.
const SPREAD: usize = 3;
/// The refit's data reach this many times its order either side of the
/// gaps.
const REFIT_SPAN: usize = 4;
/// Most runs repaired in one hop.
const MAX_RUNS: usize = 128;

#[derive(Debug, Clone)]
struct Work {
    /// Burg scratch: forward and backward errors.
    f: Vec<f64>,
    b: Vec<f64>,
    /// Burg scratch: the next order's backward errors.
    b2: Vec<f64>,
    a: [f64; MAX_ORDER + 1],
    a_tmp: [f64; MAX_ORDER + 1],
    /// The order of the model in `a`.
    order: usize,
    ef: Vec<f64>,
    eb: Vec<f64>,
    sorted: Vec<f64>,
    flags: Vec<bool>,
    mat: Vec<f64>,
    rhs: Vec<f64>,
    /// Runs to repair in this hop: (start, length).
    runs: Vec<(usize, usize)>,
    /// Each run's damaged samples (MAX_GAP apiece).
    saved: Vec<f32>,
    /// One run's first-pass repair.
    first: Vec<f32>,
    /// The known samples' part of each prediction error across a gap.
    e_known: Vec<f64>,
}

/// The de-clicker module.
#[derive(Debug, Clone)]
pub struct Declick {
    k: f64,
    bufs: Vec<Vec<f32>>,
    pos: usize,
    work: Work,
    repaired: u64,
}

impl Declick {
    /// A de-clicker for `channels` channels (the rate does not change its settings).
    pub fn new(cfg: &DeclickConfig, _rate: u32, channels: usize) -> Self {
        let mut d = Self {
            k: 8.0,
            bufs: vec![vec![0.0; BUF]; channels],
            pos: 0,
            work: Work {
                f: vec![0.0; BUF],
                b: vec![0.0; BUF],
                b2: vec![0.0; BUF],
                a: [0.0; MAX_ORDER + 1],
                a_tmp: [0.0; MAX_ORDER + 1],
                order: ORDER,
                ef: vec![0.0; BUF],
                eb: vec![0.0; BUF],
                sorted: vec![0.0; BUF],
                flags: vec![false; BUF],
                mat: vec![0.0; MAX_GAP * MAX_GAP],
                rhs: vec![0.0; MAX_GAP],
                runs: Vec::with_capacity(MAX_RUNS),
                saved: vec![0.0; MAX_RUNS * MAX_GAP],
                first: vec![0.0; MAX_GAP],
                e_known: vec![0.0; MAX_GAP + MAX_ORDER + 1],
            },
            repaired: 0,
        };
        d.set_config(cfg);
        d
    }

    /// Apply new settings: sensitivity 1 → threshold 12 σ, 10 → 4 σ.
    pub fn set_config(&mut self, cfg: &DeclickConfig) {
        self.k = 12.0 - (cfg.sensitivity - 1.0) * (8.0 / 9.0);
    }

    /// Clicks repaired so far (gaps).
    pub fn repaired(&self) -> u64 {
        self.repaired
    }

    fn analyze_channel(k: f64, x: &mut [f32], w: &mut Work) -> u64 {
        if !Self::burg(x, w, ORDER) {
            return 0;
        }
        // Forward and backward prediction errors in the middle hop and
        // the neighbourhood its runs are judged against.
        let (lo, hi) = (HOP, 2 * HOP);
        for i in lo - ORDER - NEIGHBOURHOOD..hi + ORDER + NEIGHBOURHOOD {
            let (mut ef, mut eb) = (0.0, 0.0);
            for j in 0..=ORDER {
                ef += w.a[j] * f64::from(x[i - j]);
                eb += w.a[j] * f64::from(x[i + j]);
            }
            w.ef[i] = ef;
            w.eb[i] = eb;
        }
        // Robust spread: median absolute forward error / 0.6745.
        let m = hi - lo;
        for (s, e) in w.sorted[..m].iter_mut().zip(&w.ef[lo..hi]) {
            *s = e.abs();
        }
        let (_, median, _) = w.sorted[..m].select_nth_unstable_by(m / 2, f64::total_cmp);
        let sigma = *median / 0.6745;
        if sigma <= 0.0 {
            return 0;
        }
        let thr = k * sigma;
        // A sample is suspect when the forward error at or just after it and
        // the backward error at or just before it are both large.
        for i in lo..hi {
            let f_hit = (0..3).any(|d| w.ef[i + d].abs() > thr);
            let b_hit = (0..3).any(|d| w.eb[i - d].abs() > thr);
            w.flags[i] = f_hit && b_hit;
        }
        let mut i = lo;
        while i < hi {
            if !w.flags[i] {
                i += 1;
                continue;
            }
            let mut start = i.saturating_sub(1).max(lo - ORDER);
            let mut end = i;
            while end + 1 < hi && (w.flags[end + 1] || (end + 3 < hi && w.flags[end + 2])) {
                end += 1;
            }
            // A click's decaying tail and soft start: widen the run while
            // the click goes on. Inside a click both the forward and the
            // backward errors are large; just outside it only one is (its
            // prediction reaches into the click), so the smaller of the two,
            // at its largest within ±[`SPREAD`] samples (a burst's samples
            // now and then happen to be predictable), tells the click's
            // extent; it must stay above [`TAIL`] times the threshold.
            let low = TAIL * thr;
            let env = |i: usize| -> f64 {
                let a = i.saturating_sub(SPREAD).max(lo - ORDER - NEIGHBOURHOOD);
                let b = (i + SPREAD).min(hi + ORDER + NEIGHBOURHOOD - 1);
                (a..=b)
                    .map(|j| w.ef[j].abs().min(w.eb[j].abs()))
                    .fold(0.0, f64::max)
            };
            while end + 1 < hi + ORDER - 1 && end + 1 - start < MAX_GAP && env(end + 1) > low {
                end += 1;
            }
            while start > lo - ORDER && end + 1 - start < MAX_GAP && env(start - 1) > low {
                start -= 1;
            }
            let end = (end + 1).min(hi + ORDER - 1);
            let len = end + 1 - start;
            if len <= MAX_GAP && Self::isolated(w, start, end, k) && w.runs.len() < MAX_RUNS {
                w.runs.push((start, len));
            }
            i = end + 1;
        }
        if w.runs.is_empty() {
            return 0;
        }
        // The model was fitted with the clicks in it, which whitens it;
        // refit it on the music alone (the runs and a margin left out)
        // before interpolating across them.
        // Keep each run's damaged samples, to fall back on.
        for r in 0..w.runs.len() {
            let (start, len) = w.runs[r];
            w.saved[r * MAX_GAP..r * MAX_GAP + len].copy_from_slice(&x[start..start + len]);
        }
        // A repair is plausible when it is no louder (RMS) than
        // [`PLAUSIBLE`] times the louder side of the music around it.
        let plausible = |x: &[f32], start: usize, len: usize| -> bool {
            let rms = |v: &[f32]| {
                (v.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / v.len().max(1) as f64)
                    .sqrt()
            };
            let before = rms(&x[start.saturating_sub(CONTEXT)..start]);
            let after = rms(&x[start + len..(start + len + CONTEXT).min(x.len())]);
            let r = rms(&x[start..start + len]);
            r.is_finite() && r <= PLAUSIBLE * before.max(after) + 1e-9
        };
        for r in 0..w.runs.len() {
            let (start, len) = w.runs[r];
            if !Self::interpolate(x, start, len, w) || !plausible(x, start, len) {
                x[start..start + len].copy_from_slice(&w.saved[r * MAX_GAP..r * MAX_GAP + len]);
                w.runs[r].1 = 0;
            }
        }
        // Long gaps in dense music need a model of higher order than
        // detection does. LSAR reads only the samples around a gap, so the
        // first pass's repairs are redone with a model fitted to the
        // repaired buffer (the clicks no longer in it), each kept only if
        // plausible.
        let longest = w.runs.iter().map(|r| r.1).max().unwrap_or(0);
        let order = (5 * longest).clamp(2 * ORDER, MAX_ORDER);
        // Fitted on the music around the gaps (REFIT_SPAN × the order either
        // side of them), not the whole buffer: the cost of a high order.
        let span = REFIT_SPAN * order;
        let first = w.runs.iter().map(|r| r.0).min().unwrap_or(0);
        let last = w.runs.iter().map(|r| r.0 + r.1).max().unwrap_or(0);
        let (a, b) = (first.saturating_sub(span), (last + span).min(x.len()));
        if Self::burg(&x[a..b], w, order) {
            for r in 0..w.runs.len() {
                let (start, len) = w.runs[r];
                if len == 0 {
                    continue;
                }
                w.first[..len].copy_from_slice(&x[start..start + len]);
                if !Self::interpolate(x, start, len, w) || !plausible(x, start, len) {
                    x[start..start + len].copy_from_slice(&w.first[..len]);
                }
            }
        }
        let count = w.runs.iter().filter(|r| r.1 > 0).count() as u64;
        w.runs.clear();
        count
    }

    /// Fit the AR model to the whole buffer by Burg's method; false when
    /// the buffer is silent.
    fn burg(x: &[f32], w: &mut Work, order: usize) -> bool {
        let n = x.len();
        for ((f, b), v) in w.f.iter_mut().zip(w.b.iter_mut()).zip(x.iter()) {
            *f = f64::from(*v);
            *b = f64::from(*v);
        }
        w.a = [0.0; MAX_ORDER + 1];
        w.a[0] = 1.0;
        w.order = order;
        let energy: f64 = w.f.iter().map(|v| v * v).sum();
        if energy < 1e-12 {
            return false;
        }
        for m in 1..=order {
            // Σ f[i]·b[i−1] and Σ f[i]² + b[i−1]² over i in m..n, in four
            // independent lanes (the sums pipeline and vectorize).
            let (f, b) = (&w.f[m..n], &w.b[m - 1..n - 1]);
            let (mut nums, mut dens) = ([0.0f64; 4], [0.0f64; 4]);
            let (fc, bc) = (f.chunks_exact(4), b.chunks_exact(4));
            let (fr, br) = (fc.remainder(), bc.remainder());
            for (fq, bq) in fc.zip(bc) {
                for l in 0..4 {
                    nums[l] += fq[l] * bq[l];
                    dens[l] += fq[l] * fq[l] + bq[l] * bq[l];
                }
            }
            let mut num = (nums[0] + nums[1]) + (nums[2] + nums[3]);
            let mut den = (dens[0] + dens[1]) + (dens[2] + dens[3]);
            for (fi, bi) in fr.iter().zip(br) {
                num += fi * bi;
                den += fi * fi + bi * bi;
            }
            let km = if den > 0.0 { -2.0 * num / den } else { 0.0 };
            // f[i] += km·b[i−1]; b'[i] = b[i−1] + km·f[i] (old f), the new
            // b written to a second buffer so the loop has no carried
            // dependence.
            for ((fi, bi), nb) in w.f[m..n]
                .iter_mut()
                .zip(&w.b[m - 1..n - 1])
                .zip(&mut w.b2[m..n])
            {
                let f0 = *fi;
                *fi = f0 + km * bi;
                *nb = bi + km * f0;
            }
            std::mem::swap(&mut w.b, &mut w.b2);
            w.a_tmp = w.a;
            for i in 1..=m {
                w.a[i] = w.a_tmp[i] + km * w.a_tmp[m - i];
            }
        }
        true
    }

    /// Whether the run `start..=end` stands alone: its largest prediction
    /// error is more than `2·k` times the mean forward error on either
    /// side of it (16 to 256 samples away, each side on its own). A click is a few samples the model cannot
    /// predict amid music it predicts well; a piano's note onset or hammer
    /// thump leaves the model unable to predict for many samples, so the
    /// error around it is high too, and it is left alone.
    fn isolated(w: &Work, start: usize, end: usize, k: f64) -> bool {
        let peak = w.ef[start..=end]
            .iter()
            .chain(&w.eb[start..=end])
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let mean = |r: std::ops::Range<usize>| {
            let n = r.len();
            if n == 0 {
                0.0
            } else {
                r.map(|i| w.ef[i].abs()).sum::<f64>() / n as f64
            }
        };
        let before = mean(start.saturating_sub(NEIGHBOURHOOD)..start.saturating_sub(GUARD));
        let after = mean((end + GUARD + 1)..(end + NEIGHBOURHOOD + 1).min(w.ef.len()));
        peak > 2.0 * k * before.max(after)
    }

    /// LSAR: replace x[start..start+len] by the values minimizing the AR
    /// prediction error; returns false if the system is not solvable.
    fn interpolate(x: &mut [f32], start: usize, len: usize, w: &mut Work) -> bool {
        let a = &w.a;
        let p = w.order;
        // r[k] = Σ a_l a_{l+k}
        let mut r = [0.0f64; MAX_ORDER + 1];
        for (k, rk) in r.iter_mut().enumerate().take(p + 1) {
            *rk = (0..=p - k).map(|l| a[l] * a[l + k]).sum();
        }
        let mat = &mut w.mat[..len * len];
        for i in 0..len {
            for j in 0..len {
                let d = i.abs_diff(j);
                mat[i * len + j] = if d <= p { r[d] } else { 0.0 };
            }
        }
        // rhs_i = −Σ_n a_{n−t_i} e_known[n], n over the equations touching
        // t_i, where e_known[n] = Σ_{known j} a_{n−j} x_j (computed once
        // per equation: O((len + p)·p)).
        let ek = &mut w.e_known[..len + p];
        for (m, e) in ek.iter_mut().enumerate() {
            let n = start + m;
            let mut acc = 0.0;
            for (q, aq) in a.iter().enumerate().take(p + 1) {
                let j = n - q;
                if j < start || j >= start + len {
                    acc += aq * f64::from(x[j]);
                }
            }
            *e = acc;
        }
        for i in 0..len {
            let acc: f64 = (0..=p).map(|l| a[l] * ek[i + l]).sum();
            w.rhs[i] = -acc;
        }
        // Cholesky in place (lower triangle).
        for j in 0..len {
            let mut d = mat[j * len + j];
            for k in 0..j {
                d -= mat[j * len + k] * mat[j * len + k];
            }
            if d <= 1e-18 {
                return false;
            }
            let d = d.sqrt();
            mat[j * len + j] = d;
            for i in j + 1..len {
                let mut s = mat[i * len + j];
                for k in 0..j {
                    s -= mat[i * len + k] * mat[j * len + k];
                }
                mat[i * len + j] = s / d;
            }
        }
        let rhs = &mut w.rhs[..len];
        for i in 0..len {
            let mut s = rhs[i];
            for k in 0..i {
                s -= mat[i * len + k] * rhs[k];
            }
            rhs[i] = s / mat[i * len + i];
        }
        for i in (0..len).rev() {
            let mut s = rhs[i];
            for k in i + 1..len {
                s -= mat[k * len + i] * rhs[k];
            }
            rhs[i] = s / mat[i * len + i];
        }
        for (i, v) in rhs.iter().enumerate() {
            x[start + i] = *v as f32;
        }
        true
    }
}

impl Processor for Declick {
    fn name(&self) -> &'static str {
        "declick"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        for f in 0..block.frames {
            let pos = self.pos;
            for (ch, buf) in block.channels.iter_mut().zip(&mut self.bufs) {
                let x = ch[f];
                ch[f] = buf[pos];
                buf[2 * HOP + pos] = x;
            }
            self.pos += 1;
            if self.pos == HOP {
                // [past | middle | newest]: repair the middle with context on
                // both sides, then shift so it is emitted during the next hop.
                self.pos = 0;
                let k = self.k;
                for buf in &mut self.bufs {
                    self.repaired += Self::analyze_channel(k, buf, &mut self.work);
                    buf.copy_within(HOP.., 0);
                }
            }
        }
    }

    fn reset(&mut self) {
        for b in &mut self.bufs {
            b.iter_mut().for_each(|v| *v = 0.0);
        }
        self.pos = 0;
    }

    fn latency(&self) -> usize {
        2 * HOP
    }
}
