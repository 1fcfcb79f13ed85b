//! `iphone-import status [DEST]`: "is this phone backed up?", in words a non-technical person
//! understands (or `--json` for scripts). The figures come from `import::backup_figures`.

use std::collections::HashMap;

use chrono::{DateTime, Local, Utc};
use plist::Value;
use serde::Serialize;

use super::albums::{plural, read_inventory};
use super::args::{GlobalArgs, StatusArgs};
use super::exit;
use super::info::{human_bytes, model_name};
use super::report_html;
use super::session::PhoneSession;
use super::stdout::{out, outln};
use crate::import::backup_figures::{DestFigures, LibraryStatus, file_sizes, library_status};
use crate::library::albums::shown;
use anyhow::Context;

#[derive(Debug, Serialize)]
struct Phone {
    name: Option<String>,
    model: Option<String>,
    ios_version: Option<String>,
    udid: String,
}

#[derive(Debug, Serialize)]
struct Report {
    phone: Phone,
    #[serde(flatten)]
    status: LibraryStatus,
    warnings: Vec<String>,
}

pub(super) async fn run(global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<u8> {
    let session = PhoneSession::open(global).await?;
    let values = session.with_lockdown(async |c| c.info().await).await;
    let result = async {
        let (afc, inventory) = read_inventory(&session).await?;
        let sizes = file_sizes(&afc, &inventory.assets).await;
        let thumbnails = match args.html {
            Some(_) => report_html::fetch_thumbnails(&afc, &inventory).await,
            None => HashMap::new(),
        };
        anyhow::Ok((inventory, sizes, thumbnails))
    }
    .await;
    let udid = session.device.udid.clone();
    session.close().await;
    let (inventory, sizes, thumbnails) = result?;
    let values = values.unwrap_or_default();
    let text = |k: &str| values.get(k).and_then(Value::as_string).map(str::to_string);
    let phone = Phone {
        name: text("DeviceName"),
        model: text("ProductType").map(|p| model_name(&p).map_or(p.clone(), str::to_string)),
        ios_version: text("ProductVersion"),
        udid: udid.clone(),
    };
    // DEST's ledger is read (SQLite, files): on a blocking thread, not the runtime's.
    let (dest, of_udid) = (args.dest.clone(), udid.clone());
    let (inventory, status) = tokio::task::spawn_blocking(move || {
        let at = dest.as_deref().map(|d| (d, of_udid.as_str()));
        let status = library_status(&inventory, &sizes, at, Utc::now());
        (inventory, status)
    })
    .await
    .context("the status figures could not be computed")?;
    let status = status?;
    let report = Report {
        phone,
        status,
        warnings: inventory.warnings.clone(),
    };
    // A reader that went away (`status | head`) must not cost the --html report: print, write
    // the report, then say what printing met (a broken pipe ends quietly with 0 in cli::main).
    let printed = if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)
    } else {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        out!("{}", words(&report))
    };
    if let Some(path) = &args.html {
        let groups = report_html::groups(&inventory);
        let page = report_html::Page {
            phone: report_html::PhoneLine {
                name: report.phone.name.as_deref(),
                model: report.phone.model.as_deref(),
                ios_version: report.phone.ios_version.as_deref(),
                udid: &report.phone.udid,
            },
            status: &report.status,
            groups: &groups,
            thumbnails: &thumbnails,
            warnings: &report.warnings,
            now: Local::now(),
        };
        let (to, html) = (path.clone(), report_html::render(&page));
        tokio::task::spawn_blocking(move || report_html::write_atomically(&to, &html))
            .await
            .context("writing the report stopped")??;
        eprintln!("Report written to {}", path.display());
    }
    printed?;
    Ok(exit::OK)
}

/// A value from the phone, control characters escaped.
fn or_unknown(v: &Option<String>) -> String {
    v.as_deref().map_or_else(|| "unknown".into(), shown)
}

fn items(n: usize) -> String {
    format!("{n} item{}", plural(n))
}

/// The report as sentences.
fn words(r: &Report) -> String {
    let s = &r.status;
    let l = &s.library;
    let mut out = String::new();
    let mut line = |t: String| {
        out.push_str(&t);
        out.push('\n');
    };
    line(format!(
        "{} — {}, iOS {}",
        or_unknown(&r.phone.name),
        or_unknown(&r.phone.model),
        or_unknown(&r.phone.ios_version)
    ));
    line(format!(
        "Photos and videos: {} ({} photo{}, {} video{}), {} in {} file{}.",
        l.items,
        l.photos,
        plural(l.photos),
        l.videos,
        plural(l.videos),
        human_bytes(l.bytes),
        l.files,
        plural(l.files)
    ));
    if !l.database_read {
        line(
            "The phone's photo database could not be read: iCloud-only and missing originals, Recently Deleted, hidden and shared figures are unknown."
                .into(),
        );
        // The rest would be zeros that look like good news.
    } else {
        database_words(s, &mut line);
    }
    if let Some(d) = &s.dest {
        dest_words(d, l.items, &mut line);
    }
    out
}

/// What Photos.sqlite tells: where the originals are, iCloud uploads, Recently Deleted, hidden
/// and shared.
fn database_words(s: &LibraryStatus, line: &mut impl FnMut(String)) {
    if s.icloud_only == 0 && s.original_missing == 0 {
        line("Every original is on this phone.".into());
    }
    if s.icloud_only > 0 {
        line(format!(
            "{} only in iCloud (\"Optimize iPhone Storage\"): they cannot be copied over USB. To copy them, choose \"Download and Keep Originals\" in Settings > Photos on the phone and wait for the download, or download them from iCloud.",
            items(s.icloud_only)
        ));
    }
    if s.original_missing > 0 {
        line(format!(
            "{} missing: the original is neither on this phone nor in iCloud (Photos.sqlite), so nothing can copy it and \"Download and Keep Originals\" cannot bring it back. Look for it in a backup or on the computer or device it came from.",
            items(s.original_missing)
        ));
    }
    if s.only_copy_on_phone == 0 {
        line("Everything is uploaded to iCloud (or iCloud Photos is not in use).".into());
    } else {
        line(format!(
            "{} not yet uploaded to iCloud: this phone holds the only copy. Copy them to this computer with `iphone-import pull DEST`.",
            items(s.only_copy_on_phone)
        ));
    }
    let d = &s.recently_deleted;
    match (d.items, d.earliest_purge, d.days_until_earliest_purge) {
        (0, _, _) => line("Recently Deleted is empty.".into()),
        (n, Some(at), Some(days)) => line(format!(
            "{} in Recently Deleted; the first is deleted for good {} ({}). `pull --include-trashed` copies them.",
            items(n),
            match days {
                0 => "any time now".to_string(),
                1 => "within a day".to_string(),
                d => format!("in {d} days"),
            },
            at.with_timezone(&Local).format("%Y-%m-%d")
        )),
        (n, _, _) => line(format!(
            "{} in Recently Deleted. `pull --include-trashed` copies them.",
            items(n)
        )),
    }
    line(format!(
        "Hidden: {} (copied by `pull` unless --exclude-hidden). Shared: {}.",
        items(s.hidden),
        items(s.shared)
    ));
}

/// What DEST holds of this phone's `items` and when it last received a file.
fn dest_words(d: &DestFigures, items_on_phone: usize, line: &mut impl FnMut(String)) {
    if !d.ledger_found {
        line(format!(
            "Nothing has been copied to {} yet: all {} are still to copy.",
            d.path,
            items(items_on_phone)
        ));
    } else if d.items_not_in_dest == 0 {
        line(format!("Everything on this phone is in {}. ✓", d.path));
    } else {
        let mut why = Vec::new();
        if d.not_in_dest_recently_deleted > 0 {
            why.push(format!(
                "{} in Recently Deleted",
                d.not_in_dest_recently_deleted
            ));
        }
        if d.not_in_dest_icloud_only > 0 {
            why.push(format!("{} only in iCloud", d.not_in_dest_icloud_only));
        }
        if d.not_in_dest_original_missing > 0 {
            why.push(format!(
                "{} with the original missing",
                d.not_in_dest_original_missing
            ));
        }
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" (of which {})", why.join(", "))
        };
        line(format!(
            "{} on this phone not yet in {}{why}.",
            items(d.items_not_in_dest),
            d.path
        ));
    }
    match d.last_received {
        Some(at) => line(format!(
            "{} last received a file from this phone {}.",
            d.path,
            ago(at, Utc::now())
        )),
        None if d.ledger_found => line(format!(
            "{} has never received a file from this phone.",
            d.path
        )),
        None => {}
    }
}

/// "on 2025-03-01 14:02 (3 days ago)".
fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    let rel = match secs {
        0..60 => "just now".to_string(),
        60..3600 => format!("{} minutes ago", secs / 60),
        3600..86_400 => format!("{} hours ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    };
    format!(
        "on {} ({rel})",
        at.with_timezone(&Local).format("%Y-%m-%d %H:%M")
    )
}
