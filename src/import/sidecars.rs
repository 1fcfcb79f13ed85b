//! `pull --xmp`: after the copies, every imported original of the selected assets gets its XMP
//! sidecar next to it, where the ledger says the original went. The pass covers files imported
//! by earlier runs too, so `pull --xmp` on an existing archive adds the sidecars, and a re-run
//! rewrites a sidecar whose facts changed on the phone without copying the original again.
//! A sidecar whose bytes already match is left alone; so is one that another program (digiKam,
//! darktable) edited while Photos did not change — the ledger keeps the BLAKE3 of what was
//! last written — and a file at that name that iphone-import never wrote. Writes are atomic (temp + fsync + rename
//! + folder fsync): a final path holds the old or the new sidecar, never a partial one.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::layout::RelPath;
use super::ledger::{Entry, Ledger, LedgerError, copy_key};
use super::xmp::{XmpName, render, sidecar_name};
use crate::library::Asset;

/// What the pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SidecarCounts {
    /// Sidecars that did not exist before.
    pub written: u64,
    /// Sidecars rewritten because the phone's metadata changed.
    pub updated: u64,
    pub unchanged: u64,
    /// Sidecars left as they are although they differ from what Photos says: edited by another
    /// program since `pull --xmp` wrote them (while Photos did not change), or not written by
    /// iphone-import at all.
    pub kept: u64,
    /// Sidecars that could not be written (each reported; the run goes on).
    pub failed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot write the sidecar {path}: {source}; check that DEST is writable and has room")]
    Write { path: PathBuf, source: io::Error },
}

/// Where the copies of `asset`'s original went (one per album with an `{album}` layout).
pub(super) fn copies(
    ledger: &Ledger,
    udid: &str,
    asset: &Asset,
) -> Result<Vec<Entry>, LedgerError> {
    let Some(original) = asset.original() else {
        return Ok(Vec::new());
    };
    let mut keys = vec![copy_key(None), copy_key(Some(""))];
    keys.extend(asset.albums.iter().map(|a| copy_key(Some(a))));
    let mut out = Vec::new();
    for key in keys {
        if let Some(e) = ledger.lookup_copy(udid, &original.device_path, &key)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// The sidecar path of an imported file (`dest_path` is DEST-relative, `/`-separated).
pub fn sidecar_path(dest: &Path, dest_path: &str, style: XmpName) -> PathBuf {
    let (dir, name) = dest_path.rsplit_once('/').unwrap_or(("", dest_path));
    let mut p = dest.to_path_buf();
    if !dir.is_empty() {
        p.push(dir);
    }
    p.push(sidecar_name(name, style));
    p
}

/// The sidecar's DEST-relative path, `/`-separated (its key in the ledger).
fn sidecar_rel(dest_path: &str, style: XmpName) -> String {
    match dest_path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/{}", sidecar_name(name, style)),
        None => sidecar_name(dest_path, style),
    }
}

/// Writes (or refreshes) the sidecars of `assets`' imported originals.
pub(crate) fn write_sidecars(
    dest: &Path,
    tmp_dir: &Path,
    ledger: &Ledger,
    udid: &str,
    assets: &[&Asset],
    style: XmpName,
) -> Result<SidecarCounts, SidecarError> {
    let mut counts = SidecarCounts::default();
    for asset in assets {
        let entries = copies(ledger, udid, asset)?;
        if entries.is_empty() {
            continue;
        }
        let bytes = render(asset);
        for e in entries {
            // An original moved away from DEST gets no orphan sidecar (verify reports it).
            if !dest.join(&e.dest_path).is_file() {
                continue;
            }
            let path = sidecar_path(dest, &e.dest_path, style);
            let rel = sidecar_rel(&e.dest_path, style);
            let digest = *blake3::hash(&bytes).as_bytes();
            let recorded = ledger.sidecar_digest(&rel)?;
            let old = fs::read(&path).ok();
            match (&old, recorded) {
                (Some(old), _) if *old == bytes => {
                    if recorded != Some(digest) {
                        ledger.record_sidecar(&rel, &digest)?;
                    }
                    counts.unchanged += 1;
                    continue;
                }
                // Photos is as when we wrote it: the difference is someone else's edit.
                (Some(_), Some(r)) if r == digest => {
                    counts.kept += 1;
                    continue;
                }
                // Not ours: never replace a file iphone-import did not write.
                (Some(_), None) => {
                    counts.kept += 1;
                    continue;
                }
                _ => {}
            }
            match replace(tmp_dir, &path, &bytes) {
                Ok(()) => {
                    ledger.record_sidecar(&rel, &digest)?;
                    if old.is_some() {
                        counts.updated += 1;
                    } else {
                        counts.written += 1;
                    }
                }
                Err(err) => {
                    // One sidecar's failure costs that sidecar, not the run.
                    tracing::warn!("{err}");
                    counts.failed += 1;
                }
            }
        }
    }
    Ok(counts)
}

/// `verify`: the sidecars `pull --xmp` wrote that are no longer in DEST (DEST-relative paths).
/// A path the ledger holds that is not a plain relative path counts as missing.
pub(crate) fn missing_sidecars(dest: &Path, ledger: &Ledger) -> Result<Vec<String>, LedgerError> {
    Ok(ledger
        .sidecar_paths()?
        .into_iter()
        .filter(|p| match RelPath::parse(p) {
            Ok(rel) => !rel.under(dest).is_file(),
            Err(_) => true,
        })
        .collect())
}

/// Atomically puts `bytes` at `path` (temp in `tmp_dir`, same filesystem as DEST).
fn replace(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), SidecarError> {
    let err = |source| SidecarError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = tmp_dir.join(format!(
        "sidecar-{}.xmp.part",
        blake3::hash(path.as_os_str().as_encoded_bytes()).to_hex()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::{AssetKind, Resource, ResourceRole};

    fn asset(favorite: bool) -> Asset {
        Asset {
            uuid: Some("U1".into()),
            kind: AssetKind::Photo,
            resources: vec![Resource {
                role: ResourceRole::Original,
                device_path: "DCIM/100APPLE/IMG_0001.HEIC".into(),
                size: Some(3),
                mtime_ns: Some(1),
                birth_ns: None,
            }],
            created: None,
            hidden: false,
            trashed: false,
            trashed_at: None,
            icloud_only: false,
            original_missing: false,
            only_copy_on_phone: false,
            favorite,
            albums: Vec::new(),
            meta: Default::default(),
        }
    }

    #[test]
    fn written_then_unchanged_then_updated_and_only_for_imported_files() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path();
        let tmp = dest.join("tmp");
        fs::create_dir_all(&tmp).unwrap();
        fs::create_dir_all(dest.join("2025")).unwrap();
        let mut ledger = Ledger::open(dest).unwrap();
        let run = |ledger: &Ledger, a: &Asset| {
            write_sidecars(dest, &tmp, ledger, "UDID", &[a], XmpName::Full).unwrap()
        };
        // Not imported yet: no sidecar.
        assert_eq!(run(&ledger, &asset(false)), SidecarCounts::default());
        ledger
            .record(
                &Entry {
                    udid: "UDID".into(),
                    device_path: "DCIM/100APPLE/IMG_0001.HEIC".into(),
                    copy: String::new(),
                    size: 3,
                    device_mtime_ns: 1,
                    dest_path: "2025/IMG_0001.HEIC".into(),
                    blake3: [0; 32],
                    imported_at_ns: 1,
                },
                "phone",
            )
            .unwrap();
        // The original is not (or no longer) in DEST: no orphan sidecar.
        assert_eq!(run(&ledger, &asset(false)), SidecarCounts::default());
        fs::write(dest.join("2025/IMG_0001.HEIC"), b"abc").unwrap();
        let c = run(&ledger, &asset(false));
        assert_eq!((c.written, c.updated, c.unchanged), (1, 0, 0));
        let path = dest.join("2025/IMG_0001.HEIC.xmp");
        assert!(!fs::read_to_string(&path).unwrap().contains("Rating"));
        let c = run(&ledger, &asset(false));
        assert_eq!((c.written, c.updated, c.unchanged), (0, 0, 1));
        let c = run(&ledger, &asset(true));
        assert_eq!((c.written, c.updated, c.unchanged), (0, 1, 0));
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .contains(r#"xmp:Rating="5""#)
        );
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0, "no temp left");
        assert!(missing_sidecars(dest, &ledger).unwrap().is_empty());
        // Edited by another program while Photos did not change: kept; Photos changes: rewritten.
        fs::write(&path, b"<edited by digiKam/>").unwrap();
        let c = run(&ledger, &asset(true));
        assert_eq!((c.kept, c.updated), (1, 0));
        assert_eq!(fs::read(&path).unwrap(), b"<edited by digiKam/>");
        let c = run(&ledger, &asset(false));
        assert_eq!((c.kept, c.updated), (0, 1));
        // A file iphone-import never wrote is never replaced.
        let foreign = dest.join("2025/IMG_0001.xmp");
        fs::write(&foreign, b"mine").unwrap();
        let c =
            write_sidecars(dest, &tmp, &ledger, "UDID", &[&asset(true)], XmpName::Stem).unwrap();
        assert_eq!((c.kept, c.written), (1, 0));
        assert_eq!(fs::read(&foreign).unwrap(), b"mine");
        // A sidecar that cannot be written is counted and reported; the pass goes on.
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        fs::write(path.join("x"), b"").unwrap();
        let c = run(&ledger, &asset(false));
        assert_eq!((c.written, c.updated, c.failed), (0, 0, 1));
        assert_eq!(
            missing_sidecars(dest, &ledger).unwrap(),
            ["2025/IMG_0001.HEIC.xmp"],
            "verify sees the sidecar gone"
        );
    }
}
