//! The front's lasting state: the BUID (saved as usbmuxd's `SystemConfiguration.plist`) and the
//! pair records by UDID, in memory or as `<UDID>.plist` files in a state directory. A leaf: it
//! knows nothing of sockets or requests.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plist::{Dictionary, Value};

/// Most pair records kept in memory (one per phone is the real need).
const MAX_MEMORY_RECORDS: usize = 256;
/// File in the state directory holding the BUID, named and shaped as usbmuxd's.
pub(super) const SYSTEM_CONFIG_FILE: &str = "SystemConfiguration.plist";

pub(super) fn new_buid() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// The BUID saved in `dir`, or a new one saved there.
pub(super) fn load_or_create_buid(dir: &Path) -> io::Result<String> {
    let path = dir.join(SYSTEM_CONFIG_FILE);
    if let Ok(value) = Value::from_file(&path)
        && let Some(buid) = value
            .as_dictionary()
            .and_then(|d| d.get("SystemBUID"))
            .and_then(Value::as_string)
    {
        return Ok(buid.to_string());
    }
    let buid = new_buid();
    let mut d = Dictionary::new();
    d.insert("SystemBUID".into(), Value::String(buid.clone()));
    let mut bytes = Vec::new();
    Value::Dictionary(d)
        .to_writer_xml(&mut bytes)
        .map_err(io::Error::other)?;
    write_atomically(&path, &bytes)?;
    Ok(buid)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Pair records by UDID, in memory or as `<UDID>.plist` files.
pub(super) struct PairRecordStore {
    pub(super) dir: Option<PathBuf>,
    pub(super) memory: Mutex<HashMap<String, Vec<u8>>>,
}

impl PairRecordStore {
    /// The record id comes from an untrusted client and may become a file name: only UDID
    /// characters are allowed, so it cannot leave the state directory.
    fn check_id(udid: &str) -> io::Result<()> {
        let ok = !udid.is_empty()
            && udid.len() <= 64
            && udid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid pair record id",
            ))
        }
    }

    fn path(dir: &Path, udid: &str) -> PathBuf {
        dir.join(format!("{udid}.plist"))
    }

    pub(super) fn read(&self, udid: &str) -> io::Result<Option<Vec<u8>>> {
        Self::check_id(udid)?;
        match &self.dir {
            Some(dir) => match std::fs::read(Self::path(dir, udid)) {
                Ok(data) => Ok(Some(data)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            None => Ok(self.memory.lock().expect("records lock").get(udid).cloned()),
        }
    }

    pub(super) fn save(&self, udid: &str, data: &[u8]) -> io::Result<()> {
        Self::check_id(udid)?;
        match &self.dir {
            Some(dir) => write_atomically(&Self::path(dir, udid), data),
            None => {
                let mut memory = self.memory.lock().expect("records lock");
                // Bounded: a misbehaving client cannot grow the mock without limit.
                if memory.len() >= MAX_MEMORY_RECORDS && !memory.contains_key(udid) {
                    return Err(io::Error::other("too many pair records"));
                }
                memory.insert(udid.to_string(), data.to_vec());
                Ok(())
            }
        }
    }

    /// True if a record was removed.
    pub(super) fn delete(&self, udid: &str) -> io::Result<bool> {
        Self::check_id(udid)?;
        match &self.dir {
            Some(dir) => match std::fs::remove_file(Self::path(dir, udid)) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            },
            None => Ok(self
                .memory
                .lock()
                .expect("records lock")
                .remove(udid)
                .is_some()),
        }
    }
}
