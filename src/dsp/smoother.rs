//! Parameter smoothing: one smoother per continuous parameter.

/// Exponential (one-pole) smoother towards a target, settling to within
/// 0.1 % in about `time_ms` (the time constant is `time_ms / 7`).
#[derive(Debug, Clone, Copy)]
pub struct Smoother {
    current: f64,
    target: f64,
    coeff: f64,
}

impl Smoother {
    /// A smoother starting at `value`, settling in `time_ms` at `rate` Hz.
    pub fn new(value: f64, time_ms: f64, rate: f64) -> Self {
        Self {
            current: value,
            target: value,
            coeff: super::one_pole_coeff(time_ms / 7.0, rate),
        }
    }

    /// Set a new target.
    pub fn set(&mut self, target: f64) {
        self.target = target;
    }

    /// Jump to `value` at once (used on reset, never while audio plays).
    pub fn jump(&mut self, value: f64) {
        self.current = value;
        self.target = value;
    }

    /// The target value.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// The current value.
    pub fn current(&self) -> f64 {
        self.current
    }

    /// True while still moving.
    pub fn is_moving(&self) -> bool {
        (self.current - self.target).abs() > 1e-9 * (1.0 + self.target.abs())
    }

    /// Advance one sample and return the new value.
    #[inline]
    pub fn tick(&mut self) -> f64 {
        self.current = self.target + (self.current - self.target) * self.coeff;
        if !self.is_moving() {
            self.current = self.target;
        }
        self.current
    }

    /// Advance `n` samples at once and return the new value.
    pub fn advance(&mut self, n: usize) -> f64 {
        self.current = self.target + (self.current - self.target) * self.coeff.powi(n as i32);
        if !self.is_moving() {
            self.current = self.target;
        }
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_in_the_stated_time() {
        let mut s = Smoother::new(0.0, 20.0, 48_000.0);
        s.set(1.0);
        let mut v = 0.0;
        for _ in 0..960 {
            v = s.tick();
        }
        assert!((v - 1.0).abs() < 1e-3, "after 20 ms: {v}");
        // And it moves smoothly: no step larger than the first.
        let mut s = Smoother::new(0.0, 20.0, 48_000.0);
        s.set(1.0);
        let first = s.tick();
        assert!(first < 0.01);
    }
}
