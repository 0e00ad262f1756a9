//! The dense test material of the render and FLAC benchmarks: per channel a
//! kick every half second, low-passed white noise and a tone, at `level`,
//! clamped to full scale: loud, noisy, hard to compress.

/// A stereo generator of that material.
pub struct Dense {
    x: u64,
    lp: [f64; 2],
    rate: f64,
    level: f64,
}

impl Dense {
    /// Material at `rate` Hz and `level` (linear), noise from `seed`.
    pub fn new(seed: u64, rate: u32, level: f64) -> Self {
        Self {
            x: seed | 1,
            lp: [0.0; 2],
            rate: f64::from(rate),
            level,
        }
    }

    /// Frame `i` (called with i = 0, 1, 2, …), both channels in −1..=1.
    pub fn frame(&mut self, i: usize) -> [f64; 2] {
        let t = i as f64 / self.rate;
        let bt = t % 0.5;
        let kick = (std::f64::consts::TAU * (50.0 + 100.0 * (-bt * 30.0).exp()) * bt).sin()
            * (-bt * 8.0).exp();
        let mut out = [0.0; 2];
        for (c, (l, o)) in self.lp.iter_mut().zip(&mut out).enumerate() {
            self.x ^= self.x << 13;
            self.x ^= self.x >> 7;
            self.x ^= self.x << 17;
            let white = (self.x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            *l += 0.3 * (white - *l);
            let tone = (std::f64::consts::TAU * (110.0 + 55.0 * c as f64) * t).sin() * 0.2;
            *o = (self.level * (0.3 * kick + 0.4 * *l + tone)).clamp(-1.0, 1.0);
        }
        out
    }
}
