//! Photos.sqlite in every schema shape the generator writes (iOS 13 … 26, photo-library.md §6):
//! the reader detects the asset table and album join table by inspection and gives the albums
//! and counts truth.json knows, sees rows that are only in the WAL, survives missing columns and
//! unknown codes, and reports a damaged copy (refetching a torn one once).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use iphone_import::afc::{AfcClient, AfcStatus, Opcode};
use iphone_import::library::photos_db::{self, CloudState, DbKind, LibraryDb, read_local};
use iphone_import::library::{LibraryError, fetch_db};
use iphone_import::mock::afcd::{AfcServer, FaultOn, Faults, PathFault};
use iphone_import::mock::library::{self, AssetKind, LibraryOptions, LibraryTruth, SchemaShape};
use iphone_import::mock::profile::Profile;
use rusqlite::Connection;

const LIMIT: Duration = Duration::from_secs(120);

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("timed out: something hung")
}

/// A small library in `shape` under `<tmp>/media`.
fn generate(shape: SchemaShape, seed: u64) -> (tempfile::TempDir, PathBuf, LibraryTruth) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("media");
    let opts = LibraryOptions {
        photos: 22,
        videos: 4,
        seed,
        items_per_folder: 1000,
        schema: shape,
        ..LibraryOptions::default()
    };
    let truth = library::generate(&root, &opts).unwrap();
    (dir, root, truth)
}

/// Copies Photos.sqlite (and its `-wal` when `with_wal`) into a fresh directory, so reading
/// never touches the generated tree. Returns the directory guard and the copy's path.
fn copy_db(root: &Path, with_wal: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = root.join(library::PHOTOS_DB);
    let dst = dir.path().join("Photos.sqlite");
    std::fs::copy(&src, &dst).unwrap();
    if with_wal {
        std::fs::copy(
            src.with_file_name("Photos.sqlite-wal"),
            dst.with_file_name("Photos.sqlite-wal"),
        )
        .unwrap();
    }
    (dir, dst)
}

/// Overwrites the middle half of a file with a pattern (same size, so size checks pass).
fn scribble_middle(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let len = bytes.len();
    bytes[len / 4..3 * len / 4].fill(0xA5);
    std::fs::write(path, bytes).unwrap();
}

/// Compares everything the reader gives with truth.json.
fn assert_matches_truth(db: &LibraryDb, truth: &LibraryTruth) {
    let shape = truth.schema.as_str();
    // Detection by inspection.
    assert_eq!(db.schema.asset_table, truth.asset_table, "{shape}");
    let join = db.schema.join.as_ref().expect("join table found");
    assert_eq!(
        (
            join.table.as_str(),
            join.album_column.as_str(),
            join.asset_column.as_str()
        ),
        (
            truth.join_table.as_str(),
            truth.join_album_column.as_str(),
            truth.join_asset_column.as_str()
        ),
        "{shape}"
    );
    assert_eq!(
        db.schema.model_version,
        Some(truth.model_version),
        "{shape}"
    );

    // Assets, one by one.
    assert_eq!(db.assets.len(), truth.assets.len(), "{shape}");
    let by_uuid: HashMap<&str, &photos_db::DbAsset> = db
        .assets
        .iter()
        .map(|a| (a.uuid.as_deref().unwrap(), a))
        .collect();
    for t in &truth.assets {
        let a = by_uuid[t.uuid.as_str()];
        let what = format!("{shape} {}", t.uuid);
        assert_eq!(a.directory.as_deref(), Some(t.directory.as_str()), "{what}");
        assert_eq!(a.filename.as_deref(), Some(t.filename.as_str()), "{what}");
        let kind = if t.kind == AssetKind::Video {
            DbKind::Video
        } else {
            DbKind::Photo
        };
        assert_eq!(a.kind, kind, "{what}");
        assert_eq!(
            (
                a.hidden,
                a.trashed,
                a.favorite,
                a.icloud_only,
                a.original_missing,
                a.has_adjustments
            ),
            (
                t.hidden,
                t.trashed,
                t.favorite,
                t.icloud_only,
                t.original_missing,
                t.edited
            ),
            "{what}"
        );
        assert_eq!(a.created.map(|c| c.timestamp()), Some(t.capture.unix));
        let cloud = match t.cloud_state {
            library::CloudState::Synced => CloudState::Synced,
            library::CloudState::PendingUpload => CloudState::PendingUpload,
        };
        assert_eq!(a.cloud, cloud, "{what}");
    }

    // Library counts.
    let c = &truth.counts;
    let n = |f: &dyn Fn(&photos_db::DbAsset) -> bool| db.assets.iter().filter(|a| f(a)).count();
    assert_eq!(n(&|a| a.kind == DbKind::Photo), c.photos, "{shape}");
    assert_eq!(n(&|a| a.kind == DbKind::Video), c.videos, "{shape}");
    assert_eq!(n(&|a| a.hidden), c.hidden, "{shape}");
    assert_eq!(n(&|a| a.trashed), c.trashed, "{shape}");
    assert_eq!(n(&|a| a.icloud_only), c.icloud_only, "{shape}");
    assert_eq!(n(&|a| a.original_missing), c.original_missing, "{shape}");
    assert_eq!(n(&|a| a.favorite), c.favorites, "{shape}");
    assert_eq!(n(&|a| a.has_adjustments), c.edited, "{shape}");
    assert_eq!(
        n(&|a| a.cloud == CloudState::PendingUpload),
        c.pending_upload,
        "{shape}"
    );
    assert!(c.hidden > 0 && c.trashed > 0 && c.icloud_only > 0 && c.favorites > 0);
    assert!(c.edited > 0 && c.original_missing > 0, "{shape}");

    // Albums: the visible ones, each with its title, folders, sharing and member counts.
    assert_eq!(db.albums.len(), truth.albums.len(), "{shape}");
    assert_eq!(
        db.albums.iter().filter(|a| a.shared).count(),
        c.shared_albums
    );
    assert_eq!(
        db.albums.iter().filter(|a| !a.shared).count(),
        c.user_albums
    );
    let albums: HashMap<&str, &photos_db::DbAlbum> = db
        .albums
        .iter()
        .map(|a| (a.uuid.as_deref().unwrap(), a))
        .collect();
    for t in &truth.albums {
        let a = albums
            .get(t.uuid.as_str())
            .unwrap_or_else(|| panic!("{shape}: album {} missing", t.path));
        let what = format!("{shape} album {}", t.path);
        assert_eq!(a.title, t.title, "{what}");
        assert_eq!(a.folders, t.folders, "{what}");
        assert_eq!(a.path, t.path, "{what}");
        assert_eq!(a.shared, t.shared, "{what}");
        assert_eq!(a.kind, t.kind, "{what}");
        let members: Vec<&photos_db::DbAsset> = db
            .assets
            .iter()
            .filter(|x| x.album_pks.contains(&a.pk))
            .collect();
        assert_eq!(members.len(), t.asset_count, "{what}");
        assert_eq!(t.asset_count, t.asset_uuids.len(), "{what}");
        let uuids: BTreeSet<&str> = members.iter().filter_map(|m| m.uuid.as_deref()).collect();
        let want: BTreeSet<&str> = t.asset_uuids.iter().map(String::as_str).collect();
        assert_eq!(uuids, want, "{what}");
        assert_eq!(
            members.iter().filter(|m| m.icloud_only).count(),
            t.not_on_phone,
            "{what}"
        );
    }
    for t in &truth.trashed_albums {
        assert!(
            !albums.contains_key(t.uuid.as_str()),
            "{shape}: trashed album listed"
        );
    }
    assert_eq!(
        truth.albums.iter().filter(|a| a.asset_count == 0).count(),
        c.empty_albums
    );
}

#[test]
fn every_shape_gives_the_known_albums_and_counts() {
    for (i, shape) in SchemaShape::ALL.into_iter().enumerate() {
        let (_dir, root, truth) = generate(shape, 300 + i as u64);
        assert_eq!(truth.schema, shape.name());
        let (_copy, path) = copy_db(&root, true);
        let db = read_local(&path).unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_matches_truth(&db, &truth);
        assert!(db.wal_present);
        assert_eq!(db.schema.album_entity, Some(shape.album_entity()));
        // The fixture has look-alike relation tables, one of them named exactly Z_<n>ASSETS.
        let conn = Connection::open(&path).unwrap();
        let lookalikes: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'Z_%ASSETS' \
                 AND name <> ?1",
            )
            .unwrap()
            .query_map([&truth.join_table], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(lookalikes.len() >= 3, "{shape}: {lookalikes:?}");
        // ... and it sorts first, so picking by name alone would take it.
        assert!(
            lookalikes
                .iter()
                .any(|t| *t < truth.join_table
                    && t[2..t.len() - 6].bytes().all(|b| b.is_ascii_digit())),
            "{shape}: no decoy named Z_<n>ASSETS before the join table in {lookalikes:?}"
        );
    }
}

#[test]
fn shapes_differ_where_real_ones_do() {
    let tables = |shape| {
        let (_dir, root, truth) = generate(shape, 7);
        let (_copy, path) = copy_db(&root, true);
        let conn = Connection::open(&path).unwrap();
        let has_bundle: bool = conn
            .query_row(
                &format!(
                    "SELECT COUNT(*) > 0 FROM pragma_table_info('{}') WHERE name = 'ZBUNDLESCOPE'",
                    truth.asset_table
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        (
            truth.asset_table,
            truth.join_table,
            truth.join_asset_column,
            has_bundle,
        )
    };
    assert_eq!(
        tables(SchemaShape::Ios13),
        (
            "ZGENERICASSET".into(),
            "Z_26ASSETS".into(),
            "Z_34ASSETS".into(),
            false
        )
    );
    assert_eq!(
        tables(SchemaShape::Ios14),
        (
            "ZASSET".into(),
            "Z_26ASSETS".into(),
            "Z_3ASSETS".into(),
            false
        )
    );
    let joins: Vec<String> = SchemaShape::ALL.iter().map(|s| s.join().0).collect();
    assert_eq!(
        joins,
        [
            "Z_26ASSETS",
            "Z_26ASSETS",
            "Z_27ASSETS",
            "Z_28ASSETS",
            "Z_28ASSETS",
            "Z_29ASSETS",
            "Z_30ASSETS",
            "Z_33ASSETS"
        ]
    );
    assert!(tables(SchemaShape::Ios26).3, "ZBUNDLESCOPE from iOS 16 on");
    // Every shape has its own model version; the default is the demo's iOS 17.
    let versions: BTreeSet<i64> = SchemaShape::ALL.iter().map(|s| s.model_version()).collect();
    assert_eq!(versions.len(), SchemaShape::ALL.len());
    assert_eq!(LibraryOptions::demo().schema, SchemaShape::Ios17);
    for s in SchemaShape::ALL {
        assert_eq!(s.name().parse::<SchemaShape>(), Ok(s));
    }
    assert_eq!("17.6".parse::<SchemaShape>(), Ok(SchemaShape::Ios17_6));
    assert!(
        "ios99"
            .parse::<SchemaShape>()
            .unwrap_err()
            .contains("ios17.6")
    );
}

#[test]
fn wal_only_changes_are_seen_in_every_shape() {
    for (i, shape) in SchemaShape::ALL.into_iter().enumerate() {
        let (_dir, root, truth) = generate(shape, 500 + i as u64);
        let wal_assets: BTreeSet<&str> = truth
            .assets
            .iter()
            .filter(|a| a.in_wal_only)
            .map(|a| a.uuid.as_str())
            .collect();
        let wal_album = truth.albums.iter().find(|a| a.in_wal_only).unwrap();
        assert!(!wal_assets.is_empty());

        let (_a, main_only) = copy_db(&root, false);
        let old = read_local(&main_only).unwrap();
        assert!(!old.wal_present);
        assert_eq!(
            old.assets.len(),
            truth.assets.len() - wal_assets.len(),
            "{shape}"
        );
        assert!(
            old.assets
                .iter()
                .all(|a| !wal_assets.contains(a.uuid.as_deref().unwrap()))
        );
        assert!(
            old.albums
                .iter()
                .all(|a| a.uuid.as_deref() != Some(&wal_album.uuid))
        );

        let (_b, with_wal) = copy_db(&root, true);
        let new = read_local(&with_wal).unwrap();
        let album = new
            .albums
            .iter()
            .find(|a| a.uuid.as_deref() == Some(&wal_album.uuid))
            .unwrap_or_else(|| panic!("{shape}: WAL-only album not seen"));
        for uuid in &wal_assets {
            let a = new
                .assets
                .iter()
                .find(|a| a.uuid.as_deref() == Some(*uuid))
                .unwrap_or_else(|| panic!("{shape}: WAL-only asset {uuid} not seen"));
            assert!(a.album_pks.contains(&album.pk), "{shape} {uuid}");
        }
    }
}

#[test]
fn unicode_slash_and_duplicate_album_names_come_out_right() {
    let (_dir, root, truth) = generate(SchemaShape::Ios18, 9);
    let (_copy, path) = copy_db(&root, true);
    let db = read_local(&path).unwrap();
    let find = |path: &str| -> Vec<&photos_db::DbAlbum> {
        db.albums.iter().filter(|a| a.path == path).collect()
    };
    let island = find("Ísland 🌋");
    assert_eq!(island.len(), 1);
    assert!(island[0].folders.is_empty());
    let tokyo = find("Trips/Asia/東京");
    assert_eq!(tokyo.len(), 1);
    assert_eq!(
        (tokyo[0].title.as_str(), &tokyo[0].folders[..]),
        ("東京", &["Trips".to_string(), "Asia".to_string()][..])
    );
    // A slash in a title is part of the title, not a folder.
    let acdc = find("AC/DC");
    assert_eq!(acdc.len(), 1);
    assert_eq!(acdc[0].title, "AC/DC");
    assert!(acdc[0].folders.is_empty());
    // One title in two places: two albums.
    let family: Vec<&str> = db
        .albums
        .iter()
        .filter(|a| a.title == "Family")
        .map(|a| a.path.as_str())
        .collect();
    assert_eq!(family, ["Family", "Trips/Family"]);
    // Two albums with the same path stay two, with distinct keys and their own members.
    let pets = find("Pets");
    assert_eq!(pets.len(), 2);
    assert_ne!(pets[0].pk, pets[1].pk);
    assert_ne!(pets[0].uuid, pets[1].uuid);
    let members = |pk| {
        db.assets
            .iter()
            .filter(|a| a.album_pks.contains(&pk))
            .count()
    };
    let truth_pets: Vec<usize> = truth
        .albums
        .iter()
        .filter(|a| a.path == "Pets")
        .map(|a| a.asset_count)
        .collect();
    let mut got = vec![members(pets[0].pk), members(pets[1].pk)];
    let mut want = truth_pets.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    // The empty album is listed, the trashed one is not, the shared one is shared.
    assert_eq!(find("Empty album").len(), 1);
    assert_eq!(members(find("Empty album")[0].pk), 0);
    assert!(find("Old screenshots").is_empty());
    assert_eq!(truth.trashed_albums.len(), 1);
    assert!(find("Shared with Grandma")[0].shared);
    // The iCloud-only member of "Ísland 🌋" is counted as not on the phone.
    let island_truth = truth
        .albums
        .iter()
        .find(|a| a.title == "Ísland 🌋")
        .unwrap();
    assert!(island_truth.not_on_phone >= 1);
}

/// Whether `table` of the database at `path` has `column`.
fn has_column(path: &Path, table: &str, column: &str) -> bool {
    let conn = Connection::open(path).unwrap();
    conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn ios18_and_later_shapes_carry_adjustments_state_and_stable_hashes_only() {
    for shape in SchemaShape::ALL {
        let (_dir, root, truth) = generate(shape, 40);
        let (_copy, path) = copy_db(&root, true);
        let t = truth.asset_table.as_str();
        let new = shape >= SchemaShape::Ios18;
        let aa = "ZADDITIONALASSETATTRIBUTES";
        assert_eq!(has_column(&path, t, "ZHASADJUSTMENTS"), !new, "{shape}");
        assert!(has_column(&path, t, "ZADJUSTMENTSSTATE"), "{shape}");
        assert_eq!(has_column(&path, aa, "ZORIGINALSTABLEHASH"), new, "{shape}");
        assert_eq!(has_column(&path, aa, "ZADJUSTEDSTABLEHASH"), new, "{shape}");
        assert_eq!(has_column(&path, aa, "ZMASTERFINGERPRINT"), !new, "{shape}");
        assert!(
            truth.ios_version.starts_with(&shape.name()[3..5]),
            "{shape}"
        );
        // Edits are seen in every shape (none were on iOS 18+ while ZHASADJUSTMENTS was read).
        let db = read_local(&path).unwrap();
        let edited = db.assets.iter().filter(|a| a.has_adjustments).count();
        assert!(edited > 0 && edited == truth.counts.edited, "{shape}");
    }
}

#[test]
fn unmigrated_database_without_remote_availability_still_tells_icloud_from_missing() {
    for shape in [SchemaShape::Ios17, SchemaShape::Ios26] {
        let (_dir, root, truth) = generate(shape, 41);
        let (_copy, path) = copy_db(&root, true);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("ALTER TABLE ZINTERNALRESOURCE DROP COLUMN ZREMOTEAVAILABILITY;")
                .unwrap();
        }
        assert!(!has_column(
            &path,
            "ZINTERNALRESOURCE",
            "ZREMOTEAVAILABILITY"
        ));
        // Synced + fingerprinted (ZFINGERPRINT, or ZSTABLEHASH on iOS 18+) = iCloud-only.
        let db = read_local(&path).unwrap();
        assert_matches_truth(&db, &truth);
    }
}

#[test]
fn missing_columns_and_unknown_codes_are_unknown_not_errors() {
    for shape in [SchemaShape::Ios13, SchemaShape::Ios26] {
        let (_dir, root, truth) = generate(shape, 21);
        let (_copy, path) = copy_db(&root, true);
        let t = &truth.asset_table;
        let victim = &truth.assets[0].uuid;
        let album = &truth.albums[0].uuid;
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!(
                "UPDATE {t} SET ZKIND = 77, ZKINDSUBTYPE = 4242, ZDATECREATED = 'yesterday',
                   ZDIRECTORY = x'FF00FF' WHERE ZUUID = '{victim}';
                 UPDATE ZCLOUDMASTER SET ZCLOUDLOCALSTATE = 9 WHERE Z_PK = 1;
                 UPDATE ZGENERICALBUM SET ZKIND = 99999 WHERE ZUUID = '{album}';
                 ALTER TABLE {t} DROP COLUMN ZFAVORITE;
                 ALTER TABLE {t} DROP COLUMN ZHIDDEN;
                 DROP TABLE ZADDITIONALASSETATTRIBUTES;"
            ))
            .unwrap();
        }
        let db = read_local(&path).unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_eq!(db.assets.len(), truth.assets.len());
        let a = db
            .assets
            .iter()
            .find(|a| a.uuid.as_deref() == Some(victim))
            .unwrap();
        assert_eq!(a.kind, DbKind::Unknown);
        assert_eq!(photos_db::subtype_name(a.kind_subtype), "unknown");
        assert_eq!(a.created, None);
        assert_eq!(a.directory, None);
        assert_eq!(db.assets[0].cloud, CloudState::Unknown);
        assert!(db.assets.iter().all(|a| !a.favorite && !a.hidden));
        // Times are UTC without the time-zone table.
        let other = db
            .assets
            .iter()
            .find(|a| a.uuid.as_deref() != Some(victim))
            .unwrap();
        assert_eq!(other.created.unwrap().offset().local_minus_utc(), 0);
        // An album of an unknown kind is not listed; the others still are.
        assert_eq!(db.albums.len(), truth.albums.len() - 1, "{shape}");
        assert!(db.albums.iter().all(|a| a.uuid.as_deref() != Some(album)));
    }
}

#[test]
fn corrupted_local_copy_is_a_clear_error() {
    let (_dir, root, _truth) = generate(SchemaShape::Ios15, 31);
    let (_copy, path) = copy_db(&root, false);
    scribble_middle(&path);
    let err = read_local(&path).unwrap_err();
    assert!(
        matches!(err, LibraryError::LocalDbCorrupt { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("Photos.sqlite") && text.contains("damaged"),
        "{text}"
    );
    assert!(
        text.contains("copy Photos.sqlite"),
        "says what to do: {text}"
    );

    // Not a database at all.
    std::fs::write(&path, b"this is not sqlite, just text long enough to be read as a header......................................................").unwrap();
    let err = read_local(&path).unwrap_err();
    assert!(
        matches!(err, LibraryError::LocalDbCorrupt { .. }),
        "{err:?}"
    );
}

#[test]
fn flipped_bytes_never_panic() {
    let (_dir, root, truth) = generate(SchemaShape::Ios13, 41);
    let (_copy, path) = copy_db(&root, false);
    let clean = std::fs::read(&path).unwrap();
    let page = u16::from_be_bytes([clean[16], clean[17]]) as usize;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut damaged) = (0, 0);
    for _ in 0..40 {
        let mut bytes = clean.clone();
        // Leave the 100-byte file header alone: the point is damaged pages, not "not SQLite".
        for _ in 0..24 {
            let at = 100 + (next() as usize) % (bytes.len() - 100);
            bytes[at] ^= (next() as u8) | 1;
        }
        std::fs::write(&path, &bytes).unwrap();
        match read_local(&path) {
            Ok(db) => {
                ok += 1;
                assert!(db.assets.len() <= truth.assets.len() * 2);
            }
            Err(
                LibraryError::LocalDbCorrupt { .. }
                | LibraryError::Sql(_)
                | LibraryError::UnknownSchema,
            ) => damaged += 1,
            Err(e) => panic!("unexpected error kind: {e:?}"),
        }
    }
    assert_eq!(ok + damaged, 40);
    assert!(
        damaged > 0,
        "24 flipped bytes in {} pages went unnoticed 40 times",
        clean.len() / page
    );
}

struct Phone {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cache: PathBuf,
    truth: LibraryTruth,
    server: Arc<AfcServer>,
}

impl Phone {
    fn new(shape: SchemaShape) -> Phone {
        Phone::with_faults(shape, Faults::none())
    }

    fn with_faults(shape: SchemaShape, faults: Faults) -> Phone {
        let (dir, root, truth) = generate(shape, 77);
        let server = AfcServer::new(root.clone(), Profile::none(), faults).unwrap();
        Phone {
            cache: dir.path().join("cache"),
            _dir: dir,
            root,
            truth,
            server,
        }
    }

    fn client(&self) -> AfcClient {
        AfcClient::new(self.server.connect_in_process())
    }

    fn opens(&self) -> u64 {
        self.server
            .stats()
            .requests
            .get(&Opcode::FileRefOpen)
            .copied()
            .unwrap_or(0)
    }
}

#[tokio::test]
async fn simulated_phone_torn_copy_is_fetched_again_and_damage_is_reported() {
    for shape in [SchemaShape::Ios13, SchemaShape::Ios26] {
        let phone = Phone::new(shape);
        let afc = phone.client();
        let db = bounded(fetch_db(&afc, &phone.cache))
            .await
            .unwrap()
            .expect("the phone has a database");
        assert!(db.fetched);
        assert_matches_truth(&db, &phone.truth);
        assert_eq!(phone.opens(), 2, "main file and WAL");

        // The cached copy is torn (same size, damaged middle): read, found bad, copied again.
        scribble_middle(&phone.cache.join("Photos.sqlite"));
        let again = bounded(fetch_db(&afc, &phone.cache))
            .await
            .unwrap()
            .unwrap();
        assert!(again.fetched, "{shape}: a torn copy must be replaced");
        assert_matches_truth(&again, &phone.truth);
        assert_eq!(phone.opens(), 4);

        // Damaged on the phone: copied MAX_FETCHES times, then a clear error (no panic, no
        // partial answer).
        scribble_middle(&phone.root.join(library::PHOTOS_DB));
        let err = bounded(fetch_db(&afc, &phone.cache)).await.unwrap_err();
        assert!(matches!(err, LibraryError::DbCorrupt { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("Photos.sqlite is damaged")
                && text.contains("Retry when the phone is idle"),
            "{text}"
        );
        let opens = 4 + 2 * iphone_import::library::db_fetch::MAX_FETCHES as u64;
        assert_eq!(phone.opens(), opens, "{shape}: more copies of both files");
        assert_eq!(phone.server.changing_ops(), 0);
    }
}

#[tokio::test]
async fn inventory_through_the_simulated_phone_uses_the_detected_shape() {
    let phone = Phone::new(SchemaShape::Ios17_6);
    let afc = phone.client();
    let inv = bounded(iphone_import::library::inventory(
        &afc,
        &iphone_import::library::InventoryOptions {
            scan: iphone_import::library::ScanOptions::default(),
            cache_dir: Some(phone.cache.clone()),
            edited: false,
            without_metadata: false,
        },
    ))
    .await
    .unwrap();
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
    // Without metadata (a pull without --xmp or {original_name}): the same assets, each `meta`
    // empty but for the screenshot flag.
    let lean = bounded(iphone_import::library::inventory(
        &afc,
        &iphone_import::library::InventoryOptions {
            scan: iphone_import::library::ScanOptions::default(),
            cache_dir: Some(phone.cache.clone()),
            edited: false,
            without_metadata: true,
        },
    ))
    .await
    .unwrap();
    assert_eq!(lean.assets.len(), inv.assets.len());
    assert!(inv.assets.iter().any(|a| a.meta.location.is_some()));
    assert!(lean.assets.iter().any(|a| a.meta.screenshot));
    for (full, lean) in inv.assets.iter().zip(&lean.assets) {
        assert_eq!((full.key(), &full.albums), (lean.key(), &lean.albums));
        let want = iphone_import::library::AssetMeta::from(iphone_import::library::MetaFields {
            screenshot: full.meta.screenshot,
            ..Default::default()
        });
        assert_eq!(lean.meta, want);
    }
    let db = inv.db.as_ref().unwrap();
    assert_eq!(db.asset_table, "ZASSET");
    assert_eq!(db.join_table.as_deref(), Some("Z_29ASSETS"));
    assert_eq!(inv.counts.hidden, phone.truth.counts.hidden);
    assert_eq!(inv.counts.trashed, phone.truth.counts.trashed);
    assert_eq!(inv.counts.icloud_only, phone.truth.counts.icloud_only);
    let with_albums = inv.assets.iter().filter(|a| !a.albums.is_empty()).count();
    let want = phone
        .truth
        .assets
        .iter()
        .filter(|a| !a.albums.is_empty())
        .count();
    assert_eq!(with_albums, want);
}

#[tokio::test]
async fn a_database_that_changes_during_the_copy_is_copied_until_it_holds_still() {
    // Written to during the first two copies (its mtime moves while it is read).
    let faults = Faults {
        touch_on_open: Some((library::PHOTOS_DB.into(), 2)),
        ..Faults::none()
    };
    let phone = Phone::with_faults(SchemaShape::Ios18, faults);
    let afc = phone.client();
    let db = bounded(fetch_db(&afc, &phone.cache))
        .await
        .unwrap()
        .expect("a copy that held still");
    assert!(db.fetched);
    assert_matches_truth(&db, &phone.truth);
    assert_eq!(
        phone.opens(),
        6,
        "three copies of the database and its -wal"
    );
    // Unchanged since: the next run reuses the copy.
    let again = bounded(fetch_db(&afc, &phone.cache))
        .await
        .unwrap()
        .unwrap();
    assert!(!again.fetched);
    assert_eq!(phone.opens(), 6);

    // Written to all the time: a bounded number of copies, then a clear error that says what
    // is unknown without it; the inventory goes on from DCIM.
    let faults = Faults {
        touch_on_open: Some((library::PHOTOS_DB.into(), u64::MAX)),
        ..Faults::none()
    };
    let phone = Phone::with_faults(SchemaShape::Ios17, faults);
    let afc = phone.client();
    let err = bounded(fetch_db(&afc, &phone.cache)).await.unwrap_err();
    let max = iphone_import::library::db_fetch::MAX_FETCHES;
    assert!(
        matches!(err, LibraryError::DbUnstable { copies } if copies == max),
        "{err:?}"
    );
    assert_eq!(phone.opens(), 2 * max as u64);
    assert!(err.to_string().contains("kept changing"), "{err}");
    let inv = bounded(iphone_import::library::inventory(
        &afc,
        &iphone_import::library::InventoryOptions {
            cache_dir: Some(phone.cache.clone()),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    assert!(inv.db.is_none());
    assert_eq!(inv.assets.len(), phone.truth.assets.len());
    assert!(inv.warnings.iter().any(|w| w.contains("kept changing")));
}

#[tokio::test]
async fn unreadable_photodata_falls_back_to_dcim_and_says_what_is_unknown() {
    let faults = Faults {
        fail_paths: vec![PathFault {
            path: library::PHOTOS_DB.into(),
            status: AfcStatus::PermDenied,
            on: FaultOn::Any,
        }],
        ..Faults::none()
    };
    let phone = Phone::with_faults(SchemaShape::Ios26, faults);
    let afc = phone.client();
    let inv = bounded(iphone_import::library::inventory(
        &afc,
        &iphone_import::library::InventoryOptions {
            cache_dir: Some(phone.cache.clone()),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    assert!(inv.db.is_none());
    assert_eq!(inv.assets.len(), phone.truth.assets.len());
    assert!(inv.albums.is_empty());
    let w = inv
        .warnings
        .iter()
        .find(|w| w.contains("photo database could not be read"))
        .unwrap_or_else(|| panic!("{:?}", inv.warnings));
    for unknown in [
        "albums",
        "hidden",
        "iCloud-only",
        "missing originals",
        "Recently Deleted",
    ] {
        assert!(w.contains(unknown), "{w}");
    }
    assert!(w.contains("permission denied"), "{w}");
}

#[tokio::test]
async fn the_shm_is_copied_with_the_database_and_wal() {
    let phone = Phone::new(SchemaShape::Ios17);
    // A wal-index SQLite must rebuild (all zeros): the copy still reads right.
    let shm = phone.root.join("PhotoData/Photos.sqlite-shm");
    std::fs::write(&shm, vec![0u8; 32 * 1024]).unwrap();
    let afc = phone.client();
    let db = bounded(fetch_db(&afc, &phone.cache))
        .await
        .unwrap()
        .unwrap();
    assert_matches_truth(&db, &phone.truth);
    assert_eq!(phone.opens(), 3, "database, -wal and -shm");
    assert!(phone.cache.join("Photos.sqlite-shm").is_file());
    assert_eq!(phone.server.changing_ops(), 0);
}
