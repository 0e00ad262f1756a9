//! A device at another rate than the plan's: the player's finished output
//! converted in the callback, so everything before it (the chain, the
//! limiter, the fades and crossfades, the meters) runs at the delivery rate
//! exactly as the render runs it.
//!
//! rubato's sinc resampler with a fixed input chunk; every buffer is made
//! here, so converting allocates nothing (`process_into_buffer`).

use crate::io::resample::process_planar;
use rubato::{Async, FixedAsync, Resampler as _};

/// Plan-rate frames the player renders per conversion step.
const CHUNK: usize = 64;

/// Converts the player's stereo output from the plan's rate to the device's.
pub struct OutputConverter {
    rs: Async<f32>,
    inb: Vec<Vec<f32>>,
    scratch: Vec<f32>,
    outb: Vec<Vec<f32>>,
    out_pos: usize,
    out_len: usize,
}

impl OutputConverter {
    /// A converter from `from` Hz (the plan) to `to` Hz (the device).
    pub fn new(from: u32, to: u32) -> Result<Self, String> {
        let params = rubato::SincInterpolationParameters {
            sinc_len: 128,
            f_cutoff: Some(0.95),
            oversampling_factor: 256,
            interpolation: rubato::SincInterpolationType::Cubic,
            window: rubato::WindowFunction::BlackmanHarris2,
        };
        let ratio = f64::from(to) / f64::from(from);
        let rs = Async::<f32>::new_sinc(ratio, 1.0, &params, CHUNK, 2, FixedAsync::Input)
            .map_err(|e| format!("output converter {from} → {to} Hz: {e}"))?;
        Ok(Self {
            inb: vec![vec![0.0; CHUNK]; 2],
            scratch: vec![0.0; CHUNK * 2],
            outb: vec![vec![0.0; rs.output_frames_max()]; 2],
            rs,
            out_pos: 0,
            out_len: 0,
        })
    }

    /// Delay the conversion adds, in device frames.
    pub fn delay(&self) -> usize {
        self.rs.output_delay()
    }

    /// Fill `out` (interleaved, `channels` per frame) with converted audio,
    /// asking `pull` for [`CHUNK`] interleaved stereo frames at a time at the
    /// plan's rate. No allocation.
    pub fn render(&mut self, out: &mut [f32], channels: usize, mut pull: impl FnMut(&mut [f32])) {
        let channels = channels.max(1);
        let n = out.len() / channels;
        let mut i = 0;
        while i < n {
            if self.out_pos == self.out_len {
                pull(&mut self.scratch);
                for (k, v) in self.scratch.iter().enumerate() {
                    self.inb[k % 2][k / 2] = *v;
                }
                match process_planar(&mut self.rs, &self.inb, CHUNK, &mut self.outb) {
                    Some(written) => {
                        self.out_pos = 0;
                        self.out_len = written;
                    }
                    None => break,
                }
                continue;
            }
            let take = (self.out_len - self.out_pos).min(n - i);
            for f in 0..take {
                for c in 0..channels {
                    out[(i + f) * channels + c] = self.outb[c.min(1)][self.out_pos + f];
                }
            }
            self.out_pos += take;
            i += take;
        }
        out[i * channels..].iter_mut().for_each(|s| *s = 0.0);
    }
}
