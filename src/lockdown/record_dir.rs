//! A directory of pair records, the layout of `/var/lib/lockdown`: our own store and the
//! system's read-only one. File work runs on tokio's blocking pool.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use plist::{Dictionary, Value};

use super::error::RecordError;
use super::pair_record::{MAX_RECORD_FILE, PairRecord, PairRecordSource};
use crate::untrusted::plist::{Limits, decode_dict};

/// Records in a directory: `<dir>/<UDID>.plist` and `<dir>/SystemConfiguration.plist`
/// (SystemBUID), the layout of `/var/lib/lockdown`.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    dir: PathBuf,
    writable: bool,
}

impl DirectoryStore {
    /// Our own store in `dir`: created 0700 on first save, files 0600, atomic writes.
    pub fn own(dir: impl Into<PathBuf>) -> DirectoryStore {
        DirectoryStore {
            dir: dir.into(),
            writable: true,
        }
    }

    /// A store we only read (the system's `/var/lib/lockdown`).
    pub(crate) fn read_only(dir: impl Into<PathBuf>) -> DirectoryStore {
        DirectoryStore {
            dir: dir.into(),
            writable: false,
        }
    }

    /// `$XDG_DATA_HOME/iphone-import/lockdown` (default `~/.local/share/iphone-import/lockdown`).
    pub(crate) fn default_own_dir() -> Result<PathBuf, RecordError> {
        Ok(dirs::data_dir()
            .ok_or(RecordError::NoDataDir)?
            .join("iphone-import")
            .join("lockdown"))
    }

    /// Where usbmuxd and limd keep records on Linux.
    pub(crate) const SYSTEM_DIR: &'static str = "/var/lib/lockdown";

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn record_path(&self, udid: &str) -> Result<PathBuf, RecordError> {
        // The UDID comes from the device: it must not be able to name another file.
        if udid.is_empty() || !udid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(RecordError::Parse {
                what: "UDID".into(),
                detail: format!("{udid:?} is not a UDID"),
            });
        }
        Ok(self.dir.join(format!("{udid}.plist")))
    }

    fn read_file(path: &Path) -> Result<Option<Vec<u8>>, RecordError> {
        use std::io::Read;
        let io_err = |source| RecordError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_RECORD_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() as u64 > MAX_RECORD_FILE {
            return Err(RecordError::Parse {
                what: path.display().to_string(),
                detail: "file too large".into(),
            });
        }
        Ok(Some(bytes))
    }

    /// Read the record; a system store we may not read counts as empty.
    pub(crate) fn read_sync(&self, udid: &str) -> Result<Option<PairRecord>, RecordError> {
        let path = self.record_path(udid)?;
        match Self::read_file(&path) {
            Ok(Some(bytes)) => Ok(Some(PairRecord::from_bytes(
                &bytes,
                &path.display().to_string(),
            )?)),
            Ok(None) => Ok(None),
            Err(RecordError::Io { source, .. })
                if !self.writable && source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                tracing::debug!(
                    "cannot read {}: permission denied; skipping",
                    path.display()
                );
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn ensure_dir(&self) -> Result<(), RecordError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let io_err = |source| RecordError::Io {
            path: self.dir.clone(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io_err)?;
        // An existing folder may have looser permissions; keys live here.
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).map_err(io_err)
    }

    /// Write `bytes` to `name` atomically: temp file (0600) + fsync + rename + fsync of the folder.
    fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), RecordError> {
        use std::os::unix::fs::OpenOptionsExt;
        if !self.writable {
            return Err(RecordError::ReadOnly(self.dir.clone()));
        }
        self.ensure_dir()?;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let io_err = |source| RecordError::Io {
            path: tmp.clone(),
            source,
        };
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io_err)
    }

    pub(crate) fn save_sync(&self, udid: &str, record: &PairRecord) -> Result<(), RecordError> {
        let path = self.record_path(udid)?;
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        self.write_atomic(&name, &record.to_xml())
    }

    pub(crate) fn delete_sync(&self, udid: &str) -> Result<(), RecordError> {
        if !self.writable {
            return Err(RecordError::ReadOnly(self.dir.clone()));
        }
        let path = self.record_path(udid)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(RecordError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    /// SystemBUID from `SystemConfiguration.plist`, if present.
    pub(crate) fn system_buid_sync(&self) -> Result<Option<String>, RecordError> {
        let path = self.dir.join("SystemConfiguration.plist");
        let bytes = match Self::read_file(&path) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(RecordError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let what = path.display().to_string();
        match decode_dict(&bytes, &Limits::MESSAGE) {
            Ok(d) => Ok(d
                .get("SystemBUID")
                .and_then(Value::as_string)
                .map(str::to_string)),
            Err(e) => Err(RecordError::Parse {
                what,
                detail: e.to_string(),
            }),
        }
    }

    /// Our SystemBUID: the stored one, or a new random upper-case UUID, stored for next time.
    pub(crate) fn system_buid_or_create(&self) -> Result<String, RecordError> {
        if let Some(buid) = self.system_buid_sync()? {
            return Ok(buid);
        }
        let buid = uuid::Uuid::new_v4().to_string().to_uppercase();
        let mut d = Dictionary::new();
        d.insert("SystemBUID".into(), buid.clone().into());
        let mut out = Vec::new();
        plist::to_writer_xml(&mut out, &Value::Dictionary(d)).expect("plist to memory");
        self.write_atomic("SystemConfiguration.plist", &out)?;
        Ok(buid)
    }
}

/// Record files are read, written and fsynced on a blocking thread, never on an async worker
/// (a slow disk or a stuck network home would stall every task sharing that worker).
impl PairRecordSource for DirectoryStore {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn read<'a>(&'a self, udid: &'a str) -> BoxFuture<'a, Result<Option<PairRecord>, RecordError>> {
        let (store, udid) = (self.clone(), udid.to_string());
        Box::pin(off_runtime(move || store.read_sync(&udid)))
    }

    fn save<'a>(
        &'a self,
        udid: &'a str,
        record: &'a PairRecord,
    ) -> BoxFuture<'a, Result<(), RecordError>> {
        let (store, udid, record) = (self.clone(), udid.to_string(), record.clone());
        Box::pin(off_runtime(move || store.save_sync(&udid, &record)))
    }

    fn delete<'a>(&'a self, udid: &'a str) -> BoxFuture<'a, Result<(), RecordError>> {
        let (store, udid) = (self.clone(), udid.to_string());
        Box::pin(off_runtime(move || store.delete_sync(&udid)))
    }

    fn system_buid(&self) -> BoxFuture<'_, Result<Option<String>, RecordError>> {
        let store = self.clone();
        Box::pin(off_runtime(move || store.system_buid_sync()))
    }
}

/// Run the file work `work` on tokio's blocking pool.
pub(super) async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RecordError> + Send + 'static,
) -> Result<T, RecordError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RecordError::Io {
            path: PathBuf::from("(pair record task)"),
            source: std::io::Error::other(e.to_string()),
        })?
}
