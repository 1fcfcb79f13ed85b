//! AFC operation numbers (limd `src/afc.h`).

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

use std::fmt;

macro_rules! opcodes {
    ($($name:ident = $code:literal),* $(,)?) => {
        /// The `operation` field of an AFC packet.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Opcode {
            $($name,)*
            Unknown(u64),
        }

        impl Opcode {
            pub fn from_code(code: u64) -> Opcode {
                match code {
                    $($code => Opcode::$name,)*
                    other => Opcode::Unknown(other),
                }
            }

            pub fn code(self) -> u64 {
                match self {
                    $(Opcode::$name => $code,)*
                    Opcode::Unknown(code) => code,
                }
            }

            fn name(self) -> &'static str {
                match self {
                    $(Opcode::$name => stringify!($name),)*
                    Opcode::Unknown(_) => "Unknown",
                }
            }
        }
    };
}

opcodes! {
    Status = 0x01,
    Data = 0x02,
    ReadDir = 0x03,
    ReadFile = 0x04,
    WriteFile = 0x05,
    WritePart = 0x06,
    TruncateFile = 0x07,
    RemovePath = 0x08,
    MakeDir = 0x09,
    GetFileInfo = 0x0A,
    GetDeviceInfo = 0x0B,
    WriteFileAtomic = 0x0C,
    FileRefOpen = 0x0D,
    FileRefOpenResult = 0x0E,
    FileRefRead = 0x0F,
    FileRefWrite = 0x10,
    FileRefSeek = 0x11,
    FileRefTell = 0x12,
    FileRefTellResult = 0x13,
    FileRefClose = 0x14,
    FileRefSetFileSize = 0x15,
    GetConnectionInfo = 0x16,
    SetConnectionOptions = 0x17,
    RenamePath = 0x18,
    SetFsBlockSize = 0x19,
    SetSocketBlockSize = 0x1A,
    FileRefLock = 0x1B,
    MakeLink = 0x1C,
    GetFileHash = 0x1D,
    SetModTime = 0x1E,
    GetFileHashWithRange = 0x1F,
    SetImmutableHint = 0x20,
    GetSizeOfPathContents = 0x21,
    RemovePathAndContents = 0x22,
    DirectoryEnumeratorRefOpen = 0x23,
    DirectoryEnumeratorRefOpenResult = 0x24,
    DirectoryEnumeratorRefRead = 0x25,
    DirectoryEnumeratorRefClose = 0x26,
    FileRefReadWithOffset = 0x27,
    FileRefWriteWithOffset = 0x28,
}

impl Opcode {
    /// Operations that change the phone's file system. The host never sends them; the
    /// simulated phone refuses and counts them.
    pub(crate) fn changes_phone(self) -> bool {
        matches!(
            self,
            Opcode::WriteFile
                | Opcode::WritePart
                | Opcode::TruncateFile
                | Opcode::RemovePath
                | Opcode::MakeDir
                | Opcode::WriteFileAtomic
                | Opcode::FileRefWrite
                | Opcode::FileRefSetFileSize
                | Opcode::RenamePath
                | Opcode::MakeLink
                | Opcode::SetModTime
                | Opcode::SetImmutableHint
                | Opcode::RemovePathAndContents
                | Opcode::FileRefWriteWithOffset
        )
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opcode::Unknown(code) => write!(f, "operation 0x{code:02x}"),
            op => f.write_str(op.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 0..0x40u64 {
            assert_eq!(Opcode::from_code(code).code(), code);
        }
        assert_eq!(Opcode::from_code(0x0F), Opcode::FileRefRead);
        assert_eq!(Opcode::from_code(0x99), Opcode::Unknown(0x99));
    }

    #[test]
    fn read_side_operations_do_not_change_the_phone() {
        for op in [
            Opcode::ReadDir,
            Opcode::GetFileInfo,
            Opcode::GetDeviceInfo,
            Opcode::FileRefOpen,
            Opcode::FileRefRead,
            Opcode::FileRefSeek,
            Opcode::FileRefTell,
            Opcode::FileRefClose,
        ] {
            assert!(!op.changes_phone(), "{op}");
        }
        assert!(Opcode::RemovePath.changes_phone());
        assert!(Opcode::FileRefWrite.changes_phone());
    }
}
