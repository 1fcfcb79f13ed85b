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
    let dom = chromium(tmp.path(), &["--dump-dom".into()], &page);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
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
