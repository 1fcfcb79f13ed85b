//! Which files DEST's temp folder holds, so that [`super::safe_write::Destination`] clears the
//! temp of another version of a device file without listing the folder for every file it
//! begins (with the folder creation per file that went with it, 16 % of the client's CPU on a
//! library of 1,375 small files; and a listing grows with the temps a crash left behind).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};

/// Below this many names the index is never listed again.
const MIN_RELIST: usize = 1024;

/// A superset of the names in the temp folder: every name found there when it was last listed,
/// and every name [`TempIndex::claim`] gave out since (some of those renamed into place by now).
#[derive(Debug)]
pub(crate) struct TempIndex {
    dir: PathBuf,
    names: BTreeSet<String>,
    /// The folder is listed again when `names` reaches this size, so the index stays within
    /// twice the temps really there (and `MIN_RELIST`).
    relist_at: usize,
}

impl TempIndex {
    /// Lists `dir` once.
    pub(crate) fn load(dir: &Path) -> io::Result<TempIndex> {
        let mut index = TempIndex {
            dir: dir.to_path_buf(),
            names: BTreeSet::new(),
            relist_at: 0,
        };
        index.relist()?;
        Ok(index)
    }

    fn relist(&mut self) -> io::Result<()> {
        self.names.clear();
        for item in fs::read_dir(&self.dir)? {
            // Our temp names are ASCII: a name that is not UTF-8 is not one of ours.
            if let Ok(name) = item?.file_name().into_string() {
                self.names.insert(name);
            }
        }
        self.relist_at = (self.names.len() * 2).max(MIN_RELIST);
        Ok(())
    }

    /// Deletes the temps whose names start with `prefix` (other versions of the same device
    /// file) except `name`, and notes `name` as in use. Deleting is best effort: a leftover we
    /// cannot delete costs only its space.
    pub(crate) fn claim(&mut self, prefix: &str, name: &str) -> io::Result<()> {
        if self.names.len() >= self.relist_at {
            self.relist()?;
        }
        let stale: Vec<String> = self
            .names
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|n| n.starts_with(prefix))
            .filter(|n| n.as_str() != name)
            .cloned()
            .collect();
        for n in stale {
            let _ = fs::remove_file(self.dir.join(&n));
            self.names.remove(&n);
        }
        self.names.insert(name.to_owned());
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn claim_removes_other_versions_found_at_load_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["aa.v1.part", "aa.v2.part", "ab.v1.part", "a.v1.part"] {
            fs::write(dir.path().join(n), b"x").unwrap();
        }
        let mut index = TempIndex::load(dir.path()).unwrap();
        index.claim("aa.", "aa.v2.part").unwrap();
        assert_eq!(
            names_in(dir.path()),
            ["a.v1.part", "aa.v2.part", "ab.v1.part"]
        );
    }

    #[test]
    fn claim_removes_a_version_claimed_earlier_in_the_same_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TempIndex::load(dir.path()).unwrap();
        index.claim("bb.", "bb.v1.part").unwrap();
        fs::write(dir.path().join("bb.v1.part"), b"x").unwrap();
        index.claim("bb.", "bb.v2.part").unwrap();
        assert!(names_in(dir.path()).is_empty());
    }

    #[test]
    fn the_index_is_listed_again_when_it_doubles() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TempIndex::load(dir.path()).unwrap();
        // Names claimed and then renamed away (no file left) pile up until the relisting.
        for i in 0..MIN_RELIST {
            index
                .claim(&format!("{i:08}."), &format!("{i:08}.v.part"))
                .unwrap();
        }
        assert_eq!(index.len(), MIN_RELIST);
        fs::write(dir.path().join("kept.v.part"), b"x").unwrap();
        index.claim("new.", "new.v.part").unwrap();
        assert_eq!(
            index.len(),
            2,
            "relisted: the file there, and the new claim"
        );
    }
}
