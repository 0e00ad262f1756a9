//! Coding the monitor stream's ~10 ms blocks: raw 32-bit float (PCM),
//! FLAC frames of the stream's bit depth (lossless: the decoded samples are
//! the engine's output rounded to that depth, exactly), or Opus at
//! 256 kb/s (libopus; 48 kHz only, so other rates are converted first, and
//! the block's frame numbers are moved back by the encoder's and the
//! converter's delay so the decoded audio lines up with the stream).
//!
//! FLAC frames are encoded one block at a time with `flacenc` (allocates:
//! runs on the monitor thread, never the audio callback) and decoded with
//! symphonia's FLAC decoder, primed with a STREAMINFO block made here.

use flacenc::component::BitRepr;
use flacenc::error::Verify;
use flacenc::source::{Fill, FrameBuf};
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};

use super::protocol::{Codec, Format};

/// The block length for a stream at `rate` Hz: 10 ms.
pub fn block_frames(rate: u32) -> usize {
    (rate as usize / 100).max(16)
}

/// `v` (nominally −1..1) on the `bits`-bit integer grid, clamped.
pub fn quantize(v: f32, bits: u32) -> i32 {
    let scale = f64::from(1u32 << (bits - 1));
    (f64::from(v) * scale).round().clamp(-scale, scale - 1.0) as i32
}

/// An integer sample of `bits` bits as float (exact for up to 24 bits).
pub fn dequantize(v: i32, bits: u32) -> f32 {
    (f64::from(v) / f64::from(1u32 << (bits - 1))) as f32
}

/// The Opus stream's bit rate, b/s.
pub const OPUS_BITRATE: i32 = 256_000;
/// Opus blocks: 10 ms at 48 kHz.
pub const OPUS_FRAMES: usize = 480;

/// Encodes blocks of interleaved float audio.
pub struct BlockEncoder {
    codec: Codec,
    format: Format,
    flac: Option<FlacEncoder>,
    opus: Option<OpusEncoder>,
}

struct OpusEncoder {
    enc: opus::Encoder,
    /// Converter to 48 kHz (None at 48 kHz).
    rs: Option<rubato::Fft<f32>>,
    planar_in: Vec<Vec<f32>>,
    planar_out: Vec<Vec<f32>>,
    inter: Vec<f32>,
    /// Encoder lookahead plus converter delay, frames at 48 kHz.
    delay: u64,
}

impl OpusEncoder {
    fn new(format: Format) -> Result<Self, String> {
        use rubato::Resampler as _;
        if format.channels != 2 {
            return Err("opus: the monitor stream is stereo".into());
        }
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Stereo, opus::Application::Audio)
            .map_err(|e| format!("opus encoder: {e}"))?;
        enc.set_bitrate(opus::Bitrate::Bits(OPUS_BITRATE))
            .map_err(|e| format!("opus encoder: {e}"))?;
        enc.set_vbr(false)
            .map_err(|e| format!("opus encoder: {e}"))?;
        let lookahead = enc
            .get_lookahead()
            .map_err(|e| format!("opus encoder: {e}"))? as u64;
        let rs = if format.rate == 48_000 {
            None
        } else {
            Some(
                rubato::Fft::<f32>::new(
                    format.rate as usize,
                    48_000,
                    block_frames(format.rate),
                    2,
                    rubato::FixedSync::Input,
                )
                .map_err(|e| format!("opus: cannot convert {} Hz: {e}", format.rate))?,
            )
        };
        let rs_delay = rs.as_ref().map_or(0, |r| r.output_delay() as u64);
        let max_out = rs.as_ref().map_or(OPUS_FRAMES, |r| r.output_frames_max());
        Ok(Self {
            enc,
            planar_in: vec![vec![0.0; block_frames(format.rate)]; 2],
            planar_out: vec![vec![0.0; max_out]; 2],
            rs,
            inter: Vec::new(),
            delay: lookahead + rs_delay,
        })
    }
}

struct FlacEncoder {
    config: flacenc::error::Verified<flacenc::config::Encoder>,
    verbatim: flacenc::error::Verified<flacenc::config::Encoder>,
    info: flacenc::component::StreamInfo,
    frame_number: usize,
    ints: Vec<i32>,
}

impl BlockEncoder {
    /// An encoder for `codec` at `format`.
    pub fn new(codec: Codec, format: Format) -> Result<Self, String> {
        let flac = match codec {
            Codec::Pcm => None,
            Codec::Flac => {
                let mut fast = flacenc::config::Encoder::default();
                fast.stereo_coding.use_leftside = false;
                fast.stereo_coding.use_rightside = false;
                let config = fast
                    .into_verified()
                    .map_err(|e| format!("FLAC encoder: {e:?}"))?;
                let mut raw = flacenc::config::Encoder::default();
                raw.subframe_coding.use_lpc = false;
                raw.subframe_coding.use_fixed = false;
                let verbatim = raw
                    .into_verified()
                    .map_err(|e| format!("FLAC encoder: {e:?}"))?;
                let info = flacenc::component::StreamInfo::new(
                    format.rate as usize,
                    format.channels as usize,
                    format.bits as usize,
                )
                .map_err(|e| format!("FLAC encoder: {e}"))?;
                Some(FlacEncoder {
                    config,
                    verbatim,
                    info,
                    frame_number: 0,
                    ints: Vec::new(),
                })
            }
            Codec::Opus => None,
        };
        let opus = match codec {
            Codec::Opus => Some(OpusEncoder::new(format)?),
            _ => None,
        };
        Ok(Self {
            codec,
            format,
            flac,
            opus,
        })
    }

    /// Where a block starting at stream frame `first` begins once decoded
    /// (Opus: on the 48 kHz timeline, moved back by the encoder's delay),
    /// and how many frames it decodes to.
    pub fn placement(&self, first: u64, frames: u32) -> (u64, u32) {
        match &self.opus {
            Some(o) => (
                (first * 48_000 / u64::from(self.format.rate)).saturating_sub(o.delay),
                OPUS_FRAMES as u32,
            ),
            None => (first, frames),
        }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Append the coded form of `interleaved` (whole frames) to `out`.
    pub fn encode(&mut self, interleaved: &[f32], out: &mut Vec<u8>) -> Result<(), String> {
        let ch = self.format.channels as usize;
        if let Some(o) = self.opus.as_mut() {
            use rubato::Resampler as _;
            let pcm: &[f32] = match o.rs.as_mut() {
                None => interleaved,
                Some(rs) => {
                    let n = interleaved.len() / 2;
                    for (k, v) in interleaved.iter().enumerate() {
                        o.planar_in[k % 2][k / 2] = *v;
                    }
                    let inp = rubato::audioadapter_buffers::direct::SequentialSliceOfVecs::new(
                        &o.planar_in,
                        2,
                        n,
                    )
                    .map_err(|e| format!("opus: {e}"))?;
                    let max = o.planar_out[0].len();
                    let mut outp =
                        rubato::audioadapter_buffers::direct::SequentialSliceOfVecs::new_mut(
                            &mut o.planar_out,
                            2,
                            max,
                        )
                        .map_err(|e| format!("opus: {e}"))?;
                    let (_, written) = rs
                        .process_into_buffer(&inp, &mut outp, None)
                        .map_err(|e| format!("opus: {e}"))?;
                    o.inter.clear();
                    for i in 0..written.min(OPUS_FRAMES) {
                        o.inter.push(o.planar_out[0][i]);
                        o.inter.push(o.planar_out[1][i]);
                    }
                    o.inter.resize(OPUS_FRAMES * 2, 0.0);
                    &o.inter
                }
            };
            if pcm.len() != OPUS_FRAMES * 2 {
                return Err(format!("opus: a block of {} frames", pcm.len() / 2));
            }
            let mut buf = [0u8; 4000];
            let n = o
                .enc
                .encode_float(pcm, &mut buf)
                .map_err(|e| format!("opus: {e}"))?;
            out.extend_from_slice(&buf[..n]);
            return Ok(());
        }
        match &mut self.flac {
            None => {
                for v in interleaved {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Ok(())
            }
            Some(f) => {
                let n = interleaved.len() / ch;
                f.ints.clear();
                f.ints.extend(
                    interleaved[..n * ch]
                        .iter()
                        .map(|v| quantize(*v, self.format.bits)),
                );
                let mut fb = FrameBuf::with_size(ch, n).map_err(|e| format!("FLAC: {e:?}"))?;
                fb.fill_interleaved(&f.ints)
                    .map_err(|e| format!("FLAC: {e:?}"))?;
                let frame =
                    flacenc::encode_fixed_size_frame(&f.config, &fb, f.frame_number, &f.info)
                        .map_err(|e| format!("FLAC: {e:?}"))?;
                let mut sink = flacenc::bitsink::ByteSink::new();
                frame.write(&mut sink).map_err(|e| format!("FLAC: {e:?}"))?;
                if sink.as_slice().len() > n * ch * (self.format.bits as usize / 8) + 32 {
                    let frame =
                        flacenc::encode_fixed_size_frame(&f.verbatim, &fb, f.frame_number, &f.info)
                            .map_err(|e| format!("FLAC: {e:?}"))?;
                    sink = flacenc::bitsink::ByteSink::new();
                    frame.write(&mut sink).map_err(|e| format!("FLAC: {e:?}"))?;
                }
                f.frame_number += 1;
                out.extend_from_slice(sink.as_slice());
                Ok(())
            }
        }
    }
}

/// Decodes blocks back to interleaved float audio.
pub struct BlockDecoder {
    format: Format,
    flac: Option<Box<dyn AudioDecoder>>,
    opus: Option<opus::Decoder>,
    planar: Vec<Vec<i32>>,
}

/// The format a codec's blocks decode to: Opus always at 48 kHz.
pub fn decoded_format(codec: Codec, f: Format) -> Format {
    match codec {
        Codec::Opus => Format { rate: 48_000, ..f },
        _ => f,
    }
}

/// A FLAC STREAMINFO block (34 bytes) for a stream of fixed `block`-frame
/// frames at `format`, length and checksum unknown.
fn streaminfo(format: Format, block: usize) -> Vec<u8> {
    let mut b = vec![0u8; 34];
    let bl = (block.clamp(16, 65_535)) as u16;
    b[0..2].copy_from_slice(&bl.to_be_bytes());
    b[2..4].copy_from_slice(&bl.to_be_bytes());
    let packed: u64 = (u64::from(format.rate) << 44)
        | ((u64::from(format.channels) - 1) << 41)
        | ((u64::from(format.bits) - 1) << 36);
    b[10..18].copy_from_slice(&packed.to_be_bytes());
    b
}

impl BlockDecoder {
    /// A decoder for `codec` at `format`.
    pub fn new(codec: Codec, format: Format) -> Result<Self, String> {
        let flac = match codec {
            Codec::Pcm => None,
            Codec::Flac => {
                let mut params = AudioCodecParameters::new();
                params
                    .for_codec(symphonia::core::codecs::audio::well_known::CODEC_ID_FLAC)
                    .with_extra_data(
                        streaminfo(format, block_frames(format.rate)).into_boxed_slice(),
                    );
                let d = symphonia::default::get_codecs()
                    .make_audio_decoder(&params, &AudioDecoderOptions::default())
                    .map_err(|e| format!("FLAC decoder: {e}"))?;
                Some(d)
            }
            Codec::Opus => None,
        };
        let opus = match codec {
            Codec::Opus => Some(
                opus::Decoder::new(48_000, opus::Channels::Stereo)
                    .map_err(|e| format!("opus decoder: {e}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            format,
            flac,
            opus,
            planar: vec![Vec::new(); format.channels as usize],
        })
    }

    /// Decode one block of `frames` frames into `out` (interleaved,
    /// replaced). A payload that does not decode to exactly that many
    /// frames is an error (the caller treats the block as lost).
    pub fn decode(
        &mut self,
        payload: &[u8],
        frames: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), String> {
        let ch = self.format.channels as usize;
        out.clear();
        if let Some(d) = self.opus.as_mut() {
            out.resize(OPUS_FRAMES * 2, 0.0);
            let n = d
                .decode_float(payload, out, false)
                .map_err(|e| format!("opus block: {e}"))?;
            if n != OPUS_FRAMES || frames != OPUS_FRAMES {
                out.clear();
                return Err(format!("opus block of {n} frames"));
            }
            return Ok(());
        }
        match &mut self.flac {
            None => {
                if payload.len() != frames * ch * 4 {
                    return Err("PCM block of the wrong length".into());
                }
                out.extend(
                    payload
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
                if out.iter().any(|v| !v.is_finite()) {
                    out.clear();
                    return Err("PCM block with NaN or infinite samples".into());
                }
                Ok(())
            }
            Some(d) => {
                let packet = symphonia::core::packet::Packet::new(
                    0,
                    symphonia::core::units::Timestamp::new(0),
                    symphonia::core::units::Duration::new(frames as u64),
                    payload.to_vec(),
                );
                let buf = d.decode(&packet).map_err(|e| format!("FLAC block: {e}"))?;
                if buf.frames() != frames || buf.spec().channels().count() != ch {
                    return Err(format!(
                        "FLAC block of {} frames, {} expected",
                        buf.frames(),
                        frames
                    ));
                }
                buf.copy_to_vecs_planar::<i32>(&mut self.planar);
                // symphonia left-justifies samples in 32 bits.
                let shift = 32 - self.format.bits;
                for i in 0..frames {
                    for c in &self.planar {
                        out.push(dequantize(c[i] >> shift, self.format.bits));
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(n: usize, seed: u32) -> Vec<f32> {
        let mut x = seed;
        (0..n * 2)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                0.5 * ((i / 2) as f32 * 0.03).sin() + 0.01 * noise
            })
            .collect()
    }

    #[test]
    fn flac_blocks_decode_to_the_quantized_input_exactly() {
        for (rate, bits) in [(48_000, 24), (44_100, 16), (96_000, 24)] {
            let f = Format {
                rate,
                channels: 2,
                bits,
            };
            let mut enc = BlockEncoder::new(Codec::Flac, f).expect("encoder");
            let mut dec = BlockDecoder::new(Codec::Flac, f).expect("decoder");
            let n = block_frames(rate);
            for k in 0..20 {
                let x = signal(n, k);
                let mut bytes = Vec::new();
                enc.encode(&x, &mut bytes).expect("encode");
                assert!(bytes.len() < n * 2 * (bits as usize / 8), "compressed");
                let mut y = Vec::new();
                dec.decode(&bytes, n, &mut y).expect("decode");
                let want: Vec<f32> = x
                    .iter()
                    .map(|v| dequantize(quantize(*v, bits), bits))
                    .collect();
                assert_eq!(y, want, "{rate} Hz {bits}-bit block {k}");
            }
            // Garbage is an error, not a panic.
            let mut y = Vec::new();
            assert!(dec.decode(&[0xff, 0xf8, 1, 2, 3], n, &mut y).is_err());
        }
    }

    #[test]
    fn pcm_blocks_are_bit_exact() {
        let f = Format {
            rate: 48_000,
            channels: 2,
            bits: 24,
        };
        let mut enc = BlockEncoder::new(Codec::Pcm, f).expect("encoder");
        let mut dec = BlockDecoder::new(Codec::Pcm, f).expect("decoder");
        let x = signal(480, 3);
        let mut bytes = Vec::new();
        enc.encode(&x, &mut bytes).expect("encode");
        let mut y = Vec::new();
        dec.decode(&bytes, 480, &mut y).expect("decode");
        assert_eq!(x, y);
        assert!(dec.decode(&bytes[..10], 480, &mut y).is_err());
    }

    /// Opus at 256 kb/s: about 320 bytes a block, placed on the 48 kHz
    /// timeline so the decoded tone lines up with the input (checked by
    /// the error after the encoder's delay), at 48 and 44.1 kHz.
    #[test]
    fn opus_blocks_line_up_and_stay_close() {
        for rate in [48_000u32, 44_100] {
            let f = Format {
                rate,
                channels: 2,
                bits: 24,
            };
            let mut enc = BlockEncoder::new(Codec::Opus, f).expect("encoder");
            let df = decoded_format(Codec::Opus, f);
            let mut dec = BlockDecoder::new(Codec::Opus, df).expect("decoder");
            let n = block_frames(rate);
            let tone =
                |k: u64| (std::f64::consts::TAU * 1000.0 * k as f64 / 48_000.0).sin() as f32 * 0.5;
            let mut decoded = std::collections::BTreeMap::new();
            let mut bytes_total = 0;
            for b in 0..200u64 {
                let x: Vec<f32> = (0..n as u64)
                    .flat_map(|i| {
                        let t = (b * n as u64 + i) as f64 / f64::from(rate);
                        let v = (std::f64::consts::TAU * 1000.0 * t).sin() as f32 * 0.5;
                        [v, v]
                    })
                    .collect();
                let mut bytes = Vec::new();
                enc.encode(&x, &mut bytes).expect("encode");
                bytes_total += bytes.len();
                let (first, frames) = enc.placement(b * n as u64, n as u32);
                let mut y = Vec::new();
                dec.decode(&bytes, frames as usize, &mut y).expect("decode");
                for (i, v) in y.iter().step_by(2).enumerate() {
                    decoded.insert(first + i as u64, *v);
                }
            }
            assert!(
                (300..=340).contains(&(bytes_total / 200)),
                "{} bytes a block",
                bytes_total / 200
            );
            let (mut err, mut sig) = (0.0f64, 0.0f64);
            for (k, v) in decoded.range(4800..) {
                let want = tone(*k);
                err += f64::from(v - want).powi(2);
                sig += f64::from(want).powi(2);
            }
            let snr = 10.0 * (sig / err).log10();
            // At 44.1 kHz the converter's delay is not a whole number of
            // 48 kHz frames: half a frame of misalignment caps the SNR of a
            // 1 kHz tone near 23 dB (measured 22.6), the codec itself is
            // cleaner (48 kHz: measured above 30 dB).
            let floor = if rate == 48_000 { 30.0 } else { 20.0 };
            assert!(snr > floor, "{rate} Hz: SNR {snr:.1} dB");
        }
    }
}
