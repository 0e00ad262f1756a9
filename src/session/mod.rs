//! The data model users edit and save: chain settings (and, later, album
//! sessions), as TOML.

pub mod album;
pub mod chain;
pub mod presets;

pub use chain::{ChainConfig, ModuleConfig};
