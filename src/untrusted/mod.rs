//! Helpers for data that comes from the phone or from its files, usable by every layer (this
//! module depends on nothing else in the crate).
//!
//! - [`file_name`]: the one check that a name from the phone is a plain path component.
//! - [`plist`]: the one plist decoder for untrusted bytes (size, depth and work bounded while
//!   parsing).
//! - [`text`]: the one escaping of phone-supplied strings for terminals and logs.

pub(crate) mod file_name;
pub(crate) mod plist;
pub(crate) mod text;
