//! AFC status codes (the 8-byte value of a STATUS reply), typed.

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

use std::fmt;

/// A status the phone's AFC service returns. Codes 0–23 are the ones the device sends;
/// anything else is kept as `Unknown` so a future iOS code is reported, not lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AfcStatus {
    Success,
    UnknownError,
    OpHeaderInvalid,
    NoResources,
    ReadError,
    WriteError,
    UnknownPacketType,
    InvalidArg,
    ObjectNotFound,
    ObjectIsDir,
    PermDenied,
    ServiceNotConnected,
    OpTimeout,
    TooMuchData,
    EndOfData,
    OpNotSupported,
    ObjectExists,
    ObjectBusy,
    NoSpaceLeft,
    OpWouldBlock,
    IoError,
    OpInterrupted,
    OpInProgress,
    InternalError,
    Unknown(u64),
}

/// Every named status in code order; index = code.
const NAMED: [AfcStatus; 24] = [
    AfcStatus::Success,
    AfcStatus::UnknownError,
    AfcStatus::OpHeaderInvalid,
    AfcStatus::NoResources,
    AfcStatus::ReadError,
    AfcStatus::WriteError,
    AfcStatus::UnknownPacketType,
    AfcStatus::InvalidArg,
    AfcStatus::ObjectNotFound,
    AfcStatus::ObjectIsDir,
    AfcStatus::PermDenied,
    AfcStatus::ServiceNotConnected,
    AfcStatus::OpTimeout,
    AfcStatus::TooMuchData,
    AfcStatus::EndOfData,
    AfcStatus::OpNotSupported,
    AfcStatus::ObjectExists,
    AfcStatus::ObjectBusy,
    AfcStatus::NoSpaceLeft,
    AfcStatus::OpWouldBlock,
    AfcStatus::IoError,
    AfcStatus::OpInterrupted,
    AfcStatus::OpInProgress,
    AfcStatus::InternalError,
];

impl AfcStatus {
    pub fn from_code(code: u64) -> AfcStatus {
        usize::try_from(code)
            .ok()
            .and_then(|i| NAMED.get(i).copied())
            .unwrap_or(AfcStatus::Unknown(code))
    }

    pub fn code(self) -> u64 {
        match self {
            AfcStatus::Unknown(code) => code,
            named => NAMED
                .iter()
                .position(|s| *s == named)
                .expect("named status is in the table") as u64,
        }
    }

    pub(crate) fn is_success(self) -> bool {
        self == AfcStatus::Success
    }

    fn text(self) -> &'static str {
        match self {
            AfcStatus::Success => "success",
            AfcStatus::UnknownError => "unknown error",
            AfcStatus::OpHeaderInvalid => "operation header invalid",
            AfcStatus::NoResources => "no resources",
            AfcStatus::ReadError => "read error",
            AfcStatus::WriteError => "write error",
            AfcStatus::UnknownPacketType => "unknown packet type",
            AfcStatus::InvalidArg => "invalid argument",
            AfcStatus::ObjectNotFound => "object not found",
            AfcStatus::ObjectIsDir => "object is a directory",
            AfcStatus::PermDenied => "permission denied",
            AfcStatus::ServiceNotConnected => "service not connected",
            AfcStatus::OpTimeout => "operation timed out",
            AfcStatus::TooMuchData => "too much data",
            AfcStatus::EndOfData => "end of data",
            AfcStatus::OpNotSupported => "operation not supported",
            AfcStatus::ObjectExists => "object exists",
            AfcStatus::ObjectBusy => "object busy",
            AfcStatus::NoSpaceLeft => "no space left",
            AfcStatus::OpWouldBlock => "operation would block",
            AfcStatus::IoError => "I/O error",
            AfcStatus::OpInterrupted => "operation interrupted",
            AfcStatus::OpInProgress => "operation in progress",
            AfcStatus::InternalError => "internal error",
            AfcStatus::Unknown(_) => "unknown status",
        }
    }
}

impl From<u64> for AfcStatus {
    fn from(code: u64) -> Self {
        AfcStatus::from_code(code)
    }
}

impl fmt::Display for AfcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (AFC status {})", self.text(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for code in 0..=23u64 {
            let s = AfcStatus::from_code(code);
            assert!(
                !matches!(s, AfcStatus::Unknown(_)),
                "code {code} must be named"
            );
            assert_eq!(s.code(), code);
        }
        assert_eq!(AfcStatus::from_code(8), AfcStatus::ObjectNotFound);
        assert_eq!(AfcStatus::from_code(10), AfcStatus::PermDenied);
        assert_eq!(AfcStatus::from_code(20), AfcStatus::IoError);
    }

    #[test]
    fn unknown_codes_are_kept() {
        for code in [24u64, 30, 99, u64::MAX] {
            let s = AfcStatus::from_code(code);
            assert_eq!(s, AfcStatus::Unknown(code));
            assert_eq!(s.code(), code);
            assert!(s.to_string().contains(&code.to_string()));
        }
    }
}
