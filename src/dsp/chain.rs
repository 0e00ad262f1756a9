//! The one chain used by the renderer, the playback engine and the TUI.
//!
//! [`Chain::from_config`] builds the modules of a [`ChainConfig`] in order;
//! the true-peak limiter is always last, preceded by the loudness-target
//! gain. The chain is split in two so a renderer can convert the sample
//! rate between them (chain at the source rate → SRC → target gain and
//! limiter at the delivery rate → dither): [`Chain::process_pre`] and
//! [`Chain::process_post`]. Bypassing a module crossfades (10 ms) to its
//! input delayed by the module's latency, so it never clicks or shifts the
//! output in time.

use super::compressor::Compressor;
use super::dc::DcRemoval;
use super::declick::Declick;
use super::dehiss::Dehiss;
use super::eq::Eq;
use super::gain::{Gain, apply_smoothed_gain};
use super::hum::Hum;
use super::imager::Imager;
use super::limiter::Limiter;
use super::matcheq::MatchEq;
use super::multiband::Multiband;
use super::smoother::Smoother;
use super::{DelayLine, Processor};
use crate::audio::AudioBlock;
use crate::error::{LatheError, Result};
use crate::session::chain::{ChainConfig, ModuleConfig};
use crate::units::db_to_linear;

/// A built module.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Module {
    /// Gain / trim.
    Gain(Gain),
    /// DC removal.
    Dc(DcRemoval),
    /// Parametric EQ.
    Eq(Eq),
    /// Compressor.
    Compressor(Compressor),
    /// Multiband compressor.
    Multiband(Multiband),
    /// Stereo imager.
    Imager(Imager),
    /// De-clicker.
    Declick(Declick),
    /// De-hisser.
    Dehiss(Dehiss),
    /// Hum removal.
    Hum(Hum),
    /// Reference matching EQ.
    Match(MatchEq),
}

impl Module {
    fn proc(&mut self) -> &mut dyn Processor {
        match self {
            Module::Gain(m) => m,
            Module::Dc(m) => m,
            Module::Eq(m) => m,
            Module::Compressor(m) => m,
            Module::Multiband(m) => m,
            Module::Imager(m) => m,
            Module::Declick(m) => m,
            Module::Dehiss(m) => m,
            Module::Hum(m) => m,
            Module::Match(m) => m,
        }
    }

    fn proc_ref(&self) -> &dyn Processor {
        match self {
            Module::Gain(m) => m,
            Module::Dc(m) => m,
            Module::Eq(m) => m,
            Module::Compressor(m) => m,
            Module::Multiband(m) => m,
            Module::Imager(m) => m,
            Module::Declick(m) => m,
            Module::Dehiss(m) => m,
            Module::Hum(m) => m,
            Module::Match(m) => m,
        }
    }
}

#[derive(Debug, Clone)]
struct Slot {
    module: Module,
    bypass: bool,
    /// 1 = module output, 0 = bypassed; smoothed so toggling never clicks.
    wet: Smoother,
    /// The input, delayed by the module's latency, for the bypassed path.
    dry: AudioBlock,
    bypass_delay: DelayLine,
}

/// How a slot treats its block while a module is soloed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// As usual.
    Normal,
    /// Its residual (output minus delayed input).
    Delta,
    /// Its delayed input (a module after the soloed one).
    Pass,
}

/// Largest block a slot crossfades between bypassed and active (larger
/// blocks switch at once; the engine's blocks are far smaller).
const SLOT_BLOCK: usize = 16_384;

/// What a chain lets through: everything, or one module's residual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Solo {
    /// The chain's output.
    #[default]
    Off,
    /// What module `n` changes (its output minus its latency-aligned
    /// input; the limiter is `n = modules before it`), at the level it has
    /// there, delayed like the chain's output; the modules after it pass
    /// their input through (still running, so they are warm on return).
    Module(usize),
    /// Silence, in time with the chain (another track's module is soloed).
    Silent,
}

/// A built chain for one rate and channel count.
#[derive(Debug, Clone)]
pub struct Chain {
    rate: u32,
    channels: usize,
    slots: Vec<Slot>,
    target_gain: Smoother,
    limiter: Limiter,
    limiter_bypass: bool,
    limiter_delay: DelayLine,
    /// The limiter's input delayed by its latency (bypass and solo).
    limiter_dry: AudioBlock,
    solo: Solo,
}

impl Chain {
    /// Build the chain of `cfg` for `channels` channels (1 or 2) at `rate` Hz.
    pub fn from_config(cfg: &ChainConfig, rate: u32, channels: usize) -> Result<Self> {
        if !(1..=2).contains(&channels) {
            return Err(LatheError::Invalid(format!(
                "the mastering chain takes mono or stereo; this audio has {channels} channels"
            )));
        }
        let mut slots = Vec::with_capacity(cfg.modules.len());
        let mut limiter_cfg = None;
        for m in &cfg.modules {
            let module = match m {
                ModuleConfig::Gain(c) => Module::Gain(Gain::new(c, rate)),
                ModuleConfig::DcRemoval(c) => Module::Dc(DcRemoval::new(c, rate, channels)),
                ModuleConfig::Eq(c) => Module::Eq(Eq::new(c, rate, channels)),
                ModuleConfig::Compressor(c) => {
                    Module::Compressor(Compressor::new(c, rate, channels))
                }
                ModuleConfig::Multiband(c) => Module::Multiband(Multiband::new(c, rate, channels)),
                ModuleConfig::Imager(c) => Module::Imager(Imager::new(c, rate)),
                ModuleConfig::Declick(c) => Module::Declick(Declick::new(c, rate, channels)),
                ModuleConfig::Dehiss(c) => Module::Dehiss(Dehiss::new(c, rate, channels)),
                ModuleConfig::Hum(c) => Module::Hum(Hum::new(c, rate, channels)),
                ModuleConfig::Match(c) => Module::Match(MatchEq::new(c, rate, channels)),
                ModuleConfig::Limiter(c) => {
                    limiter_cfg = Some(c.clone());
                    continue;
                }
            };
            let latency = module.proc_ref().latency();
            let bypass = m.bypass();
            slots.push(Slot {
                module,
                bypass,
                wet: Smoother::new(if bypass { 0.0 } else { 1.0 }, 10.0, f64::from(rate)),
                dry: AudioBlock::new(channels, SLOT_BLOCK),
                bypass_delay: DelayLine::new(channels, latency),
            });
        }
        let lc = limiter_cfg.unwrap_or_default();
        let limiter = Limiter::new(&lc, rate, channels);
        let limiter_delay = DelayLine::new(channels, limiter.latency());
        Ok(Self {
            rate,
            channels,
            slots,
            target_gain: Smoother::new(1.0, 20.0, f64::from(rate)),
            limiter,
            limiter_bypass: lc.bypass,
            limiter_delay,
            limiter_dry: AudioBlock::new(channels, SLOT_BLOCK),
            solo: Solo::Off,
        })
    }

    /// Sample rate, Hz.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Channel count.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Run every module before the limiter.
    /// A bypassed module keeps running (its state stays warm) and its
    /// output is crossfaded with the delayed input over 10 ms on every
    /// toggle, so bypassing never clicks or shifts the output in time.
    /// The delayed input is kept current whenever the module has latency,
    /// so a toggle or a solo hears the right input at once.
    pub fn process_pre(&mut self, block: &mut AudioBlock) {
        let frames = block.frames;
        let solo = self.solo;
        for (j, slot) in self.slots.iter_mut().enumerate() {
            if frames > slot.dry.capacity() {
                // Offline giant blocks: switch at once (never soloed).
                if slot.bypass {
                    slot.bypass_delay.process(block);
                } else {
                    slot.module.proc().process(block);
                }
                continue;
            }
            let role = match solo {
                Solo::Module(i) if i == j => Role::Delta,
                Solo::Module(i) if i < j => Role::Pass,
                Solo::Silent => Role::Pass,
                _ => Role::Normal,
            };
            let settled = !slot.wet.is_moving();
            let full = settled && slot.wet.current() >= 1.0;
            if role == Role::Normal && full && slot.bypass_delay.is_empty() {
                slot.module.proc().process(block);
                continue;
            }
            for (d, s) in slot.dry.channels.iter_mut().zip(&block.channels) {
                d[..frames].copy_from_slice(&s[..frames]);
            }
            slot.dry.frames = frames;
            slot.bypass_delay.process(&mut slot.dry);
            slot.module.proc().process(block);
            match role {
                Role::Pass => {
                    for (s, d) in block.channels.iter_mut().zip(&slot.dry.channels) {
                        s[..frames].copy_from_slice(&d[..frames]);
                    }
                }
                Role::Normal if full => {}
                Role::Normal if settled => {
                    // Fully bypassed: the delayed input.
                    for (s, d) in block.channels.iter_mut().zip(&slot.dry.channels) {
                        s[..frames].copy_from_slice(&d[..frames]);
                    }
                }
                Role::Normal | Role::Delta => {
                    // wet·out + (1 − wet)·dry, less dry when soloed: the
                    // residual is wet·(out − dry), silent when bypassed.
                    let delta = role == Role::Delta;
                    let start = slot.wet;
                    for (s, d) in block.channels.iter_mut().zip(&slot.dry.channels) {
                        let mut w = start;
                        for (x, y) in s[..frames].iter_mut().zip(&d[..frames]) {
                            let g = w.tick();
                            let (x64, y64) = (f64::from(*x), f64::from(*y));
                            *x = if delta {
                                (g * (x64 - y64)) as f32
                            } else {
                                (g * x64 + (1.0 - g) * y64) as f32
                            };
                        }
                        slot.wet = w;
                    }
                }
            }
        }
    }

    /// Run the loudness-target gain and the limiter. The limiter's input,
    /// delayed by its latency, is kept current so bypassing it or soloing
    /// it (its output minus that input: what it takes off) is exact at once.
    pub fn process_post(&mut self, block: &mut AudioBlock) {
        apply_smoothed_gain(&mut self.target_gain, block);
        let frames = block.frames;
        if frames > self.limiter_dry.capacity() {
            // Offline giant blocks (never soloed).
            if self.limiter_bypass {
                self.limiter_delay.process(block);
            } else {
                self.limiter.process(block);
            }
            return;
        }
        let limiter_solo = self.solo == Solo::Module(self.slots.len());
        let pass = match self.solo {
            Solo::Module(i) => i < self.slots.len(),
            Solo::Silent => true,
            Solo::Off => false,
        };
        if !(self.limiter_bypass || pass || limiter_solo) {
            // The delayed input is not heard: keep the line current (for a
            // later bypass or solo) without producing it.
            self.limiter_delay.feed(block);
            self.limiter.process(block);
            return;
        }
        for (d, s) in self.limiter_dry.channels.iter_mut().zip(&block.channels) {
            d[..frames].copy_from_slice(&s[..frames]);
        }
        self.limiter_dry.frames = frames;
        self.limiter_delay.process(&mut self.limiter_dry);
        if self.limiter_bypass || pass {
            for (s, d) in block.channels.iter_mut().zip(&self.limiter_dry.channels) {
                s[..frames].copy_from_slice(&d[..frames]);
            }
        } else {
            self.limiter.process(block);
            if limiter_solo {
                for (s, d) in block.channels.iter_mut().zip(&self.limiter_dry.channels) {
                    for (x, y) in s[..frames].iter_mut().zip(&d[..frames]) {
                        *x -= y;
                    }
                }
            }
        }
        if self.solo == Solo::Silent {
            for s in &mut block.channels {
                s[..frames].iter_mut().for_each(|x| *x = 0.0);
            }
        }
    }

    /// Let through the chain's output or one module's residual (see
    /// [`Solo`]); allocation-free, for the audio thread.
    pub fn set_solo(&mut self, solo: Solo) {
        self.solo = solo;
    }

    /// What the chain lets through.
    pub fn solo(&self) -> Solo {
        self.solo
    }

    /// Run the whole chain.
    pub fn process(&mut self, block: &mut AudioBlock) {
        self.process_pre(block);
        self.process_post(block);
    }

    /// Latency of the modules before the limiter, frames.
    pub fn latency_pre(&self) -> usize {
        self.slots
            .iter()
            .map(|s| {
                if s.bypass {
                    s.bypass_delay.len()
                } else {
                    s.module.proc_ref().latency()
                }
            })
            .sum()
    }

    /// Latency of the limiter, frames.
    pub fn latency_post(&self) -> usize {
        self.limiter.latency()
    }

    /// Whole-chain latency, frames.
    pub fn latency(&self) -> usize {
        self.latency_pre() + self.latency_post()
    }

    /// Set the gain into the limiter (loudness targeting), dB; smoothed.
    pub fn set_target_gain_db(&mut self, db: f64) {
        self.target_gain.set(db_to_linear(db));
    }

    /// Set the gain into the limiter at once (before processing starts).
    pub fn jump_target_gain_db(&mut self, db: f64) {
        self.target_gain.jump(db_to_linear(db));
    }

    /// Bypass or enable module `index` (the limiter is index `modules().len()`).
    pub fn set_bypass(&mut self, index: usize, bypass: bool) {
        if let Some(s) = self.slots.get_mut(index) {
            s.bypass = bypass;
            s.wet.set(if bypass { 0.0 } else { 1.0 });
        } else if index == self.slots.len() {
            self.limiter_bypass = bypass;
        }
    }

    /// Per module (limiter last): name and gain reduction in the last block, dB.
    pub fn gain_reductions(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        self.slots
            .iter()
            .map(|s| {
                (
                    s.module.proc_ref().name(),
                    s.module.proc_ref().gain_reduction_db(),
                )
            })
            .chain(std::iter::once((
                "limiter",
                self.limiter.gain_reduction_db(),
            )))
    }

    /// Clicks the chain's de-clickers have repaired since they were built
    /// (None: no de-clicker in use).
    pub fn clicks_repaired(&self) -> Option<u64> {
        self.slots
            .iter()
            .filter(|s| !s.bypass)
            .filter_map(|s| match &s.module {
                Module::Declick(d) => Some(d.repaired()),
                _ => None,
            })
            .reduce(|a, b| a + b)
    }

    /// Limiter gain reduction in the last block, dB.
    pub fn limiter_gain_reduction_db(&self) -> f64 {
        self.limiter.gain_reduction_db()
    }

    /// How hard the limiter has worked since the chain was built or reset
    /// (peak and time-weighted gain reduction).
    pub fn limiter_stats(&self) -> super::limiter::LimitingStats {
        self.limiter.stats()
    }

    /// Start counting [`Chain::limiter_stats`] afresh.
    pub fn reset_limiter_stats(&mut self) {
        self.limiter.reset_stats()
    }

    /// Output correlation from the first imager, if the chain has one.
    pub fn correlation(&self) -> Option<f64> {
        self.slots.iter().find_map(|s| match &s.module {
            Module::Imager(i) => Some(i.correlation()),
            _ => None,
        })
    }

    /// Clear all state to silence.
    pub fn reset(&mut self) {
        for s in &mut self.slots {
            s.module.proc().reset();
            s.bypass_delay.reset();
        }
        self.limiter.reset();
        self.limiter_delay.reset();
    }

    /// Apply parameter changes in place when `cfg` has the same structure
    /// (same modules in the same order, same EQ band shapes); returns false
    /// when the chain must be rebuilt instead (always, with a match module:
    /// its filter is designed when it is built).
    pub fn update(&mut self, cfg: &ChainConfig) -> bool {
        let pre: Vec<&ModuleConfig> = cfg
            .modules
            .iter()
            .filter(|m| !matches!(m, ModuleConfig::Limiter(_)))
            .collect();
        if pre.len() != self.slots.len() {
            return false;
        }
        for (slot, m) in self.slots.iter().zip(&pre) {
            let same = match (&slot.module, m) {
                (Module::Gain(_), ModuleConfig::Gain(_))
                | (Module::Dc(_), ModuleConfig::DcRemoval(_))
                | (Module::Compressor(_), ModuleConfig::Compressor(_))
                | (Module::Multiband(_), ModuleConfig::Multiband(_))
                | (Module::Imager(_), ModuleConfig::Imager(_))
                | (Module::Declick(_), ModuleConfig::Declick(_))
                | (Module::Dehiss(_), ModuleConfig::Dehiss(_))
                | (Module::Hum(_), ModuleConfig::Hum(_)) => true,
                (Module::Eq(e), ModuleConfig::Eq(c)) => e.same_structure(c),
                _ => false,
            };
            if !same {
                return false;
            }
        }
        for (slot, m) in self.slots.iter_mut().zip(pre) {
            slot.bypass = m.bypass();
            slot.wet.set(if slot.bypass { 0.0 } else { 1.0 });
            match (&mut slot.module, m) {
                (Module::Gain(x), ModuleConfig::Gain(c)) => x.set_config(c),
                (Module::Dc(x), ModuleConfig::DcRemoval(c)) => x.set_config(c),
                (Module::Eq(x), ModuleConfig::Eq(c)) => x.set_config(c),
                (Module::Compressor(x), ModuleConfig::Compressor(c)) => x.set_config(c),
                (Module::Multiband(x), ModuleConfig::Multiband(c)) => x.set_config(c),
                (Module::Imager(x), ModuleConfig::Imager(c)) => x.set_config(c),
                (Module::Declick(x), ModuleConfig::Declick(c)) => x.set_config(c),
                (Module::Dehiss(x), ModuleConfig::Dehiss(c)) => x.set_config(c),
                (Module::Hum(x), ModuleConfig::Hum(c)) => x.set_config(c),
                _ => {}
            }
        }
        let lc = cfg.limiter();
        self.limiter_bypass = lc.bypass;
        self.limiter.set_config(&lc);
        true
    }
}
