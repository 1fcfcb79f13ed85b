//! The small JPEG thumbnail a phone keeps of every item, at
//! `PhotoData/Thumbnails/V2/<original path>/5005.JPG` (photo-library.md). It stays when
//! "Optimize iPhone Storage" deletes the original, so it shows which photo an item is.

use futures::StreamExt;
use futures::stream;

use crate::afc::AfcClient;

use super::Asset;

/// Thumbnail reads in flight.
const READS_IN_FLIGHT: usize = 8;

/// Where the phone keeps the thumbnail of the original at `original` (`DCIM/100APPLE/IMG_0001.HEIC`).
pub fn thumbnail_path(original: &str) -> String {
    format!("PhotoData/Thumbnails/V2/{original}/5005.JPG")
}

/// Whether `bytes` start like a JPEG (SOI then a marker): anything else is not shown.
pub(crate) fn looks_like_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// The thumbnails of `assets` (in order; None where there is none, it is larger than
/// `max_bytes`, unreadable, or not a JPEG). The phone is untrusted: one bad thumbnail costs that
/// thumbnail only.
pub async fn read_thumbnails(
    afc: &AfcClient,
    assets: &[&Asset],
    max_bytes: u64,
) -> Vec<Option<Vec<u8>>> {
    let paths: Vec<Option<String>> = assets
        .iter()
        .map(|a| a.original().map(|o| thumbnail_path(&o.device_path)))
        .collect();
    stream::iter(paths)
        .map(|p| async move {
            let bytes = afc.read_to_vec(&p?, max_bytes).await.ok()?;
            looks_like_jpeg(&bytes).then_some(bytes)
        })
        .buffered(READS_IN_FLIGHT)
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_path_follows_the_original() {
        assert_eq!(
            thumbnail_path("DCIM/100APPLE/IMG_0001.HEIC"),
            "PhotoData/Thumbnails/V2/DCIM/100APPLE/IMG_0001.HEIC/5005.JPG"
        );
    }

    #[test]
    fn only_jpeg_bytes_pass() {
        assert!(looks_like_jpeg(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(!looks_like_jpeg(b"<svg onload=x>"));
        assert!(!looks_like_jpeg(&[0xFF, 0xD8]));
    }
}
