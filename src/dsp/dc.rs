//! DC removal: a one-pole, one-zero high-pass per channel (default 5 Hz).

use super::Processor;
use crate::audio::AudioBlock;
use crate::session::chain::DcConfig;

/// Removes DC offset.
#[derive(Debug, Clone)]
pub struct DcRemoval {
    r: f64,
    rate: f64,
    x1: Vec<f64>,
    y1: Vec<f64>,
}

impl DcRemoval {
    /// A DC blocker for `channels` channels at `rate` Hz.
    pub fn new(cfg: &DcConfig, rate: u32, channels: usize) -> Self {
        let mut d = Self {
            r: 0.0,
            rate: f64::from(rate),
            x1: vec![0.0; channels],
            y1: vec![0.0; channels],
        };
        d.set_config(cfg);
        d
    }

    /// Change the corner frequency.
    pub fn set_config(&mut self, cfg: &DcConfig) {
        self.r = (-2.0 * std::f64::consts::PI * cfg.cutoff_hz / self.rate).exp();
    }
}

impl Processor for DcRemoval {
    fn name(&self) -> &'static str {
        "dc-removal"
    }

    fn process(&mut self, block: &mut AudioBlock) {
        for (c, ch) in block.channels.iter_mut().enumerate() {
            let (mut x1, mut y1) = (self.x1[c], self.y1[c]);
            for s in &mut ch[..block.frames] {
                let x = f64::from(*s);
                let y = x - x1 + self.r * y1;
                x1 = x;
                y1 = if y.abs() < 1e-30 { 0.0 } else { y };
                *s = y as f32;
            }
            self.x1[c] = x1;
            self.y1[c] = y1;
        }
    }

    fn reset(&mut self) {
        self.x1.iter_mut().for_each(|v| *v = 0.0);
        self.y1.iter_mut().for_each(|v| *v = 0.0);
    }
}
