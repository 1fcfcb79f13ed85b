//! `pull --xmp` end to end against the simulated phone, read back with a real XMP reader
//! (exiftool): every fact of truth.json is in the sidecar, sidecars are added to an existing
//! archive without copying again, and a metadata change on the phone rewrites only the sidecars
//! it concerns.
//!
//! Needs `exiftool` (Debian: libimage-exiftool-perl); prints `SKIP:` without it, and fails
//! instead when REQUIRE_INTEROP=1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use iphone_import::afc::AfcClient;
use iphone_import::import::filters::Filters;
use iphone_import::import::layout::{DEFAULT_LAYOUT, Layout};
use iphone_import::import::ledger::Ledger;
use iphone_import::import::pull::{
    AfcConnector, ConnectError, Observer, PullConfig, PullDevice, PullEvent, Summary, pull,
};
use iphone_import::import::sidecars::sidecar_path;
use iphone_import::import::xmp::XmpName;
use iphone_import::library::{Asset, InventoryOptions, inventory};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::library::{self, AssetTruth, LibraryOptions, LibraryTruth};
use iphone_import::mock::profile::Profile;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const UDID: &str = "00008030-001A2B3C4D5E802E";
const LIMIT: Duration = Duration::from_secs(120);

struct Inproc(Arc<AfcServer>);

impl AfcConnector for Inproc {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        Box::pin(async move { Ok(AfcClient::new(self.0.connect_in_process())) })
    }
}

struct Quiet;
impl Observer for Quiet {
    fn event(&self, _: &PullEvent) {}
}

fn exiftool_present() -> bool {
    let ok = Command::new("exiftool")
        .arg("-ver")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("REQUIRE_INTEROP").as_deref() != Ok("1"),
            "exiftool is required (REQUIRE_INTEROP=1): apt-get install libimage-exiftool-perl"
        );
        eprintln!(
            "SKIP: sidecars_hold_the_truth_and_follow_changes: exiftool not installed (apt-get install libimage-exiftool-perl)"
        );
    }
    ok
}

async fn assets(srv: &Arc<AfcServer>, cache: &Path) -> Vec<Asset> {
    let client = AfcClient::new(srv.connect_in_process());
    let options = InventoryOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..InventoryOptions::default()
    };
    let inv = tokio::time::timeout(LIMIT, inventory(&client, &options))
        .await
        .expect("inventory hung")
        .unwrap();
    inv.assets
}

async fn run(srv: &Arc<AfcServer>, assets: Vec<Asset>, dest: &Path, xmp: bool) -> Summary {
    run_with(srv, assets, dest, xmp, DEFAULT_LAYOUT).await
}

async fn run_with(
    srv: &Arc<AfcServer>,
    assets: Vec<Asset>,
    dest: &Path,
    xmp: bool,
    layout: &str,
) -> Summary {
    let cfg = PullConfig {
        dest: dest.to_path_buf(),
        layout: Layout::parse(layout).unwrap(),
        filters: Filters::default(),
        jobs: 2,
        edited: false,
        dry_run: false,
        command_line: "pull test".into(),
        xmp: xmp.then_some(XmpName::Full),
        also_jpeg: None,
        plan_chunk: iphone_import::import::pull::PLAN_CHUNK,
        fail_writes_after: None,
    };
    let device = PullDevice {
        udid: UDID.into(),
        name: "Test iPhone".into(),
    };
    let connector = Arc::new(Inproc(srv.clone()));
    let fut = pull(
        connector,
        device,
        assets,
        cfg,
        Arc::new(Quiet),
        CancellationToken::new(),
    );
    tokio::time::timeout(LIMIT, fut)
        .await
        .expect("pull hung")
        .unwrap()
}

/// Sidecar path of every imported truth asset (by UUID).
fn sidecars(dest: &Path, truth: &LibraryTruth) -> BTreeMap<String, PathBuf> {
    let ledger = Ledger::open(dest).unwrap();
    truth
        .assets
        .iter()
        .filter_map(|a| {
            let e = ledger.lookup(UDID, &a.original.path).unwrap()?;
            Some((
                a.uuid.clone(),
                sidecar_path(dest, &e.dest_path, XmpName::Full),
            ))
        })
        .collect()
}

/// exiftool's reading of each sidecar, numbers as numbers (`-n`), by file.
fn read_back(paths: &[&PathBuf]) -> BTreeMap<PathBuf, Value> {
    let out = Command::new("exiftool")
        .args(["-j", "-n", "-G0", "-a"])
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .map(|r| (PathBuf::from(r["SourceFile"].as_str().unwrap()), r))
        .collect()
}

/// A list tag as strings (exiftool gives one value as a scalar).
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

/// A list tag as numbers.
fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

/// Named people: IPTC PersonInImage, and MWG face regions unless the photo was edited in Photos
/// (its regions are placed on the edited render, the sidecar describes the original).
fn check_people(a: &AssetTruth, x: &Value) {
    let id = &a.filename;
    let mut names: Vec<String> = a.meta.people.iter().map(|f| f.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(strings(&x["XMP:PersonInImage"]), names, "{id} people");
    let faces: &[_] = if a.edited { &[] } else { &a.meta.people };
    let got: Vec<String> = strings(&x["XMP:RegionName"]);
    let want: Vec<&str> = faces.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(got, want, "{id} region names");
    if faces.is_empty() {
        return;
    }
    assert_eq!(strings(&x["XMP:RegionType"]), vec!["Face"; faces.len()]);
    assert_eq!(
        strings(&x["XMP:RegionAreaUnit"]),
        vec!["normalized"; faces.len()]
    );
    assert_eq!(
        x["XMP:RegionAppliedToDimensionsW"].as_u64(),
        Some(a.width.into())
    );
    assert_eq!(
        x["XMP:RegionAppliedToDimensionsH"].as_u64(),
        Some(a.height.into())
    );
    for (tag, want) in [
        (
            "XMP:RegionAreaX",
            faces.iter().map(|f| f.x_e6).collect::<Vec<_>>(),
        ),
        ("XMP:RegionAreaY", faces.iter().map(|f| f.y_e6).collect()),
        ("XMP:RegionAreaW", faces.iter().map(|f| f.w_e6).collect()),
        ("XMP:RegionAreaH", faces.iter().map(|f| f.h_e6).collect()),
    ] {
        let got = numbers(&x[tag]);
        assert_eq!(got.len(), want.len(), "{id} {tag}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w as f64 / 1e6).abs() < 2e-6,
                "{id} {tag}: {g} vs {w}e-6"
            );
        }
    }
}

fn check(a: &AssetTruth, truth: &LibraryTruth, x: &Value) {
    let id = &a.filename;
    check_people(a, x);
    // The simulated phone records each file's own name as the original name.
    assert_eq!(
        x["XMP:PreservedFileName"].as_str(),
        Some(a.filename.as_str()),
        "{id}"
    );
    assert_eq!(
        x["XMP:LivePhotoContentIdentifier"].as_str(),
        a.content_identifier.as_deref(),
        "{id} Live Photo id"
    );
    let rating = x["XMP:Rating"].as_i64();
    assert_eq!(rating, a.favorite.then_some(5), "{id} rating");
    assert_eq!(
        x["XMP:Title"].as_str(),
        a.meta.title.as_deref(),
        "{id} title"
    );
    assert_eq!(
        x["XMP:Description"].as_str(),
        a.meta.caption.as_deref(),
        "{id} caption"
    );
    let mut subject = a.meta.keywords.clone();
    if a.hidden {
        subject.push("Hidden".into());
    }
    assert_eq!(strings(&x["XMP:Subject"]), subject, "{id} keywords");
    let mut albums: Vec<String> = a
        .albums
        .iter()
        .filter_map(|u| truth.albums.iter().find(|al| &al.uuid == u))
        .map(|al| al.path.clone())
        .collect();
    albums.sort();
    albums.dedup();
    let lr: Vec<String> = albums
        .iter()
        .map(|p| format!("Albums|{}", p.replace('/', "|")))
        .collect();
    let mut got = strings(&x["XMP:HierarchicalSubject"]);
    got.sort();
    assert_eq!(got, lr, "{id} albums");
    assert_eq!(
        strings(&x["XMP:TagsList"]).len(),
        albums.len(),
        "{id} tags list"
    );
    match a.meta.location_e6 {
        Some((lat, lon)) => {
            let (glat, glon) = (
                x["XMP:GPSLatitude"].as_f64(),
                x["XMP:GPSLongitude"].as_f64(),
            );
            assert!(
                (glat.unwrap() - lat as f64 / 1e6).abs() < 1e-6,
                "{id} lat {glat:?}"
            );
            assert!(
                (glon.unwrap() - lon as f64 / 1e6).abs() < 1e-6,
                "{id} lon {glon:?}"
            );
        }
        None => assert!(x.get("XMP:GPSLatitude").is_none(), "{id} has no place"),
    }
    let date = x["XMP:DateTimeOriginal"].as_str().unwrap();
    let l = &a.capture.local;
    let want = format!(
        "{} {}{}",
        l[..10].replace('-', ":"),
        &l[11..],
        a.capture.offset
    );
    assert_eq!(date, want, "{id} date");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_hold_the_truth_and_follow_changes() {
    if !exiftool_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (root, dest) = (tmp.path().join("phone"), tmp.path().join("dest"));
    let truth = library::generate(&root, &LibraryOptions::demo()).unwrap();
    let srv = AfcServer::new(root.clone(), Profile::none(), Faults::none()).unwrap();

    // An archive made without --xmp gets its sidecars later, without copying anything again.
    let first = run(
        &srv,
        assets(&srv, &tmp.path().join("c1")).await,
        &dest,
        false,
    )
    .await;
    assert!(first.files_copied > 0);
    let paths = sidecars(&dest, &truth);
    assert!(
        paths.values().all(|p| !p.exists()),
        "no sidecar without --xmp"
    );
    let second = run(
        &srv,
        assets(&srv, &tmp.path().join("c1")).await,
        &dest,
        true,
    )
    .await;
    assert_eq!(second.files_copied, 0);
    assert_eq!(second.sidecars.written, paths.len() as u64);
    assert_eq!((second.sidecars.updated, second.sidecars.unchanged), (0, 0));

    let all: Vec<&PathBuf> = paths.values().collect();
    let read = read_back(&all);
    let (mut described, mut with_regions) = (0, 0);
    for a in &truth.assets {
        let Some(p) = paths.get(&a.uuid) else {
            continue;
        };
        with_regions += usize::from(!a.edited && !a.meta.people.is_empty());
        let x = read
            .get(p)
            .unwrap_or_else(|| panic!("exiftool did not read {p:?}"));
        check(a, &truth, x);
        described += usize::from(a.meta != Default::default());
    }
    assert!(
        described >= 10,
        "the generator describes assets ({described})"
    );
    assert!(
        with_regions >= 5,
        "sidecars with face regions: {with_regions}"
    );

    // The person marks one more favourite on the phone: only that sidecar changes.
    let target = truth
        .assets
        .iter()
        .find(|a| !a.favorite && !a.in_wal_only && paths.contains_key(&a.uuid))
        .unwrap();
    let db = rusqlite::Connection::open(root.join("PhotoData/Photos.sqlite")).unwrap();
    let table = &truth.asset_table;
    let n = db
        .execute(
            &format!("UPDATE {table} SET ZFAVORITE = 1 WHERE ZUUID = ?1"),
            [&target.uuid],
        )
        .unwrap();
    assert_eq!(n, 1);
    // …and the original name and the Live Photo id change on two others: their sidecars follow.
    let others: Vec<&AssetTruth> = truth
        .assets
        .iter()
        .filter(|a| a.uuid != target.uuid && !a.in_wal_only && paths.contains_key(&a.uuid))
        .filter(|a| a.content_identifier.is_some())
        .take(2)
        .collect();
    let renamed = db
        .execute(
            "UPDATE ZADDITIONALASSETATTRIBUTES SET ZORIGINALFILENAME = 'Holiday.HEIC' WHERE ZASSET = ?1",
            [others[0].z_pk],
        )
        .unwrap();
    let repaired = db
        .execute(
            &format!("UPDATE {table} SET ZMEDIAGROUPUUID = 'NEW-PAIR-ID' WHERE Z_PK = ?1"),
            [others[1].z_pk],
        )
        .unwrap();
    assert_eq!((renamed, repaired), (1, 1));
    drop(db);
    let before = std::fs::metadata(&paths[&target.uuid]).unwrap().len();
    let third = run(
        &srv,
        assets(&srv, &tmp.path().join("c2")).await,
        &dest,
        true,
    )
    .await;
    assert_eq!(third.files_copied, 0, "the original is not copied again");
    assert_eq!(third.sidecars.updated, 3);
    assert_eq!(third.sidecars.unchanged, paths.len() as u64 - 3);
    assert_ne!(
        std::fs::metadata(&paths[&target.uuid]).unwrap().len(),
        before
    );
    let read = read_back(&[&paths[&target.uuid]]);
    let x = read.values().next().unwrap();
    assert_eq!(x["XMP:Rating"].as_i64(), Some(5));
    let read = read_back(&[&paths[&others[0].uuid], &paths[&others[1].uuid]]);
    let x = &read[&paths[&others[0].uuid]];
    assert_eq!(x["XMP:PreservedFileName"].as_str(), Some("Holiday.HEIC"));
    let x = &read[&paths[&others[1].uuid]];
    assert_eq!(
        x["XMP:LivePhotoContentIdentifier"].as_str(),
        Some("NEW-PAIR-ID")
    );
}

/// `{kind}` and `{favorite}` sort by what Photos knows: Live Photos (both halves), screenshots,
/// videos and photos each in their folder, favourites in a `favorite` folder, the others not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_and_favorite_layout_variables() {
    use iphone_import::mock::library::AssetKind as TK;
    let tmp = tempfile::tempdir().unwrap();
    let (root, dest) = (tmp.path().join("phone"), tmp.path().join("dest"));
    let truth = library::generate(&root, &LibraryOptions::demo()).unwrap();
    let srv = AfcServer::new(root.clone(), Profile::none(), Faults::none()).unwrap();
    let found = assets(&srv, &tmp.path().join("c")).await;
    run_with(&srv, found, &dest, false, "{kind}/{favorite}/{name}").await;
    let ledger = Ledger::open(&dest).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for a in &truth.assets {
        let Some(e) = ledger.lookup(UDID, &a.original.path).unwrap() else {
            continue;
        };
        let kind = match a.kind {
            TK::LivePhoto => "live",
            TK::Screenshot => "screenshot",
            TK::Video => "video",
            TK::Photo => "photo",
        };
        kinds.insert(kind);
        let want = if a.favorite {
            format!("{kind}/favorite/{}", a.filename)
        } else {
            format!("{kind}/{}", a.filename)
        };
        assert_eq!(e.dest_path, want);
        if let Some(v) = &a.live_video {
            let e = ledger.lookup(UDID, &v.path).unwrap().unwrap();
            assert!(e.dest_path.starts_with("live/"), "{}", e.dest_path);
        }
    }
    assert_eq!(kinds.len(), 4, "the demo library has every kind: {kinds:?}");
}

/// Every Photos.sqlite shape (iOS 13 … 26): the inventory carries the truth's title, caption,
/// keywords, place, named people, original name and Live Photo id for every asset (the keyword join is found by shape,
/// whatever its number; faces by ZASSET/ZPERSON or ZASSETFORFACE/ZPERSONFORFACE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptions_are_read_from_every_schema_shape() {
    use iphone_import::mock::library::SchemaShape;
    for shape in SchemaShape::ALL {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("phone");
        let opts = LibraryOptions {
            schema: shape,
            ..LibraryOptions::demo()
        };
        let truth = library::generate(&root, &opts).unwrap();
        let srv = AfcServer::new(root.clone(), Profile::none(), Faults::none()).unwrap();
        let found = assets(&srv, &tmp.path().join("c")).await;
        let (mut described, mut people) = (0, 0);
        for a in &truth.assets {
            let Some(got) = found.iter().find(|x| x.uuid.as_deref() == Some(&a.uuid)) else {
                continue;
            };
            let m = &got.meta;
            assert_eq!(m.title, a.meta.title, "{shape:?} {}", a.filename);
            assert_eq!(m.caption, a.meta.caption, "{shape:?} {}", a.filename);
            assert_eq!(m.keywords, a.meta.keywords, "{shape:?} {}", a.filename);
            let want = a
                .meta
                .location_e6
                .map(|(la, lo)| (la as f64 / 1e6, lo as f64 / 1e6));
            assert_eq!(m.location, want, "{shape:?} {}", a.filename);
            let mut names: Vec<String> = a.meta.people.iter().map(|f| f.name.clone()).collect();
            names.sort();
            names.dedup();
            assert_eq!(m.people.names, names, "{shape:?} {}", a.filename);
            assert_eq!(
                m.live_photo_id, a.content_identifier,
                "{shape:?} {}",
                a.filename
            );
            assert_eq!(m.original_filename.as_deref(), Some(a.filename.as_str()));
            let regions = if a.edited { 0 } else { a.meta.people.len() };
            assert_eq!(m.people.regions.len(), regions, "{shape:?} {}", a.filename);
            for (got, want) in m.people.regions.iter().zip(&a.meta.people) {
                assert_eq!(got.name, want.name);
                assert!((got.x - want.x_e6 as f64 / 1e6).abs() < 1e-6, "{shape:?}");
                assert!((got.h - want.h_e6 as f64 / 1e6).abs() < 1e-6, "{shape:?}");
            }
            described += usize::from(a.meta != Default::default());
            people += usize::from(!a.meta.people.is_empty());
        }
        assert!(described >= 10, "{shape:?}: {described} described assets");
        assert!(people >= 5, "{shape:?}: {people} assets with people");
    }
}
