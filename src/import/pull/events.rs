//! What a run reports: the plan's counts, the per-item events, the summary, the observer.
//!
//! A leaf of the pull engine: it imports nothing of `pull`, so `mod.rs` and the workers that
//! emit events and count into the summary can all use it without an import cycle.

use serde::Serialize;

use crate::import::jpeg_copies::JpegCounts;
use crate::import::sidecars::SidecarCounts;
use crate::library::ResourceRole;

/// Counts of the plan. The plan is made chunk by chunk while earlier chunks are copied:
/// [`PullEvent::Planning`] carries the counts so far after each chunk but the last, and
/// [`PullEvent::Plan`] the totals once all is planned (before any copy when the run is one
/// chunk).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Plan {
    /// Assets in the inventory.
    pub assets: u64,
    /// Assets the filters took.
    pub selected: u64,
    /// Assets the filters left out.
    pub filtered_out: u64,
    /// Files of selected assets already in the ledger (not touched).
    pub already_imported: u64,
    /// Files to copy and their bytes.
    pub files_to_copy: u64,
    pub bytes_to_copy: u64,
    /// Selected assets whose original is only in iCloud (from the photo library).
    pub icloud_only: u64,
    /// Selected assets whose original is neither on the phone nor in iCloud.
    pub original_missing: u64,
    /// Files skipped because their name from the phone is unsafe.
    pub unsafe_names: u64,
}

impl Plan {
    /// Adds the counts of a further chunk (`assets` is the inventory's, set apart).
    pub(super) fn add(&mut self, chunk: &Plan) {
        self.selected += chunk.selected;
        self.filtered_out += chunk.filtered_out;
        self.already_imported += chunk.already_imported;
        self.files_to_copy += chunk.files_to_copy;
        self.bytes_to_copy = self.bytes_to_copy.saturating_add(chunk.bytes_to_copy);
        self.icloud_only += chunk.icloud_only;
        self.original_missing += chunk.original_missing;
        self.unsafe_names += chunk.unsafe_names;
    }
}

/// One line of output per item (and the plan), serialised as JSON lines by `--json`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PullEvent {
    /// The totals of the plan, once it is complete.
    Plan(Plan),
    /// The counts of the chunks planned so far (more are to come).
    Planning(Plan),
    /// `--dry-run`: this file would be copied.
    WouldCopy {
        device_path: String,
        role: ResourceRole,
        bytes: u64,
        /// The album copy (layouts with `{album}`; "" = no album).
        #[serde(skip_serializing_if = "Option::is_none")]
        album: Option<String>,
    },
    Copied {
        device_path: String,
        role: ResourceRole,
        dest_path: String,
        /// The album copy (layouts with `{album}`; "" = no album).
        #[serde(skip_serializing_if = "Option::is_none")]
        album: Option<String>,
        bytes: u64,
        /// Bytes that were already in a temp file from an interrupted run.
        resumed_from: u64,
        /// An identical file was already at the destination; it was kept.
        already_present: bool,
    },
    /// Not copied, by decision (unsafe name from the phone).
    Skipped { device_path: String, reason: String },
    /// Could not be copied; the run goes on.
    Failed {
        device_path: String,
        reason: String,
        /// The original is only in iCloud (or the phone could not read it, as it does then).
        icloud_only: bool,
        /// Photos.sqlite says the original is neither on the phone nor in iCloud.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        original_missing: bool,
    },
    /// `--also-jpeg`: the JPEG copy of an imported original was made.
    JpegMade {
        /// The original, DEST-relative.
        dest_path: String,
        jpeg_path: String,
    },
    /// `--also-jpeg`: the copy could not be made; the original is imported all the same.
    JpegFailed { dest_path: String, reason: String },
    /// `--also-jpeg`: libheif could not be loaded, so no copies are made (once per run).
    JpegUnavailable { message: String },
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub plan: Plan,
    pub dry_run: bool,
    pub files_copied: u64,
    /// Bytes received from the phone in this run (resumed bytes not included).
    pub bytes_copied: u64,
    pub files_resumed: u64,
    /// Files whose identical copy was already at the destination.
    pub files_already_present: u64,
    /// Files that got a ` (N)` suffix because a different file had their name.
    pub files_renamed: u64,
    /// Files that could not be copied (including iCloud-only originals).
    pub files_failed: u64,
    /// Originals that could not be copied because they are only in iCloud.
    pub icloud_only_failed: u64,
    /// Originals that could not be copied because they are on neither the phone nor iCloud.
    pub original_missing_failed: u64,
    /// XMP sidecars (`--xmp`) written, rewritten and left alone.
    pub sidecars: SidecarCounts,
    /// `--also-jpeg` copies made, already there and failed.
    pub jpeg: JpegCounts,
}

impl Summary {
    /// Some items could not be copied (exit code PARTIAL).
    pub fn is_partial(&self) -> bool {
        self.files_failed > 0
            || self.sidecars.failed > 0
            || self.jpeg.failed > 0
            || self.jpeg.libheif_missing
    }
}

/// Receives events and byte progress; called from worker tasks and blocking writer threads.
pub trait Observer: Send + Sync {
    fn event(&self, event: &PullEvent);
    /// `n` more bytes of the phone's files reached the destination.
    fn bytes(&self, _n: u64) {}
}
