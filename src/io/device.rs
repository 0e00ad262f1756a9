//! Output devices (cpal): choosing one and its rate, and keeping ALSA's
//! stderr noise off the terminal while cpal probes for a card. Shared by the
//! playback engine and the remote listener.

/// The device to play on and the rate to run it at: `want` if the device
/// takes it, else its default rate.
pub fn pick_device(
    wanted: Option<&str>,
    want: u32,
) -> std::result::Result<(cpal::Device, String, u32), String> {
    use cpal::traits::{DeviceTrait, HostTrait};
    let _quiet = StderrSilencer::new();
    let host = cpal::default_host();
    let device = match wanted {
        None => host.default_output_device(),
        Some(w) => host.output_devices().ok().and_then(|mut it| {
            it.find(|d| {
                d.description()
                    .map(|x| x.name().contains(w))
                    .unwrap_or(false)
            })
        }),
    };
    let Some(device) = device else {
        return Err(match wanted {
            Some(w) => format!("no audio device named '{w}'"),
            None => "no audio device".into(),
        });
    };
    let name = device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| "default".into());
    let takes = device
        .supported_output_configs()
        .ok()
        .is_some_and(|mut it| {
            it.any(|c| {
                c.channels() >= 2 && c.min_sample_rate() <= want && c.max_sample_rate() >= want
            })
        });
    let rate = if takes {
        want
    } else {
        device
            .default_output_config()
            .map(|c| c.sample_rate())
            .map_err(|e| format!("audio device unavailable ({e})"))?
    };
    Ok((device, name, rate))
}

/// Redirects fd 2 to /dev/null while alive (ALSA prints to it when no card exists).
pub struct StderrSilencer(Option<i32>);

impl Default for StderrSilencer {
    fn default() -> Self {
        Self::new()
    }
}

impl StderrSilencer {
    /// Start silencing stderr.
    pub fn new() -> Self {
        // SAFETY: plain fd duplication; restored in Drop.
        unsafe {
            let saved = libc::dup(2);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if saved < 0 || null < 0 {
                return Self(None);
            }
            libc::dup2(null, 2);
            libc::close(null);
            Self(Some(saved))
        }
    }
}

impl Drop for StderrSilencer {
    fn drop(&mut self) {
        if let Some(fd) = self.0 {
            // SAFETY: restoring the saved descriptor.
            unsafe {
                libc::dup2(fd, 2);
                libc::close(fd);
            }
        }
    }
}
