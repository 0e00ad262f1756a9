//! Where each track sits on the album's timeline: start, length, fades,
//! crossfades and gaps, in frames at one sample rate. The album render and
//! the playback engine both place tracks with [`Timeline::album`], so what
//! you hear between tracks is what the album file holds.

use crate::session::album::FadeCurve;

/// One track on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// First frame of the track on the timeline, samples.
    pub start: u64,
    /// Length of the (trimmed, converted) track, samples.
    pub len: u64,
    /// Fade-in length, samples.
    pub fade_in: u64,
    /// Fade-out length, samples.
    pub fade_out: u64,
    /// Fade shape.
    pub curve: FadeCurve,
    /// Crossfade with the previous track (overlap at this track's head), samples.
    pub xf_in: u64,
    /// Crossfade with the next track (overlap at this track's tail), samples.
    pub xf_out: u64,
}

impl Span {
    /// A span with no fades.
    pub fn plain(start: u64, len: u64) -> Self {
        Self {
            start,
            len,
            fade_in: 0,
            fade_out: 0,
            curve: FadeCurve::Linear,
            xf_in: 0,
            xf_out: 0,
        }
    }

    /// One past the last frame, samples.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }

    /// Fade gain (linear) at frame `j` of the track: the render applies it
    /// after the limiter.
    pub fn fade_gain(&self, j: u64) -> f64 {
        let mut g = 1.0;
        if j < self.fade_in {
            g *= self.curve.gain(j as f64 / self.fade_in as f64);
        }
        if self.fade_out > 0 && j + self.fade_out >= self.len {
            g *= self
                .curve
                .gain((self.len - 1 - j) as f64 / self.fade_out as f64);
        }
        g
    }

    /// Crossfade weight (linear) at frame `j`: complementary linear gains
    /// over each overlap, so the sum never exceeds the louder side.
    pub fn crossfade_gain(&self, j: u64) -> f64 {
        if j < self.xf_in {
            return (j as f64 + 0.5) / self.xf_in as f64;
        }
        if self.xf_out > 0 && j + self.xf_out >= self.len {
            let q = j + self.xf_out - self.len;
            return 1.0 - (q as f64 + 0.5) / self.xf_out as f64;
        }
        1.0
    }
}

/// Tracks placed on one timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Sample rate of the timeline, Hz.
    pub rate: u32,
    /// The tracks in play order.
    pub spans: Vec<Span>,
}

/// What [`Timeline::album`] needs to know of a track.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// Length at the timeline rate, samples.
    pub len: u64,
    /// Silence before the track, s.
    pub gap_s: f64,
    /// Crossfade with the previous track (ignored when there is a gap), s.
    pub crossfade_s: f64,
    /// Fade-in, s.
    pub fade_in_s: f64,
    /// Fade-out, s.
    pub fade_out_s: f64,
    /// Fade shape.
    pub curve: FadeCurve,
}

impl Timeline {
    /// One track from frame 0 (`len` may be `u64::MAX` for "until the end").
    pub fn single(rate: u32, len: u64) -> Self {
        Self {
            rate,
            spans: vec![Span::plain(0, len)],
        }
    }

    /// Place album tracks: each gap is silence rounded up so the track
    /// starts on a CD frame (1/75 s, when the rate is a multiple of 75);
    /// with no gap a crossfade overlaps the previous track's tail (at most
    /// half of either track); gap 0 and no crossfade is gapless.
    pub fn album(rate: u32, tracks: &[Placement]) -> Self {
        let cd_frame = if rate.is_multiple_of(75) {
            u64::from(rate / 75)
        } else {
            1
        };
        let r = f64::from(rate);
        let mut spans: Vec<Span> = Vec::with_capacity(tracks.len());
        let mut end = 0u64;
        for (i, t) in tracks.iter().enumerate() {
            let gap = (t.gap_s * r).round() as u64;
            let xf = if i == 0 || t.gap_s > 0.0 {
                0
            } else {
                ((t.crossfade_s * r).round() as u64)
                    .min(t.len / 2)
                    .min(tracks[i - 1].len / 2)
            };
            let start = if gap > 0 {
                (end + gap).div_ceil(cd_frame) * cd_frame
            } else {
                end - xf
            };
            if let Some(prev) = spans.last_mut() {
                prev.xf_out = xf;
            }
            spans.push(Span {
                start,
                len: t.len,
                fade_in: ((t.fade_in_s * r) as u64).min(t.len),
                fade_out: ((t.fade_out_s * r) as u64).min(t.len),
                curve: t.curve,
                xf_in: xf,
                xf_out: 0,
            });
            end = start + t.len;
        }
        Self { rate, spans }
    }

    /// One past the last frame of the last track, samples.
    pub fn total(&self) -> u64 {
        self.spans.iter().map(Span::end).max().unwrap_or(0)
    }

    /// The track playing at frame `t` (the later one inside a crossfade;
    /// the next one inside a gap).
    pub fn track_at(&self, t: u64) -> usize {
        self.spans
            .iter()
            .rposition(|s| s.start <= t)
            .map(|i| {
                if t >= self.spans[i].end() && i + 1 < self.spans.len() {
                    i + 1
                } else {
                    i
                }
            })
            .unwrap_or(0)
    }
}
