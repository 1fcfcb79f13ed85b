//! What a run is given: the phone's connector and identity, and the run's settings.
//!
//! A leaf of the pull engine: it imports nothing of `pull`, so `mod.rs` and the workers
//! ([`super::shared::Shared`] holds these) can all use it without an import cycle.

use std::path::PathBuf;

use futures::future::BoxFuture;

use crate::afc::AfcClient;
use crate::import::filters::Filters;
use crate::import::layout::Layout;
use crate::import::xmp::XmpName;

/// Upper bound on `--jobs` (each is an AFC connection on the phone).
pub(crate) const MAX_JOBS: usize = 16;

/// Assets planned together, the default of [`PullConfig::plan_chunk`]: large enough that the
/// per-chunk work (ledger reads, a pause in the stat pipeline) is small beside the chunk's,
/// small enough that its jobs are a few hundred kilobytes.
pub const PLAN_CHUNK: usize = 2000;

/// Why a connection could not be opened (lockdown, service start, transport): the lead's type.
pub type ConnectError = Box<dyn std::error::Error + Send + Sync>;

/// Opens one more AFC connection to the phone. `pull` calls it once per job.
pub trait AfcConnector: Send + Sync {
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>>;
}

/// Any `Fn() -> future of AfcClient` is a connector.
impl<F> AfcConnector for F
where
    F: Fn() -> BoxFuture<'static, Result<AfcClient, ConnectError>> + Send + Sync,
{
    fn connect(&self) -> BoxFuture<'_, Result<AfcClient, ConnectError>> {
        (self)()
    }
}

/// The phone being pulled from.
#[derive(Debug, Clone)]
pub struct PullDevice {
    pub udid: String,
    /// The name the user gave the phone (untrusted; `{device}` in layouts).
    pub name: String,
}

/// Everything a run needs besides the phone.
#[derive(Debug, Clone)]
pub struct PullConfig {
    pub dest: PathBuf,
    pub layout: Layout,
    pub filters: Filters,
    /// AFC connections (1..=[`MAX_JOBS`]).
    pub jobs: usize,
    /// Also import edited renders (`<stem>_edited.<ext>`).
    pub edited: bool,
    /// Plan only: nothing is created or written under DEST.
    pub dry_run: bool,
    /// Shown to a second run that finds DEST locked.
    pub command_line: String,
    /// Write an XMP sidecar next to every imported original, named this way.
    pub xmp: Option<XmpName>,
    /// `--also-jpeg DIR`: a JPEG copy of every imported HEIC original under DIR.
    pub also_jpeg: Option<PathBuf>,
    /// Assets planned at a time, while the chunks before are copied ([`PLAN_CHUNK`]; tests
    /// make it small to run many chunks).
    pub plan_chunk: usize,
    /// Test hook: every file's writes fail with "disk full" after this many bytes.
    #[doc(hidden)]
    pub fail_writes_after: Option<u64>,
}
