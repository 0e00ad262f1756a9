//! The read-ahead thread: walks the timeline decoding each active track
//! (converting its rate if needed) into the player's lock-free ring, one
//! lane per overlapping track; flushes on seek, jumps at a loop's end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::PlayerShared;
use super::player::Jump;
use crate::error::Result;
use crate::io::resample::Resampler;
use crate::io::{AudioBlock, AudioSource, FileSource};
use crate::plan::timeline::Timeline;
use crate::plan::{Plan, PlanTrack};

/// Control of the reader thread (all atomics).
#[derive(Default)]
pub(crate) struct ReaderControl {
    pub(crate) stop: AtomicBool,
    pub(crate) seek_to: AtomicU64,
    pub(crate) seek_flag: AtomicBool,
    /// Loop region in input ticks: start and end (end 0 = no loop).
    pub(crate) loop_start: AtomicU64,
    pub(crate) loop_end: AtomicU64,
    pub(crate) reset_meters: AtomicBool,
}

pub(crate) const RING_FRAMES: usize = 32_768;
pub(crate) const LANE_CHANNELS: usize = 2;

/// Reads one track at the timeline rate from any frame.
pub(crate) struct TrackReader {
    src: FileSource,
    resampler: Option<Resampler>,
    /// Converted frames not yet handed out (planar).
    pending: Vec<Vec<f32>>,
    /// Timeline-rate frame index of `pending[..][0]`.
    next: u64,
    /// Source frames left before the trim end.
    src_left: u64,
    block: AudioBlock,
    flushed: bool,
}

impl TrackReader {
    pub(crate) fn open(t: &PlanTrack, rate: u32, from: u64) -> Result<Self> {
        let mut src = FileSource::open(&t.path)?;
        let ch = t.channels;
        let (resampler, src_from, next) = if t.rate == rate {
            (None, from, from)
        } else {
            let sf = (from as f64 * f64::from(t.rate) / f64::from(rate)).floor() as u64;
            let back = (sf as f64 * f64::from(rate) / f64::from(t.rate)).round() as u64;
            (Some(Resampler::new(t.rate, rate, ch)?), sf, back)
        };
        let src_from = src_from.min(t.frames);
        src.seek(t.trim_start + src_from)?;
        Ok(Self {
            src,
            resampler,
            pending: vec![Vec::new(); ch],
            next,
            src_left: t.frames - src_from,
            block: AudioBlock::new(ch, 4096),
            flushed: false,
        })
    }

    /// Append up to `n` frames starting at frame `self.next` into `dst`
    /// (planar, cleared first); fewer at the end of the track.
    pub(crate) fn read(&mut self, n: usize, dst: &mut [Vec<f32>]) -> Result<()> {
        while self.pending[0].len() < n && !self.flushed {
            let got = if self.src_left == 0 {
                0
            } else {
                self.src.read(&mut self.block)?
            };
            let got = (got as u64).min(self.src_left) as usize;
            self.src_left -= got as u64;
            self.block.frames = got;
            match self.resampler.as_mut() {
                None => {
                    for (p, c) in self.pending.iter_mut().zip(&self.block.channels) {
                        p.extend_from_slice(&c[..got]);
                    }
                    if got == 0 {
                        self.flushed = true;
                    }
                }
                Some(r) => {
                    if got > 0 {
                        r.process(&self.block, &mut self.pending)?;
                    } else {
                        r.finish(&mut self.pending)?;
                        self.flushed = true;
                    }
                }
            }
        }
        let k = n.min(self.pending[0].len());
        for (d, p) in dst.iter_mut().zip(&mut self.pending) {
            d.clear();
            d.extend(p.drain(..k));
        }
        self.next += k as u64;
        Ok(())
    }
}

/// The reader thread: walks the timeline in input ticks, decoding each
/// track that is active into its lane, zeros in gaps, a latency's worth of
/// zeros after the last track; flushes on seek; jumps at the loop end.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reader_thread(
    plan: Plan,
    timeline: Timeline,
    lanes: usize,
    latency: usize,
    mut ring: rtrb::Producer<f32>,
    mut jumps: rtrb::Producer<Jump>,
    shared: Arc<PlayerShared>,
    ctl: Arc<ReaderControl>,
    errors: Arc<Mutex<Vec<String>>>,
) {
    let width = lanes * LANE_CHANNELS;
    let rate = timeline.rate;
    let end = timeline.total() + latency as u64 + 64;
    let mut readers: Vec<Option<TrackReader>> = (0..plan.tracks.len()).map(|_| None).collect();
    let mut tick = 0u64;
    let mut pushed = 0u64;
    let mut generation = shared.flush_gen.load(Ordering::Acquire);
    let mut scratch: Vec<Vec<f32>> = vec![Vec::new(); LANE_CHANNELS];
    let mut frame_buf: Vec<f32> = Vec::new();
    const CHUNK: usize = 2048;
    while !ctl.stop.load(Ordering::Acquire) {
        if ctl.seek_flag.swap(false, Ordering::AcqRel) {
            shared.flushing.store(true, Ordering::Release);
            // Wait for the callback to drain the ring.
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
            while !ring.is_abandoned()
                && ring.slots() < ring.buffer().capacity()
                && !ctl.stop.load(Ordering::Acquire)
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            tick = ctl.seek_to.load(Ordering::Acquire).min(end);
            pushed = 0;
            shared.restart_tick.store(tick, Ordering::Release);
            shared.position.store(tick, Ordering::Release);
            shared.finished.store(false, Ordering::Release);
            generation += 1;
            shared.flush_gen.store(generation, Ordering::Release);
            shared.flushing.store(false, Ordering::Release);
        }
        if tick >= end {
            shared.finished.store(true, Ordering::Release);
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        }
        let room = ring.slots() / width;
        if room < CHUNK.min((end - tick) as usize) {
            // The ring holds ~0.7 s: waking every 8 ms is plenty and keeps
            // a paused player near idle.
            std::thread::sleep(std::time::Duration::from_millis(8));
            continue;
        }
        let mut n = CHUNK.min((end - tick) as usize);
        let (la, lb) = (
            ctl.loop_start.load(Ordering::Acquire),
            ctl.loop_end.load(Ordering::Acquire),
        );
        let looping = lb > la && tick < lb;
        if looping {
            n = n.min((lb - tick) as usize);
        }
        frame_buf.clear();
        frame_buf.resize(n * width, 0.0);
        for (k, span) in timeline.spans.iter().enumerate() {
            let a = tick.max(span.start);
            let b = (tick + n as u64).min(span.end());
            if a >= b {
                if span.end() <= tick {
                    readers[k] = None;
                }
                continue;
            }
            let j = a - span.start;
            if readers[k].as_ref().is_none_or(|r| r.next != j) {
                match TrackReader::open(&plan.tracks[k], rate, j) {
                    Ok(r) => readers[k] = Some(r),
                    Err(e) => {
                        if let Ok(mut v) = errors.lock() {
                            v.push(e.to_string());
                        }
                        readers[k] = None;
                        continue;
                    }
                }
            }
            let Some(r) = readers[k].as_mut() else {
                continue;
            };
            // A converted track may start a few frames late after a seek.
            let skip = j.saturating_sub(r.next);
            let lead = r.next.saturating_sub(j) as usize;
            if skip > 0 {
                let _ = r.read(skip as usize, &mut scratch);
            }
            let want = (b - a) as usize - lead.min((b - a) as usize);
            if let Err(e) = r.read(want, &mut scratch) {
                if let Ok(mut v) = errors.lock() {
                    v.push(e.to_string());
                }
                readers[k] = None;
                continue;
            }
            let lane = k % lanes;
            let off = (a - tick) as usize + lead;
            let mono = plan.tracks[k].channels == 1;
            for c in 0..LANE_CHANNELS {
                let src = &scratch[if mono { 0 } else { c }];
                for (f, v) in src.iter().enumerate() {
                    frame_buf[(off + f) * width + lane * LANE_CHANNELS + c] = *v;
                }
            }
            // Keep the reader's idea of the next frame on the timeline.
            r.next = b - span.start;
        }
        if let Ok(mut chunk) = ring.write_chunk_uninit(n * width) {
            let (a, b) = chunk.as_mut_slices();
            for (d, s) in a.iter_mut().chain(b.iter_mut()).zip(&frame_buf) {
                d.write(*s);
            }
            // SAFETY: every slot of the chunk was written above.
            unsafe { chunk.commit_all() };
        }
        tick += n as u64;
        pushed += n as u64;
        if looping && tick == lb {
            let to = la;
            let _ = jumps.push(Jump {
                generation,
                at: pushed,
                to,
            });
            tick = to;
        }
        let _ = rate;
    }
}
