//! Unit tests of the pure planner: filters, unsafe names, album copies, what the ledger
//! holds, anchors, iCloud-only and missing originals, stats and counts.

use super::*;
use chrono::DateTime;

fn asset(kind: AssetKind, created: Option<&str>) -> Asset {
    Asset {
        uuid: None,
        kind,
        resources: Vec::new(),
        created: created.map(|c| DateTime::parse_from_rfc3339(c).unwrap()),
        hidden: false,
        trashed: false,
        trashed_at: None,
        icloud_only: false,
        original_missing: false,
        only_copy_on_phone: false,
        favorite: false,
        albums: Vec::new(),
        meta: Default::default(),
    }
}

fn res(role: ResourceRole, path: &str) -> Resource {
    Resource {
        role,
        device_path: path.into(),
        size: None,
        mtime_ns: None,
        birth_ns: None,
    }
}

/// A Live Photo in `folder` whose resources are listed companions first.
fn live(folder: &str, stem: &str) -> Asset {
    let mut a = asset(AssetKind::Photo, Some("2025-06-14T12:00:00+02:00"));
    a.resources = vec![
        res(ResourceRole::Sidecar, &format!("{folder}/{stem}.AAE")),
        res(ResourceRole::LiveVideo, &format!("{folder}/{stem}.MOV")),
        res(ResourceRole::Original, &format!("{folder}/{stem}.HEIC")),
    ];
    a
}

/// `live` with an edited render (wanted only with `--edited`).
fn live_edited(folder: &str, stem: &str) -> Asset {
    let mut a = live(folder, stem);
    let path = format!("{folder}/{stem}_edited.HEIC");
    a.resources.push(res(ResourceRole::EditedRender, &path));
    a
}

/// A plain layout without `--edited`.
fn plain(filters: &Filters) -> Rules<'_> {
    Rules {
        filters,
        edited: false,
        by_album: false,
    }
}

fn all() -> Filters {
    Filters::from_args(None, None, false, false, false, false).unwrap()
}

/// The planner's two steps over `assets` with the given anchors.
fn plan_with(
    assets: &mut [Asset],
    known: &Known,
    rules: &Rules<'_>,
    anchors: &Anchors,
) -> (Plan, Vec<Notice>, VecDeque<Job>) {
    let mut counts = Plan::default();
    let mut drafted = Vec::new();
    let mut jobs: Vec<Job> = assets
        .iter_mut()
        .enumerate()
        .filter_map(|(i, a)| draft(i, a, known, rules, &mut counts, &mut drafted))
        .collect();
    let mut notices = Vec::new();
    finish(&mut jobs, assets, anchors, drafted, |n| {
        notices.push(n);
        Ok::<_, ()>(())
    })
    .unwrap();
    (counts, notices, jobs.into())
}

fn plan(
    assets: &mut [Asset],
    known: &Known,
    rules: &Rules<'_>,
) -> (Plan, Vec<Notice>, VecDeque<Job>) {
    plan_with(assets, known, rules, &Anchors::new())
}

/// The device paths of a copy's pending files (`assets` as the plan left them).
fn paths<'a>(assets: &'a [Asset], job: &Job, copy: usize) -> Vec<&'a str> {
    let resources = &assets[job.asset].resources;
    job.copies[copy]
        .pending
        .iter()
        .map(|&i| resources[i].device_path.as_str())
        .collect()
}

fn anchor() -> Anchor {
    Anchor {
        day: NaiveDate::from_ymd_opt(2025, 6, 14).unwrap(),
        mtime: None,
        suffix: 2,
    }
}

#[test]
fn date_filters_use_the_local_day_and_take_undated_assets() {
    let f = Filters::from_args(Some("2025-06-14"), None, false, false, false, false).unwrap();
    // 23:30 on the 13th where it was taken (already the 14th in UTC): before --since.
    assert!(!selected(
        &f,
        &asset(AssetKind::Photo, Some("2025-06-13T23:30:00-02:00"))
    ));
    assert!(selected(
        &f,
        &asset(AssetKind::Photo, Some("2025-06-14T00:10:00+09:00"))
    ));
    // No library date: the filter cannot decide before copying; the asset is taken.
    assert!(selected(&f, &asset(AssetKind::Photo, None)));
    // Kind filters still apply to undated assets.
    let videos = Filters::from_args(Some("2025-06-14"), None, false, true, false, false).unwrap();
    assert!(!selected(&videos, &asset(AssetKind::Photo, None)));
    let mut trashed = asset(AssetKind::Video, None);
    trashed.trashed = true;
    assert!(!selected(&videos, &trashed));
}

#[test]
fn originals_go_first_then_companions_and_edits_only_with_edited() {
    let a = live_edited("DCIM/100APPLE", "IMG_0001");
    let filters = all();
    let mut rules = plain(&filters);
    let mut assets = [a.clone()];
    let (counts, notices, jobs) = plan(&mut assets, &Known::default(), &rules);
    assert!(notices.is_empty());
    assert_eq!((counts.selected, counts.already_imported), (1, 0));
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        paths(&assets, &jobs[0], 0),
        [
            "DCIM/100APPLE/IMG_0001.HEIC",
            "DCIM/100APPLE/IMG_0001.MOV",
            "DCIM/100APPLE/IMG_0001.AAE"
        ]
    );
    rules.edited = true;
    let mut assets = [a];
    let (_, _, jobs) = plan(&mut assets, &Known::default(), &rules);
    assert_eq!(
        paths(&assets, &jobs[0], 0)[3],
        "DCIM/100APPLE/IMG_0001_edited.HEIC"
    );
}

#[test]
fn album_layouts_make_one_copy_per_album_plain_layouts_one() {
    let mut a = live("DCIM/100APPLE", "IMG_0001");
    a.albums = vec!["Trips".into(), "Family".into()];
    let mut none = live("DCIM/100APPLE", "IMG_0002");
    none.albums.clear();
    let filters = all();
    let mut rules = Rules {
        filters: &filters,
        edited: false,
        by_album: true,
    };
    let (_, _, jobs) = plan(&mut [a.clone(), none.clone()], &Known::default(), &rules);
    let albums: Vec<_> = jobs[0].copies.iter().map(|c| c.album.clone()).collect();
    assert_eq!(albums, [Some("Trips".into()), Some("Family".into())]);
    // Not in any album: one copy under "No Album".
    assert_eq!(jobs[1].copies.len(), 1);
    assert_eq!(jobs[1].copies[0].album.as_deref(), Some(""));
    rules.by_album = false;
    let mut assets = [a, none];
    let (counts, _, jobs) = plan(&mut assets, &Known::default(), &rules);
    assert!(
        jobs.iter()
            .all(|j| j.copies.len() == 1 && j.copies[0].album.is_none())
    );
    let mut counted = Plan::default();
    count(&jobs, &assets, &mut counted);
    assert_eq!((counts.selected, counted.files_to_copy), (2, 6));
}

#[test]
fn imported_files_are_skipped_and_companions_wait_for_an_anchor() {
    let folder = "DCIM/100APPLE";
    let mut known = Known::default();
    let names = ["IMG_0001.HEIC", "IMG_0001.MOV", "IMG_0002.HEIC"];
    known.add_names(folder.into(), names.iter().map(|n| n.to_string()).collect());
    let mut assets = [live(folder, "IMG_0001"), live(folder, "IMG_0002")];
    let filters = all();
    let rules = plain(&filters);
    // The new AAEs need their original's anchor; without one nothing is copied.
    let (counts, notices, jobs) = plan(&mut assets, &known, &rules);
    assert_eq!(counts.already_imported, 3);
    assert!(notices.is_empty() && jobs.is_empty());
    let anchors = Anchors::from([((0, String::new()), anchor())]);
    let (_, _, jobs) = plan_with(&mut assets, &known, &rules, &anchors);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].asset, 0);
    assert_eq!(jobs[0].copies[0].anchor, Some(anchor()));
    assert_eq!(paths(&assets, &jobs[0], 0), ["DCIM/100APPLE/IMG_0001.AAE"]);
    // Only copies whose original is known ask for an anchor.
    let mut counts = Plan::default();
    let job = draft(
        1,
        &mut assets[1],
        &known,
        &rules,
        &mut counts,
        &mut Vec::new(),
    );
    let wanted: Vec<_> = job.unwrap().anchors_wanted().collect();
    assert_eq!(wanted, [String::new()]);
}

#[test]
fn an_asset_whose_files_are_all_imported_is_counted_not_planned() {
    let folder = "DCIM/100APPLE";
    let mut known = Known::default();
    let names = ["IMG_0001.HEIC", "IMG_0001.MOV", "IMG_0001.AAE"];
    known.add_names(folder.into(), names.iter().map(|n| n.to_string()).collect());
    // The render is not asked for without --edited: it does not make the asset lack a file.
    let done = live_edited(folder, "IMG_0001");
    let filters = all();
    let mut rules = plain(&filters);
    let mut assets = [done];
    let (counts, notices, jobs) = plan(&mut assets, &known, &rules);
    assert_eq!((counts.selected, counts.already_imported), (1, 3));
    assert!(notices.is_empty() && jobs.is_empty());
    // With --edited the render is lacking: only it is planned, after its anchor.
    rules.edited = true;
    let anchors = Anchors::from([((0, String::new()), anchor())]);
    let (counts, _, jobs) = plan_with(&mut assets, &known, &rules, &anchors);
    assert_eq!(counts.already_imported, 3);
    assert_eq!(
        paths(&assets, &jobs[0], 0),
        ["DCIM/100APPLE/IMG_0001_edited.HEIC"]
    );
}

#[test]
fn an_album_copy_is_known_per_album() {
    let folder = "DCIM/100APPLE";
    let mut a = live(folder, "IMG_0001");
    a.albums = vec!["Trips".into(), "Family".into()];
    let mut known = Known::default();
    let done = ["IMG_0001.HEIC", "IMG_0001.MOV", "IMG_0001.AAE"]
        .map(|n| (n.to_string(), "album:Trips".to_string()));
    known.add_copies(folder.into(), done.into_iter().collect());
    let filters = all();
    let rules = Rules {
        filters: &filters,
        edited: false,
        by_album: true,
    };
    let (counts, _, jobs) = plan(&mut [a], &known, &rules);
    assert_eq!(counts.already_imported, 3);
    assert_eq!(jobs[0].copies.len(), 1);
    assert_eq!(jobs[0].copies[0].album.as_deref(), Some("Family"));
    assert_eq!(jobs[0].copies[0].pending.len(), 3);
}

#[test]
fn same_names_in_another_folder_after_the_img_wrap_are_new() {
    // IMG_9999 wrapped to IMG_0001 in a new camera folder: a name known in 100APPLE does
    // not make 101APPLE's file of that name imported.
    let mut known = Known::default();
    let names = ["IMG_0001.HEIC", "IMG_0001.MOV", "IMG_0001.AAE"];
    known.add_names(
        "DCIM/100APPLE".into(),
        names.iter().map(|n| n.to_string()).collect(),
    );
    let mut assets = [
        live("DCIM/100APPLE", "IMG_0001"),
        live("DCIM/101APPLE", "IMG_0001"),
    ];
    let filters = all();
    let rules = plain(&filters);
    let folders: Vec<_> = folders(&assets, &rules).into_iter().collect();
    assert_eq!(folders, ["DCIM/100APPLE", "DCIM/101APPLE"]);
    let (counts, _, jobs) = plan(&mut assets, &known, &rules);
    assert_eq!(counts.already_imported, 3);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].asset, 1);
    assert_eq!(jobs[0].copies[0].pending.len(), 3);
}

#[test]
fn icloud_only_and_missing_originals_are_reported_not_copied() {
    let mut cloud = live("DCIM/100APPLE", "IMG_0001");
    cloud.icloud_only = true;
    let mut gone = live("DCIM/100APPLE", "IMG_0002");
    gone.original_missing = true;
    let filters = all();
    let rules = plain(&filters);
    let (counts, notices, jobs) = plan(&mut [cloud, gone], &Known::default(), &rules);
    assert!(jobs.is_empty());
    assert_eq!((counts.icloud_only, counts.original_missing), (1, 1));
    assert_eq!(
        notices,
        [
            Notice::IcloudOnly {
                device_path: "DCIM/100APPLE/IMG_0001.HEIC".into()
            },
            Notice::Missing {
                device_path: "DCIM/100APPLE/IMG_0002.HEIC".into()
            },
        ]
    );
}

#[test]
fn filters_and_unsafe_names_leave_assets_out() {
    let mut video = live("DCIM/100APPLE", "IMG_0001");
    video.kind = AssetKind::Video;
    let mut bad_companion = live("DCIM/100APPLE", "IMG_0002");
    bad_companion.resources[0].device_path = "DCIM/100APPLE/../IMG_0002.AAE".into();
    let mut bad_stem = live("DCIM/100APPLE", "IMG_0003");
    // An original named `...HEIC` has the stem `..`.
    bad_stem.resources[2].device_path = "DCIM/100APPLE/...HEIC".into();
    let filters = Filters::from_args(None, None, true, false, false, false).unwrap();
    let rules = plain(&filters);
    let mut assets = [video, bad_companion, bad_stem];
    let (counts, notices, jobs) = plan(&mut assets, &Known::default(), &rules);
    assert_eq!((counts.filtered_out, counts.selected), (1, 2));
    // The bad AAE is skipped, its asset goes on; an unsafe original skips its asset.
    assert_eq!(counts.unsafe_names, 2);
    assert!(matches!(&notices[0], Notice::Unsafe { device_path, .. }
        if device_path == "DCIM/100APPLE/../IMG_0002.AAE"));
    assert!(matches!(&notices[1], Notice::Unsafe { reason, .. }
        if reason.starts_with("asset name:")));
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].asset, 1);
    assert_eq!(jobs[0].copies[0].pending.len(), 2);
}

#[test]
fn stats_once_per_file_then_refused_files_and_orphans_go() {
    let mut a = live("DCIM/100APPLE", "IMG_0001");
    a.albums = vec!["Trips".into(), "Family".into()];
    let b = live("DCIM/100APPLE", "IMG_0002");
    let filters = all();
    let rules = Rules {
        filters: &filters,
        edited: false,
        by_album: true,
    };
    let mut assets = [a, b];
    let (_, _, mut jobs) = plan(&mut assets, &Known::default(), &rules);
    let requests = stat_requests(&jobs, &assets);
    // Three files of the first asset once (not per album), three of the second.
    assert_eq!(requests.len(), 6);
    assert!(requests[..3].iter().all(|(a, _)| *a == 0));
    for (a, i) in &requests {
        let r = &mut assets[*a].resources[*i];
        (r.size, r.mtime_ns) = (Some(10), Some(1));
    }
    // Known sizes and mtimes are not asked again.
    assert!(stat_requests(&jobs, &assets).is_empty());
    // The phone refused the second asset's original (sorted first): its companions go
    // with it.
    assert_eq!(
        assets[1].resources[0].device_path,
        "DCIM/100APPLE/IMG_0002.HEIC"
    );
    let dropped = HashSet::from([(1, 0)]);
    settle(&mut jobs, &assets, &dropped);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].copies.len(), 2);
    let mut counts = Plan::default();
    count(&jobs, &assets, &mut counts);
    // Six files to copy, but each file's bytes come from the phone once (dry-run totals).
    assert_eq!((counts.files_to_copy, counts.bytes_to_copy), (6, 30));
}

#[test]
fn folder_of_device_paths() {
    assert_eq!(folder_of("DCIM/100APPLE/IMG_0001.HEIC"), "DCIM/100APPLE");
    assert_eq!(folder_of("/DCIM/100APPLE/IMG_0001.HEIC"), "DCIM/100APPLE");
    assert_eq!(folder_of("IMG_0001.HEIC"), "");
}
