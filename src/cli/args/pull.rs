//! `pull` arguments (also flattened into `watch`).

use std::path::PathBuf;

use clap::Args;

use crate::import::layout::DEFAULT_LAYOUT;
use crate::import::pull::MAX_JOBS;

/// `pull` arguments.
#[derive(Debug, Args, Clone)]
pub struct PullArgs {
    /// Folder to import into (created if missing). Its `.iphone-import/` holds the ledger.
    /// Default: `destination` in the config file or IPHONE_IMPORT_DEST. `{udid}` in it is
    /// replaced by the phone's UDID (a folder, lock and ledger per phone).
    pub dest: Option<PathBuf>,
    /// Where each file goes under DEST. Variables: {year} {month} {day} {name} {stem} {ext}
    /// {device} {dcim_folder} {album}.
    #[arg(long, default_value = DEFAULT_LAYOUT)]
    pub layout: String,
    /// Parallel connections to the phone.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=MAX_JOBS as i64))]
    pub jobs: u16,
    /// Only assets taken on or after this day (YYYY-MM-DD, local time where taken).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only assets taken on or before this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only photos (Live Photos keep their video).
    #[arg(long, conflicts_with = "videos_only")]
    pub photos_only: bool,
    /// Only videos.
    #[arg(long)]
    pub videos_only: bool,
    /// Also import what is in Recently Deleted.
    #[arg(long)]
    pub include_trashed: bool,
    /// Leave out hidden assets (they are imported by default).
    #[arg(long)]
    pub exclude_hidden: bool,
    /// Also import edited versions, as `<stem>_edited.<ext>` next to the original.
    #[arg(long)]
    pub edited: bool,
    /// Write an XMP sidecar next to each imported photo and video (favourite, title, caption,
    /// keywords, albums, place, capture date from Photos), and refresh it when that changes.
    #[arg(long)]
    pub xmp: bool,
    /// Sidecar names: `full` (IMG_0001.HEIC.xmp: digiKam, darktable, Immich) or `stem`
    /// (IMG_0001.xmp: Lightroom).
    #[arg(long, value_name = "STYLE", default_value = "full")]
    pub xmp_name: String,
    /// Also make a JPEG copy of each imported HEIC photo under DIR, at the original's path
    /// with `.jpg` (DIR may be DEST). The original is never changed; copies already there are
    /// kept. Needs the system's libheif (Debian/Ubuntu: apt install libheif1); without it
    /// the originals are imported and the exit code is 3.
    #[arg(long, value_name = "DIR")]
    pub also_jpeg: Option<PathBuf>,
    /// JSON lines on stdout: one event per item, then a summary.
    #[arg(long)]
    pub json: bool,
    /// Show what would be copied; create and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this album (its title or folder path, e.g. "Trips/Iceland 2025"; any case).
    /// Repeat for several; an item in two of them is copied once, or once into each album's
    /// folder when --layout has {album}.
    #[arg(long, value_name = "NAME")]
    pub album: Vec<String>,
}
