//! What the generator will write, decided before any file is: each asset's shape, dates, zone,
//! special cases, edits and albums (the truth), and the per-file inputs that are not part of it
//! (the recipes). Every choice draws from one seeded generator, in a fixed order: the same
//! options give the same library.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::describe::describe;
use super::options::{
    DEVICE_MODEL, IMG_NUMBERS, LibraryOptions, OptimisedShape, TRASH_RETENTION_DAYS,
};
use super::truth::{
    AlbumTruth, AssetKind, AssetTruth, CaptureTime, CloudState, Counts, EmbeddedDate, FileFormat,
    FolderTruth, LibraryTruth, MetaTruth, Resource,
};
use super::{heic, jpeg, mov, people, screenshot, time};

/// Time zones the simulated owner travels through (summer offsets; one has a half hour).
const ZONES: [(&str, i32); 7] = [
    ("Europe/Berlin", 7200),
    ("Atlantic/Reykjavik", 0),
    ("Europe/Lisbon", 3600),
    ("America/New_York", -14_400),
    ("Asia/Tokyo", 32_400),
    ("Asia/Kolkata", 19_800),
    ("America/Los_Angeles", -25_200),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    HeicStill,
    HeicLive,
    JpegStill,
    JpegLive,
    Screenshot,
    Mov,
    Mp4,
}

/// Per-asset inputs of the file writers that are not part of the truth.
pub(super) struct Recipe {
    pub(super) shape: Shape,
    pub(super) rgb: [u8; 3],
    pub(super) filler_seed: u64,
    pub(super) subsec_millis: u32,
    pub(super) original_target: Option<u64>,
    pub(super) live_target: Option<u64>,
    pub(super) render_target: Option<u64>,
    pub(super) edited_unix: i64,
    pub(super) with_aae: bool,
    /// MOVs written `wide` + `mdat` first (odd_files).
    pub(super) wide_first: bool,
}

fn uuid_from(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.r#gen();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
        .to_uppercase()
}

pub(super) fn capture(unix: i64, zone: (&str, i32)) -> CaptureTime {
    CaptureTime {
        unix,
        offset_secs: zone.1,
        offset: time::offset_colon(zone.1),
        local: time::iso_local(unix, zone.1),
        utc: time::iso_utc(unix),
        time_zone: zone.0.to_owned(),
    }
}

/// `n` scaled by `fraction`, but only for libraries big enough to have special cases.
fn share(n: usize, fraction: f64) -> usize {
    if n < 8 {
        0
    } else {
        ((n as f64 * fraction).ceil() as usize).max(1)
    }
}

pub(super) fn plan(rng: &mut ChaCha8Rng, opts: &LibraryOptions) -> (LibraryTruth, Vec<Recipe>) {
    let n = opts.photos + opts.videos;
    let shapes = choose_shapes(rng, opts);
    let mut t = 1_709_251_200 + rng.gen_range(0..300 * 86_400i64); // from 2024-03-01
    let mut zone = ZONES[0];
    let mut assets = Vec::with_capacity(n);
    let mut recipes = Vec::with_capacity(n);
    // Big libraries are shot more densely, so that 100,000 assets span years, not centuries.
    let max_step = if n > IMG_NUMBERS { 3600 } else { 2 * 86_400 };
    for (i, shape) in shapes.iter().copied().enumerate() {
        t += rng.gen_range(45..max_step);
        if rng.gen_bool(0.12) {
            zone = ZONES[rng.gen_range(0..ZONES.len())];
        }
        let (asset, recipe) = plan_asset(rng, opts, i, shape, t, zone);
        assets.push(asset);
        recipes.push(recipe);
    }
    let snapshot = t + 3600;
    mark_special_cases(rng, &mut assets, snapshot);
    plan_edits(rng, &mut assets, &mut recipes, snapshot);
    // The newest rows were written after the last checkpoint: they live only in the WAL.
    let wal_only = if n >= 2 { (n / 15).clamp(1, 5) } else { 0 };
    for a in assets.iter_mut().skip(n - wal_only) {
        a.in_wal_only = true;
    }

    let (folders, albums, trashed_albums) = plan_albums(rng, &mut assets);
    let placeholders = assets
        .iter()
        .filter(|a| a.icloud_only || a.original_missing)
        .flat_map(|a| {
            std::iter::once(a.original.path.clone())
                .chain(a.live_video.as_ref().map(|r| r.path.clone()))
        })
        .collect();
    let shape = opts.schema;
    let (join_table, join_album_column, join_asset_column) = shape.join();
    let truth = LibraryTruth {
        seed: opts.seed,
        device_model: DEVICE_MODEL.into(),
        ios_version: shape.ios_version().into(),
        model_version: shape.model_version(),
        schema: shape.name().into(),
        asset_table: shape.asset_table().into(),
        join_table,
        join_album_column,
        join_asset_column,
        snapshot_unix: snapshot,
        assets,
        albums,
        trashed_albums,
        folders,
        placeholders,
        optimised: OptimisedShape::default(),
        odd_files: Vec::new(),
        counts: Counts::default(),
    };
    (truth, recipes)
}

/// Which slots are photos of which shape and which are videos, in capture order.
fn choose_shapes(rng: &mut ChaCha8Rng, opts: &LibraryOptions) -> Vec<Shape> {
    let mut photo_shapes: Vec<Shape> = (0..opts.photos)
        .map(|_| match rng.gen_range(0..100) {
            0..40 => Shape::HeicStill,
            40..65 => Shape::HeicLive,
            65..80 => Shape::JpegStill,
            80..85 => Shape::JpegLive,
            _ => Shape::Screenshot,
        })
        .collect();
    // Guarantee one of each photo shape when there is room.
    if opts.photos >= 5 {
        let mut idx: Vec<usize> = (0..opts.photos).collect();
        idx.shuffle(rng);
        for (i, s) in idx.iter().zip([
            Shape::HeicLive,
            Shape::Screenshot,
            Shape::JpegStill,
            Shape::HeicStill,
            Shape::JpegLive,
        ]) {
            photo_shapes[*i] = s;
        }
    }
    let mut video_shapes: Vec<Shape> = (0..opts.videos)
        .map(|_| {
            if rng.gen_bool(0.75) {
                Shape::Mov
            } else {
                Shape::Mp4
            }
        })
        .collect();
    if opts.videos >= 2 {
        video_shapes[0] = Shape::Mov;
        video_shapes[1] = Shape::Mp4;
    }
    let mut shapes: Vec<Shape> = photo_shapes.into_iter().chain(video_shapes).collect();
    shapes.shuffle(rng);
    shapes
}

/// The truth and the recipe of the `i`th asset, taken at `t` in `zone`.
fn plan_asset(
    rng: &mut ChaCha8Rng,
    opts: &LibraryOptions,
    i: usize,
    shape: Shape,
    t: i64,
    zone: (&str, i32),
) -> (AssetTruth, Recipe) {
    // Target file size in bytes, between `lo` and `hi` megabytes (decimal, like the brief).
    let mb = |rng: &mut ChaCha8Rng, lo: f64, hi: f64| {
        Some(rng.gen_range((lo * 1e6) as u64..=(hi * 1e6) as u64))
    };
    let number = (i % IMG_NUMBERS) as u32 + 1;
    let directory = format!("DCIM/{}APPLE", 100 + i / opts.items_per_folder);
    let (kind, format, ext) = match shape {
        Shape::HeicStill => (AssetKind::Photo, FileFormat::Heic, "HEIC"),
        Shape::HeicLive => (AssetKind::LivePhoto, FileFormat::Heic, "HEIC"),
        Shape::JpegStill => (AssetKind::Photo, FileFormat::Jpeg, "JPG"),
        Shape::JpegLive => (AssetKind::LivePhoto, FileFormat::Jpeg, "JPG"),
        Shape::Screenshot => (AssetKind::Screenshot, FileFormat::Png, "PNG"),
        Shape::Mov => (AssetKind::Video, FileFormat::Mov, "MOV"),
        Shape::Mp4 => (AssetKind::Video, FileFormat::Mp4, "MP4"),
    };
    let filename = format!("IMG_{number:04}.{ext}");
    let resource = |path: String| Resource {
        path,
        size: 0,
        mtime_unix: t,
    };
    let live = kind == AssetKind::LivePhoto;
    let (width, height) = match format {
        FileFormat::Heic => (heic::WIDTH, heic::HEIGHT),
        FileFormat::Jpeg => (jpeg::WIDTH, jpeg::HEIGHT),
        FileFormat::Png => (screenshot::WIDTH, screenshot::HEIGHT),
        FileFormat::Mov | FileFormat::Mp4 => (mov::WIDTH, mov::HEIGHT),
    };
    let uuid = uuid_from(rng);
    let content_identifier = live.then(|| uuid_from(rng));
    let is_video = kind == AssetKind::Video;
    let realistic = opts.realistic_sizes;
    let recipe = Recipe {
        shape,
        rgb: rng.r#gen(),
        filler_seed: rng.r#gen(),
        subsec_millis: rng.gen_range(0..1000),
        original_target: match (realistic, is_video) {
            (false, _) => None,
            (true, false) => mb(rng, 1.5, 5.0),
            (true, true) => mb(rng, 20.0, 200.0),
        },
        live_target: if realistic && live {
            mb(rng, 2.0, 4.0)
        } else {
            None
        },
        render_target: if realistic { mb(rng, 2.0, 5.0) } else { None },
        edited_unix: t + rng.gen_range(600..3 * 86_400),
        with_aae: false,
        wide_first: false,
    };
    let asset = AssetTruth {
        uuid,
        z_pk: i as i64 + 1,
        number,
        kind,
        format,
        original: resource(format!("{directory}/{filename}")),
        live_video: live.then(|| resource(format!("{directory}/IMG_{number:04}.MOV"))),
        aae: None,
        edited_render: None,
        adjustments_plist: None,
        capture: capture(t, zone),
        embedded_date: match format {
            FileFormat::Heic | FileFormat::Jpeg => EmbeddedDate::ExifWithOffset,
            FileFormat::Png => EmbeddedDate::None,
            FileFormat::Mov => EmbeddedDate::QuickTimeWithOffset,
            FileFormat::Mp4 => EmbeddedDate::QuickTimeUtcOnly,
        },
        content_identifier,
        width,
        height,
        duration_ms: is_video.then(|| rng.gen_range(2_000..60_000)),
        hidden: false,
        favorite: false,
        trashed: false,
        trashed_unix: None,
        purge_unix: None,
        icloud_only: false,
        original_missing: false,
        edited: false,
        cloud_state: CloudState::Synced,
        albums: Vec::new(),
        in_wal_only: false,
        meta: MetaTruth::default(),
        directory,
        filename,
    };
    (asset, recipe)
}

/// Special cases on distinct assets (iCloud-only, hidden, trashed, pending upload, lost
/// originals), favourites, and what the person wrote about each asset.
fn mark_special_cases(rng: &mut ChaCha8Rng, assets: &mut [AssetTruth], snapshot: i64) {
    let n = assets.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut next = order.iter().copied();
    for i in next.by_ref().take(share(n, 0.10)) {
        assets[i].icloud_only = true;
    }
    for i in next.by_ref().take(share(n, 0.06)) {
        assets[i].hidden = true;
    }
    for i in next.by_ref().take(share(n, 0.06)) {
        let a = &mut assets[i];
        a.trashed = true;
        let when = (snapshot - rng.gen_range(86_400..10 * 86_400)).max(a.capture.unix + 60);
        a.trashed_unix = Some(when);
        a.purge_unix = Some(when + TRASH_RETENTION_DAYS * 86_400);
    }
    for i in next.by_ref().take(share(n, 0.06)) {
        assets[i].cloud_state = CloudState::PendingUpload;
    }
    // Lost originals: not on the phone and never uploaded, so not in iCloud either.
    for i in next.by_ref().take(share(n, 0.02)) {
        assets[i].original_missing = true;
        assets[i].cloud_state = CloudState::PendingUpload;
    }
    order.shuffle(rng);
    for &i in order.iter().take(share(n, 0.10)) {
        assets[i].favorite = true;
    }
    for (i, a) in assets.iter_mut().enumerate() {
        a.meta = MetaTruth {
            people: people::faces(a),
            ..describe(i, a.number)
        };
    }
}

/// Edits: HEIC/JPEG originals that are on the phone; every other one also gets an AAE.
fn plan_edits(
    rng: &mut ChaCha8Rng,
    assets: &mut [AssetTruth],
    recipes: &mut [Recipe],
    snapshot: i64,
) {
    let n = assets.len();
    let mut editable: Vec<usize> = (0..n)
        .filter(|&i| {
            matches!(assets[i].format, FileFormat::Heic | FileFormat::Jpeg)
                && !assets[i].icloud_only
                && !assets[i].original_missing
        })
        .collect();
    editable.shuffle(rng);
    for (k, &i) in editable.iter().take(share(n, 0.10)).enumerate() {
        let a = &mut assets[i];
        a.edited = true;
        let edited_unix = recipes[i].edited_unix.min(snapshot - 60);
        recipes[i].edited_unix = edited_unix;
        let ext = if a.format == FileFormat::Heic {
            "heic"
        } else {
            "jpg"
        };
        let adj = format!(
            "PhotoData/Mutations/{}/IMG_{:04}/Adjustments",
            a.directory, a.number
        );
        let res = |path| Resource {
            path,
            size: 0,
            mtime_unix: edited_unix,
        };
        a.edited_render = Some(res(format!("{adj}/FullSizeRender.{ext}")));
        a.adjustments_plist = Some(res(format!("{adj}/Adjustments.plist")));
        if k % 2 == 0 {
            recipes[i].with_aae = true;
            a.aae = Some(res(format!("{}/IMG_{:04}.AAE", a.directory, a.number)));
        }
    }
}

/// One album to plan: title, ZKIND, enclosing folders, WAL-only, trashed, member choice.
struct AlbumSpec {
    title: &'static str,
    kind: i64,
    folders: &'static [&'static str],
    in_wal_only: bool,
    trashed: bool,
    members: Members,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Members {
    /// 1..=8 random assets from before the last checkpoint.
    Some,
    /// The WAL-only assets plus one older asset.
    Newest,
    /// Random ones plus one iCloud-only asset (for per-album "not on the phone" counts).
    WithICloudOnly,
    None,
}

/// A root folder, a "Trips" folder holding a folder "Asia", albums at every level (one only in
/// the WAL), a shared album, and the names that trip readers up: unicode, a title with a slash,
/// the same title in two folders, two albums with the same path, an empty album and an album
/// in the trash. Returns (folders, visible albums, trashed albums).
fn plan_albums(
    rng: &mut ChaCha8Rng,
    assets: &mut [AssetTruth],
) -> (Vec<FolderTruth>, Vec<AlbumTruth>, Vec<AlbumTruth>) {
    let folder = |rng: &mut ChaCha8Rng, title: &str, kind, path: &str| FolderTruth {
        uuid: uuid_from(rng),
        title: title.into(),
        kind,
        path: path.into(),
    };
    let root = folder(rng, "", 3999, "");
    let trips = folder(rng, "Trips", 4000, "Trips");
    fn spec(
        title: &'static str,
        kind: i64,
        folders: &'static [&'static str],
        in_wal_only: bool,
        members: Members,
    ) -> AlbumSpec {
        AlbumSpec {
            title,
            kind,
            folders,
            in_wal_only,
            trashed: false,
            members,
        }
    }
    // The first five are the original fixture; their order keeps their random draws stable.
    let mut specs = vec![
        spec("Iceland 2025", 2, &["Trips"], false, Members::Some),
        spec("Lisbon 2024", 2, &["Trips"], false, Members::Some),
        spec("Family", 2, &[], false, Members::Some),
        spec("Shared with Grandma", 1505, &[], false, Members::Some),
        spec("Picked later", 2, &[], true, Members::Newest),
    ];
    let n = assets.len();
    let wal_assets: Vec<usize> = (0..n).filter(|&i| assets[i].in_wal_only).collect();
    let older = n - wal_assets.len();
    let mut albums = Vec::new();
    let mut trashed_albums = Vec::new();
    let mut folders = vec![root, trips];
    let mut plan_one = |rng: &mut ChaCha8Rng, s: &AlbumSpec, assets: &mut [AssetTruth]| {
        let album = plan_album(rng, s, assets, &wal_assets, older, &albums);
        if s.trashed {
            trashed_albums.push(album);
        } else {
            albums.push(album);
        }
    };
    for s in &specs {
        plan_one(rng, s, assets);
    }
    // Additions after the original draws, so the original albums keep their members.
    folders.push(folder(rng, "Asia", 4000, "Trips/Asia"));
    specs = vec![
        spec("Ísland 🌋", 2, &[], false, Members::WithICloudOnly),
        spec("東京", 2, &["Trips", "Asia"], false, Members::Some),
        spec("AC/DC", 2, &[], false, Members::Some),
        spec("Family", 2, &["Trips"], false, Members::Some),
        spec("Pets", 2, &[], false, Members::Some),
        spec("Pets", 2, &[], false, Members::Some),
        spec("Empty album", 2, &[], false, Members::None),
        AlbumSpec {
            trashed: true,
            ..spec("Old screenshots", 2, &[], false, Members::Some)
        },
    ];
    for s in &specs {
        plan_one(rng, s, assets);
    }
    (folders, albums, trashed_albums)
}

/// One album: its members drawn as `s` says (none in common with a visible album of the same
/// path), named in their assets unless the album is trashed.
fn plan_album(
    rng: &mut ChaCha8Rng,
    s: &AlbumSpec,
    assets: &mut [AssetTruth],
    wal_assets: &[usize],
    older: usize,
    albums: &[AlbumTruth],
) -> AlbumTruth {
    let uuid = uuid_from(rng);
    let mut members: Vec<usize> = match s.members {
        Members::Newest => {
            let mut m = wal_assets.to_vec();
            if older > 0 {
                m.push(rng.gen_range(0..older));
            }
            m
        }
        Members::Some | Members::WithICloudOnly if older > 0 => {
            let k = rng.gen_range(1..=older.min(8));
            rand::seq::index::sample(rng, older, k).into_vec()
        }
        _ => Vec::new(),
    };
    if s.members == Members::WithICloudOnly
        && let Some(i) = (0..older).find(|&i| assets[i].icloud_only)
        && !members.contains(&i)
    {
        members.push(i);
    }
    let path = s
        .folders
        .iter()
        .copied()
        .chain(std::iter::once(s.title))
        .collect::<Vec<_>>()
        .join("/");
    // Two albums with one path share no member, so an asset's album paths stay distinct.
    members.retain(|&i| {
        !albums
            .iter()
            .any(|al: &AlbumTruth| al.path == path && al.asset_uuids.contains(&assets[i].uuid))
    });
    members.sort_unstable();
    // Trashed albums are not listed anywhere, so their members do not name them.
    if !s.trashed {
        for &i in &members {
            assets[i].albums.push(uuid.clone());
        }
    }
    AlbumTruth {
        uuid,
        title: s.title.into(),
        kind: s.kind,
        path,
        asset_uuids: members.iter().map(|&i| assets[i].uuid.clone()).collect(),
        in_wal_only: s.in_wal_only,
        folders: s.folders.iter().map(|f| f.to_string()).collect(),
        shared: s.kind == 1505,
        asset_count: members.len(),
        not_on_phone: members.iter().filter(|&&i| assets[i].icloud_only).count(),
    }
}
