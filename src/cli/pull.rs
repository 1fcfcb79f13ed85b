//! `iphone-import pull DEST`: the command line of the pull engine (`import::pull`): arguments,
//! progress (indicatif on a terminal, plain lines otherwise, JSON lines with `--json`), the
//! summary and the exit code.

use crate::untrusted::text::{MAX_SHOWN_REASON, for_terminal, for_terminal_max, path_for_terminal};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;

use super::printer::{Printer, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::args::PullArgs;
use super::exit;
use crate::import::filters::Filters;
use crate::import::layout::Layout;
use crate::import::names::sanitize_component;
use crate::import::pull::{
    AfcConnector, Observer, PullConfig, PullDevice, PullError, PullEvent, Summary, pull,
};
use crate::library::albums::{self, AlbumError, shown};
use crate::library::{self, Asset, Inventory, InventoryOptions};

/// How [`run_with_options`] gets its assets and stops.
pub struct RunOptions {
    /// The inventory to import; `None` = ask the phone (`library::inventory`).
    pub assets: Option<Vec<Asset>>,
    /// Where the copy of Photos.sqlite is cached; `None` = DCIM listing only (no dates, no
    /// iCloud-only detection up front).
    pub cache_dir: Option<PathBuf>,
    /// Cancelled = stop cleanly.
    pub cancel: CancellationToken,
    /// `-q`: no line per copied file and no progress bar; failures, warnings and the summary
    /// still show (a cron log gets a few lines per run, not one per photo).
    pub quiet: bool,
}

/// Cache folder for one phone's Photos.sqlite copy: `$XDG_CACHE_HOME/iphone-import/<udid>/`.
pub(crate) fn default_cache_dir(udid: &str) -> Option<PathBuf> {
    dirs::cache_dir().map(|d| {
        d.join("iphone-import")
            .join(crate::import::names::sanitize_component(udid))
    })
}

/// Runs `pull` against a connected phone. Ctrl-C stops it cleanly (finished files are kept and
/// recorded, a partly copied file resumes next time; exit code ERROR). The inventory comes from
/// the phone (DCIM listing + cached Photos.sqlite).
pub async fn run_with(
    connector: Arc<dyn AfcConnector>,
    device: &PullDevice,
    args: &PullArgs,
    quiet: bool,
) -> anyhow::Result<u8> {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let signal_task = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping cleanly (files copied so far are kept)…");
            on_signal.cancel();
        }
    });
    let options = RunOptions {
        assets: None,
        cache_dir: default_cache_dir(&device.udid),
        cancel,
        quiet,
    };
    let result = run_with_options(connector, device, args, options).await;
    signal_task.abort();
    result
}

/// `{udid}` in DEST: each phone gets its own folder, so its own lock and ledger.
pub(crate) const DEST_UDID: &str = "{udid}";

/// `args` with `{udid}` in DEST replaced by the phone's UDID, made safe as one folder name
/// (the UDID comes from the phone or the usbmuxd daemon).
pub(crate) fn for_phone(args: &PullArgs, udid: &str) -> PullArgs {
    let mut args = args.clone();
    let expanded = args
        .dest
        .as_deref()
        .and_then(|d| d.to_str())
        .filter(|d| d.contains(DEST_UDID))
        .map(|d| PathBuf::from(d.replace(DEST_UDID, &sanitize_component(udid))));
    if expanded.is_some() {
        args.dest = expanded;
    }
    args
}

/// One of several phones imported at once (`watch`): its lines start with its UDID, its JSON
/// lines carry it, its progress bar is one of `bars`.
#[derive(Clone)]
pub(crate) struct PhoneLabel {
    /// The phone's UDID, starting its lines.
    pub udid: String,
    /// The progress bars shared by every phone.
    pub bars: MultiProgress,
}

/// [`run_with`] with the caller's inventory, cache folder and cancellation.
pub async fn run_with_options(
    connector: Arc<dyn AfcConnector>,
    device: &PullDevice,
    args: &PullArgs,
    options: RunOptions,
) -> anyhow::Result<u8> {
    run_labelled(connector, device, args, options, None).await
}

/// The inventory's assets, or only those of `--album`s (announced); `Err` is the exit code of
/// an album that does not exist or a library without albums.
fn select_albums(inventory: Inventory, args: &PullArgs, output: &Output) -> Result<Vec<Asset>, u8> {
    if args.album.is_empty() {
        return Ok(inventory.assets);
    }
    match in_albums(inventory, &args.album) {
        Ok((assets, paths)) => {
            if args.json {
                output.json_line(&serde_json::json!({
                    "event": "albums", "albums": paths, "assets": assets.len()
                }));
            } else {
                let names: Vec<String> =
                    paths.iter().map(|p| format!("\"{}\"", shown(p))).collect();
                output.line(&format!(
                    "album{} {}: {} asset{}",
                    if paths.len() == 1 { "" } else { "s" },
                    names.join(", "),
                    assets.len(),
                    if assets.len() == 1 { "" } else { "s" }
                ));
            }
            Ok(assets)
        }
        Err(e) => {
            output.error(&e.to_string());
            Err(match e {
                AlbumError::Unknown { .. } => exit::USAGE,
                AlbumError::NoDatabase => exit::ERROR,
            })
        }
    }
}

/// [`run_with_options`] for one phone of several, its output marked with `label`.
pub(crate) async fn run_labelled(
    connector: Arc<dyn AfcConnector>,
    device: &PullDevice,
    args: &PullArgs,
    options: RunOptions,
    label: Option<PhoneLabel>,
) -> anyhow::Result<u8> {
    let args = &for_phone(args, &device.udid);
    let output = Arc::new(Output::new(args.json, options.quiet, label));
    let config = match config_from(args) {
        Ok(c) => c,
        Err(e) => {
            output.error(&format!("{e:#}"));
            return Ok(exit::USAGE);
        }
    };
    // Files the listing showed but that cannot be imported (unsafe names): the run is partial.
    let mut names_skipped = 0;
    let assets = match options.assets {
        Some(_) if !args.album.is_empty() => {
            output.error(&AlbumError::NoDatabase.to_string());
            return Ok(exit::USAGE);
        }
        Some(a) => a,
        None => {
            let client = connector
                .connect()
                .await
                .map_err(|e| anyhow::anyhow!(e))
                .context("connecting to the phone's file service")?;
            // Titles, places, people… are read only for the sidecars and {original_name}.
            let uses_original_name =
                Layout::parse(&args.layout).map_or(true, |l| l.uses_original_name());
            let inventory_options = InventoryOptions {
                cache_dir: options.cache_dir,
                edited: args.edited,
                without_metadata: !args.xmp && !uses_original_name,
                ..InventoryOptions::default()
            };
            let inventory = tokio::select! {
                inv = library::inventory(&client, &inventory_options) => inv,
                _ = options.cancel.cancelled() => return Err(PullError::Cancelled.into()),
            }
            .context("reading the phone's photo library")?;
            for w in &inventory.warnings {
                output.warning(w);
            }
            names_skipped = inventory.unsafe_names;
            match select_albums(inventory, args, &output) {
                Ok(assets) => assets,
                Err(code) => return Ok(code),
            }
        }
    };
    let observer: Arc<dyn Observer> = output.clone();
    let result = pull(
        connector,
        device.clone(),
        assets,
        config,
        observer,
        options.cancel,
    )
    .await;
    output.finish_progress();
    match result {
        Ok(summary) => {
            output.summary(&summary, args);
            Ok(if summary.is_partial() || names_skipped > 0 {
                exit::PARTIAL
            } else {
                exit::OK
            })
        }
        Err(e) => {
            if args.json {
                output.json_line(&serde_json::json!({"event": "error", "message": e.to_string()}));
            }
            Err(anyhow::Error::new(e))
        }
    }
}

/// The assets of the albums `names` selects, each once, its `albums` narrowed to the selected
/// albums it is in (what `{album}` uses); and the selected albums' paths.
fn in_albums(
    inventory: Inventory,
    names: &[String],
) -> Result<(Vec<Asset>, Vec<String>), AlbumError> {
    if inventory.db.is_none() {
        return Err(AlbumError::NoDatabase);
    }
    let chosen = albums::select(&inventory.albums, names)?;
    let mut wanted: HashMap<&str, Vec<&str>> = HashMap::new();
    for &i in &chosen {
        let m = &inventory.albums[i];
        for key in &m.asset_keys {
            let paths = wanted.entry(key.as_str()).or_default();
            if !paths.contains(&m.album.path.as_str()) {
                paths.push(&m.album.path);
            }
        }
    }
    let mut assets = Vec::new();
    for asset in &inventory.assets {
        if let Some(paths) = wanted.get(asset.key()) {
            let mut a = asset.clone();
            a.albums = paths.iter().map(|p| p.to_string()).collect();
            a.albums.sort();
            assets.push(a);
        }
    }
    let paths = chosen
        .iter()
        .map(|&i| inventory.albums[i].album.path.clone())
        .collect();
    Ok((assets, paths))
}

fn config_from(args: &PullArgs) -> anyhow::Result<PullConfig> {
    let layout = Layout::parse(&args.layout).context("--layout")?;
    let filters = Filters::from_args(
        args.since.as_deref(),
        args.until.as_deref(),
        args.photos_only,
        args.videos_only,
        args.include_trashed,
        args.exclude_hidden,
    )?;
    let dest = args.dest.clone().context(
        "no destination: give DEST, or set `destination` in the config file or IPHONE_IMPORT_DEST (see `iphone-import config`)",
    )?;
    Ok(PullConfig {
        command_line: format!("iphone-import pull {}", dest.display()),
        dest,
        layout,
        filters,
        jobs: usize::from(args.jobs),
        edited: args.edited,
        dry_run: args.dry_run,
        xmp: if args.xmp {
            Some(
                args.xmp_name
                    .parse()
                    .map_err(anyhow::Error::msg)
                    .context("--xmp-name")?,
            )
        } else {
            None
        },
        also_jpeg: args.also_jpeg.clone(),
        plan_chunk: crate::import::pull::PLAN_CHUNK,
        fail_writes_after: None,
    })
}

struct Output {
    printer: Printer,
    /// Plain style, failures and skips only (see [`RunOptions::quiet`]).
    quiet: bool,
    /// Files finished (copied or failed) and planned, for the progress bar's message.
    files_done: AtomicU64,
    files_total: AtomicU64,
    /// Set when several phones share the terminal ("UDID: " then prefixes each line).
    label: Option<PhoneLabel>,
}

impl Output {
    fn new(json: bool, quiet: bool, label: Option<PhoneLabel>) -> Output {
        let prefix = label
            .as_ref()
            .map(|l| format!("{}: ", for_terminal(&l.udid)))
            .unwrap_or_default();
        let style = if json {
            Style::Json
        } else if !quiet && std::io::stderr().is_terminal() {
            let mut bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Some(l) = &label {
                bar = l.bars.add(bar);
            }
            bar.set_prefix(prefix.clone());
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix}{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Style::Bar(bar)
        } else {
            Style::Plain
        };
        Output {
            printer: Printer::new(style, prefix),
            quiet: quiet && !json,
            files_done: AtomicU64::new(0),
            files_total: AtomicU64::new(0),
            label,
        }
    }

    fn json_line(&self, value: &impl serde::Serialize) {
        // Through a Value only under watch: that sorts the keys, which pull's lines keep in order.
        let line = match &self.label {
            Some(l) => serde_json::to_value(value).and_then(|mut v| {
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("udid".into(), l.udid.clone().into());
                }
                serde_json::to_string(&v)
            }),
            None => serde_json::to_string(value),
        };
        if let Ok(line) = line {
            self.printer.write_json(&line);
        }
    }

    /// A warning from the inventory (hostile names, unreadable database…).
    fn warning(&self, text: &str) {
        self.printer.warning(text);
    }

    /// An error that ends the run before the copy starts.
    fn error(&self, text: &str) {
        eprintln!("{}error: {text}", self.printer.prefix());
    }

    fn line(&self, text: &str) {
        self.printer.line(text);
    }

    fn finish_progress(&self) {
        self.printer.finish_progress();
    }

    fn summary(&self, s: &Summary, args: &PullArgs) {
        if let Style::Json = self.printer.style {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("event".into(), "summary".into());
            }
            self.json_line(&v);
            return;
        }
        let dest = crate::import::pull::display_dest(
            args.dest.as_deref().unwrap_or(std::path::Path::new(".")),
        );
        let p = &s.plan;
        if s.dry_run {
            self.line(&format!(
                "dry run: {} files ({}) would be copied to {dest}; {} already imported, {} left out by filters. Nothing was written.",
                p.files_to_copy,
                human_bytes(p.bytes_to_copy),
                p.already_imported,
                p.filtered_out,
            ));
        } else {
            self.line(&format!(
                "{} files copied ({}) to {dest}; {} already imported, {} left out by filters.",
                s.files_copied,
                human_bytes(s.bytes_copied),
                p.already_imported,
                p.filtered_out,
            ));
            if s.files_renamed > 0 {
                self.line(&format!(
                    "{} files got a \" (N)\" suffix because a different file already had their name.",
                    s.files_renamed
                ));
            }
            let x = &s.sidecars;
            if args.xmp {
                self.line(&format!(
                    "XMP sidecars: {} written, {} updated, {} unchanged, {} kept as another program left them.",
                    x.written, x.updated, x.unchanged, x.kept
                ));
            }
            jpeg_summary(self, s, args);
            if x.failed > 0 {
                self.line(&format!(
                    "{} XMP sidecars could not be written (see the warnings above); free space or fix the permissions in DEST and run again.",
                    x.failed
                ));
            }
        }
        if p.unsafe_names > 0 {
            self.line(&format!(
                "{} files were skipped because their names are unsafe (see the warnings above).",
                p.unsafe_names
            ));
        }
        if s.icloud_only_failed > 0 || (s.dry_run && p.icloud_only > 0) {
            let n = if s.dry_run {
                p.icloud_only
            } else {
                s.icloud_only_failed
            };
            self.line(&format!(
                "{n} originals are only in iCloud (\"Optimize iPhone Storage\") and could not be copied. \
                 On the phone, turn on Settings › Photos › Download and Keep Originals, wait for the \
                 download to finish, then run pull again."
            ));
        }
        if s.original_missing_failed > 0 || (s.dry_run && p.original_missing > 0) {
            let n = if s.dry_run {
                p.original_missing
            } else {
                s.original_missing_failed
            };
            self.line(&format!(
                "{n} originals are missing: Photos.sqlite says they are neither on the phone nor in \
                 iCloud, so they could not be copied and \"Download and Keep Originals\" cannot bring \
                 them back. Look for them in a backup or on the computer or device they came from."
            ));
        }
        let other = s
            .files_failed
            .saturating_sub(s.icloud_only_failed + s.original_missing_failed);
        if other > 0 {
            self.line(&format!(
                "{other} files could not be copied (see the messages above); run pull again to retry them."
            ));
        }
    }
}

/// The `--also-jpeg` lines of the summary (a missing libheif was said once, as it happened).
fn jpeg_summary(out: &Output, s: &Summary, args: &PullArgs) {
    let j = &s.jpeg;
    if args.also_jpeg.is_some() && !j.libheif_missing {
        out.line(&format!(
            "JPEG copies: {} made, {} already there.",
            j.made, j.existing
        ));
    }
    if j.failed > 0 {
        out.line(&format!(
            "{} JPEG copies could not be made (see the warnings above); their originals are imported, and the next pull with --also-jpeg tries again.",
            j.failed
        ));
    }
}

impl Observer for Output {
    fn event(&self, event: &PullEvent) {
        match &self.printer.style {
            Style::Json => self.json_line(event),
            Style::Bar(bar) => match event {
                // The bar grows as chunks are planned.
                PullEvent::Plan(p) | PullEvent::Planning(p) => {
                    bar.set_length(p.bytes_to_copy);
                    self.files_total.store(p.files_to_copy, Ordering::Relaxed);
                    bar.set_message(format!("0/{} files", p.files_to_copy));
                }
                // One line per copy would scroll the bar away; failures still show.
                PullEvent::JpegMade { .. } => {}
                PullEvent::Copied { .. } | PullEvent::Failed { .. } => {
                    let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
                    let total = self.files_total.load(Ordering::Relaxed);
                    bar.set_message(format!("{done}/{total} files"));
                    if let Some(text) =
                        plain_text(event).filter(|_| matches!(event, PullEvent::Failed { .. }))
                    {
                        self.line(&text);
                    }
                }
                other => {
                    if let Some(text) = plain_text(other) {
                        self.line(&text);
                    }
                }
            },
            Style::Plain => {
                let shown = !self.quiet
                    || matches!(
                        event,
                        PullEvent::Failed { .. }
                            | PullEvent::Skipped { .. }
                            | PullEvent::JpegFailed { .. }
                            | PullEvent::JpegUnavailable { .. }
                    );
                if let Some(text) = plain_text(event).filter(|_| shown) {
                    self.line(&text);
                }
            }
        }
    }

    fn bytes(&self, n: u64) {
        self.printer.add_progress(n);
    }
}

fn plain_text(event: &PullEvent) -> Option<String> {
    Some(match event {
        // The counts so far: the plan's line comes with its totals.
        PullEvent::Planning(_) => return None,
        PullEvent::Plan(p) => format!(
            "{} assets on the phone, {} selected; {} files ({}) to copy, {} already imported",
            p.assets,
            p.selected,
            p.files_to_copy,
            human_bytes(p.bytes_to_copy),
            p.already_imported
        ),
        PullEvent::WouldCopy {
            device_path, bytes, ..
        } => format!(
            "would copy {} ({})",
            path_for_terminal(device_path),
            human_bytes(*bytes)
        ),
        PullEvent::Copied {
            device_path,
            dest_path,
            resumed_from,
            already_present,
            ..
        } => {
            let note = if *already_present {
                " (identical file already there)"
            } else if *resumed_from > 0 {
                " (resumed)"
            } else {
                ""
            };
            format!(
                "copied {} -> {}{note}",
                path_for_terminal(device_path),
                path_for_terminal(dest_path)
            )
        }
        PullEvent::Skipped {
            device_path,
            reason,
        } => format!(
            "warning: skipped {}: {}",
            path_for_terminal(device_path),
            for_terminal_max(reason, MAX_SHOWN_REASON)
        ),
        PullEvent::Failed {
            device_path,
            reason,
            ..
        } => format!(
            "failed {}: {}",
            path_for_terminal(device_path),
            for_terminal_max(reason, MAX_SHOWN_REASON)
        ),
        PullEvent::JpegMade {
            dest_path,
            jpeg_path,
        } => format!(
            "jpeg {} -> {}",
            path_for_terminal(dest_path),
            path_for_terminal(jpeg_path)
        ),
        PullEvent::JpegFailed { dest_path, reason } => format!(
            "warning: no JPEG copy of {}: {}",
            path_for_terminal(dest_path),
            for_terminal_max(reason, MAX_SHOWN_REASON)
        ),
        PullEvent::JpegUnavailable { message } => format!("warning: {message}"),
    })
}

fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// Whether an error from `run_with` is the user's interrupt (for the exit code).
pub(crate) fn is_cancelled(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|c| matches!(c.downcast_ref::<PullError>(), Some(PullError::Cancelled)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udid_in_dest_becomes_one_safe_folder_per_phone() {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            pull: PullArgs,
        }
        let args = Wrap::try_parse_from(["x", "/p/iPhone-{udid}"])
            .unwrap()
            .pull;
        let dest = |udid: &str| for_phone(&args, udid).dest.unwrap();
        assert_eq!(dest("00008030-0A"), PathBuf::from("/p/iPhone-00008030-0A"));
        // The UDID comes from the phone or usbmuxd: it cannot climb out or add folders.
        for hostile in ["../../etc", "a/b", ".."] {
            let d = dest(hostile);
            assert_eq!(d.parent(), Some(std::path::Path::new("/p")), "{d:?}");
        }
        let plain = Wrap::try_parse_from(["x", "/p/q"]).unwrap().pull;
        assert_eq!(for_phone(&plain, "U").dest, plain.dest);
    }

    #[test]
    fn lines_about_phone_files_are_escaped_and_bounded() {
        let line = plain_text(&PullEvent::Failed {
            device_path: "DCIM/100APPLE/IMG\u{1b}[2J\u{202e}GPJ.exe".into(),
            reason: format!("AFC file info st_size = \"{}\"", "9".repeat(5000)),
            icloud_only: false,
            original_missing: false,
        })
        .unwrap();
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{line:?}"
        );
        assert!(line.contains("IMG\\u{1b}[2J\\u{202e}GPJ.exe"), "{line}");
        assert!(line.len() < 1000, "{} bytes", line.len());
    }
}
