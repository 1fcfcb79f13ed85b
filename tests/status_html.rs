//! `iphone-import --demo status DEST --html FILE`: the page is written (and nothing else), then
//! loaded in a real browser (headless Chromium): the DOM after load has the expected counts per
//! risk, every thumbnail decoded, and a screenshot renders. Chromium missing: SKIP, or a
//! failure under REQUIRE_INTEROP=1.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::PeerHome;
use iphone_import::mock::library::{self, AssetTruth, CloudState, LibraryOptions};

/// Thumbnails the page embeds at most (`cli::report_html::MAX_THUMBNAILS`).
const MAX_THUMBNAILS: usize = 120;
/// The simulated phone's thumbnails are 16×16 JPEGs.
const THUMBNAIL_WIDTH: &str = "16";

fn import(home: &PeerHome, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_iphone-import"))
        .arg("--demo")
        .args(args)
        .envs(home.env())
        .stdin(Stdio::null())
        .output()
        .expect("run iphone-import")
}

/// `data-count` of the section `id` in `html`.
fn section_count(html: &str, id: &str) -> usize {
    let at = html
        .find(&format!("data-risk=\"{id}\" data-count=\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let rest = &html[at..];
    let start = rest.find("data-count=\"").unwrap() + "data-count=\"".len();
    let end = start + rest[start..].find('"').unwrap();
    rest[start..end].parse().unwrap()
}

fn chromium(tmp: &Path, extra: &[String], page: &Path) -> Output {
    let browser = common::peer("chromium").expect("checked by the caller");
    Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,2000",
        ])
        .arg(format!("--user-data-dir={}", tmp.join("profile").display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .env("HOME", tmp)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium")
}

/// The page's DOM after Chromium loaded it (and ran its script).
fn dump_dom(tmp: &Path, page: &Path) -> String {
    let dom = chromium(tmp, &["--dump-dom".into()], page);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    String::from_utf8(dom.stdout).unwrap()
}

fn at_risk(a: &AssetTruth) -> [bool; 4] {
    [
        a.original_missing,
        a.cloud_state == CloudState::PendingUpload && !a.original_missing,
        a.trashed,
        a.icloud_only,
    ]
}

#[test]
fn status_html_renders_in_a_browser_with_counts_and_thumbnails() {
    let root = tempfile::tempdir().unwrap();
    let truth = library::generate(root.path(), &LibraryOptions::demo()).unwrap();
    let home = PeerHome::new();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let page: PathBuf = work.path().join("report.html");

    let out = import(
        &home,
        &[
            "status",
            dest.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Read-only for DEST: the page is the only thing written.
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
    let written: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(written.len(), 2, "{written:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.to_lowercase().contains("http:") && !html.to_lowercase().contains("https:"));

    let ids = [
        "missing",
        "only-on-phone",
        "recently-deleted",
        "icloud-only",
    ];
    let expected: Vec<usize> = (0..4)
        .map(|i| truth.assets.iter().filter(|a| at_risk(a)[i]).count())
        .collect();
    for (id, n) in ids.iter().zip(&expected) {
        assert!(*n > 0, "the demo library has {id} items");
        assert_eq!(section_count(&html, id), *n, "{id}");
    }
    let risky: HashSet<&str> = truth
        .assets
        .iter()
        .filter(|a| at_risk(a).iter().any(|b| *b))
        .map(|a| a.uuid.as_str())
        .collect();
    let thumbnails = risky.len().min(MAX_THUMBNAILS);
    assert_eq!(html.matches("<img ").count(), thumbnails);

    let Some(_) = common::peer("chromium") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dom = dump_dom(tmp.path(), &page);
    for (id, n) in ids.iter().zip(&expected) {
        assert_eq!(section_count(&dom, id), *n, "{id} after load");
    }
    // Every image decoded in the browser: the page's onload script records its natural width.
    assert_eq!(dom.matches("<img ").count(), thumbnails);
    assert_eq!(
        dom.matches(&format!("data-decoded=\"{THUMBNAIL_WIDTH}\""))
            .count(),
        thumbnails,
        "{dom}"
    );

    let png = tmp.path().join("report.png");
    let shot = chromium(
        tmp.path(),
        &[format!("--screenshot={}", png.display())],
        &page,
    );
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 2000));
    // Not a blank page: many distinct colours (text, cards, thumbnails).
    let step = info.color_type.samples();
    let colours: HashSet<&[u8]> = buf[..info.buffer_size()].chunks(step).collect();
    assert!(colours.len() > 50, "{} colours", colours.len());
}

/// The summary line of `verify --json`.
fn verify_summary(stdout: &[u8]) -> serde_json::Value {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .expect("a summary line")
}

/// Files under DEST that `pull` wrote (the ledger's folder left out), sorted.
fn archived_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().is_some_and(|n| n == ".iphone-import") {
            continue;
        }
        if p.is_dir() {
            archived_files(&p, out);
        } else {
            out.push(p);
        }
    }
    out.sort();
}

/// `verify DEST --html FILE` after a partial pull and two damaged files: the page's sections
/// count what `verify --json` of the same run counts (missing, damaged, only on the phone), in a
/// real browser too, and its verdict is the exit code's.
#[test]
fn verify_html_shows_damaged_missing_and_at_risk_in_a_browser() {
    let home = PeerHome::new();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("dest");
    let d = dest.to_str().unwrap();
    let out = import(&home, &["pull", d, "--photos-only"]);
    assert!(out.status.code().is_some(), "pull ran");
    let mut files = Vec::new();
    archived_files(&dest, &mut files);
    assert!(files.len() > 2, "{files:?}");
    std::fs::remove_file(&files[0]).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&files[1])
        .and_then(|f| f.set_len(1))
        .unwrap();

    let page = work.path().join("verify.html");
    let out = import(
        &home,
        &["verify", d, "--json", "--html", page.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "damaged: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = verify_summary(&out.stdout);
    let expected = [
        ("missing", summary["archive"]["missing"].as_u64().unwrap()),
        (
            "damaged",
            summary["archive"]["size_changed"].as_u64().unwrap(),
        ),
        ("at-risk", summary["phone"]["at_risk"].as_u64().unwrap()),
    ];
    assert_eq!(expected[0].1, 1);
    assert_eq!(expected[1].1, 1);
    assert!(expected[2].1 > 0, "videos were not pulled");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.to_lowercase().contains("http:") && !html.to_lowercase().contains("https:"));
    for (id, n) in expected {
        assert_eq!(section_count(&html, id) as u64, n, "{id}");
    }
    assert!(html.contains(r#"data-status="damaged""#));

    let Some(_) = common::peer("chromium") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dom = dump_dom(tmp.path(), &page);
    for (id, n) in expected {
        assert_eq!(section_count(&dom, id) as u64, n, "{id} after load");
    }
    // One row per problem (fewer than the 500 a section lists), originals not copyable included.
    let not_copyable = [
        (
            "icloud-only",
            summary["phone"]["icloud_only"].as_u64().unwrap(),
        ),
        (
            "original-missing",
            summary["phone"]["original_missing"].as_u64().unwrap(),
        ),
    ];
    for (id, n) in not_copyable {
        assert_eq!(section_count(&dom, id) as u64, n, "{id} after load");
    }
    let rows = dom.matches("<tr data-kind=").count() as u64;
    let all: u64 = expected.iter().chain(&not_copyable).map(|(_, n)| n).sum();
    assert_eq!(rows, all);
    assert!(dom.contains("data-status=\"damaged\""));
}
