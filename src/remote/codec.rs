//! Coding the monitor stream's ~10 ms blocks: raw 32-bit float (PCM), or
//! FLAC frames of the stream's bit depth (lossless: the decoded samples are
//! the engine's output rounded to that depth, exactly). Opus is not built
//! in this version: asking for it is a clear error, not a silent fallback.
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

/// Encodes blocks of interleaved float audio.
pub struct BlockEncoder {
    codec: Codec,
    format: Format,
    flac: Option<FlacEncoder>,
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
            Codec::Opus => {
                return Err(
                    "the opus codec is not available in this build of lathe (use flac or pcm)"
                        .into(),
                );
            }
        };
        Ok(Self {
            codec,
            format,
            flac,
        })
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Append the coded form of `interleaved` (whole frames) to `out`.
    pub fn encode(&mut self, interleaved: &[f32], out: &mut Vec<u8>) -> Result<(), String> {
        let ch = self.format.channels as usize;
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
    planar: Vec<Vec<i32>>,
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
            Codec::Opus => {
                return Err(
                    "the opus codec is not available in this build of lathe (use flac or pcm)"
                        .into(),
                );
            }
        };
        Ok(Self {
            format,
            flac,
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
        assert!(BlockEncoder::new(Codec::Opus, f).is_err_and(|e| e.contains("opus")));
    }
}
