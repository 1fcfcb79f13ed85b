//! The library layer against a generated library served by the in-process AFC server: the DCIM
//! scan groups files into assets with listings only, Photos.sqlite (main + WAL) is copied into a
//! cache and enriches the assets as truth.json says, the cache is reused and refreshed, damaged
//! databases and hostile names are reported without stopping the inventory.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iphone_import::afc::{AfcClient, Opcode};
use iphone_import::library::{
    AssetKind, InventoryOptions, ResourceRole, ScanOptions, inventory, scan, scan_dcim,
};
use iphone_import::mock::afcd::{AfcServer, Faults};
use iphone_import::mock::library::{self, CloudState, LibraryOptions, LibraryTruth};
use iphone_import::mock::profile::Profile;

const LIMIT: Duration = Duration::from_secs(120);

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("timed out: something hung")
}

struct Phone {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cache: PathBuf,
    truth: LibraryTruth,
    server: Arc<AfcServer>,
}

impl Phone {
    fn new() -> Phone {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("media");
        let truth = library::generate(&root, &LibraryOptions::demo()).unwrap();
        let server = AfcServer::new(root.clone(), Profile::none(), Faults::none()).unwrap();
        let cache = dir.path().join("cache");
        Phone {
            _dir: dir,
            root,
            cache,
            truth,
            server,
        }
    }

    fn client(&self) -> AfcClient {
        AfcClient::new(self.server.connect_in_process())
    }

    fn requests(&self, op: Opcode) -> u64 {
        self.server.stats().requests.get(&op).copied().unwrap_or(0)
    }

    fn options(&self, edited: bool) -> InventoryOptions {
        InventoryOptions {
            scan: ScanOptions::default(),
            cache_dir: Some(self.cache.clone()),
            edited,
            without_metadata: false,
        }
    }
}

#[tokio::test]
async fn scan_groups_every_asset_with_listings_only() {
    let phone = Phone::new();
    let afc = phone.client();
    let assets = bounded(scan_dcim(&afc, &ScanOptions::default()))
        .await
        .unwrap();

    assert_eq!(assets.len(), phone.truth.assets.len());
    let by_key: HashMap<&str, _> = assets.iter().map(|a| (a.key(), a)).collect();
    for t in &phone.truth.assets {
        let a = by_key
            .get(t.original.path.as_str())
            .unwrap_or_else(|| panic!("{} not scanned", t.original.path));
        let want_kind = match t.kind {
            library::AssetKind::Video => AssetKind::Video,
            _ => AssetKind::Photo,
        };
        assert_eq!(a.kind, want_kind, "{}", t.original.path);
        assert_eq!(a.folder(), t.directory);
        let mut want = vec![(ResourceRole::Original, t.original.path.clone())];
        if let Some(v) = &t.live_video {
            want.push((ResourceRole::LiveVideo, v.path.clone()));
        }
        if let Some(s) = &t.aae {
            want.push((ResourceRole::Sidecar, s.path.clone()));
        }
        let got: Vec<_> = a
            .resources
            .iter()
            .map(|r| (r.role, r.device_path.clone()))
            .collect();
        assert_eq!(got, want, "{}", t.original.path);
        assert!(
            a.resources
                .iter()
                .all(|r| r.size.is_none() && r.mtime_ns.is_none())
        );
        assert!(a.uuid.is_none(), "no database was read");
    }
    let files: usize = assets.iter().map(|a| a.resources.len()).sum();
    assert_eq!(files, phone.truth.counts.dcim_files);
    assert!(
        phone.truth.counts.live_photos > 0 && phone.truth.assets.iter().any(|t| t.aae.is_some())
    );

    // Listings only: no stat, no open; DCIM + its folders + the CPLAssets probe.
    assert_eq!(phone.requests(Opcode::GetFileInfo), 0);
    assert_eq!(phone.requests(Opcode::FileRefOpen), 0);
    let folders: std::collections::BTreeSet<&str> = phone
        .truth
        .assets
        .iter()
        .map(|t| t.directory.as_str())
        .collect();
    assert_eq!(phone.requests(Opcode::ReadDir), folders.len() as u64 + 2);
    assert_eq!(phone.server.changing_ops(), 0);

    // Deterministic: a second scan gives the same order.
    let again = bounded(scan_dcim(&afc, &ScanOptions::default()))
        .await
        .unwrap();
    let keys = |v: &[iphone_import::library::Asset]| {
        v.iter().map(|a| a.key().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(keys(&assets), keys(&again));
}

#[tokio::test]
async fn inventory_matches_truth() {
    let phone = Phone::new();
    let afc = phone.client();
    let inv = bounded(inventory(&afc, &phone.options(true)))
        .await
        .unwrap();
    let truth = &phone.truth;
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
    let db = inv.db.as_ref().expect("database read");
    assert_eq!(db.asset_table, "ZASSET");
    assert_eq!(db.join_table.as_deref(), Some("Z_28ASSETS"));
    assert!(db.wal_present && db.fetched);
    assert_eq!(db.rows, truth.assets.len());

    let album_paths: BTreeMap<&str, Vec<String>> = truth
        .assets
        .iter()
        .map(|t| {
            let mut p: Vec<String> = truth
                .albums
                .iter()
                .filter(|al| al.asset_uuids.contains(&t.uuid))
                .map(|al| al.path.clone())
                .collect();
            p.sort();
            (t.uuid.as_str(), p)
        })
        .collect();
    assert!(
        album_paths
            .values()
            .any(|p| p.iter().any(|p| p.contains('/'))),
        "nested albums in the fixture"
    );

    let by_uuid: HashMap<&str, _> = inv
        .assets
        .iter()
        .map(|a| (a.uuid.as_deref().expect("every asset has a row"), a))
        .collect();
    assert_eq!(by_uuid.len(), truth.assets.len());
    for t in &truth.assets {
        let a = by_uuid[t.uuid.as_str()];
        assert_eq!(a.key(), t.uuid);
        assert_eq!(a.original().unwrap().device_path, t.original.path);
        assert_eq!(a.hidden, t.hidden, "{}", t.uuid);
        assert_eq!(a.trashed, t.trashed, "{}", t.uuid);
        assert_eq!(
            a.trashed_at.map(|d| d.timestamp()),
            t.trashed_unix,
            "{}",
            t.uuid
        );
        assert_eq!(a.icloud_only, t.icloud_only, "{}", t.uuid);
        assert_eq!(a.original_missing, t.original_missing, "{}", t.uuid);
        assert_eq!(a.favorite, t.favorite, "{}", t.uuid);
        let created = a.created.expect("created");
        assert_eq!(created.timestamp(), t.capture.unix, "{}", t.uuid);
        assert_eq!(created.offset().local_minus_utc(), t.capture.offset_secs);
        assert_eq!(a.albums, album_paths[t.uuid.as_str()], "{}", t.uuid);
        let render = a
            .resources
            .iter()
            .find(|r| r.role == ResourceRole::EditedRender)
            .map(|r| r.device_path.clone());
        assert_eq!(
            render,
            t.edited_render.as_ref().map(|r| r.path.clone()),
            "{}",
            t.uuid
        );
    }

    // Rows committed only to the WAL were seen, with their album.
    assert!(truth.counts.in_wal_only > 0);
    assert!(
        truth
            .assets
            .iter()
            .filter(|t| t.in_wal_only)
            .all(|t| by_uuid.contains_key(t.uuid.as_str()))
    );
    let wal_album = truth
        .albums
        .iter()
        .find(|a| a.in_wal_only)
        .expect("a WAL-only album");
    assert!(
        inv.assets
            .iter()
            .any(|a| a.albums.contains(&wal_album.path))
    );

    let c = &inv.counts;
    assert_eq!(c.assets, truth.counts.assets);
    assert_eq!(c.videos, truth.counts.videos);
    assert_eq!(c.photos, truth.counts.assets - truth.counts.videos);
    assert_eq!(c.hidden, truth.counts.hidden);
    assert_eq!(c.trashed, truth.counts.trashed);
    assert_eq!(c.icloud_only, truth.counts.icloud_only);
    assert_eq!(c.original_missing, truth.counts.original_missing);
    assert_eq!(c.favorites, truth.counts.favorites);
    assert_eq!(c.edited, truth.counts.edited);
    assert_eq!(c.pending_upload, truth.counts.pending_upload);
    assert_eq!(
        c.pending_upload,
        truth
            .assets
            .iter()
            .filter(|t| t.cloud_state == CloudState::PendingUpload)
            .count()
    );
    let shared = truth
        .assets
        .iter()
        .filter(|t| {
            truth
                .albums
                .iter()
                .any(|al| al.kind == 1505 && al.asset_uuids.contains(&t.uuid))
        })
        .count();
    assert_eq!(c.shared, shared);
    assert_eq!(
        c.earliest_purge.map(|d| d.timestamp()),
        truth.assets.iter().filter_map(|t| t.purge_unix).min()
    );
    assert_eq!((c.files_without_db_row, c.db_rows_without_files), (0, 0));
    assert!(truth.counts.hidden > 0 && truth.counts.trashed > 0 && truth.counts.icloud_only > 0);
    assert_eq!(phone.server.changing_ops(), 0);
}

#[tokio::test]
async fn cache_is_reused_until_the_phone_database_changes() {
    let phone = Phone::new();
    let afc = phone.client();
    let first = bounded(inventory(&afc, &phone.options(false)))
        .await
        .unwrap();
    assert!(first.db.as_ref().unwrap().fetched);
    let opens = phone.requests(Opcode::FileRefOpen);
    assert_eq!(opens, 2, "main file and WAL copied once each");

    let second = bounded(inventory(&afc, &phone.options(false)))
        .await
        .unwrap();
    assert!(!second.db.as_ref().unwrap().fetched);
    assert_eq!(
        phone.requests(Opcode::FileRefOpen),
        opens,
        "no read of Photos.sqlite"
    );
    assert_eq!(second.counts, first.counts);

    // The phone hides one more photo: its database (checkpointed on close) differs now.
    let victim = phone.truth.assets.iter().find(|t| !t.hidden).unwrap();
    {
        let conn = rusqlite::Connection::open(phone.root.join("PhotoData/Photos.sqlite")).unwrap();
        conn.execute(
            "UPDATE ZASSET SET ZHIDDEN = 1 WHERE ZUUID = ?1",
            [&victim.uuid],
        )
        .unwrap();
    }
    let third = bounded(inventory(&afc, &phone.options(false)))
        .await
        .unwrap();
    assert!(third.db.as_ref().unwrap().fetched, "{:?}", third.warnings);
    assert!(phone.requests(Opcode::FileRefOpen) > opens);
    assert_eq!(third.counts.hidden, first.counts.hidden + 1);
    let a = third
        .assets
        .iter()
        .find(|a| a.uuid.as_deref() == Some(&victim.uuid))
        .unwrap();
    assert!(a.hidden);
    assert_eq!(phone.server.changing_ops(), 0);
}

#[tokio::test]
async fn damaged_database_is_reported_and_dcim_still_listed() {
    let phone = Phone::new();
    // Scribble over every b-tree page header of the phone's main file (page 1 keeps its header).
    let db_path = phone.root.join("PhotoData/Photos.sqlite");
    let mut bytes = std::fs::read(&db_path).unwrap();
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    let mut at = page;
    while at + 16 <= bytes.len() {
        bytes[at..at + 16].fill(0xA5);
        at += page;
    }
    std::fs::write(&db_path, bytes).unwrap();

    let afc = phone.client();
    let inv = bounded(inventory(&afc, &phone.options(false)))
        .await
        .unwrap();
    assert!(inv.db.is_none());
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("Photos.sqlite is damaged")),
        "{:?}",
        inv.warnings
    );
    assert_eq!(inv.assets.len(), phone.truth.assets.len());
    assert!(inv.assets.iter().all(|a| a.uuid.is_none()));
    // Copied, found damaged, copied again (a bounded number of times), still damaged.
    let copies = iphone_import::library::db_fetch::MAX_FETCHES as u64;
    assert_eq!(phone.requests(Opcode::FileRefOpen), 2 * copies);
    assert_eq!(phone.server.changing_ops(), 0);
}

#[tokio::test]
async fn hostile_names_are_skipped_and_reported() {
    let phone = Phone::new();
    let folder = phone.root.join("DCIM/100APPLE");
    let hostile = [
        "IMG_\n0001.JPG",
        "IMG_0002.JPG\u{1b}[2J",
        "back\\slash.JPG",
        "IMG_\t9.MOV",
    ];
    for name in hostile {
        std::fs::write(folder.join(name), b"x").unwrap();
    }
    std::fs::create_dir(phone.root.join("DCIM/evil\nfolder")).unwrap();
    let afc = phone.client();
    let s = bounded(scan(&afc, &ScanOptions::default())).await.unwrap();
    assert_eq!(s.hostile_names, hostile.len() + 1, "{:?}", s.warnings);
    assert_eq!(s.assets.len(), phone.truth.assets.len());
    for a in &s.assets {
        for r in &a.resources {
            assert!(
                !r.device_path.chars().any(char::is_control),
                "{:?}",
                r.device_path
            );
            assert!(!r.device_path.contains('\\'));
        }
    }
    assert!(s.warnings.iter().all(|w| !w.chars().any(char::is_control)));
    assert_eq!(phone.server.changing_ops(), 0);
}

#[tokio::test]
async fn oversized_folder_is_refused() {
    let phone = Phone::new();
    let afc = phone.client();
    let opts = ScanOptions {
        max_entries_per_folder: 5,
        ..ScanOptions::default()
    };
    let err = bounded(scan(&afc, &opts)).await.unwrap_err();
    assert!(err.to_string().contains("more than 5 entries"), "{err}");
}

#[tokio::test]
async fn cpl_assets_are_listed_and_rows_without_files_counted() {
    let phone = Phone::new();
    // An asset synced from another device, under CPLAssets (no database row for it).
    let group = phone.root.join("PhotoData/CPLAssets/group7");
    std::fs::create_dir_all(&group).unwrap();
    std::fs::write(group.join("0A1B2C3D-0000-4000-8000-000000000001.JPG"), b"x").unwrap();
    // A camera-roll original whose file is gone from DCIM although Photos.sqlite says it is
    // on the phone (one the database calls not local becomes an asset of its own instead).
    let gone = phone
        .truth
        .assets
        .iter()
        .find(|t| {
            t.live_video.is_none() && t.aae.is_none() && !t.icloud_only && !t.original_missing
        })
        .unwrap();
    std::fs::remove_file(phone.root.join(&gone.original.path)).unwrap();

    let afc = phone.client();
    let inv = bounded(inventory(&afc, &phone.options(false)))
        .await
        .unwrap();
    let cpl = inv
        .assets
        .iter()
        .find(|a| a.folder() == "PhotoData/CPLAssets/group7")
        .expect("CPLAssets asset listed");
    assert_eq!(cpl.stem(), "0A1B2C3D-0000-4000-8000-000000000001");
    assert_eq!(inv.assets.len(), phone.truth.assets.len());
    assert_eq!(inv.counts.files_without_db_row, 1);
    assert_eq!(inv.counts.db_rows_without_files, 1);
    assert_eq!(inv.missing_files.len(), 1);
    assert_eq!(
        inv.missing_files[0].uuid.as_deref(),
        Some(gone.uuid.as_str())
    );
    assert_eq!(
        inv.missing_files[0].path.as_deref(),
        Some(gone.original.path.as_str())
    );
}

#[tokio::test]
async fn a_cached_copy_whose_rows_fail_mid_join_is_fetched_again_and_listed_anew() {
    let phone = Phone::new();
    let db_path = phone.root.join("PhotoData/Photos.sqlite");
    // Checkpointed on close: every asset row is in the main file, none in a -wal. Where the
    // asset table's root page is (the cached copy is a byte copy of this file).
    let (root_page, page_size) = {
        let conn = rusqlite::Connection::open(&db_path).unwrap();
        let root: i64 = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'ZASSET'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        (root as usize, size as usize)
    };
    let afc = phone.client();
    // Without metadata, only the join reads the asset table's own pages.
    let opts = InventoryOptions {
        without_metadata: true,
        ..phone.options(false)
    };
    let first = bounded(inventory(&afc, &opts)).await.unwrap();
    assert!(first.db.as_ref().unwrap().fetched);
    let (opens, listings) = (
        phone.requests(Opcode::FileRefOpen),
        phone.requests(Opcode::ReadDir),
    );

    // The cached copy (same size, so still taken as current) loses the asset table's root
    // page: the side tables and the folder list read fine, the rows fail halfway.
    let cached = phone.cache.join("Photos.sqlite");
    let mut bytes = std::fs::read(&cached).unwrap();
    bytes[(root_page - 1) * page_size..][..page_size].fill(0xA5);
    std::fs::write(&cached, bytes).unwrap();

    let second = bounded(inventory(&afc, &opts)).await.unwrap();
    assert!(second.warnings.is_empty(), "{:?}", second.warnings);
    assert!(second.db.as_ref().unwrap().fetched, "fetched anew");
    assert!(phone.requests(Opcode::FileRefOpen) > opens);
    // Listed twice: the half-joined assets were dropped and the folders listed again.
    let again = phone.requests(Opcode::ReadDir) - listings;
    assert_eq!(again, 2 * listings, "two listings of every folder");
    assert_eq!(second.counts, first.counts);
    let keys = |inv: &iphone_import::library::Inventory| -> Vec<(String, bool, bool)> {
        let mut k: Vec<_> = inv
            .assets
            .iter()
            .map(|a| (a.key().to_owned(), a.hidden, a.trashed))
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&second), keys(&first));
    assert_eq!(phone.server.changing_ops(), 0);
}
