//! What to copy, decided from data alone: a chunk's assets, what the ledger holds for their
//! folders ([`Known`]), the anchors of originals an earlier run imported, and the pull options.
//! No AFC, no filesystem, no SQLite here; `known` and `stat` fetch the data, `stream` reports
//! the decisions ([`Notice`]) and hands the [`Job`]s to the workers.
//!
//! Per asset, in two steps so the ledger is asked for an anchor only when one is needed:
//! [`draft`] (filters, unsafe names, which copies and files are already imported) and
//! [`finish`] (anchors applied, iCloud-only and missing originals reported instead of copied).
//! Both work on the same [`Job`] list, so a chunk's plan is held once.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::SystemTime;

use chrono::NaiveDate;

use super::events::Plan;
use crate::import::filters::{self, AssetMeta, Filters};
use crate::import::ledger::copy_key;
use crate::import::names;
use crate::library::{Asset, AssetKind, Resource, ResourceRole};

/// The pull options the plan depends on.
pub(super) struct Rules<'a> {
    pub filters: &'a Filters,
    /// `--edited`: edited renders are wanted too.
    pub edited: bool,
    /// The layout has `{album}`: one copy per album.
    pub by_album: bool,
}

/// Where an asset's companions go: the original's date, file mtime and collision suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Anchor {
    pub day: NaiveDate,
    pub mtime: Option<SystemTime>,
    pub suffix: u32,
}

/// One asset's work: each copy it still lacks. A plain layout has one copy; a layout with
/// `{album}` has one per album (in `asset.albums`). One worker does all copies of an asset, in
/// order, so a later copy is made from the first one's file instead of the phone.
#[derive(Debug)]
pub(super) struct Job {
    /// Index in the run's asset list (moving 100,000 assets into jobs kept two lists alive).
    pub asset: usize,
    pub copies: Vec<CopyWork>,
}

/// One copy of an asset: the resources it still lacks, original first.
#[derive(Debug)]
pub(super) struct CopyWork {
    /// `Some(album path)` under a layout with `{album}` (empty = no album).
    pub album: Option<String>,
    /// Indices in the asset's resources, which [`draft`] sorted original first. Indices, not
    /// clones: cloned resources with their paths were ~15 MB of a 100,000-asset first pull.
    pub pending: Vec<usize>,
    /// Set when the original of this copy was imported by an earlier run.
    pub anchor: Option<Anchor>,
    /// Drafted while the original of this copy is in the ledger: it needs an anchor.
    original_known: bool,
}

/// A decision to report rather than act on, in the order it was made.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Notice {
    /// Not copied: the name from the phone is unsafe.
    Unsafe { device_path: String, reason: String },
    /// The original is only in iCloud (Photos.sqlite): reading it would only fail.
    IcloudOnly { device_path: String },
    /// The original is neither on the phone nor in iCloud.
    Missing { device_path: String },
}

/// Which files (and copies) the ledger holds, per device folder. Empty without a ledger.
#[derive(Default)]
pub(super) struct Known {
    names: HashMap<String, HashSet<String>>,
    copies: HashMap<String, HashSet<(String, String)>>,
}

impl Known {
    /// The names of `folder` imported in any copy (what a plain layout asks).
    pub(super) fn add_names(&mut self, folder: String, names: HashSet<String>) {
        self.names.insert(folder, names);
    }

    /// The (name, copy key) pairs of `folder` imported (what a layout with `{album}` asks).
    pub(super) fn add_copies(&mut self, folder: String, copies: HashSet<(String, String)>) {
        self.copies.insert(folder, copies);
    }

    /// Whether the names of `folder` are loaded.
    pub(super) fn has_folder(&self, folder: &str) -> bool {
        self.names.contains_key(folder) || self.copies.contains_key(folder)
    }

    /// Drops the folders not in `keep`.
    pub(super) fn retain_folders(&mut self, keep: &BTreeSet<String>) {
        self.names.retain(|f, _| keep.contains(f));
        self.copies.retain(|f, _| keep.contains(f));
    }

    /// Adds the folders `other` loaded.
    pub(super) fn absorb(&mut self, other: Known) {
        self.names.extend(other.names);
        self.copies.extend(other.copies);
    }

    /// Whether the ledger has `name` of `folder`: any copy of it for a plain layout (`copy`
    /// empty), that very copy otherwise.
    pub(super) fn contains(&self, folder: &str, name: &str, copy: &str) -> bool {
        if copy.is_empty() {
            self.names.get(folder).is_some_and(|s| s.contains(name))
        } else {
            self.copies
                .get(folder)
                .is_some_and(|s| s.contains(&(name.to_string(), copy.to_string())))
        }
    }
}

impl Job {
    /// Copy keys whose original is imported already: their anchor comes from the ledger.
    pub(super) fn anchors_wanted(&self) -> impl Iterator<Item = String> + '_ {
        self.copies
            .iter()
            .filter(|c| c.original_known)
            .map(|c| copy_key(c.album.as_deref()))
    }
}

/// Anchors found for (asset index, copy key).
pub(super) type Anchors = HashMap<(usize, String), Anchor>;

/// The device folder of a media-root-relative path.
pub(super) fn folder_of(device_path: &str) -> &str {
    let p = device_path.strip_prefix('/').unwrap_or(device_path);
    p.rsplit_once('/').map_or("", |(f, _)| f)
}

fn role_rank(role: ResourceRole) -> u8 {
    match role {
        ResourceRole::Original => 0,
        ResourceRole::LiveVideo => 1,
        ResourceRole::Sidecar => 2,
        ResourceRole::EditedRender => 3,
    }
}

fn filter_kind(kind: AssetKind) -> filters::AssetKind {
    match kind {
        AssetKind::Photo => filters::AssetKind::Photo,
        AssetKind::Video => filters::AssetKind::Video,
    }
}

/// Whether the filters take the asset. Without a library date (no readable Photos.sqlite) a
/// date filter cannot be decided before copying; such assets are taken.
pub(super) fn selected(filters: &Filters, asset: &Asset) -> bool {
    let meta = |captured| AssetMeta {
        kind: filter_kind(asset.kind),
        captured,
        hidden: asset.hidden,
        trashed: asset.trashed,
    };
    match asset.created {
        Some(created) => filters.matches(&meta(created.date_naive())),
        None => {
            let undated = Filters {
                since: None,
                until: None,
                ..*filters
            };
            undated.matches(&meta(NaiveDate::default()))
        }
    }
}

/// The device folders whose ledger entries the plan of `assets` asks about.
pub(super) fn folders(assets: &[Asset], rules: &Rules<'_>) -> BTreeSet<String> {
    // Inserted one borrowed name at a time: collecting owned names first held one string per
    // file (about 9 MB at 100,000 assets) at the plan's memory peak.
    let mut folders = BTreeSet::new();
    let wanted = assets
        .iter()
        .filter(|a| selected(rules.filters, a))
        .flat_map(|a| &a.resources)
        .filter(|r| rules.edited || r.role != ResourceRole::EditedRender);
    for r in wanted {
        folders.insert(folder_of(&r.device_path));
    }
    folders.into_iter().map(str::to_owned).collect()
}

/// First step of an asset's plan; counts it into `counts`. Its notices go to `notices`, with
/// the asset's index; the job is `None` when there is nothing to copy. Sorts the asset's
/// resources original first.
pub(super) fn draft(
    index: usize,
    asset: &mut Asset,
    known: &Known,
    rules: &Rules<'_>,
    counts: &mut Plan,
    notices: &mut Vec<(usize, Notice)>,
) -> Option<Job> {
    if !selected(rules.filters, asset) {
        counts.filtered_out += 1;
        return None;
    }
    counts.selected += 1;
    counts.icloud_only += u64::from(asset.icloud_only);
    counts.original_missing += u64::from(asset.original_missing);
    asset.resources.sort_by_key(|r| role_rank(r.role));
    if let Some(imported) = all_imported(asset, known, rules) {
        // The common case of a re-run, without the checks and lists below: every name the
        // ledger holds was checked when its file was imported.
        counts.already_imported += imported;
        return None;
    }
    let wanted = wanted(index, asset, rules, counts, notices);
    let mut copies = Vec::new();
    if let Some(wanted) = wanted.filter(|w| !w.is_empty()) {
        let albums = albums(asset, rules.by_album);
        // Exact: a growing Vec starts at four slots, 4x the one copy of a plain layout.
        copies.reserve_exact(albums.len());
        for album in albums {
            copies.extend(lacking(album, &wanted, &asset.resources, known, counts));
        }
    }
    if copies.is_empty() {
        return None;
    }
    Some(Job {
        asset: index,
        copies,
    })
}

/// Under a plain layout, how many files the asset has when the ledger holds every one of them;
/// `None` when it lacks one (or the layout sorts by album, where each copy is asked apart).
fn all_imported(asset: &Asset, known: &Known, rules: &Rules<'_>) -> Option<u64> {
    if rules.by_album {
        return None;
    }
    let mut imported = 0;
    for r in &asset.resources {
        if r.role == ResourceRole::EditedRender && !rules.edited {
            continue;
        }
        if !known.contains(folder_of(&r.device_path), r.name(), "") {
            return None;
        }
        imported += 1;
    }
    Some(imported)
}

/// The resources to import (indices), with safe names; `None` when the original's name is
/// unsafe (the asset is skipped).
fn wanted(
    index: usize,
    asset: &Asset,
    rules: &Rules<'_>,
    counts: &mut Plan,
    notices: &mut Vec<(usize, Notice)>,
) -> Option<Vec<usize>> {
    let mut wanted = Vec::new();
    for (i, r) in asset.resources.iter().enumerate() {
        if r.role == ResourceRole::EditedRender && !rules.edited {
            continue;
        }
        let unsafe_reason = names::validate_device_path(&r.device_path)
            .err()
            .map(|e| e.to_string())
            .or_else(|| {
                names::validate_name(asset.stem())
                    .err()
                    .map(|e| format!("asset name: {e}"))
            });
        let Some(reason) = unsafe_reason else {
            wanted.push(i);
            continue;
        };
        counts.unsafe_names += 1;
        let device_path = r.device_path.clone();
        notices.push((
            index,
            Notice::Unsafe {
                device_path,
                reason,
            },
        ));
        if r.role == ResourceRole::Original {
            return None;
        }
    }
    Some(wanted)
}

/// One copy, or one per album when the layout sorts by album ("" = the asset is in none).
fn albums(asset: &Asset, by_album: bool) -> Vec<Option<String>> {
    if !by_album {
        vec![None]
    } else if asset.albums.is_empty() {
        vec![Some(String::new())]
    } else {
        asset.albums.iter().cloned().map(Some).collect()
    }
}

/// The files one copy still lacks, and whether its original is imported already; `None` when
/// it lacks nothing.
fn lacking(
    album: Option<String>,
    wanted: &[usize],
    resources: &[Resource],
    known: &Known,
    counts: &mut Plan,
) -> Option<CopyWork> {
    let key = copy_key(album.as_deref());
    let mut pending = Vec::with_capacity(wanted.len());
    let mut original_known = false;
    for &i in wanted {
        let r = &resources[i];
        if known.contains(folder_of(&r.device_path), r.name(), &key) {
            counts.already_imported += 1;
            original_known |= r.role == ResourceRole::Original;
        } else {
            pending.push(i);
        }
    }
    if pending.is_empty() {
        return None;
    }
    Some(CopyWork {
        album,
        pending,
        anchor: None,
        original_known,
    })
}

/// Second step of the plan, over the drafted `jobs` in asset order: anchors applied, jobs left
/// with nothing to copy removed. Calls `report` with every notice, the drafted ones
/// (`drafted`, in asset order) and its own, in the order of the assets.
pub(super) fn finish<E>(
    jobs: &mut Vec<Job>,
    assets: &[Asset],
    anchors: &Anchors,
    drafted: Vec<(usize, Notice)>,
    mut report: impl FnMut(Notice) -> Result<(), E>,
) -> Result<(), E> {
    let mut drafted = drafted.into_iter().peekable();
    for job in jobs.iter_mut() {
        while let Some((_, notice)) = drafted.next_if(|(i, _)| *i <= job.asset) {
            report(notice)?;
        }
        if let Some(notice) = finish_job(job, &assets[job.asset], anchors) {
            report(notice)?;
        }
    }
    for (_, notice) in drafted {
        report(notice)?;
    }
    jobs.retain(|j| !j.copies.is_empty());
    Ok(())
}

/// One job's second step: copies whose original an earlier run imported get its anchor, or
/// go without one; a job whose original Photos.sqlite says is not on the phone is emptied
/// and reported.
fn finish_job(job: &mut Job, asset: &Asset, anchors: &Anchors) -> Option<Notice> {
    let index = job.asset;
    job.copies.retain_mut(|work| {
        if !work.original_known {
            return true;
        }
        // Without the anchor the original's copy is gone from the ledger's view; companions
        // wait for it.
        let key = (index, copy_key(work.album.as_deref()));
        work.anchor = anchors.get(&key).copied();
        work.anchor.is_some()
    });
    let first = &asset.resources[job.copies.first()?.pending[0]];
    if first.role == ResourceRole::Original && (asset.icloud_only || asset.original_missing) {
        // Photos.sqlite says the original is not on the phone (a fresh copy of the database is
        // fetched whenever it changes): reading it would only fail, and trying costs round
        // trips on every run. Its companions wait for it, as after a failed read.
        job.copies.clear();
        let device_path = first.device_path.clone();
        return Some(if asset.icloud_only {
            Notice::IcloudOnly { device_path }
        } else {
            Notice::Missing { device_path }
        });
    }
    None
}

/// A file to stat: (asset, resource) indices in the run's asset list.
pub(super) type StatRequest = (usize, usize);

/// The files whose size or mtime is unknown, each once (a file in several album copies of an
/// asset is the same resource of that asset).
pub(super) fn stat_requests(jobs: &VecDeque<Job>, assets: &[Asset]) -> Vec<StatRequest> {
    let mut need = Vec::new();
    for job in jobs {
        let resources = &assets[job.asset].resources;
        let start = need.len();
        for &i in job.copies.iter().flat_map(|c| &c.pending) {
            let r = &resources[i];
            let unknown = r.size.is_none() || r.mtime_ns.is_none();
            if unknown && !need[start..].contains(&(job.asset, i)) {
                need.push((job.asset, i));
            }
        }
    }
    need
}

/// After the stats: files the phone refused (`dropped`) go, and so do companions left without
/// an original to anchor them; jobs left empty go.
pub(super) fn settle(jobs: &mut VecDeque<Job>, assets: &[Asset], dropped: &HashSet<StatRequest>) {
    for job in jobs.iter_mut() {
        let resources = &assets[job.asset].resources;
        for copy in job.copies.iter_mut() {
            if !dropped.is_empty() {
                copy.pending.retain(|&i| !dropped.contains(&(job.asset, i)));
            }
            if copy.anchor.is_none()
                && copy
                    .pending
                    .first()
                    .is_none_or(|&i| resources[i].role != ResourceRole::Original)
            {
                copy.pending.clear();
            }
        }
        job.copies.retain(|c| !c.pending.is_empty());
    }
    jobs.retain(|j| !j.copies.is_empty());
}

/// Counts the files to copy and the bytes to read from the phone into `counts`.
pub(super) fn count(jobs: &VecDeque<Job>, assets: &[Asset], counts: &mut Plan) {
    for job in jobs {
        let resources = &assets[job.asset].resources;
        let mut from_phone: HashSet<usize> = HashSet::new();
        for &i in job.copies.iter().flat_map(|c| &c.pending) {
            counts.files_to_copy += 1;
            // Further copies of a file are made from the first one, not read again.
            if from_phone.insert(i) {
                let size = resources[i].size.unwrap_or(0);
                counts.bytes_to_copy = counts.bytes_to_copy.saturating_add(size);
            }
        }
    }
}

#[cfg(test)]
mod tests;
