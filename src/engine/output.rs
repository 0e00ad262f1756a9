//! Where the sound goes: a cpal device (the player lent to its callback
//! through an atomic pointer, so it can be taken back if the device is
//! lost) or the silent output; and the stderr silencer for ALSA's noise.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Player;
use super::null_output::NullOutput;
pub use crate::io::device::StderrSilencer;
pub(crate) use crate::io::device::pick_device;

/// Where the sound goes.
pub(crate) enum Output {
    /// A cpal stream on a device, with the slot its callback borrows the player from.
    Device(cpal::Stream, Arc<PlayerSlot>, String),
    /// The silent, real-time-clocked fallback.
    Null(NullOutput, String),
}

/// The player, lent to the device callback one buffer at a time through an
/// atomic pointer (no lock): the callback takes it, renders, puts it back.
/// After the stream is dropped the player is still here to move elsewhere.
pub(crate) struct PlayerSlot(std::sync::atomic::AtomicPtr<Player>);

impl PlayerSlot {
    pub(crate) fn new(p: Player) -> Self {
        Self(std::sync::atomic::AtomicPtr::new(Box::into_raw(Box::new(
            p,
        ))))
    }
    /// Take the player out (None while a callback holds it or after a take).
    pub(crate) fn take(&self) -> Option<Player> {
        let p = self.0.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            None
        } else {
            // SAFETY: the pointer came from Box::into_raw and is owned by the slot.
            Some(*unsafe { Box::from_raw(p) })
        }
    }
    /// Run `f` on the player if it is in the slot (the callback path).
    pub(crate) fn with(&self, f: impl FnOnce(&mut Player)) -> bool {
        let p = self.0.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            return false;
        }
        // SAFETY: we hold the only pointer until it is stored back.
        f(unsafe { &mut *p });
        self.0.store(p, Ordering::Release);
        true
    }
}

impl Drop for PlayerSlot {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// Start a stream on `device` lending the player from `slot`; `lost` is set
/// if the device reports an error (unplugged, driver gone).
pub(crate) fn start_stream(
    device: &cpal::Device,
    rate: u32,
    slot: Arc<PlayerSlot>,
    lost: Arc<AtomicBool>,
) -> std::result::Result<cpal::Stream, String> {
    use cpal::traits::{DeviceTrait, StreamTrait};
    let _quiet = StderrSilencer::new();
    let config = cpal::StreamConfig {
        channels: 2,
        sample_rate: rate,
        buffer_size: cpal::BufferSize::Default,
    };
    let stream = device
        .build_output_stream::<f32, _, _>(
            config,
            move |data: &mut [f32], _| {
                if !slot.with(|p| p.render(data, 2)) {
                    data.iter_mut().for_each(|s| *s = 0.0);
                }
            },
            move |_| lost.store(true, Ordering::Release),
            None,
        )
        .map_err(|e| format!("audio device unavailable ({e})"))?;
    stream
        .play()
        .map_err(|e| format!("audio device unavailable ({e})"))?;
    Ok(stream)
}
