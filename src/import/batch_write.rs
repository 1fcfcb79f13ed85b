//! Group commit, the file side: a batch of complete temp files (see [`super::safe_write`]) is
//! made durable in one round, each file is given its final path (which the caller records in
//! the ledger as *intended* before anything moves), renamed there without replacing, and the
//! folders the batch touched are made durable in one more round. Only then does the caller
//! commit the batch's ledger rows. A final path therefore still holds either nothing or a
//! complete, durable file, while a batch of small files costs two flush rounds instead of three
//! fsyncs per file.
//!
//! How a round is made is [`super::flush`]'s business.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::layout::RelPath;
use super::safe_write::{Committed, Outcome, Ready, create_dirs, hash_file, rename_noreplace};
use super::write_error::{MAX_SUFFIX, SafeWriteError};

/// The final paths a batch has taken so far, and the folders whose entries it changes.
#[derive(Debug, Default)]
pub struct Claims {
    /// Full path → (length, BLAKE3) of the file that will be there.
    taken: HashMap<PathBuf, (u64, blake3::Hash)>,
    dirs: BTreeSet<PathBuf>,
}

impl Claims {
    /// Folders to make durable after the renames: each file's folder and the parent of every
    /// folder created for it.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(PathBuf::as_path)
    }

    /// The length of the file an earlier file of this batch will put at `path`, if any.
    pub(crate) fn len_at(&self, path: &Path) -> Option<u64> {
        self.taken.get(path).map(|(len, _)| *len)
    }
}

/// A final path chosen for a [`Ready`] file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub rel: RelPath,
    /// The path without a suffix, as the layout made it.
    pub base: RelPath,
    /// Collision suffix (0 = none).
    pub suffix: u32,
    /// The path holds (or an earlier file of the batch will hold) these very bytes already.
    pub present: bool,
}

impl Ready {
    /// The temp file.
    pub fn temp_path(&self) -> &Path {
        &self.path
    }

    /// BLAKE3 of the bytes written.
    pub fn blake3(&self) -> blake3::Hash {
        self.hash
    }

    /// Bytes written.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no byte was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Chooses `DEST/rel`, or `rel` with the first suffix ≥ `first_suffix`, that is free both
    /// on disk and in this batch, or holds identical content (reused, as
    /// [`super::safe_write::Staged::commit`] does). Creates the parent folders.
    pub fn claim(
        &self,
        rel: &RelPath,
        first_suffix: u32,
        claims: &mut Claims,
    ) -> Result<Claim, SafeWriteError> {
        let full = rel.under(&self.root);
        // A RelPath has at least one component, so its file always has a folder under root.
        let parent = full.parent().unwrap_or(&self.root).to_path_buf();
        for created in create_dirs(&self.root, &parent)? {
            if let Some(p) = created.parent() {
                claims.dirs.insert(p.to_path_buf());
            }
        }
        claims.dirs.insert(parent);
        for n in first_suffix..=MAX_SUFFIX {
            let candidate = rel.with_suffix(n)?;
            let full = candidate.under(&self.root);
            let present = match claims.taken.get(&full) {
                Some((_, hash)) if *hash == self.hash => true,
                Some(_) => continue,
                None => match fs::symlink_metadata(&full) {
                    Ok(meta) => {
                        if meta.is_file()
                            && meta.len() == self.len
                            && hash_file(&full)? == self.hash
                        {
                            true
                        } else {
                            continue;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => false,
                    Err(source) => return Err(SafeWriteError::Read { path: full, source }),
                },
            };
            claims.taken.insert(full, (self.len, self.hash));
            return Ok(Claim {
                rel: candidate,
                base: rel.clone(),
                suffix: n,
                present,
            });
        }
        Err(SafeWriteError::NoFreeName {
            path: rel.under(&self.root),
        })
    }

    /// Moves the file to its claimed path without replacing anything (or drops the temp when
    /// the path holds these bytes already). Should another program have put a file there since
    /// the claim, the next free suffix is claimed and used instead.
    pub(crate) fn put(
        self,
        claim: Claim,
        claims: &mut Claims,
    ) -> Result<Committed, SafeWriteError> {
        let full = claim.rel.under(&self.root);
        if claim.present {
            fs::remove_file(&self.path).map_err(|source| SafeWriteError::TempFile {
                path: self.path.clone(),
                source,
            })?;
            return Ok(self.committed(claim, Outcome::AlreadyPresent));
        }
        match rename_noreplace(&self.path, &full) {
            Ok(()) => Ok(self.committed(claim, Outcome::Written)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                claims.taken.remove(&full);
                let again = self.claim(&claim.base, claim.suffix + 1, claims)?;
                self.put(again, claims)
            }
            Err(source) => Err(SafeWriteError::Rename {
                from: self.path.clone(),
                to: full,
                source,
            }),
        }
    }

    fn committed(&self, claim: Claim, outcome: Outcome) -> Committed {
        Committed {
            rel: claim.rel,
            suffix: claim.suffix,
            outcome,
            blake3: self.hash,
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::flush::Flusher;
    use crate::import::safe_write::{Destination, SourceKey};

    fn ready(dest: &Destination, name: &str, bytes: &[u8]) -> Ready {
        let key = SourceKey {
            udid: "u",
            device_path: name,
            copy: "",
            size: bytes.len() as u64,
            mtime_ns: 1,
        };
        let mut p = dest.begin(&key).unwrap();
        p.write_all(bytes).unwrap();
        p.complete().unwrap().into_ready(None).unwrap()
    }

    #[test]
    fn a_batch_claims_distinct_paths_and_reuses_identical_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = Destination::open(tmp.path()).unwrap();
        let rel = RelPath::parse("2026/IMG_1.JPG").unwrap();
        let a = ready(&dest, "DCIM/100APPLE/IMG_1.JPG", b"first");
        let b = ready(&dest, "DCIM/101APPLE/IMG_1.JPG", b"second");
        let c = ready(&dest, "DCIM/102APPLE/IMG_1.JPG", b"first");
        let mut claims = Claims::default();
        let ca = a.claim(&rel, 0, &mut claims).unwrap();
        let cb = b.claim(&rel, 0, &mut claims).unwrap();
        let cc = c.claim(&rel, 0, &mut claims).unwrap();
        // Nothing moved yet: the claims alone keep the names apart.
        assert!(!rel.under(tmp.path()).exists());
        assert_eq!((ca.suffix, ca.present), (0, false));
        assert_eq!((cb.suffix, cb.present), (1, false));
        assert_eq!((cc.suffix, cc.present), (0, true));
        let mut files = vec![a.temp_path(), b.temp_path(), c.temp_path()];
        files.dedup();
        dest.flusher().files(&files).unwrap();
        let (ta, tc) = (a.temp_path().to_path_buf(), c.temp_path().to_path_buf());
        assert_eq!(a.put(ca, &mut claims).unwrap().outcome, Outcome::Written);
        assert_eq!(b.put(cb, &mut claims).unwrap().outcome, Outcome::Written);
        assert_eq!(
            c.put(cc, &mut claims).unwrap().outcome,
            Outcome::AlreadyPresent
        );
        dest.flusher().dirs(claims.dirs()).unwrap();
        assert!(!ta.exists() && !tc.exists());
        assert_eq!(
            fs::read(tmp.path().join("2026/IMG_1.JPG")).unwrap(),
            b"first"
        );
        assert_eq!(
            fs::read(tmp.path().join("2026/IMG_1 (1).JPG")).unwrap(),
            b"second"
        );
        let dirs: Vec<_> = claims.dirs().collect();
        assert_eq!(dirs, [tmp.path(), &tmp.path().join("2026")]);
    }

    #[test]
    fn a_file_that_appears_at_a_claimed_path_is_kept_and_the_next_name_used() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = Destination::open(tmp.path()).unwrap();
        let rel = RelPath::parse("IMG_2.JPG").unwrap();
        let a = ready(&dest, "DCIM/IMG_2.JPG", b"ours");
        let mut claims = Claims::default();
        let claim = a.claim(&rel, 0, &mut claims).unwrap();
        fs::write(tmp.path().join("IMG_2.JPG"), b"someone else's").unwrap();
        let mut flusher = Flusher::open(tmp.path()).unwrap();
        flusher.fsync_each();
        flusher.files(&[a.temp_path()]).unwrap();
        let done = a.put(claim, &mut claims).unwrap();
        assert_eq!(done.rel.to_string(), "IMG_2 (1).JPG");
        flusher.dirs(claims.dirs()).unwrap();
        assert_eq!(
            fs::read(tmp.path().join("IMG_2.JPG")).unwrap(),
            b"someone else's"
        );
        assert_eq!(fs::read(tmp.path().join("IMG_2 (1).JPG")).unwrap(), b"ours");
    }
}
