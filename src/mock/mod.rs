//! A simulated iPhone, composed from the device roles of the same protocol code the host uses.
//! Used by tests, benchmarks, `--demo` and the `iphone-mock` binary. Production code never
//! depends on this module (the cli's `--demo` hook is the one bridge).

// missing_docs: the simulated iPhone is a test fixture API (tests, examples, iphone-mock); its knobs are described where they are parsed.
#![allow(missing_docs)]

pub mod afcd;
pub(crate) mod builder;
pub mod cli;
pub mod demo;
pub(crate) mod fleet;
#[cfg(feature = "gadget")]
pub(crate) mod gadget;
pub mod library;
pub mod lockdownd;
pub mod muxd_server;
pub mod phone;
pub mod profile;
pub mod session_tls;
pub(crate) mod stall;
