//! iphone-import: copy an iPhone's photos and videos over USB, and prove the copy is complete.
//!
//! Layers import downward only: `cli` → `import` → `library` → `afc` / `lockdown` → `usbmux`.
//! `untrusted` (bounded plist decoding, escaping of phone strings) sits below every layer.
//! `mock` composes the device roles of the same protocol code into a simulated iPhone (cargo
//! feature `mock`, on by default; the product builds without it).
//!
//! Visibility: `pub` is only what the binaries, the integration tests, the examples and the fuzz
//! targets use; everything else is `pub(crate)` (docs/architecture.md, "Visibility").
//! `unreachable_pub` keeps a `pub` from appearing where nothing outside could reach it.

#![warn(unreachable_pub, missing_docs)]

pub mod afc;
pub mod cli;
pub mod import;
pub mod library;
pub mod lockdown;
#[cfg(feature = "mock")]
pub mod mock;
pub(crate) mod untrusted;
pub mod usbmux;
