//! Gain / trim with a smoothed gain (no zipper noise on changes).

use super::Processor;
use super::smoother::Smoother;
use crate::audio::AudioBlock;
use crate::session::chain::GainConfig;
use crate::units::db_to_linear;

/// Applies a smoothed gain in dB.
#[derive(Debug, Clone)]
pub struct Gain {
    gain: Smoother,
}

impl Gain {
    /// A gain module at `rate` Hz.
    pub fn new(cfg: &GainConfig, rate: u32) -> Self {
        Self {
            gain: Smoother::new(db_to_linear(cfg.gain_db), 20.0, f64::from(rate)),
        }
    }

    /// Change the settings (smoothed).
    pub fn set_config(&mut self, cfg: &GainConfig) {
        self.gain.set(db_to_linear(cfg.gain_db));
    }

    /// Set the gain directly, dB (smoothed).
    pub fn set_gain_db(&mut self, db: f64) {
        self.gain.set(db_to_linear(db));
    }
}

/// Multiply every channel of `block` by a smoothed gain; shared by modules.
pub fn apply_smoothed_gain(gain: &mut Smoother, block: &mut AudioBlock) {
    if !gain.is_moving() {
        let g = gain.current() as f32;
        if g != 1.0 {
            for ch in &mut block.channels {
                for s in &mut ch[..block.frames] {
                    *s *= g;
                }
            }
        }
        return;
    }
    let start = *gain;
    for ch in &mut block.channels {
        let mut gs = start;
        for s in &mut ch[..block.frames] {
            *s = (f64::from(*s) * gs.tick()) as f32;
        }
        *gain = gs;
    }
}

impl Processor for Gain {
    fn name(&self) -> &'static str {
        "gain"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        apply_smoothed_gain(&mut self.gain, block);
    }

    fn reset(&mut self) {
        let t = self.gain.target();
        self.gain.jump(t);
    }
}
