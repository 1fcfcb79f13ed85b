//! The `--also-jpeg` pass of a run: after every original is committed and recorded, the HEIC
//! ones without their copy get one (see [`crate::import::jpeg_copies`]). It runs on one
//! blocking thread, one photo at a time (a decoded 48 MP photo is ~150 MB of RGB), and stops
//! between photos on Ctrl-C. A copy that fails costs that copy: it is reported and counted,
//! the run and its originals are untouched.

use std::sync::Arc;

use super::error::{PullError, internal};
use super::events::PullEvent;
use super::planner::selected;
use super::shared::Shared;
use crate::import::jpeg_copies::{JpegCounts, make_copy, pending};
use crate::import::libheif::Libheif;
use crate::import::safe_write::Destination;
use crate::library::Asset;

pub(super) async fn jpeg_pass(
    shared: &Arc<Shared>,
    assets: Arc<Vec<Asset>>,
) -> Result<(), PullError> {
    let (Some(dir), Some(dest), Some(ledger)) =
        (&shared.config.also_jpeg, &shared.dest, &shared.ledger)
    else {
        return Ok(());
    };
    if shared.stop.is_cancelled() {
        return Ok(());
    }
    let (dir, dest, ledger, sh) = (dir.clone(), dest.clone(), ledger.clone(), shared.clone());
    let counts = tokio::task::spawn_blocking(move || {
        let chosen: Vec<&Asset> = assets
            .iter()
            .filter(|a| selected(&sh.config.filters, a))
            .collect();
        let (jobs, existing) = {
            let ledger = ledger.lock().map_err(internal)?;
            pending(dest.root(), &dir, &ledger, &sh.device.udid, &chosen)?
        };
        let mut counts = JpegCounts {
            existing,
            ..JpegCounts::default()
        };
        if jobs.is_empty() {
            return Ok(counts);
        }
        let heif = match Libheif::load() {
            Ok(h) => h,
            Err(e) => {
                counts.libheif_missing = true;
                sh.observer.event(&PullEvent::JpegUnavailable {
                    message: e.to_string(),
                });
                return Ok(counts);
            }
        };
        let out = match Destination::open(&dir) {
            Ok(out) => out,
            Err(e) => {
                counts.failed = jobs.len() as u64;
                sh.observer.event(&PullEvent::JpegFailed {
                    dest_path: String::new(),
                    reason: format!("{e} (no JPEG copy made)"),
                });
                return Ok(counts);
            }
        };
        for job in &jobs {
            if sh.stop.is_cancelled() {
                break;
            }
            match make_copy(&heif, &out, &sh.device.udid, job) {
                Ok(path) => {
                    counts.made += 1;
                    sh.observer.event(&PullEvent::JpegMade {
                        dest_path: job.original_rel.clone(),
                        jpeg_path: path.display().to_string(),
                    });
                }
                Err(e) => {
                    counts.failed += 1;
                    sh.observer.event(&PullEvent::JpegFailed {
                        dest_path: job.original_rel.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok::<_, PullError>(counts)
    })
    .await
    .map_err(internal)??;
    shared.summary.lock().map_err(internal)?.jpeg = counts;
    Ok(())
}
