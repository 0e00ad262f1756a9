//! Hearing a remote lathe: the engine's monitor output (exactly what it
//! sends to a sound card) streamed to another machine over SSH.
//!
//! - [`hub`]: in the process that plays (the interface, `lathe play`), a
//!   thread publishes the monitor output on a private Unix socket to every
//!   attached listener. The audio callback only copies frames into a
//!   lock-free ring; coding and sending happen on the hub's thread, and a
//!   slow listener is dropped behind (gap markers), never waited for.
//! - [`tap`]: `lathe tap`, run at the far end of `ssh`, relays that socket
//!   to its stdin/stdout.
//! - [`listen`]: `lathe listen HOST` (and `lathe remote HOST …`) runs
//!   `ssh HOST lathe tap`, decodes the stream, keeps a jitter buffer,
//!   corrects clock drift and plays it on the local sound card.
//! - [`protocol`], [`codec`], [`socket`]: the wire format, FLAC/PCM
//!   blocks, and the private runtime folder with its peer checks.
//!
//! Nothing listens on a network port: SSH does transport and authentication.

pub mod codec;
pub mod hub;
pub mod listen;
pub mod protocol;
pub mod socket;
pub mod tap;
