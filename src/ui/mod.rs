//! The workstation: a keyboard-driven ratatui interface over the engine
//! and the renderer. [`app`] is the model and its update function,
//! [`commands`] the command line, [`action`] every user intent, [`keymap`]
//! the bindings as data, [`theme`] the colours, [`panes`] one file per pane
//! (its drawing and its keys), [`event_loop`] the terminal loop, with the
//! background work and the engine in `runner` and the terminal's set-up and
//! restoring in `terminal`. Plans come from [`crate::plan`].

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
