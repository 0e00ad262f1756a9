//! The workstation: a keyboard-driven ratatui interface over the engine
//! and the renderer. [`app`] is the model and its update function,
//! [`action`] every user intent, [`keymap`] the bindings as data,
//! [`theme`] the colours, [`draw`] the panes, [`event_loop`] the terminal,
//! the engine and background work.

pub mod action;
pub mod app;
pub mod commands;
pub mod event_loop;
pub mod keymap;
pub mod panes;
pub mod params;
mod runner;
mod terminal;
pub mod theme;
