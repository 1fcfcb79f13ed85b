//! The kill loop: the real `iphone-import pull` (through `iphone-mock serve`) is killed with
//! SIGKILL at many random moments across a mixed library (tiny photos, Live Photos, AAE sidecars,
//! two multi-MiB videos, albums), under a `{album}` layout. After every kill: nothing partial or
//! misplaced at a final path, and every ledger row names a complete file. Every few kills a
//! clean pull runs to the end, and DEST must then be exactly what an uninterrupted pull made
//! (same paths, same bytes, same ledger). The phone's files are never changed, and nothing is
//! written outside DEST but the pair record and Photos.sqlite cache in the private HOME.
//!
//! `KILL_LOOP_KILLS` (default 20; `.ci/run` sets 200) and `KILL_LOOP_SEED` (default: from the
//! clock, printed either way) choose the run; rerun a failure with the printed seed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{MockServer, PeerHome};
use iphone_import::import::ledger::{Ledger, LedgerError};
use iphone_import::mock::library::{LibraryOptions, generate, is_mock_internal, read_placeholders};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const LAYOUT: &str = "{album}/{year}/{name}";
/// Kills before a round ends with a clean pull (fewer when a pull finishes before its kill).
const KILLS_PER_ROUND: usize = 5;
/// A pull that has not finished by then is hung: a failure.
const PULL_LIMIT: Duration = Duration::from_secs(120);

/// Relative path → BLAKE3 of every file under `root` (skipping `skip`, relative).
type Tree = BTreeMap<String, [u8; 32]>;

fn hash_tree(root: &Path, skip: Option<&str>) -> Tree {
    let mut out = Tree::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if skip == Some(rel.as_str()) {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, *blake3::hash(&fs::read(&p).unwrap()).as_bytes());
            }
        }
    }
    out
}

/// One ledger row, as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    dest_path: String,
    device_path: String,
    copy: String,
    blake3: [u8; 32],
}

/// The ledger's rows, read from a copy of its files (opening DEST's own would create one where
/// a killed run left none, and recover its journal in place).
fn ledger_rows(dest: &Path, scratch: &Path) -> Vec<Row> {
    let state = dest.join(".iphone-import");
    let _ = fs::remove_dir_all(scratch);
    fs::create_dir_all(scratch.join(".iphone-import")).unwrap();
    let mut any = false;
    for name in [
        "ledger.sqlite",
        "ledger.sqlite-wal",
        "ledger.sqlite-journal",
    ] {
        if fs::copy(state.join(name), scratch.join(".iphone-import").join(name)).is_ok() {
            any |= name == "ledger.sqlite";
        }
    }
    if !any {
        return Vec::new();
    }
    let ledger = Ledger::open(scratch).expect("a killed run leaves a readable ledger");
    let mut rows = Vec::new();
    ledger
        .for_each(None, |e| -> Result<(), LedgerError> {
            rows.push(Row {
                dest_path: e.dest_path,
                device_path: e.device_path,
                copy: e.copy,
                blake3: e.blake3,
            });
            Ok(())
        })
        .unwrap();
    rows.sort();
    rows
}

struct Rig {
    root: PathBuf,
    sandbox: PathBuf,
    dest: PathBuf,
    scratch: PathBuf,
    home: PeerHome,
    server: MockServer,
}

impl Rig {
    fn pull(&self, dest: &Path) -> Child {
        Command::new(env!("CARGO_BIN_EXE_iphone-import"))
            .args(["--transport", "usbmuxd", "pull", "-q", "--include-trashed"])
            .args(["--jobs", "3", "--layout", LAYOUT])
            .arg(dest)
            .envs(self.home.env())
            .envs(self.server.env())
            .env("TMPDIR", self.sandbox.join("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// A pull left to finish; it must end with exit 3 (the library's iCloud-only originals).
    fn clean_pull(&self, dest: &Path) -> Duration {
        let started = Instant::now();
        let child = self.pull(dest);
        let out = wait_bounded(child);
        assert_eq!(
            out.status.code(),
            Some(3),
            "a clean pull after kills: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    }
}

fn wait_bounded(mut child: Child) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > PULL_LIMIT {
            let _ = child.kill();
            panic!("pull hung for {PULL_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

/// A small mixed library: the generator's Live Photos, AAEs, screenshots, videos, iCloud-only
/// and trashed items and albums, plus two videos of several MiB (more than one 4 MiB read).
fn mixed_library(root: &Path) {
    let options = LibraryOptions {
        photos: 14,
        videos: 3,
        seed: 11,
        items_per_folder: 8,
        ..LibraryOptions::demo()
    };
    generate(root, &options).unwrap();
    for (name, len) in [("IMG_9000.MOV", 9 << 20), ("IMG_9001.MOV", (5 << 20) + 17)] {
        let bytes: Vec<u8> = (0..len).map(|i: usize| (i * 31 + i / 4093) as u8).collect();
        fs::write(root.join("DCIM/100APPLE").join(name), bytes).unwrap();
    }
}

/// The phone's readable DCIM files (placeholders stand for iCloud-only originals).
fn readable_dcim(root: &Path, phone: &Tree) -> BTreeSet<String> {
    let placeholders: BTreeSet<String> = read_placeholders(root).unwrap().into_iter().collect();
    phone
        .keys()
        .filter(|p| p.starts_with("DCIM/") && !placeholders.contains(*p) && !is_mock_internal(p))
        .cloned()
        .collect()
}

/// What an uninterrupted pull makes: its ledger rows, after checking them against the phone.
fn reference(rig: &Rig, phone: &Tree) -> Vec<Row> {
    let dest = rig.sandbox.join("reference");
    rig.clean_pull(&dest);
    let rows = ledger_rows(&dest, &rig.scratch);
    let copied: BTreeSet<String> = rows.iter().map(|r| r.device_path.clone()).collect();
    assert_eq!(
        copied,
        readable_dcim(&rig.root, phone),
        "every readable file"
    );
    assert!(
        rows.iter().any(|r| r.copy.starts_with("album:")),
        "the layout makes album copies"
    );
    for r in &rows {
        assert_eq!(Some(&r.blake3), phone.get(&r.device_path), "{r:?}");
    }
    assert_eq!(files_at_final_paths(&dest), by_dest(&rows));
    fs::remove_dir_all(&dest).unwrap();
    rows
}

fn by_dest(rows: &[Row]) -> Tree {
    rows.iter()
        .map(|r| (r.dest_path.clone(), r.blake3))
        .collect()
}

fn files_at_final_paths(dest: &Path) -> Tree {
    hash_tree(dest, Some(".iphone-import"))
}

/// After a kill: every file at a final path is complete and where an uninterrupted pull puts
/// it, every ledger row names such a file, and temp files stay in DEST's state folder.
fn check_after_kill(rig: &Rig, want: &Tree, kill: usize) {
    let files = files_at_final_paths(&rig.dest);
    for (path, hash) in &files {
        assert_eq!(
            want.get(path),
            Some(hash),
            "kill {kill}: {path} is partial or misplaced"
        );
    }
    for row in ledger_rows(&rig.dest, &rig.scratch) {
        assert_eq!(
            files.get(&row.dest_path),
            Some(&row.blake3),
            "kill {kill}: the ledger names {} but DEST does not hold it",
            row.dest_path
        );
    }
    check_nothing_outside(rig, kill);
}

/// The sandbox holds DEST, the reference scratch and HOME; TMPDIR stays empty; HOME holds
/// only the XDG folders (pair record, Photos.sqlite cache).
fn check_nothing_outside(rig: &Rig, kill: usize) {
    let names: BTreeSet<String> = fs::read_dir(&rig.sandbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let allowed: BTreeSet<String> = ["dest", "tmp", "scratch"].map(String::from).into();
    assert!(
        names.is_subset(&allowed),
        "kill {kill}: sandbox has {names:?}"
    );
    let tmp = fs::read_dir(rig.sandbox.join("tmp")).unwrap().count();
    assert_eq!(tmp, 0, "kill {kill}: files left in TMPDIR");
    let home: BTreeSet<String> = fs::read_dir(rig.home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let xdg: BTreeSet<String> = ["data", "config", "cache"].map(String::from).into();
    assert!(home.is_subset(&xdg), "kill {kill}: HOME has {home:?}");
}

/// After a clean pull: DEST and its ledger are exactly the reference's.
fn check_complete(rig: &Rig, reference: &[Row], kill: usize) {
    assert_eq!(
        files_at_final_paths(&rig.dest),
        by_dest(reference),
        "after kill {kill} and a clean pull, DEST differs from an uninterrupted pull"
    );
    let rows = ledger_rows(&rig.dest, &rig.scratch);
    assert_eq!(rows, reference, "after kill {kill}: the ledger differs");
    let tmp = rig.dest.join(".iphone-import/tmp");
    let left = fs::read_dir(&tmp).map_or(0, |d| d.count());
    assert_eq!(
        left, 0,
        "after kill {kill}: temp files left by a completed pull"
    );
}

fn seed() -> u64 {
    std::env::var("KILL_LOOP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

fn kills_wanted() -> usize {
    std::env::var("KILL_LOOP_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// Starts a new round: an empty DEST, and half the time no Photos.sqlite cache either, so that
/// kills also land while the cache is fetched.
fn new_round(rig: &Rig, rng: &mut ChaCha8Rng) {
    let _ = fs::remove_dir_all(&rig.dest);
    if rng.gen_bool(0.5) {
        let _ = fs::remove_dir_all(rig.home.path().join("cache"));
        fs::create_dir_all(rig.home.path().join("cache")).unwrap();
    }
}

#[test]
fn sigkill_at_random_moments_never_leaves_partial_files_and_a_clean_pull_completes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Media");
    mixed_library(&root);
    let phone = hash_tree(&root, None);
    let sandbox = dir.path().join("sandbox");
    fs::create_dir_all(sandbox.join("tmp")).unwrap();
    let server = MockServer::start_with_args(&["--library", root.to_str().unwrap()]);
    let rig = Rig {
        dest: sandbox.join("dest"),
        scratch: sandbox.join("scratch"),
        root,
        sandbox,
        home: PeerHome::new(),
        server,
    };
    let reference = reference(&rig, &phone);
    let want = by_dest(&reference);
    // Kill anywhere from process start to a little past a whole pull's time.
    let _ = fs::remove_dir_all(rig.home.path().join("cache"));
    let span = rig.clean_pull(&rig.sandbox.join("dest")).mul_f64(1.2);
    let (seed, kills_wanted) = (seed(), kills_wanted());
    eprintln!("kill loop: seed {seed} (KILL_LOOP_SEED), {kills_wanted} kills, delays 0..{span:?}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let (mut kills, mut finished_first, mut rounds) = (0, 0, 0);
    new_round(&rig, &mut rng);
    while kills < kills_wanted {
        let mut child = rig.pull(&rig.dest);
        std::thread::sleep(span.mul_f64(rng.r#gen::<f64>()));
        let in_round = if child.try_wait().unwrap().is_some() {
            finished_first += 1;
            KILLS_PER_ROUND
        } else {
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            check_after_kill(&rig, &want, kills);
            kills % KILLS_PER_ROUND
        };
        if in_round == KILLS_PER_ROUND || in_round == 0 || kills == kills_wanted {
            rig.clean_pull(&rig.dest);
            check_complete(&rig, &reference, kills);
            rounds += 1;
            new_round(&rig, &mut rng);
        }
    }
    assert_eq!(hash_tree(&rig.root, None), phone, "the phone was modified");
    eprintln!(
        "kill loop: {kills} kills, {rounds} rounds, {finished_first} pulls finished before \
         their kill, {:?}",
        started.elapsed()
    );
}
