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

use crate::library::Asset;

/// Groups positions of `assets` (the copy queue's order) by stem, compared case-insensitively
/// (a case-insensitive DEST would make `IMG_0001` and `img_0001` meet too). Each group is
/// ordered by (folder, original name); groups keep the order of their first member.
pub(crate) fn bundles<'a>(assets: impl Iterator<Item = &'a Asset>) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<(usize, &Asset)>> = Vec::new();
    let mut by_stem: HashMap<String, usize> = HashMap::new();
    for (k, a) in assets.enumerate() {
        let stem = a.stem().to_lowercase();
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
}
