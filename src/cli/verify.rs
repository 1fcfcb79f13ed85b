//! `iphone-import verify DEST`: the command line of `import::verify`: arguments, the
//! five-second report (or JSON lines), the progress bar while hashing, and the exit code
//! (0 safe, [`exit::AT_RISK`], [`exit::DAMAGED`]; see docs/scripting.md).

use crate::afc::AfcClient;
use crate::import::ledger::Ledger;
use crate::untrusted::text::{MAX_SHOWN_REASON, for_terminal_max, path_for_terminal};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use super::printer::{Printer, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::args::VerifyArgs;
use super::exit;
use super::verify_html::{self, Problems, VerifyPage};
use crate::import::deep::{self, DeepOptions, DeepReport};
use crate::import::lock::DestLock;
use crate::import::pull::{AfcConnector, PullDevice};
use crate::import::repair;
use crate::import::verify::{
    self, ArchiveOptions, ArchiveReport, Damaged, PhoneReport, Problem, ProblemKind, RepairOutcome,
    RepairReport, VerifyObserver,
};
use crate::library::{self, Asset, InventoryOptions};

/// Problems of one kind listed in the human report before "… and N more".
const SHOWN_PER_KIND: u64 = 10;

/// The connected phone, for a verify that is not `--offline`.
pub struct VerifyPhone {
    /// Opens AFC connections to the phone.
    pub connector: Arc<dyn AfcConnector>,
    /// The phone being verified against.
    pub device: PullDevice,
    /// The inventory to compare; `None` = ask the phone (`library::inventory`).
    pub assets: Option<Vec<Asset>>,
    /// Where the Photos.sqlite copy is cached (`None` = DCIM listing only).
    pub cache_dir: Option<PathBuf>,
}

/// Runs blocking work (file system, SQLite) off the runtime's threads.
async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> anyhow::Result<T>
where
    T: Send + 'static,
    E: Into<anyhow::Error> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .context("a blocking task stopped")?
        .map_err(Into::into)
}

/// The exit code for what was found (after repair): damage wins over at-risk.
pub fn exit_code(archive_damaged: u64, at_risk: u64) -> u8 {
    if archive_damaged > 0 {
        exit::DAMAGED
    } else if at_risk > 0 {
        exit::AT_RISK
    } else {
        exit::OK
    }
}

/// Runs `verify`. `phone` is `None` exactly for `--offline`: then no transport is opened.
pub async fn run_with(args: &VerifyArgs, phone: Option<VerifyPhone>) -> anyhow::Result<u8> {
    let output = Arc::new(Output::new(args.json, args.html.is_some()));
    let result = run_inner(args, phone, &output).await;
    output.finish_progress();
    if let Err(e) = &result
        && args.json
    {
        output.json_line(&serde_json::json!({"event": "error", "message": format!("{e:#}")}));
    }
    result
}

async fn run_inner(
    args: &VerifyArgs,
    phone: Option<VerifyPhone>,
    output: &Arc<Output>,
) -> anyhow::Result<u8> {
    let dest = args.dest.clone();
    let repairing = args.repair && phone.is_some();
    // Read-only unless repairing; checked before the phone so a wrong DEST fails fast.
    let ledger = if repairing {
        verify::require_ledger(&dest)?;
        None
    } else {
        let at = dest.clone();
        Some(blocking(move || verify::open_ledger(&at)).await?)
    };
    // The phone first: a missing or locked phone fails before minutes of hashing.
    let (client, device, assets) = match phone {
        None => (None, None, None),
        Some(p) => {
            let (client, device, assets) = connect_phone(p, output).await?;
            (Some(client), Some(device), Some(assets))
        }
    };
    let (lock, ledger) = match ledger {
        Some(ledger) => (None, ledger),
        None => {
            let (lock, ledger) = lock_for_repair(&dest).await?;
            (Some(lock), ledger)
        }
    };

    let (ledger, (_, total_bytes)) = blocking(move || {
        let totals = ledger.totals()?;
        anyhow::Ok((ledger, totals))
    })
    .await?;
    if args.checksums {
        output.start_hashing(total_bytes);
    }
    let options = ArchiveOptions {
        checksums: args.checksums,
        threads: args.jobs.map_or(0, usize::from),
        collect_for: if args.repair {
            device.as_ref().map(|d| d.udid.clone())
        } else {
            None
        },
    };
    let (ledger, mut archive, mut damaged) = check_archive(&dest, ledger, options, output).await?;
    output.finish_progress();

    let ledger = warn_missing_sidecars(&dest, ledger, output).await?;

    let (ledger, deep_report) = match (&client, &device, args.deep) {
        (Some(c), Some(d), true) => {
            output.start_hashing(total_bytes);
            let options = DeepOptions {
                collect: args.repair,
                archive_hashed: args.checksums,
            };
            let (ledger, report, mut differing) =
                deep::check_deep(c, &dest, ledger, &d.udid, options, output.as_ref()).await?;
            output.finish_progress();
            archive.differs_from_phone = report.differs;
            damaged.append(&mut differing);
            (ledger, Some(report))
        }
        _ => (ledger, None),
    };

    let (ledger, phone_report): (_, Option<PhoneReport>) = match (&device, assets) {
        (Some(d), Some(a)) => {
            let (udid, observer) = (d.udid.clone(), output.clone());
            blocking(move || {
                let report = verify::check_phone(&ledger, &udid, &a, observer.as_ref())?;
                anyhow::Ok((ledger, Some(report)))
            })
            .await?
        }
        _ => (ledger, None),
    };

    let repair_report: Option<RepairReport> = match (&client, args.repair) {
        (Some(c), true) => Some(repair::repair(c, &dest, ledger, damaged, output.as_ref()).await?),
        _ => None,
    };
    drop(lock);

    let damaged_left = archive.damaged() - repair_report.as_ref().map_or(0, |r| r.repaired);
    let at_risk = phone_report.as_ref().map_or(0, |p| p.at_risk);
    let code = exit_code(damaged_left, at_risk);
    let summary = Summary {
        dest: &args.dest,
        offline: device.is_none(),
        device: device.as_ref(),
        archive: &archive,
        deep: deep_report.as_ref(),
        phone: phone_report.as_ref(),
        repair: repair_report.as_ref(),
        damaged_left,
        code,
    };
    output.summary(&summary);
    if let Some(path) = &args.html {
        let html = output.html_page(&summary);
        let path = path.clone();
        blocking(move || super::report_html::write_atomically(&path, &html)).await?;
    }
    Ok(code)
}

/// The phone's file service and the inventory to compare (given, or read from the phone).
async fn connect_phone(
    p: VerifyPhone,
    output: &Output,
) -> anyhow::Result<(AfcClient, PullDevice, Vec<Asset>)> {
    let client = p
        .connector
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("connecting to the phone's file service")?;
    let assets = match p.assets {
        Some(a) => a,
        None => {
            let options = InventoryOptions {
                cache_dir: p.cache_dir,
                ..InventoryOptions::default()
            };
            let inventory = library::inventory(&client, &options)
                .await
                .context("reading the phone's photo library")?;
            for w in &inventory.warnings {
                output.warning(w);
            }
            inventory.assets
        }
    };
    Ok((client, p.device, assets))
}

/// Repair writes into DEST: one writer at a time, as for pull; the ledger is opened read-write
/// (and migrated) only under the lock.
async fn lock_for_repair(dest: &Path) -> anyhow::Result<(DestLock, Ledger)> {
    let at = dest.to_path_buf();
    blocking(move || {
        let command = format!("iphone-import verify --repair {}", at.display());
        let lock = DestLock::acquire(&at, &command)?;
        anyhow::Ok((lock, verify::open_ledger_for_repair(&at)?))
    })
    .await
}

/// The archive's files against the ledger, on a blocking thread: the report and the damaged
/// files (collected for --repair).
async fn check_archive(
    dest: &Path,
    ledger: Ledger,
    options: ArchiveOptions,
    output: &Arc<Output>,
) -> anyhow::Result<(Ledger, ArchiveReport, Vec<Damaged>)> {
    let observer = output.clone();
    let walk_dest = dest.to_path_buf();
    let (ledger, archive) = tokio::task::spawn_blocking(move || {
        let r = verify::check_archive(&walk_dest, &ledger, &options, observer.as_ref());
        (ledger, r)
    })
    .await
    .context("the archive check stopped")?;
    let (archive, damaged) = archive?;
    Ok((ledger, archive, damaged))
}

/// Sidecars of `pull --xmp` are made again from Photos, so a missing one is a warning.
async fn warn_missing_sidecars(
    dest: &Path,
    ledger: Ledger,
    output: &Output,
) -> anyhow::Result<Ledger> {
    let at = dest.to_path_buf();
    let (ledger, missing) = blocking(move || {
        let missing = crate::import::sidecars::missing_sidecars(&at, &ledger)?;
        anyhow::Ok((ledger, missing))
    })
    .await?;
    if let Some(first) = missing.first() {
        output.warning(&format!(
            "{} XMP sidecars written by `pull --xmp` are missing (first: {}); run `iphone-import pull --xmp` again to write them",
            missing.len(),
            first.escape_debug()
        ));
    }
    Ok(ledger)
}

/// The last line: the run's result and what to do next.
fn verdict(s: &Summary<'_>) -> &'static str {
    match s.code {
        exit::DAMAGED if s.repair.is_some() => {
            "RESULT: archive damaged; what could not be repaired is listed above."
        }
        exit::DAMAGED if s.offline => {
            "RESULT: archive damaged; connect the phone and run `verify --repair`."
        }
        exit::DAMAGED if s.deep.is_some() => {
            "RESULT: archive damaged; run `verify --deep --repair` to restore it."
        }
        exit::DAMAGED if s.archive.checksums => {
            "RESULT: archive damaged; run `verify --checksums --repair` to restore it."
        }
        exit::DAMAGED => "RESULT: archive damaged; run `verify --repair` to restore it.",
        exit::AT_RISK => "RESULT: some items are only on the phone; run pull.",
        _ => "RESULT: safe.",
    }
}

struct Summary<'a> {
    dest: &'a std::path::Path,
    offline: bool,
    device: Option<&'a PullDevice>,
    archive: &'a ArchiveReport,
    deep: Option<&'a DeepReport>,
    phone: Option<&'a PhoneReport>,
    repair: Option<&'a RepairReport>,
    damaged_left: u64,
    code: u8,
}

impl Summary<'_> {
    fn status(&self) -> &'static str {
        match self.code {
            exit::DAMAGED => "damaged",
            exit::AT_RISK => "at_risk",
            _ => "safe",
        }
    }
}

/// Streams problems (first few per kind for people, all for `--json`) and the summary.
struct Output {
    printer: Printer,
    /// Problems seen per kind, to cap the human listing.
    seen: Mutex<std::collections::HashMap<ProblemKind, u64>>,
    /// With `--html`: the problems and warnings the page lists.
    page: Option<Mutex<(Problems, Vec<String>)>>,
}

impl Output {
    fn new(json: bool, html: bool) -> Output {
        let style = if json {
            Style::Json
        } else if std::io::stderr().is_terminal() {
            Style::Bar(ProgressBar::hidden())
        } else {
            Style::Plain
        };
        Output {
            printer: Printer::new(style, String::new()),
            seen: Mutex::new(Default::default()),
            page: html.then(Default::default),
        }
    }

    /// The `--html` page of the run that `s` sums up.
    fn html_page(&self, s: &Summary<'_>) -> String {
        let collected = self.page.as_ref().and_then(|m| m.lock().ok());
        let (empty, none) = (Problems::default(), Vec::new());
        let (problems, warnings) = match &collected {
            Some(c) => (&c.0, &c.1),
            None => (&empty, &none),
        };
        verify_html::render(&VerifyPage {
            dest: &s.dest.display().to_string(),
            phone: s.device.map(|d| (d.name.as_str(), d.udid.as_str())),
            archive: s.archive,
            phone_report: s.phone,
            repair: s.repair,
            problems,
            warnings,
            status: s.status(),
            now: chrono::Local::now(),
        })
    }

    fn start_hashing(&self, total: u64) {
        if let Style::Bar(bar) = &self.printer.style {
            bar.reset();
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_length(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "checking {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
        }
    }

    fn finish_progress(&self) {
        self.printer.finish_progress();
    }

    fn json_line(&self, value: &impl serde::Serialize) {
        self.printer.json_line(value);
    }

    fn line(&self, text: &str) {
        self.printer.line(text);
    }

    fn warning(&self, text: &str) {
        if let Some(Ok(mut page)) = self.page.as_ref().map(Mutex::lock) {
            page.1.push(text.to_owned());
        }
        self.printer.warning(text);
    }

    fn summary(&self, s: &Summary<'_>) {
        if let Style::Json = self.printer.style {
            self.json_line(&serde_json::json!({
                "event": "summary",
                "dest": s.dest.display().to_string(),
                "offline": s.offline,
                "archive": s.archive,
                "deep": s.deep,
                "phone": s.phone,
                "repair": s.repair,
                "damaged": s.damaged_left,
                "at_risk": s.phone.map_or(0, |p| p.at_risk),
                "status": s.status(),
                "exit_code": s.code,
            }));
            return;
        }
        for (kind, n) in self.seen.lock().map(|m| m.clone()).unwrap_or_default() {
            if n > SHOWN_PER_KIND {
                self.line(&format!(
                    "  … and {} more {} (--json lists every one)",
                    n - SHOWN_PER_KIND,
                    kind.label()
                ));
            }
        }
        self.archive_lines(s);
        self.phone_lines(s);
        self.line(verdict(s));
    }

    /// The archive's figures, and what --deep and --repair did.
    fn archive_lines(&self, s: &Summary<'_>) {
        let a = s.archive;
        let dest = crate::import::pull::display_dest(s.dest);
        let how = if a.checksums {
            "present, right size, same content"
        } else {
            "present, right size (add --checksums to compare contents)"
        };
        self.line(&format!(
            "Archive {dest}: {} files ({}) checked: {how}.",
            a.files,
            indicatif::HumanBytes(a.bytes)
        ));
        if a.damaged() == 0 {
            self.line("  ok: every archived file is intact.");
        } else {
            self.line(&format!(
                "  DAMAGED: {} missing, {} changed size, {} changed content, {} unreadable{}.",
                a.missing,
                a.size_changed,
                a.hash_mismatch,
                a.unreadable,
                match (a.bad_ledger_path, a.differs_from_phone) {
                    (0, 0) => String::new(),
                    (rows, 0) => format!(", {rows} bad ledger rows"),
                    (0, d) => format!(", {d} differ from the phone"),
                    (rows, d) => format!(", {rows} bad ledger rows, {d} differ from the phone"),
                }
            ));
        }
        if let Some(d) = s.deep {
            self.line(&format!(
                "  deep: {} files ({}) compared with the phone: {} same, {} differ, {} changed on the phone since the import (not compared).",
                d.same + d.differs,
                indicatif::HumanBytes(d.bytes_compared),
                d.same,
                d.differs,
                d.phone_changed
            ));
        }
        if let Some(r) = s.repair {
            self.line(&format!(
                "  repair: {} files restored from the phone, {} could not be{}.",
                r.repaired,
                r.not_repaired,
                r.kept_in
                    .as_ref()
                    .map(|k| format!("; the damaged copies are kept in {k}"))
                    .unwrap_or_default()
            ));
        }
    }

    /// What the phone holds that the archive does not.
    fn phone_lines(&self, s: &Summary<'_>) {
        match (s.phone, s.device) {
            (Some(p), Some(d)) => {
                self.line(&format!(
                    "Phone \"{}\": {} files of {} assets (Recently Deleted left out), {} in the archive.",
                    d.name, p.files, p.assets_selected, p.archived
                ));
                if p.at_risk == 0 {
                    self.line("  ok: everything on the phone is in the archive.");
                } else {
                    self.line(&format!(
                        "  AT RISK: {} files exist only on the phone; run `iphone-import pull {}`.",
                        p.at_risk,
                        s.dest.display()
                    ));
                }
                if p.icloud_only > 0 {
                    self.line(&format!(
                        "  note: {} files of {} items belong to originals only in iCloud and cannot be copied (Settings › Photos › Download and Keep Originals, then pull).",
                        p.icloud_only, p.icloud_only_items
                    ));
                }
                if p.original_missing > 0 {
                    self.line(&format!(
                        "  note: {} files of {} items belong to originals that are missing (on neither the phone nor iCloud, says Photos.sqlite): nothing can copy them, and Download and Keep Originals cannot help; look for them in a backup.",
                        p.original_missing, p.original_missing_items
                    ));
                }
            }
            _ => self.line("Phone: not checked (--offline)."),
        }
    }
}

impl VerifyObserver for Output {
    fn problem(&self, p: &Problem) {
        if let Some(Ok(mut page)) = self.page.as_ref().map(Mutex::lock) {
            page.0.add(p);
        }
        if let Style::Json = self.printer.style {
            let mut v = serde_json::to_value(p).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("event".into(), "problem".into());
            }
            self.json_line(&v);
            return;
        }
        let n = {
            let Ok(mut seen) = self.seen.lock() else {
                return;
            };
            let n = seen.entry(p.kind).or_insert(0);
            *n += 1;
            *n
        };
        if n <= SHOWN_PER_KIND {
            let text = match &p.dest_path {
                Some(d) => format!(
                    "{}: {} (from {}): {}",
                    p.kind.label(),
                    path_for_terminal(d),
                    path_for_terminal(&p.device_path),
                    for_terminal_max(&p.detail, MAX_SHOWN_REASON)
                ),
                None => format!(
                    "{}: {}: {}",
                    p.kind.label(),
                    path_for_terminal(&p.device_path),
                    for_terminal_max(&p.detail, MAX_SHOWN_REASON)
                ),
            };
            self.line(&text);
        }
    }

    fn hashed(&self, n: u64) {
        self.printer.add_progress(n);
    }

    fn repaired(&self, r: &RepairOutcome) {
        match &self.printer.style {
            Style::Json => {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("event".into(), "repair".into());
                }
                self.json_line(&v);
            }
            _ => self.line(&match &r.reason {
                None => format!(
                    "repaired {} (from {})",
                    path_for_terminal(&r.dest_path),
                    path_for_terminal(&r.device_path)
                ),
                Some(why) => format!(
                    "not repaired {}: {}",
                    path_for_terminal(&r.dest_path),
                    for_terminal_max(why, MAX_SHOWN_REASON)
                ),
            }),
        }
    }
}
