//! The few things every layer shares: the planar audio block and the
//! true-peak interpolator. Nothing here imports anything else of lathe, so
//! the processors (`dsp`), the meters (`analysis`) and the file I/O (`io`)
//! can all use it without importing each other.
//!
//! Audio moves through lathe as **planar `f32`** blocks ([`AudioBlock`]): one
//! `Vec<f32>` per channel, samples nominally in −1.0..=1.0 (0 dBFS = 1.0).

pub mod bands;
pub mod hum;
pub mod interp;
pub mod longterm;
pub mod noise;

/// Whether the CPU has fused multiply-add (x86-64's FMA3; false on other
/// architectures): where it does, the fused kernels run and their tests
/// check them against the plain arithmetic.
pub fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The periodic Hann window of `len` points: w[n] = ½ − ½·cos(2πn/len)
/// (the FFT analyzers' and the match filter's window).
pub fn hann(len: usize) -> impl Iterator<Item = f64> {
    (0..len).map(move |n| 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / len as f64).cos())
}

/// Modified Bessel function of the first kind, order 0 (for the Kaiser window).
pub fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..200 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// A planar block of audio: `channels[c][i]` is frame `i` of channel `c`.
///
/// Capacity is fixed when the block is made; `frames` says how many frames
/// are valid. Reading into a block never reallocates it.
#[derive(Debug, Clone)]
pub struct AudioBlock {
    /// One buffer per channel, each at least `capacity` samples long.
    pub channels: Vec<Vec<f32>>,
    /// Number of valid frames in each channel buffer.
    pub frames: usize,
}

impl AudioBlock {
    /// A silent block of `channels` channels that can hold `capacity` frames.
    pub fn new(channels: usize, capacity: usize) -> Self {
        Self {
            channels: vec![vec![0.0; capacity]; channels],
            frames: 0,
        }
    }

    /// Number of channels.
    pub fn num_channels(&self) -> usize {
        self.channels.len()
    }

    /// Maximum number of frames the block can hold.
    pub fn capacity(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// The valid samples of channel `c`.
    pub fn channel(&self, c: usize) -> &[f32] {
        &self.channels[c][..self.frames]
    }
}
