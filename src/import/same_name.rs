//! Same-named files from different folders of the phone: `IMG_0001.HEIC` in `100APPLE` and,
//! after the IMG numbers wrapped past 9999, in `110APPLE`; AirDropped `FullSizeRender.heic`
//! in several folders; `DSC_0001.JPG` in `100IMPRT` and `101IMPRT`.
//!
//! When a layout sends such files to one path (`{name}`, or the same month under
//! `{year}/{month}/{name}`), the one committed first keeps the plain name and the next gets
//! ` (1)`. With several workers "first" would be a race, so the assets of one stem are copied by
//! one worker, in (folder, original name) order: the earliest folder keeps the plain name, the
//! later ones get ` (1)`, ` (2)`, … Re-runs copy nothing again (the ledger maps each phone path
//! to its file), so the names never change afterwards.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};

use crate::library::Asset;

/// The key assets of one stem share: case-insensitive, as a case-insensitive DEST compares.
fn stem_key(asset: &Asset) -> String {
    asset.stem().to_lowercase()
}

/// Groups positions of `assets` (the copy queue's order) by stem, compared case-insensitively
/// (a case-insensitive DEST would make `IMG_0001` and `img_0001` meet too). Each group is
/// ordered by (folder, original name); groups keep the order of their first member.
pub(crate) fn bundles<'a>(assets: impl Iterator<Item = &'a Asset>) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<(usize, &Asset)>> = Vec::new();
    let mut by_stem: HashMap<String, usize> = HashMap::new();
    for (k, a) in assets.enumerate() {
        let stem = stem_key(a);
        match by_stem.get(&stem) {
            Some(&g) => groups[g].push((k, a)),
            None => {
                by_stem.insert(stem, groups.len());
                groups.push(vec![(k, a)]);
            }
        }
    }
    drop(by_stem);
    groups
        .into_iter()
        .map(|mut g| {
            if g.len() > 1 {
                g.sort_by(|(_, x), (_, y)| {
                    (x.folder(), x.original().map(|o| o.name()))
                        .cmp(&(y.folder(), y.original().map(|o| o.name())))
                });
            }
            g.into_iter().map(|(k, _)| k).collect()
        })
        .collect()
}

/// Splits the run's assets (positions in `assets`) into runs planned and queued together, in
/// listing order, each of about `size` assets and holding every asset of each stem it has: a
/// stem's assets must meet in one [`bundles`] call. A stem's group goes with its first asset;
/// after the IMG numbers wrapped, a chunk gathers `IMG_0001` from every folder.
///
/// Kept small for 100,000 assets: one (hash, position) pair per asset while grouping, then
/// the positions.
pub(crate) fn chunks(assets: &[Asset], size: usize) -> VecDeque<Vec<usize>> {
    let hasher = RandomState::new();
    let mut keyed: Vec<(u64, usize)> = assets
        .iter()
        .enumerate()
        .map(|(k, a)| (hasher.hash_one(stem_key(a)), k))
        .collect();
    keyed.sort_unstable();
    // Each asset's group leader: the first position of its stem. Equal hashes are compared by
    // stem, so a collision cannot join two stems.
    let mut leader: Vec<usize> = (0..assets.len()).collect();
    for run in keyed.chunk_by(|x, y| x.0 == y.0).filter(|r| r.len() > 1) {
        for (i, &(_, k)) in run.iter().enumerate() {
            let same = run[..i]
                .iter()
                .find(|&&(_, j)| stem_key(&assets[j]) == stem_key(&assets[k]));
            if let Some(&(_, j)) = same {
                leader[k] = leader[j];
            }
        }
    }
    drop(keyed);
    // Positions ordered by (leader, position): every group in one piece, in listing order.
    let mut order: Vec<(usize, usize)> = leader
        .into_iter()
        .enumerate()
        .map(|(k, l)| (l, k))
        .collect();
    order.sort_unstable();
    let mut out = VecDeque::new();
    let mut chunk = Vec::new();
    for group in order.chunk_by(|x, y| x.0 == y.0) {
        if chunk.len() >= size.max(1) {
            out.push_back(std::mem::take(&mut chunk));
        }
        chunk.extend(group.iter().map(|&(_, k)| k));
    }
    if !chunk.is_empty() {
        out.push_back(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::{AssetKind, Resource, ResourceRole};

    fn asset(folder: &str, name: &str) -> Asset {
        let original = Resource::listed(ResourceRole::Original, format!("{folder}/{name}"));
        Asset::from_original(AssetKind::Photo, original)
    }

    #[test]
    fn same_stems_from_several_folders_form_one_bundle_in_folder_order() {
        let list = [
            asset("DCIM/110APPLE", "IMG_0001.HEIC"),
            asset("DCIM/100APPLE", "IMG_0002.HEIC"),
            asset("DCIM/100APPLE", "IMG_0001.HEIC"),
            asset("DCIM/105APPLE", "img_0001.JPG"),
            asset("DCIM/101APPLE", "FullSizeRender.heic"),
            asset("DCIM/100APPLE", "FullSizeRender.heic"),
        ];
        assert_eq!(
            bundles(list.iter()),
            vec![vec![2, 3, 0], vec![1], vec![5, 4]]
        );
    }

    #[test]
    fn chunks_keep_each_stem_whole_and_follow_the_listing() {
        let list = [
            asset("DCIM/100APPLE", "IMG_0001.HEIC"),
            asset("DCIM/100APPLE", "IMG_0002.HEIC"),
            asset("DCIM/100APPLE", "IMG_0003.HEIC"),
            asset("DCIM/101APPLE", "IMG_0004.HEIC"),
            asset("DCIM/110APPLE", "img_0001.JPG"),
            asset("DCIM/110APPLE", "IMG_0002.HEIC"),
            asset("DCIM/110APPLE", "IMG_0005.HEIC"),
        ];
        let got: Vec<Vec<usize>> = chunks(&list, 2).into_iter().collect();
        assert_eq!(got, vec![vec![0, 4], vec![1, 5], vec![2, 3], vec![6]]);
        let got: Vec<Vec<usize>> = chunks(&list, 3).into_iter().collect();
        assert_eq!(got, vec![vec![0, 4, 1, 5], vec![2, 3, 6]]);
        let whole: Vec<Vec<usize>> = chunks(&list, 100).into_iter().collect();
        assert_eq!(whole, vec![vec![0, 4, 1, 5, 2, 3, 6]]);
        let single: Vec<Vec<usize>> = chunks(&list, 1).into_iter().collect();
        assert_eq!(
            single,
            vec![vec![0, 4], vec![1, 5], vec![2], vec![3], vec![6]]
        );
        assert!(chunks(&[], 10).is_empty());
    }
}
