//! Opus decoding through libopus (the `opus` binding of Debian's
//! `libopus`), for Opus in Ogg (`.opus`, `.ogg`) and in Matroska/WebM
//! (`.webm`, `.mka`, `.mkv`).
//!
//! symphonia demuxes both containers but has no Opus decoder; [`OpusDecoder`]
//! fills that gap. The container gives packets and the identification header
//! ([`OpusHead`], RFC 7845 §5.1); this module turns packets into planar `f32`
//! at 48 kHz in lathe's channel order (the WAVE order ffmpeg also gives), with
//! the header's output gain applied. Pre-skip, end trimming and the seek
//! pre-roll are handled by the reader in [`super::decode`], which knows the
//! stream position.

use opus::MSDecoder;

/// Opus always decodes at this rate, Hz (RFC 7845 §5.1: the input rate in
/// the header is informational only).
pub const OPUS_RATE: u32 = 48_000;

/// Frames decoded and thrown away before a sought position so the decoder
/// has converged (RFC 7845 §4.6 asks for at least 80 ms). Measured on music
/// at 64 kb/s, the first frame after a seek differs from a straight decode by
/// up to 2e-2 after 80 ms of pre-roll, 1.5e-3 after 160 ms, 2e-7 after
/// 480 ms, and not at all after 960 ms, which costs about a millisecond of
/// decoding per seek.
pub const SEEK_PREROLL: u64 = 46_080;

/// The longest Opus packet: 120 ms at 48 kHz, in samples per channel.
const MAX_PACKET_FRAMES: usize = 5_760;

/// The Opus identification header ("OpusHead", RFC 7845 §5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct OpusHead {
    /// Output channel count (1–255; lathe reads up to 8).
    pub channels: usize,
    /// Samples (at 48 kHz) to drop from the start of the decoded stream.
    pub pre_skip: u64,
    /// The sample rate of the encoder's input, Hz (0 when not recorded).
    pub input_rate: u32,
    /// Gain to apply to the decoded output, in Q7.8 dB (1/256 dB steps).
    pub output_gain_q8: i16,
    /// Channel mapping family (0: mono/stereo, 1: Vorbis surround order, 255: unordered).
    pub family: u8,
    /// Number of Opus streams in each packet.
    pub streams: u8,
    /// How many of those streams are coupled (stereo) streams.
    pub coupled: u8,
    /// Decoded stream channel for each output channel.
    pub mapping: Vec<u8>,
}

impl OpusHead {
    /// Parse the identification header; `None` with the reason when it is not one.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 19 || &bytes[..8] != b"OpusHead" {
            return Err("no Opus identification header".into());
        }
        let version = bytes[8];
        if version >> 4 != 0 {
            return Err(format!("unsupported Opus header version {version}"));
        }
        let channels = usize::from(bytes[9]);
        if channels == 0 {
            return Err("Opus header names zero channels".into());
        }
        let pre_skip = u64::from(u16::from_le_bytes([bytes[10], bytes[11]]));
        let input_rate = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        let output_gain_q8 = i16::from_le_bytes([bytes[16], bytes[17]]);
        let family = bytes[18];
        let (streams, coupled, mapping) = if family == 0 {
            if channels > 2 {
                return Err(format!(
                    "Opus header: mapping family 0 with {channels} channels"
                ));
            }
            let coupled = u8::from(channels == 2);
            (1, coupled, (0..channels as u8).collect())
        } else {
            let table = bytes
                .get(19..21 + channels)
                .ok_or("Opus header: channel mapping table is cut short")?;
            let (streams, coupled) = (table[0], table[1]);
            if streams == 0 || coupled > streams {
                return Err(format!(
                    "Opus header: {streams} streams with {coupled} coupled is not valid"
                ));
            }
            (streams, coupled, table[2..].to_vec())
        };
        Ok(Self {
            channels,
            pre_skip,
            input_rate,
            output_gain_q8,
            family,
            streams,
            coupled,
            mapping,
        })
    }

    /// Output channel `i` (lathe's WAVE order) comes from decoded channel
    /// `order()[i]`. Family 1 uses the Vorbis order (L C R …), reordered to
    /// L R C LFE … as ffmpeg gives it; other families keep their order.
    pub fn order(&self) -> Vec<usize> {
        if self.family != 1 {
            return (0..self.channels).collect();
        }
        match self.channels {
            3 => vec![0, 2, 1],
            5 => vec![0, 2, 1, 3, 4],
            6 => vec![0, 2, 1, 5, 3, 4],
            7 => vec![0, 2, 1, 6, 5, 3, 4],
            8 => vec![0, 2, 1, 7, 5, 6, 3, 4],
            n => (0..n).collect(),
        }
    }

    /// BS.1770 weight of each output channel (after [`order`](Self::order)):
    /// 0 for the LFE, 1.41 for surrounds, 1 otherwise.
    pub fn channel_weights(&self) -> Vec<f64> {
        if self.family != 1 {
            return vec![1.0; self.channels];
        }
        match self.channels {
            4 => vec![1.0, 1.0, 1.41, 1.41],
            5 => vec![1.0, 1.0, 1.0, 1.41, 1.41],
            6 => vec![1.0, 1.0, 1.0, 0.0, 1.41, 1.41],
            7 => vec![1.0, 1.0, 1.0, 0.0, 1.41, 1.41, 1.41],
            8 => vec![1.0, 1.0, 1.0, 0.0, 1.41, 1.41, 1.41, 1.41],
            n => vec![1.0; n],
        }
    }
}

/// A libopus decoder producing planar `f32` at 48 kHz.
pub struct OpusDecoder {
    head: OpusHead,
    decoder: MSDecoder,
    order: Vec<usize>,
    interleaved: Vec<f32>,
}

impl OpusDecoder {
    /// A decoder for the stream `head` describes, with its output gain set.
    pub fn new(head: OpusHead) -> std::result::Result<Self, String> {
        let mut decoder = MSDecoder::new(OPUS_RATE, head.streams, head.coupled, &head.mapping)
            .map_err(|e| format!("libopus refused the stream layout ({e})"))?;
        if head.output_gain_q8 != 0 {
            decoder
                .set_gain(i32::from(head.output_gain_q8))
                .map_err(|e| format!("libopus refused the output gain ({e})"))?;
        }
        let order = head.order();
        let interleaved = vec![0.0; MAX_PACKET_FRAMES * head.channels];
        Ok(Self {
            head,
            decoder,
            order,
            interleaved,
        })
    }

    /// The header this decoder was made from.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// Forget the decoder state (after a seek: the next packet is not the
    /// continuation of the last one).
    pub fn reset(&mut self) {
        // OPUS_RESET_STATE keeps the output gain; it cannot fail on a
        // decoder that was created, so there is nothing to report.
        let _ = self.decoder.reset_state();
    }

    /// Decode one packet into `out` (one `Vec` per channel, resized as
    /// needed); returns the frames decoded, or the reason it is damaged.
    pub fn decode(
        &mut self,
        packet: &[u8],
        out: &mut [Vec<f32>],
    ) -> std::result::Result<usize, String> {
        if packet.is_empty() {
            return Err("empty Opus packet".into());
        }
        let frames = self
            .decoder
            .decode_float(packet, &mut self.interleaved, false)
            .map_err(|e| format!("Opus packet does not decode ({e})"))?;
        let ch = self.head.channels;
        for (o, dst) in out.iter_mut().enumerate() {
            let src = self.order.get(o).copied().unwrap_or(o);
            dst.clear();
            dst.extend(
                self.interleaved[..frames * ch]
                    .iter()
                    .skip(src)
                    .step_by(ch)
                    .copied(),
            );
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(channels: u8, family: u8, table: &[u8]) -> Vec<u8> {
        let mut b = b"OpusHead".to_vec();
        b.push(1);
        b.push(channels);
        b.extend_from_slice(&312u16.to_le_bytes());
        b.extend_from_slice(&44_100u32.to_le_bytes());
        b.extend_from_slice(&(-256i16).to_le_bytes());
        b.push(family);
        b.extend_from_slice(table);
        b
    }

    #[test]
    fn parses_the_header_fields() {
        let h = OpusHead::parse(&head(2, 0, &[])).unwrap();
        assert_eq!(h.channels, 2);
        assert_eq!(h.pre_skip, 312);
        assert_eq!(h.input_rate, 44_100);
        assert_eq!(h.output_gain_q8, -256);
        assert_eq!((h.streams, h.coupled), (1, 1));
        assert_eq!(h.mapping, vec![0, 1]);
        let s = OpusHead::parse(&head(6, 1, &[4, 2, 0, 4, 1, 2, 3, 5])).unwrap();
        assert_eq!((s.streams, s.coupled), (4, 2));
        assert_eq!(s.order(), vec![0, 2, 1, 5, 3, 4]);
        assert_eq!(s.channel_weights()[3], 0.0);
    }

    #[test]
    fn refuses_what_is_not_a_header() {
        assert!(OpusHead::parse(b"OpusTags and more bytes").is_err());
        assert!(OpusHead::parse(&head(3, 0, &[])).is_err());
        assert!(OpusHead::parse(&head(6, 1, &[4, 2, 0])).is_err());
        assert!(OpusHead::parse(&head(0, 0, &[])).is_err());
    }

    #[test]
    fn output_gain_is_applied() {
        // Encode a sine with libopus, decode with and without a −6 dB header gain.
        let mut enc =
            opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Audio).unwrap();
        let mut packets = Vec::new();
        for k in 0..50 {
            let pcm: Vec<f32> = (0..960)
                .map(|i| {
                    let t = (k * 960 + i) as f32 / 48_000.0;
                    0.5 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()
                })
                .collect();
            packets.push(enc.encode_vec_float(&pcm, 4000).unwrap());
        }
        let rms = |gain: i16| {
            let mut bytes = head(1, 0, &[]);
            bytes[16..18].copy_from_slice(&gain.to_le_bytes());
            let mut d = OpusDecoder::new(OpusHead::parse(&bytes).unwrap()).unwrap();
            let mut out = vec![Vec::new()];
            let mut acc = 0.0f64;
            let mut n = 0usize;
            for (i, p) in packets.iter().enumerate() {
                let f = d.decode(p, &mut out).unwrap();
                if i >= 10 {
                    acc += out[0][..f]
                        .iter()
                        .map(|&s| f64::from(s).powi(2))
                        .sum::<f64>();
                    n += f;
                }
            }
            (acc / n as f64).sqrt()
        };
        let ratio_db = 20.0 * (rms(-6 * 256) / rms(0)).log10();
        assert!((ratio_db + 6.0).abs() < 0.01, "gain {ratio_db} dB");
    }
}
