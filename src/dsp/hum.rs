//! Hum removal: narrow notches at the mains frequency and its harmonics,
//! each about 3 Hz wide (constant bandwidth, so the harmonics are notched as
//! narrowly as the fundamental).

use super::Processor;
use super::biquad::{Biquad, notch};
use crate::audio::AudioBlock;
use crate::session::chain::HumConfig;

/// Notch bandwidth, Hz.
const BANDWIDTH_HZ: f64 = 3.0;

/// The hum removal module.
#[derive(Debug, Clone)]
pub struct Hum {
    rate: f64,
    count: usize,
    filters: Vec<[Biquad; 8]>,
}

impl Hum {
    /// A hum remover for `channels` channels at `rate` Hz.
    pub fn new(cfg: &HumConfig, rate: u32, channels: usize) -> Self {
        let mut h = Self {
            rate: f64::from(rate),
            count: 0,
            filters: vec![[Biquad::default(); 8]; channels],
        };
        h.set_config(cfg);
        h
    }

    /// Apply new settings.
    pub fn set_config(&mut self, cfg: &HumConfig) {
        let nyq = self.rate * 0.45;
        self.count = (1..=cfg.harmonics as usize)
            .take_while(|k| cfg.freq_hz * (*k as f64) < nyq)
            .count();
        for ch in &mut self.filters {
            for (k, bq) in ch.iter_mut().enumerate().take(self.count) {
                let f = cfg.freq_hz * (k + 1) as f64;
                bq.c = notch(f, f / BANDWIDTH_HZ, self.rate);
            }
        }
    }
}

impl Processor for Hum {
    fn name(&self) -> &'static str {
        "hum"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        let frames = block.frames;
        for (ch, filters) in block.channels.iter_mut().zip(&mut self.filters) {
            for bq in filters.iter_mut().take(self.count) {
                for s in &mut ch[..frames] {
                    *s = bq.tick(f64::from(*s)) as f32;
                }
                bq.flush_denormals();
            }
        }
    }

    fn reset(&mut self) {
        for ch in &mut self.filters {
            ch.iter_mut().for_each(Biquad::reset);
        }
    }
}
