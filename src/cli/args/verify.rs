//! `verify` arguments.

use std::path::PathBuf;

use clap::Args;

/// `verify` arguments.
#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    /// The folder `pull` imports into (its `.iphone-import/ledger.sqlite` is checked).
    pub dest: PathBuf,
    /// Also re-hash every archived file against the BLAKE3 recorded at import (reads everything).
    #[arg(long)]
    pub checksums: bool,
    /// Check the archive alone; no phone needed (nothing is opened but DEST).
    #[arg(long, conflicts_with_all = ["repair", "deep"])]
    pub offline: bool,
    /// Also re-read every archived file of this phone from the phone and compare the bytes
    /// (reads everything twice; the only check that does not trust the hash recorded at import).
    #[arg(long)]
    pub deep: bool,
    /// Copy missing or damaged archive files again from the phone (damaged ones are kept aside).
    #[arg(long)]
    pub repair: bool,
    /// JSON lines on stdout: one per problem, then a summary.
    #[arg(long)]
    pub json: bool,
    /// Also write the result as one self-contained HTML page to FILE (safe, damaged, missing
    /// from DEST, only on the phone).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Hashing threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
}
