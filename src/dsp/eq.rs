//! Parametric EQ: up to 8 bands of bell, shelves and Butterworth pass
//! filters (12/24/48 dB/oct), each on stereo, mid only or side only.
//!
//! Bands are magnitude-matched biquads ([`super::biquad::matched`]), so
//! their shape near Nyquist matches the analog design at 44.1 kHz as well as
//! at 96 kHz. Frequency (in log), gain and Q are smoothed over 20 ms and the
//! coefficients recomputed every 32 frames while they move.

use super::Processor;
use super::biquad::{
    Biquad, Coeffs, PairSection, Prototype, butterworth_qs, cascade_pair, matched,
};
use super::smoother::Smoother;
use crate::audio::AudioBlock;
use crate::session::chain::{BandConfig, BandKind, ChannelMode, EqConfig, MAX_EQ_BANDS};

const SUB: usize = 32;
/// Frames a mono block goes through the cascade at once (with as many
/// frames of silence on the stack for the idle lane).
const MONO_CHUNK: usize = 512;
const MAX_SECTIONS: usize = 4;

#[derive(Debug, Clone)]
struct Band {
    cfg: BandConfig,
    log_freq: Smoother,
    gain_db: Smoother,
    q: Smoother,
    sections: usize,
    /// `filters[slot][section]`; slot 0 = left or mid, 1 = right or side.
    filters: [[Biquad; MAX_SECTIONS]; 2],
    /// While parameters move: per-sample coefficient increments towards the
    /// design at the end of the current sub-block.
    deltas: [Coeffs; MAX_SECTIONS],
    ramping: bool,
}

impl Band {
    fn new(cfg: &BandConfig, rate: f64) -> Self {
        let mut b = Self {
            cfg: cfg.clone(),
            log_freq: Smoother::new(cfg.freq_hz.ln(), 20.0, rate),
            gain_db: Smoother::new(cfg.gain_db, 20.0, rate),
            q: Smoother::new(cfg.q, 20.0, rate),
            sections: 1,
            filters: [[Biquad::default(); MAX_SECTIONS]; 2],
            deltas: [Coeffs::IDENTITY; MAX_SECTIONS],
            ramping: false,
        };
        let targets = b.design(rate);
        for slot in &mut b.filters {
            for (bq, t) in slot.iter_mut().zip(&targets) {
                bq.c = *t;
            }
        }
        b
    }

    /// Coefficients for the current smoothed parameters.
    fn design(&mut self, rate: f64) -> [Coeffs; MAX_SECTIONS] {
        let f = self.log_freq.current().exp();
        let g = self.gain_db.current();
        let q = self.q.current();
        let mut out = [Coeffs::IDENTITY; MAX_SECTIONS];
        let mut set = |n: usize, coeffs: &dyn Fn(usize) -> Coeffs| {
            self.sections = n;
            for (i, c) in out.iter_mut().enumerate().take(n) {
                *c = coeffs(i);
            }
        };
        match self.cfg.kind {
            BandKind::Bell => set(1, &|_| matched(Prototype::Bell { gain_db: g }, f, q, rate)),
            BandKind::LowShelf => set(1, &|_| {
                matched(Prototype::LowShelf { gain_db: g }, f, q, rate)
            }),
            BandKind::HighShelf => set(1, &|_| {
                matched(Prototype::HighShelf { gain_db: g }, f, q, rate)
            }),
            BandKind::HighPass | BandKind::LowPass => {
                let order = (self.cfg.slope_db_oct / 6) as usize;
                let qs = butterworth_qs(order);
                let proto = if self.cfg.kind == BandKind::HighPass {
                    Prototype::HighPass
                } else {
                    Prototype::LowPass
                };
                set(qs.len(), &|i| matched(proto, f, qs[i], rate));
            }
        }
        out
    }

    /// Start a linear coefficient ramp over `n` samples towards `targets`.
    fn start_ramp(&mut self, targets: &[Coeffs; MAX_SECTIONS], n: usize) {
        let k = 1.0 / n as f64;
        for (i, d) in self.deltas.iter_mut().enumerate() {
            let c = self.filters[0][i].c;
            let t = targets[i];
            *d = Coeffs {
                b0: (t.b0 - c.b0) * k,
                b1: (t.b1 - c.b1) * k,
                b2: (t.b2 - c.b2) * k,
                a1: (t.a1 - c.a1) * k,
                a2: (t.a2 - c.a2) * k,
            };
        }
        self.ramping = true;
    }

    fn moving(&self) -> bool {
        self.log_freq.is_moving() || self.gain_db.is_moving() || self.q.is_moving()
    }

    fn applies_to(&self, slot: usize, ms: bool) -> bool {
        if !self.cfg.enabled {
            return false;
        }
        match self.cfg.channels {
            ChannelMode::Stereo => true,
            // Without mid/side (mono material) the signal is all mid.
            ChannelMode::Mid => !ms || slot == 0,
            ChannelMode::Side => ms && slot == 1,
        }
    }
}

/// The parametric EQ module.
#[derive(Debug, Clone)]
pub struct Eq {
    rate: f64,
    channels: usize,
    bands: Vec<Band>,
}

impl Eq {
    /// An EQ for `channels` channels at `rate` Hz.
    pub fn new(cfg: &EqConfig, rate: u32, channels: usize) -> Self {
        let rate = f64::from(rate);
        let mut bands = Vec::with_capacity(MAX_EQ_BANDS);
        for b in cfg.bands.iter().take(MAX_EQ_BANDS) {
            bands.push(Band::new(b, rate));
        }
        Self {
            rate,
            channels,
            bands,
        }
    }

    /// Whether `cfg` can be applied in place (same band count and shapes).
    pub fn same_structure(&self, cfg: &EqConfig) -> bool {
        cfg.bands.len() == self.bands.len()
            && cfg.bands.iter().zip(&self.bands).all(|(a, b)| {
                a.kind == b.cfg.kind
                    && a.slope_db_oct == b.cfg.slope_db_oct
                    && a.channels == b.cfg.channels
            })
    }

    /// Apply new parameter values (smoothed); the structure must match.
    pub fn set_config(&mut self, cfg: &EqConfig) {
        for (b, c) in self.bands.iter_mut().zip(&cfg.bands) {
            b.log_freq.set(c.freq_hz.ln());
            b.gain_db.set(c.gain_db);
            b.q.set(c.q);
            b.cfg.enabled = c.enabled;
            b.cfg.freq_hz = c.freq_hz;
            b.cfg.gain_db = c.gain_db;
            b.cfg.q = c.q;
        }
    }

    /// Every band's sections over the first two channels of `block` (a
    /// mono block's one channel in the first lane, the second idle), all
    /// bands at rest (no parameter moving): one cascade ([`cascade_pair`]),
    /// so a channel comes out the same whether it is alone or one of a
    /// pair.
    fn cascade(&mut self, block: &mut AudioBlock, ms: bool) {
        let mono = block.channels.len() < 2;
        let mut sections = [PairSection {
            filters: [Biquad::default(); 2],
            active: [false; 2],
        }; MAX_EQ_BANDS * MAX_SECTIONS];
        let mut count = 0;
        for band in &self.bands {
            let active = [band.applies_to(0, ms), band.applies_to(1, ms) && !mono];
            if active == [false, false] {
                continue;
            }
            for i in 0..band.sections {
                sections[count] = PairSection {
                    filters: [band.filters[0][i], band.filters[1][i]],
                    active,
                };
                count += 1;
            }
        }
        let frames = block.frames;
        if mono {
            // The second lane idles on silence, a stack chunk at a time.
            let mut idle = [0.0f32; MONO_CHUNK];
            for c in block.channels[0][..frames].chunks_mut(MONO_CHUNK) {
                let n = c.len();
                cascade_pair(&mut sections[..count], c, &mut idle[..n]);
            }
        } else {
            let (l, r) = block.channels.split_at_mut(1);
            cascade_pair(
                &mut sections[..count],
                &mut l[0][..frames],
                &mut r[0][..frames],
            );
        }
        let mut k = 0;
        for band in &mut self.bands {
            let active = [band.applies_to(0, ms), band.applies_to(1, ms) && !mono];
            if active == [false, false] {
                continue;
            }
            for i in 0..band.sections {
                for (slot, on) in active.iter().enumerate() {
                    if *on {
                        band.filters[slot][i] = sections[k].filters[slot];
                    }
                }
                k += 1;
            }
        }
    }

    fn mid_side(&self) -> bool {
        self.channels == 2
            && self
                .bands
                .iter()
                .any(|b| b.cfg.enabled && b.cfg.channels != ChannelMode::Stereo)
    }
}

impl Processor for Eq {
    fn name(&self) -> &'static str {
        "eq"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        let ms = self.mid_side();
        let frames = block.frames;
        if ms {
            let (l, r) = block.channels.split_at_mut(1);
            for (a, b) in l[0][..frames].iter_mut().zip(&mut r[0][..frames]) {
                let m = 0.5 * (*a + *b);
                let s = 0.5 * (*a - *b);
                *a = m;
                *b = s;
            }
        }
        let still = self.bands.iter().all(|b| !b.moving() && !b.ramping);
        let mut pos = if still && !block.channels.is_empty() {
            self.cascade(block, ms);
            frames
        } else {
            0
        };
        while pos < frames {
            let n = SUB.min(frames - pos);
            for band in &mut self.bands {
                if band.moving() {
                    // Design for the end of this sub-block and glide there
                    // sample by sample, so the coefficients never step.
                    band.log_freq.advance(n);
                    band.gain_db.advance(n);
                    band.q.advance(n);
                    let targets = band.design(self.rate);
                    band.start_ramp(&targets, n);
                } else if band.ramping {
                    band.ramping = false;
                }
                let sections = band.sections;
                let ramping = band.ramping;
                let deltas = band.deltas;
                if !ramping
                    && block.channels.len() >= 2
                    && band.applies_to(0, ms)
                    && band.applies_to(1, ms)
                {
                    // Both channels through each section in one loop: two
                    // independent recurrences side by side. Each channel's
                    // arithmetic, and so its result, is the loop below's.
                    let (l, r) = block.channels.split_at_mut(1);
                    let (fl, fr) = band.filters.split_at_mut(1);
                    for (a, b) in fl[0].iter_mut().zip(fr[0].iter_mut()).take(sections) {
                        for (x, y) in l[0][pos..pos + n].iter_mut().zip(&mut r[0][pos..pos + n]) {
                            *x = a.tick(f64::from(*x)) as f32;
                            *y = b.tick(f64::from(*y)) as f32;
                        }
                    }
                    continue;
                }
                for (slot, ch) in block.channels.iter_mut().enumerate().take(2) {
                    let active = band.applies_to(slot, ms);
                    for (i, bq) in band.filters[slot].iter_mut().enumerate().take(sections) {
                        if ramping {
                            let d = deltas[i];
                            for s in &mut ch[pos..pos + n] {
                                bq.c.b0 += d.b0;
                                bq.c.b1 += d.b1;
                                bq.c.b2 += d.b2;
                                bq.c.a1 += d.a1;
                                bq.c.a2 += d.a2;
                                let y = bq.tick(f64::from(*s));
                                if active {
                                    *s = y as f32;
                                }
                            }
                        } else if active {
                            for s in &mut ch[pos..pos + n] {
                                *s = bq.tick(f64::from(*s)) as f32;
                            }
                        }
                    }
                }
            }
            pos += n;
        }
        for band in &mut self.bands {
            for slot in &mut band.filters {
                slot.iter_mut().for_each(Biquad::flush_denormals);
            }
        }
        if ms {
            let (l, r) = block.channels.split_at_mut(1);
            for (a, b) in l[0][..frames].iter_mut().zip(&mut r[0][..frames]) {
                let m = *a;
                let s = *b;
                *a = m + s;
                *b = m - s;
            }
        }
    }

    fn reset(&mut self) {
        for b in &mut self.bands {
            for slot in &mut b.filters {
                slot.iter_mut().for_each(Biquad::reset);
            }
        }
    }
}
