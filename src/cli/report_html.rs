//! `status --html FILE`: the status report as one self-contained HTML page a person can open in
//! any browser — the phone, what is safe, and the items at risk with the phone's own small
//! thumbnails, so they see which photos. No network and no external assets: inline CSS, images as
//! `data:` URIs, and a Content-Security-Policy that forbids anything else. Every string from the
//! phone is HTML-escaped.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use chrono::{DateTime, Local};

use super::albums::plural;
use super::info::human_bytes;
use crate::import::backup_figures::{LibraryStatus, days_until};
use crate::library::albums::shown;
use crate::library::inventory::TRASH_RETENTION_DAYS;
use crate::library::thumbnails::read_thumbnails;
use crate::library::{Asset, AssetKind, Inventory};

/// Thumbnails embedded in one page (the first items of the groups, most urgent group first).
pub(super) const MAX_THUMBNAILS: usize = 120;
/// A thumbnail larger than this is left out (the phone's 5005.JPG are a few KB to tens of KB).
pub(super) const MAX_THUMBNAIL_BYTES: u64 = 64 * 1024;
/// Items listed by name per group; the rest are counted.
pub(super) const MAX_LISTED: usize = 500;

/// Why an item is at risk; one section of the page each, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Risk {
    Missing,
    OnlyOnPhone,
    RecentlyDeleted,
    IcloudOnly,
}

impl Risk {
    const ALL: [Risk; 4] = [
        Risk::Missing,
        Risk::OnlyOnPhone,
        Risk::RecentlyDeleted,
        Risk::IcloudOnly,
    ];

    /// The section's id (and `data-risk`), stable for scripts and tests.
    pub(super) fn id(self) -> &'static str {
        match self {
            Risk::Missing => "missing",
            Risk::OnlyOnPhone => "only-on-phone",
            Risk::RecentlyDeleted => "recently-deleted",
            Risk::IcloudOnly => "icloud-only",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Risk::Missing => "Missing",
            Risk::OnlyOnPhone => "Only on this phone",
            Risk::RecentlyDeleted => "Recently Deleted",
            Risk::IcloudOnly => "Only in iCloud",
        }
    }

    /// What the person can do about it (HTML).
    pub(super) fn advice(self) -> &'static str {
        match self {
            Risk::Missing => {
                "The original is neither on this phone nor in iCloud: nothing can copy it. Look for it in a backup or on the computer or device it came from."
            }
            Risk::OnlyOnPhone => {
                "Not uploaded to iCloud: this phone holds the only copy. Copy them to this computer with <code>iphone-import pull DEST</code>."
            }
            Risk::RecentlyDeleted => {
                "The phone deletes these for good 30 days after they were deleted. <code>iphone-import pull --include-trashed DEST</code> copies them."
            }
            Risk::IcloudOnly => {
                "The original is only in iCloud (&ldquo;Optimize iPhone Storage&rdquo;): it cannot be copied over USB. Choose &ldquo;Download and Keep Originals&rdquo; in Settings &gt; Photos on the phone, or download them from iCloud."
            }
        }
    }

    fn of(self, a: &Asset) -> bool {
        match self {
            Risk::Missing => a.original_missing,
            Risk::OnlyOnPhone => a.only_copy_on_phone && !a.original_missing,
            Risk::RecentlyDeleted => a.trashed,
            Risk::IcloudOnly => a.icloud_only,
        }
    }
}

/// The items of one risk, in the order they are shown.
pub(super) struct Group<'a> {
    pub risk: Risk,
    pub assets: Vec<&'a Asset>,
}

/// The at-risk groups of `inventory` (all empty when Photos.sqlite was not read). Recently
/// Deleted comes soonest-purged first; the others in capture order.
pub(super) fn groups(inventory: &Inventory) -> Vec<Group<'_>> {
    Risk::ALL
        .iter()
        .map(|&risk| {
            let mut assets: Vec<&Asset> = inventory.assets.iter().filter(|a| risk.of(a)).collect();
            if risk == Risk::RecentlyDeleted {
                assets.sort_by_key(|a| (a.trashed_at.is_none(), a.trashed_at));
            } else {
                assets.sort_by_key(|a| (a.created.is_none(), a.created));
            }
            Group { risk, assets }
        })
        .collect()
}

/// The assets whose thumbnails the page embeds: the first listed items of each group, most
/// urgent group first, at most [`MAX_THUMBNAILS`] (an item in two groups counts once).
pub(super) fn thumbnails_wanted<'a>(groups: &[Group<'a>]) -> Vec<&'a Asset> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for g in groups {
        for a in g.assets.iter().take(MAX_LISTED) {
            if out.len() == MAX_THUMBNAILS {
                return out;
            }
            if seen.insert(a.key()) {
                out.push(*a);
            }
        }
    }
    out
}

/// Who the phone is, as lockdown said (untrusted strings).
pub(super) struct PhoneLine<'a> {
    pub name: Option<&'a str>,
    pub model: Option<&'a str>,
    pub ios_version: Option<&'a str>,
    pub udid: &'a str,
}

/// Everything the page shows.
pub(super) struct Page<'a> {
    pub phone: PhoneLine<'a>,
    pub status: &'a LibraryStatus,
    pub groups: &'a [Group<'a>],
    /// JPEG bytes by `Asset::key`.
    pub thumbnails: &'a HashMap<String, Vec<u8>>,
    pub warnings: &'a [String],
    pub now: DateTime<Local>,
}

/// Text for HTML (element content and quoted attribute values alike); control characters are
/// shown escaped first, as on the terminal.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in shown(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn items(n: usize) -> String {
    format!("{n} item{}", plural(n))
}

const STYLE: &str = "
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d1d1f;background:#f5f5f7}
main{max-width:1100px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:0}
.sub{color:#6e6e73;margin:0 0 22px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:12px;margin-bottom:26px}
.card{background:#fff;border-radius:12px;padding:14px 16px;border-left:6px solid #c7c7cc}
.card b{display:block;font-size:28px;line-height:1.1}
.card span{color:#48484a}
.ok{border-left-color:#34c759}.warn{border-left-color:#ff9f0a}.bad{border-left-color:#ff3b30}.info{border-left-color:#0a84ff}
section{background:#fff;border-radius:12px;padding:18px 20px;margin-bottom:18px}
section header{display:flex;align-items:baseline;gap:12px;margin-bottom:6px}
.count{font-weight:600;color:#fff;border-radius:10px;padding:1px 10px;font-size:14px}
#missing .count,#damaged .count,#original-missing .count{background:#ff3b30}
#only-on-phone .count,#at-risk .count{background:#ff9f0a}
#recently-deleted .count{background:#af52de}#icloud-only .count{background:#0a84ff}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{text-align:left;padding:4px 8px;border-top:1px solid #e5e5ea;overflow-wrap:anywhere}
section p{margin:4px 0 12px;color:#3a3a3c}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(120px,1fr));gap:12px}
figure{margin:0;font-size:12px;color:#3a3a3c;overflow-wrap:anywhere}
figure img,figure .none{display:block;width:100%;aspect-ratio:1;object-fit:cover;border-radius:8px;background:#e5e5ea}
figure .none{display:flex;align-items:center;justify-content:center;color:#8e8e93}
figcaption{margin-top:4px}figcaption small{display:block;color:#6e6e73}
.more{margin-top:10px;color:#6e6e73}
.warnings{color:#6e6e73;font-size:13px}
code{background:#f2f2f7;border-radius:4px;padding:0 4px}
";

/// Only inline styles, inline script and `data:` images: nothing is fetched.
const CSP: &str =
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'";

/// Records on each image whether it decoded (`data-decoded` = its natural width), so a check in
/// a browser can tell; the page reads fine without it.
const SCRIPT: &str = "addEventListener('load',()=>{for(const i of document.images)i.dataset.decoded=i.naturalWidth})";

/// The page.
pub(super) fn render(p: &Page) -> String {
    let mut h = String::new();
    let name = p.phone.name.map_or_else(|| "iPhone".to_string(), esc);
    head(&mut h, &format!("{name} — photo backup status"));
    let unknown = |v: Option<&str>| v.map_or_else(|| "unknown".to_string(), esc);
    let _ = writeln!(
        h,
        "<h1 id=\"phone\">{name}</h1><p class=\"sub\">{} · iOS {} · <span title=\"UDID\">{}</span> · report of {}</p>",
        unknown(p.phone.model),
        unknown(p.phone.ios_version),
        esc(p.phone.udid),
        p.now.format("%Y-%m-%d %H:%M")
    );
    cards(&mut h, p);
    if !p.status.library.database_read {
        h.push_str(
            "<section id=\"no-database\"><p>The phone's photo database could not be read: which items are only on the phone, only in iCloud, missing or in Recently Deleted is unknown.</p></section>\n",
        );
    } else {
        for g in p.groups {
            section(&mut h, p, g);
        }
    }
    foot(&mut h, p.warnings);
    h
}

/// The start of a page up to `<main>`: `title` is already HTML (escaped by the caller).
pub(super) fn head(h: &mut String, title: &str) {
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\n<body><main>"
    );
}

/// The warnings, if any, and the end of the page.
pub(super) fn foot(h: &mut String, warnings: &[String]) {
    if !warnings.is_empty() {
        h.push_str("<section class=\"warnings\"><h2>Warnings</h2><ul>");
        for w in warnings {
            let _ = write!(h, "<li>{}</li>", esc(w));
        }
        h.push_str("</ul></section>\n");
    }
    let _ = writeln!(h, "</main><script>{SCRIPT}</script></body></html>");
}

/// A section's opening: `id` (also `data-risk`), title, and the count of its items.
pub(super) fn section_start(h: &mut String, id: &str, title: &str, n: u64) {
    let _ = writeln!(
        h,
        "<section id=\"{id}\" data-risk=\"{id}\" data-count=\"{n}\"><header><h2>{title}</h2><span class=\"count\">{}</span></header>",
        items(usize::try_from(n).unwrap_or(usize::MAX))
    );
}

pub(super) fn card(h: &mut String, id: &str, class: &str, figure: &str, text: &str) {
    let _ = writeln!(
        h,
        "<div class=\"card {class}\" id=\"card-{id}\"><b>{figure}</b><span>{text}</span></div>"
    );
}

/// The figures at a glance.
fn cards(h: &mut String, p: &Page) {
    let s = p.status;
    let l = &s.library;
    h.push_str("<div class=\"cards\">\n");
    card(
        h,
        "items",
        "info",
        &l.items.to_string(),
        &format!(
            "photos and videos on the phone ({} photo{}, {} video{}, {})",
            l.photos,
            plural(l.photos),
            l.videos,
            plural(l.videos),
            human_bytes(l.bytes)
        ),
    );
    // The risk figures are the sections' own counts, so the page agrees with itself.
    let count = |risk: Risk| {
        p.groups
            .iter()
            .find(|g| g.risk == risk)
            .map_or(0, |g| g.assets.len())
    };
    if l.database_read {
        let in_icloud = l
            .items
            .saturating_sub(count(Risk::OnlyOnPhone) + count(Risk::Missing));
        card(h, "icloud", "ok", &in_icloud.to_string(), "safe in iCloud");
    }
    if let Some(d) = &s.dest {
        let copied = if d.ledger_found {
            l.items - d.items_not_in_dest
        } else {
            0
        };
        let class = if copied == l.items { "ok" } else { "warn" };
        card(
            h,
            "dest",
            class,
            &copied.to_string(),
            &format!("copied to {}", esc(&d.path)),
        );
    }
    if l.database_read {
        let risky = [
            (Risk::OnlyOnPhone, "only on this phone"),
            (Risk::IcloudOnly, "only in iCloud"),
            (Risk::Missing, "missing (on neither)"),
        ];
        for (risk, text) in risky {
            let n = count(risk);
            let class = if n == 0 { "ok" } else { "bad" };
            card(h, risk.id(), class, &n.to_string(), text);
        }
        let d = &s.recently_deleted;
        let n = count(Risk::RecentlyDeleted);
        let when = match (n, d.earliest_purge) {
            (0, _) => "in Recently Deleted".to_string(),
            (_, Some(at)) => format!(
                "in Recently Deleted; the first goes for good on {}",
                at.with_timezone(&Local).format("%Y-%m-%d")
            ),
            _ => "in Recently Deleted".to_string(),
        };
        let class = if n == 0 { "ok" } else { "warn" };
        card(h, "recently-deleted", class, &n.to_string(), &when);
    }
    h.push_str("</div>\n");
}

/// One risk: what it means, then each item (thumbnail, name, date).
fn section(h: &mut String, p: &Page, g: &Group) {
    let n = g.assets.len();
    section_start(h, g.risk.id(), g.risk.title(), n as u64);
    if n == 0 {
        h.push_str("<p>None.</p></section>\n");
        return;
    }
    let _ = writeln!(h, "<p>{}</p><div class=\"grid\">", g.risk.advice());
    for a in g.assets.iter().take(MAX_LISTED) {
        item(h, p, g.risk, a);
    }
    h.push_str("</div>");
    if n > MAX_LISTED {
        let _ = write!(
            h,
            "<p class=\"more\">… and {} more (`iphone-import status --json` and `pull` see them all).</p>",
            n - MAX_LISTED
        );
    }
    h.push_str("</section>\n");
}

fn item(h: &mut String, p: &Page, risk: Risk, a: &Asset) {
    let name = a
        .original()
        .map(|o| o.name().to_string())
        .unwrap_or_else(|| a.stem().to_owned());
    let kind = if a.kind == AssetKind::Video {
        "video"
    } else {
        "photo"
    };
    let picture = match p.thumbnails.get(a.key()) {
        Some(jpeg) => format!(
            "<img alt=\"{}\" src=\"data:image/jpeg;base64,{}\">",
            esc(&name),
            base64::engine::general_purpose::STANDARD.encode(jpeg)
        ),
        None => format!("<div class=\"none\">{kind}</div>"),
    };
    let taken = a
        .created
        .map(|c| format!("taken {}", c.format("%Y-%m-%d")))
        .unwrap_or_default();
    let purge = match (risk, a.trashed_at) {
        (Risk::RecentlyDeleted, Some(at)) => {
            let gone = at + chrono::Duration::days(TRASH_RETENTION_DAYS);
            let days = days_until(gone, p.now.to_utc());
            format!(
                "<small class=\"purge\">gone for good {} ({})</small>",
                gone.with_timezone(&Local).format("%Y-%m-%d"),
                match days {
                    0 => "any time now".to_string(),
                    1 => "within a day".to_string(),
                    d => format!("in {d} days"),
                }
            )
        }
        _ => String::new(),
    };
    let _ = writeln!(
        h,
        "<figure data-kind=\"{kind}\">{picture}<figcaption>{}<small>{taken}</small>{purge}</figcaption></figure>",
        esc(&name)
    );
}

/// Writes `html` to `path` atomically (a temporary file beside it, renamed over it): an
/// interrupted run leaves no partial report. Nothing else is written.
pub(super) fn write_atomically(path: &Path, html: &str) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let shown = path.display();
    let advice = "check that the folder exists and is writable, or choose another path for --html";
    // Like any new file (0666 less the umask), not the temporary file's 0600: a report is
    // made to be opened and shared.
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(0o666)
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".iphone-import-report.").suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(mode);
    let mut tmp = builder
        .tempfile_in(parent)
        .with_context(|| format!("cannot write the report {shown}: {advice}"))?;
    tmp.write_all(html.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write the report {shown}: {advice}"))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write the report {shown}: {advice}"))?;
    Ok(())
}

/// The thumbnails the page embeds (see [`thumbnails_wanted`]), by `Asset::key`.
pub(super) async fn fetch_thumbnails(
    afc: &crate::afc::AfcClient,
    inventory: &Inventory,
) -> HashMap<String, Vec<u8>> {
    let groups = groups(inventory);
    let wanted = thumbnails_wanted(&groups);
    let read = read_thumbnails(afc, &wanted, MAX_THUMBNAIL_BYTES).await;
    wanted
        .iter()
        .zip(read)
        .filter_map(|(a, t)| Some((a.key().to_owned(), t?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::backup_figures::{LibraryFigures, RecentlyDeleted};
    use crate::library::{Resource, ResourceRole};

    fn asset(key: &str, name: &str) -> Asset {
        let original = Resource::listed(ResourceRole::Original, format!("DCIM/100APPLE/{name}"));
        Asset {
            uuid: Some(key.into()),
            ..Asset::from_original(AssetKind::Photo, original)
        }
    }

    fn status(items: usize) -> LibraryStatus {
        LibraryStatus {
            library: LibraryFigures {
                items,
                photos: items,
                videos: 0,
                files: items,
                bytes: 1000,
                files_not_sized: 0,
                database_read: true,
            },
            icloud_only: 0,
            original_missing: 1,
            only_copy_on_phone: 1,
            upload_pending: 1,
            not_synced: 0,
            recently_deleted: RecentlyDeleted {
                items: 0,
                earliest_purge: None,
                days_until_earliest_purge: None,
            },
            hidden: 0,
            shared: 0,
            dest: None,
        }
    }

    /// A page for a phone whose name and items are hostile markup.
    fn hostile_page(thumbs: &HashMap<String, Vec<u8>>) -> String {
        let mut lost = asset("k1", "<script>alert(1).JPG");
        lost.original_missing = true;
        let mut only = asset("k2", "a\"onerror=\"x.HEIC");
        only.only_copy_on_phone = true;
        let inventory = Inventory {
            assets: vec![lost, only],
            db: None,
            missing_files: Vec::new(),
            counts: Default::default(),
            albums: Vec::new(),
            warnings: vec!["<b>warned</b>".into()],
            unsafe_names: 0,
        };
        let groups = groups(&inventory);
        let status = status(2);
        render(&Page {
            phone: PhoneLine {
                name: Some("Eve's <iframe src=x> \"phone\""),
                model: Some("iPhone <15>"),
                ios_version: Some("17&5"),
                udid: "00008110-<u>",
            },
            status: &status,
            groups: &groups,
            thumbnails: thumbs,
            warnings: &inventory.warnings,
            now: Local::now(),
        })
    }

    #[test]
    fn phone_strings_are_escaped() {
        let html = hostile_page(&HashMap::new());
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1).JPG"));
        assert!(!html.contains("<iframe"));
        assert!(html.contains("Eve&#39;s &lt;iframe src=x&gt; &quot;phone&quot;"));
        assert!(html.contains("a&quot;onerror=&quot;x.HEIC"));
        assert!(!html.contains("\"onerror"));
        assert!(html.contains("iPhone &lt;15&gt;") && html.contains("17&amp;5"));
        assert!(html.contains("&lt;b&gt;warned&lt;/b&gt;"));
        // The only <script> is the page's own.
        assert_eq!(html.matches("<script").count(), 1);
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(esc("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }

    #[test]
    fn sections_count_their_items_and_embed_thumbnails() {
        let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
        let thumbs = HashMap::from([("k1".to_string(), jpeg.clone())]);
        let html = hostile_page(&thumbs);
        assert!(html.contains("id=\"missing\" data-risk=\"missing\" data-count=\"1\""));
        assert!(html.contains("id=\"only-on-phone\" data-risk=\"only-on-phone\" data-count=\"1\""));
        assert!(html.contains("data-risk=\"icloud-only\" data-count=\"0\""));
        let uri = format!(
            "src=\"data:image/jpeg;base64,{}\"",
            base64::engine::general_purpose::STANDARD.encode(&jpeg)
        );
        assert_eq!(html.matches(&uri).count(), 1);
        assert_eq!(html.matches("<img").count(), 1);
    }

    #[test]
    fn the_page_fetches_nothing() {
        let html = hostile_page(&HashMap::new()).to_lowercase();
        for needle in ["http:", "https:", "//", "url(", "@import", "src=\"http"] {
            assert!(!html.contains(needle), "found {needle}");
        }
        assert!(html.contains("content-security-policy"));
    }

    #[test]
    fn thumbnails_are_bounded_and_most_urgent_first() {
        let assets: Vec<Asset> = (0..MAX_THUMBNAILS + 50)
            .map(|i| {
                let mut a = asset(&format!("k{i}"), &format!("IMG_{i:04}.JPG"));
                a.only_copy_on_phone = true;
                a.original_missing = i == MAX_THUMBNAILS + 10;
                a
            })
            .collect();
        let inventory = Inventory {
            assets,
            db: None,
            missing_files: Vec::new(),
            counts: Default::default(),
            albums: Vec::new(),
            warnings: Vec::new(),
            unsafe_names: 0,
        };
        let groups = groups(&inventory);
        let wanted = thumbnails_wanted(&groups);
        assert_eq!(wanted.len(), MAX_THUMBNAILS);
        assert_eq!(wanted[0].key(), format!("k{}", MAX_THUMBNAILS + 10));
    }

    #[test]
    fn the_report_replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, "<p>new</p>").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "<p>new</p>");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
        // Permissions of an ordinary new file (umask applied), not a temporary file's 0600.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions();
        assert_eq!(mode(&path), mode(&plain));
        let err = write_atomically(&dir.path().join("no/such/dir/r.html"), "x").unwrap_err();
        assert!(format!("{err:#}").contains("choose another path"));
    }
}
