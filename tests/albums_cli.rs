//! `albums` and `pull --album`: the album list against the generated library's truth (real
//! binary, `--demo`), and album pulls in process against a generated library (byte-exact, Live
//! Photo videos and sidecars included, re-runs copy nothing, an unknown name lists suggestions).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use clap::Parser;
use common::PeerHome;
use futures::future::BoxFuture;
use iphone_import::afc::{AfcClient, Opcode};
use iphone_import::cli::args::PullArgs;
use iphone_import::cli::exit;
use iphone_import::cli::pull::{RunOptions, run_with_options};
use iphone_import::import::ledger::{Ledger, LedgerError};
use iphone_import::import::pull::{AfcConnector, ConnectError, PullDevice};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::library::{self, AssetTruth, LibraryOptions, LibraryTruth};
use iphone_import::mock::profile::Profile;
use tokio_util::sync::CancellationToken;

const UDID: &str = "00008030-001A2B3C4D5E802E";

fn import(home: &PeerHome, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_iphone-import"))
        .arg("--demo")
        .args(args)
        .envs(home.env())
        .stdin(Stdio::null())
        .output()
        .expect("run iphone-import")
}

/// The library `--demo` serves (the generator is deterministic).
fn demo_truth() -> (tempfile::TempDir, LibraryTruth) {
    let dir = tempfile::tempdir().unwrap();
    let truth = library::generate(dir.path(), &LibraryOptions::demo()).unwrap();
    (dir, truth)
}

fn by_uuid(truth: &LibraryTruth) -> BTreeMap<&str, &AssetTruth> {
    truth.assets.iter().map(|a| (a.uuid.as_str(), a)).collect()
}

/// (path, shared, items, not on phone, in Recently Deleted) per album, sorted.
type AlbumRow = (String, bool, usize, usize, usize);

fn expected_albums(truth: &LibraryTruth) -> Vec<AlbumRow> {
    let assets = by_uuid(truth);
    let mut rows: Vec<AlbumRow> = truth
        .albums
        .iter()
        .map(|al| {
            let members: Vec<&AssetTruth> =
                al.asset_uuids.iter().map(|u| assets[u.as_str()]).collect();
            (
                al.path.clone(),
                al.kind == 1505,
                members.len(),
                members
                    .iter()
                    .filter(|a| a.icloud_only || a.original_missing)
                    .count(),
                members.iter().filter(|a| a.trashed).count(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn albums_lists_paths_shared_marks_and_counts_of_the_truth() {
    let (_dir, truth) = demo_truth();
    assert!(!truth.albums.is_empty());
    let home = PeerHome::new();
    let out = import(&home, &["albums", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("albums --json");
    let mut got: Vec<AlbumRow> = v["albums"]
        .as_array()
        .expect("albums array")
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_string(),
                a["shared"].as_bool().unwrap(),
                a["items"].as_u64().unwrap() as usize,
                a["not_on_phone"].as_u64().unwrap() as usize,
                a["in_recently_deleted"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, expected_albums(&truth));
    // Folders are part of the path, titles are the last part.
    for a in v["albums"].as_array().unwrap() {
        let mut parts: Vec<String> = a["folders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        parts.push(a["title"].as_str().unwrap().to_string());
        assert_eq!(parts.join("/"), a["path"].as_str().unwrap());
    }

    let out = import(&home, &["albums"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for (path, shared, items, _, _) in expected_albums(&truth) {
        let line = text
            .lines()
            .find(|l| {
                let l = l.trim_start();
                l.strip_prefix(path.as_str())
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with(" (shared)"))
            })
            .unwrap_or_else(|| panic!("no line for {path} in\n{text}"));
        assert_eq!(line.contains("(shared)"), shared, "{line}");
        assert!(
            line.contains(&format!(" {items} item")),
            "{line}: expected {items} items"
        );
    }
}

#[test]
fn an_unknown_album_is_a_usage_error_that_suggests_close_names() {
    let (_dir, truth) = demo_truth();
    let target = truth
        .albums
        .iter()
        .map(|a| a.path.clone())
        .max_by_key(|p| p.len())
        .unwrap();
    // One character dropped: close, but no match.
    let mut typo: Vec<char> = target.chars().collect();
    typo.remove(typo.len() / 2);
    let typo: String = typo.into_iter().collect();
    let home = PeerHome::new();
    let dest = home.path().join("dest");
    let out = import(&home, &["pull", dest.to_str().unwrap(), "--album", &typo]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::USAGE as i32), "{err}");
    assert!(err.contains(&format!("\"{typo}\"")), "{err}");
    assert!(err.contains(&format!("\"{target}\"")), "{err}");
    assert!(!dest.exists(), "nothing may be created for a usage error");
}

#[test]
fn pull_demo_album_copies_the_album() {
    let (root, truth) = demo_truth();
    // An album whose members can all be read, by a differently cased title.
    let assets = by_uuid(&truth);
    let album = truth
        .albums
        .iter()
        .find(|al| {
            al.asset_uuids
                .iter()
                .all(|u| !assets[u.as_str()].icloud_only && !assets[u.as_str()].trashed)
        })
        .expect("an album without iCloud-only or deleted items");
    let home = PeerHome::new();
    let dest = home.path().join("dest");
    let out = import(
        &home,
        &[
            "pull",
            dest.to_str().unwrap(),
            "--album",
            &album.title.to_uppercase(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let members: Vec<&AssetTruth> = album
        .asset_uuids
        .iter()
        .map(|u| assets[u.as_str()])
        .collect();
    // Titles may repeat; then every album of that title is selected.
    let same_title: Vec<_> = truth
        .albums
        .iter()
        .filter(|a| a.title.to_lowercase() == album.title.to_lowercase())
        .collect();
    if same_title.len() == 1 {
        assert_ledger_holds_exactly(root.path(), &dest, &files_of(&members));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!(
                "album \"{}\": {} asset",
                album.path,
                members.len()
            )),
            "{text}"
        );
    }
}

// ---- in process ----

struct Inproc(Arc<AfcServer>);

impl AfcConnector for Inproc {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        Box::pin(async move { Ok(AfcClient::new(self.0.connect_in_process())) })
    }
}

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    args: PullArgs,
}

fn parse(argv: &[&str]) -> PullArgs {
    Cmd::try_parse_from(std::iter::once("pull").chain(argv.iter().copied()))
        .unwrap()
        .args
}

struct Phone {
    dir: tempfile::TempDir,
    truth: LibraryTruth,
    server: Arc<AfcServer>,
}

impl Phone {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    async fn pull(&self, argv: &[&str]) -> u8 {
        let cache = tempfile::tempdir().unwrap();
        let device = PullDevice {
            udid: UDID.into(),
            name: "Test iPhone".into(),
        };
        let args = parse(argv);
        let fut = run_with_options(
            Arc::new(Inproc(self.server.clone())),
            &device,
            &args,
            RunOptions {
                assets: None,
                cache_dir: Some(cache.path().to_path_buf()),
                cancel: CancellationToken::new(),
                quiet: false,
            },
        );
        tokio::time::timeout(std::time::Duration::from_secs(120), fut)
            .await
            .expect("pull hung")
            .expect("pull")
    }
}

/// A readable album member: neither deleted (skipped by default) nor with its original off
/// the phone (iCloud-only or missing).
fn plain(a: &AssetTruth) -> bool {
    !a.trashed && !a.icloud_only && !a.original_missing
}

/// The first seed whose library has what `wanted` needs (the generator is deterministic).
fn phone_where(wanted: impl Fn(&LibraryTruth) -> bool) -> Phone {
    for seed in 1..200 {
        let dir = tempfile::tempdir().unwrap();
        let truth = library::generate(
            dir.path(),
            &LibraryOptions {
                seed,
                ..LibraryOptions::demo()
            },
        )
        .unwrap();
        if wanted(&truth) {
            let server =
                AfcServer::new(dir.path().to_path_buf(), Profile::none(), Faults::none()).unwrap();
            return Phone { dir, truth, server };
        }
    }
    panic!("no seed below 200 gives the library this test needs");
}

fn members(truth: &LibraryTruth, album: usize) -> Vec<&AssetTruth> {
    let assets = by_uuid(truth);
    truth.albums[album]
        .asset_uuids
        .iter()
        .map(|u| assets[u.as_str()])
        .collect()
}

/// Device paths `pull` copies for these assets by default.
fn files_of(assets: &[&AssetTruth]) -> BTreeSet<String> {
    assets
        .iter()
        .filter(|a| plain(a))
        .flat_map(|a| {
            [Some(&a.original), a.live_video.as_ref(), a.aae.as_ref()]
                .into_iter()
                .flatten()
                .map(|r| r.path.clone())
        })
        .collect()
}

fn title_unique(truth: &LibraryTruth, i: usize) -> bool {
    let t = truth.albums[i].title.to_lowercase();
    truth
        .albums
        .iter()
        .filter(|a| a.title.to_lowercase() == t || a.path.to_lowercase() == t)
        .count()
        == 1
}

/// Ledger rows (device path → DEST path) for the test phone.
fn ledger_rows(dest: &Path) -> BTreeMap<String, String> {
    let ledger = Ledger::open(dest).unwrap();
    let mut rows = BTreeMap::new();
    ledger
        .for_each(Some(UDID), |e| -> Result<(), LedgerError> {
            rows.insert(e.device_path.clone(), e.dest_path.clone());
            Ok(())
        })
        .unwrap();
    rows
}

/// Every file under DEST outside the importer's own folder, relative.
fn dest_files(dest: &Path) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == ".iphone-import") {
                continue;
            }
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dest, dest, &mut out);
    out
}

/// DEST holds exactly `want` (device paths), byte for byte, and the ledger says so.
fn assert_ledger_holds_exactly(root: &Path, dest: &Path, want: &BTreeSet<String>) {
    let rows = ledger_rows(dest);
    let got: BTreeSet<String> = rows.keys().cloned().collect();
    assert_eq!(&got, want);
    for (device, local) in &rows {
        assert_eq!(
            std::fs::read(dest.join(local)).unwrap(),
            std::fs::read(root.join(device)).unwrap(),
            "{device} -> {local}"
        );
    }
    let on_disk: BTreeSet<PathBuf> = rows.values().map(PathBuf::from).collect();
    assert_eq!(dest_files(dest), on_disk);
}

fn mtimes(dest: &Path) -> BTreeMap<PathBuf, std::time::SystemTime> {
    dest_files(dest)
        .into_iter()
        .map(|p| {
            let t = std::fs::metadata(dest.join(&p))
                .unwrap()
                .modified()
                .unwrap();
            (p, t)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_album_copies_exactly_its_assets_with_live_videos_and_sidecars() {
    // An album, uniquely titled, with only readable members, at least one of which has a Live
    // Photo video or an AAE sidecar.
    let fits = |t: &LibraryTruth, i: usize| {
        let m = members(t, i);
        title_unique(t, i)
            && !m.is_empty()
            && m.iter().all(|a| plain(a))
            && m.iter().any(|a| a.live_video.is_some() || a.aae.is_some())
    };
    let phone = phone_where(|t| (0..t.albums.len()).any(|i| fits(t, i)));
    let i = (0..phone.truth.albums.len())
        .find(|&i| fits(&phone.truth, i))
        .unwrap();
    let album = &phone.truth.albums[i];
    let want = files_of(&members(&phone.truth, i));
    assert!(want.len() > members(&phone.truth, i).len());

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("dest");
    let d = dest.to_str().unwrap();
    // By path, in another case.
    let name = album.path.to_lowercase();
    assert_eq!(phone.pull(&[d, "--album", &name]).await, exit::OK);
    assert_ledger_holds_exactly(phone.root(), &dest, &want);

    // A re-run copies nothing and touches nothing.
    let before = mtimes(&dest);
    assert_eq!(phone.pull(&[d, "--album", &album.title]).await, exit::OK);
    assert_eq!(mtimes(&dest), before);
    assert_eq!(ledger_rows(&dest).len(), want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_albums_sharing_an_asset_copy_it_once_and_album_layout_puts_it_in_each() {
    // Two uniquely titled albums of readable members that share one.
    let pair = |t: &LibraryTruth| -> Option<(usize, usize)> {
        let n = t.albums.len();
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = (members(t, i), members(t, j));
                let ok = title_unique(t, i)
                    && title_unique(t, j)
                    && a.iter().chain(&b).all(|x| plain(x))
                    && a.iter().any(|x| b.iter().any(|y| x.uuid == y.uuid));
                if ok {
                    return Some((i, j));
                }
            }
        }
        None
    };
    let phone = phone_where(|t| pair(t).is_some());
    let (i, j) = pair(&phone.truth).unwrap();
    let (a, b) = (&phone.truth.albums[i], &phone.truth.albums[j]);
    let mut all = members(&phone.truth, i);
    all.extend(members(&phone.truth, j));
    let want = files_of(&all);

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("dest");
    let d = dest.to_str().unwrap();
    assert_eq!(
        phone
            .pull(&[d, "--album", &a.title, "--album", &b.path])
            .await,
        exit::OK
    );
    // Each file once, though one asset is in both albums.
    assert_ledger_holds_exactly(phone.root(), &dest, &want);

    // With {album}: each asset in the folder of every selected album holding it, names
    // sanitised into one component; a file in two albums is read from the phone once.
    let opens = || {
        phone
            .server
            .stats()
            .requests
            .get(&Opcode::FileRefOpen)
            .copied()
            .unwrap_or(0)
    };
    let opens_plain = opens();
    let dest2 = out.path().join("by-album");
    let d2 = dest2.to_str().unwrap();
    let by_album = [
        d2,
        "--album",
        &a.title,
        "--album",
        &b.title,
        "--layout",
        "{album}/{name}",
    ];
    let before = opens();
    assert_eq!(phone.pull(&by_album).await, exit::OK);
    assert_eq!(
        opens() - before,
        opens_plain,
        "the album pull opened more files on the phone than the plain one"
    );
    let (ma, mb) = (members(&phone.truth, i), members(&phone.truth, j));
    let folder = |p: &str| p.replace('/', "_");
    let mut want_rows: BTreeMap<(String, String), String> = BTreeMap::new();
    for asset in all.iter() {
        for (album, m) in [(a, &ma), (b, &mb)] {
            if m.iter().any(|x| x.uuid == asset.uuid) {
                for f in files_of(&[*asset]) {
                    let name = f.rsplit('/').next().unwrap().to_string();
                    want_rows.insert(
                        (f.clone(), format!("album:{}", album.path)),
                        format!("{}/{name}", folder(&album.path)),
                    );
                }
            }
        }
    }
    let shared = all
        .iter()
        .filter(|x| ma.iter().any(|y| y.uuid == x.uuid) && mb.iter().any(|y| y.uuid == x.uuid))
        .count();
    assert!(shared > 0);
    let rows = ledger_copies(&dest2);
    assert_eq!(rows, want_rows);
    for ((device, _), local) in &rows {
        assert_eq!(
            std::fs::read(dest2.join(local)).unwrap(),
            std::fs::read(phone.root().join(device)).unwrap(),
            "{device} -> {local}"
        );
    }
    let on_disk: BTreeSet<PathBuf> = rows.values().map(PathBuf::from).collect();
    assert_eq!(dest_files(&dest2), on_disk);
    assert!(
        on_disk.len() > want.len(),
        "the shared asset has two copies"
    );

    // A re-run makes no copy again; the plain DEST was not touched by any of it.
    let stamps = mtimes(&dest2);
    assert_eq!(phone.pull(&by_album).await, exit::OK);
    assert_eq!(ledger_copies(&dest2), want_rows);
    assert_eq!(mtimes(&dest2), stamps);
    assert_ledger_holds_exactly(phone.root(), &dest, &want);
}

/// Ledger rows ((device path, copy) → DEST path) for the test phone.
fn ledger_copies(dest: &Path) -> BTreeMap<(String, String), String> {
    let ledger = Ledger::open(dest).unwrap();
    let mut rows = BTreeMap::new();
    ledger
        .for_each(Some(UDID), |e| -> Result<(), LedgerError> {
            rows.insert((e.device_path.clone(), e.copy.clone()), e.dest_path.clone());
            Ok(())
        })
        .unwrap();
    rows
}

/// Two albums named "Pets" at the top level: `albums --json` gives each its id (ZUUID), and
/// `pull --album ID` copies one of them, not both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_album_id_pulls_one_of_two_albums_with_the_same_path() {
    // Two same-path albums whose readable files differ (else copying both would look alike),
    // with every original on the phone (so each pull is complete).
    let pair = |t: &LibraryTruth| -> Option<(usize, usize)> {
        let same: Vec<usize> = (0..t.albums.len())
            .filter(|&i| t.albums[i].path == "Pets")
            .collect();
        let (&i, &j) = (same.first()?, same.get(1)?);
        let on_phone = |k| members(t, k).iter().all(|a| a.trashed || plain(a));
        let (a, b) = (files_of(&members(t, i)), files_of(&members(t, j)));
        (!a.is_empty() && a != b && on_phone(i) && on_phone(j)).then_some((i, j))
    };
    let phone = phone_where(|t| pair(t).is_some());
    let (i, j) = pair(&phone.truth).unwrap();
    let (a, b) = (&phone.truth.albums[i], &phone.truth.albums[j]);
    assert_ne!(a.uuid, b.uuid);

    // The listing gives each its id.
    let mut ids: Vec<String> = Vec::new();
    {
        let (_dir, truth) = demo_truth();
        let out = import(&PeerHome::new(), &["albums", "--json"]);
        assert_eq!(out.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for al in v["albums"].as_array().unwrap() {
            let id = al["id"].as_str().expect("every album has an id");
            let t = truth
                .albums
                .iter()
                .find(|t| t.uuid == id)
                .expect("a known id");
            assert_eq!(al["path"].as_str(), Some(t.path.as_str()));
            ids.push(id.to_string());
        }
        assert_eq!(ids.len(), truth.albums.len());
        let text =
            String::from_utf8_lossy(&import(&PeerHome::new(), &["albums"]).stdout).into_owned();
        let pets: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("Pets "))
            .collect();
        assert_eq!(pets.len(), 2, "{text}");
        assert!(pets.iter().all(|l| l.contains("id ")), "{text}");
    }

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("dest");
    let d = dest.to_str().unwrap();
    assert_eq!(phone.pull(&[d, "--album", &b.uuid]).await, exit::OK);
    assert_ledger_holds_exactly(phone.root(), &dest, &files_of(&members(&phone.truth, j)));
    // By the shared name, both.
    let dest2 = out.path().join("dest2");
    let want: BTreeSet<String> = files_of(&members(&phone.truth, i))
        .union(&files_of(&members(&phone.truth, j)))
        .cloned()
        .collect();
    assert_eq!(
        phone
            .pull(&[dest2.to_str().unwrap(), "--album", "Pets"])
            .await,
        exit::OK
    );
    assert_ledger_holds_exactly(phone.root(), &dest2, &want);
}
