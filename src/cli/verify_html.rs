//! `verify --html FILE`: the verify result as one self-contained page, built from the status
//! page's parts (`report_html`: head, cards, sections, escaping, atomic write): what is safe,
//! what is damaged or missing in DEST, and what is still only on the phone. Every path and
//! detail (from the phone or the ledger) is HTML-escaped.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Local};

use super::report_html::{MAX_LISTED, Risk, card, esc, foot, head, section_start};
use crate::import::verify::{ArchiveReport, PhoneReport, Problem, ProblemKind, RepairReport};

/// Problems of one kind: how many there were, and the first [`MAX_LISTED`].
#[derive(Debug, Default)]
pub(super) struct Listed {
    pub count: u64,
    pub first: Vec<Problem>,
}

/// Problems by kind, as the verify run reported them.
#[derive(Debug, Default)]
pub(super) struct Problems(pub HashMap<ProblemKind, Listed>);

impl Problems {
    pub(super) fn add(&mut self, p: &Problem) {
        let listed = self.0.entry(p.kind).or_default();
        listed.count += 1;
        if listed.first.len() < MAX_LISTED {
            listed.first.push(p.clone());
        }
    }
}

/// Everything the page shows.
pub(super) struct VerifyPage<'a> {
    pub dest: &'a str,
    /// The phone's name and UDID (`None` = `--offline`).
    pub phone: Option<(&'a str, &'a str)>,
    pub archive: &'a ArchiveReport,
    pub phone_report: Option<&'a PhoneReport>,
    pub repair: Option<&'a RepairReport>,
    pub problems: &'a Problems,
    pub warnings: &'a [String],
    /// `safe`, `at_risk` or `damaged` (as `verify --json`'s summary says).
    pub status: &'a str,
    pub now: DateTime<Local>,
}

/// What a section advises: its own words, or the status page's for the same risk (HTML).
enum Advice {
    Own(&'static str),
    Status(Risk),
}

/// One section of the page: its id, title, the problem kinds it lists, and advice.
struct Part {
    id: &'static str,
    title: &'static str,
    kinds: &'static [ProblemKind],
    advice: Advice,
    /// Only known when the phone was checked (not `--offline`).
    phone: bool,
}

const PARTS: [Part; 5] = [
    Part {
        id: "damaged",
        title: "Damaged in DEST",
        kinds: &[
            ProblemKind::SizeChanged,
            ProblemKind::HashMismatch,
            ProblemKind::Unreadable,
            ProblemKind::BadLedgerPath,
            ProblemKind::DiffersFromPhone,
        ],
        phone: false,
        advice: Advice::Own(
            "These archived files are no longer what was imported. With the phone connected, <code>iphone-import verify --repair DEST</code> (with the same <code>--checksums</code> or <code>--deep</code>) copies them again and keeps the damaged copies aside.",
        ),
    },
    Part {
        id: "missing",
        title: "Missing from DEST",
        kinds: &[ProblemKind::Missing],
        phone: false,
        advice: Advice::Own(
            "Imported once, gone from DEST now. With the phone connected, <code>iphone-import verify --repair DEST</code> copies them again while the phone still has them.",
        ),
    },
    Part {
        id: "at-risk",
        title: "Only on this phone",
        kinds: &[ProblemKind::AtRisk],
        phone: true,
        advice: Advice::Own(
            "Not in DEST yet: this phone may hold the only copy. <code>iphone-import pull DEST</code> copies them.",
        ),
    },
    Part {
        id: "icloud-only",
        title: "Only in iCloud",
        kinds: &[ProblemKind::IcloudOnly],
        phone: true,
        advice: Advice::Status(Risk::IcloudOnly),
    },
    Part {
        id: "original-missing",
        title: "Missing everywhere",
        kinds: &[ProblemKind::OriginalMissing],
        phone: true,
        advice: Advice::Status(Risk::Missing),
    },
];

impl Part {
    fn advice(&self) -> &'static str {
        match self.advice {
            Advice::Own(text) => text,
            Advice::Status(risk) => risk.advice(),
        }
    }
}

/// The page.
pub(super) fn render(p: &VerifyPage) -> String {
    let mut h = String::new();
    head(&mut h, &format!("{} — verify", esc(p.dest)));
    let (verdict, class) = match p.status {
        "damaged" => ("The archive is damaged", "bad"),
        "at_risk" => ("Some items are only on the phone", "warn"),
        _ => ("Safe", "ok"),
    };
    let _ = writeln!(
        h,
        "<h1 id=\"verdict\" data-status=\"{}\">{verdict}</h1><p class=\"sub\">DEST {} · {} · verified {}</p>",
        esc(p.status),
        esc(p.dest),
        match p.phone {
            Some((name, udid)) => format!(
                "phone {} (<span title=\"UDID\">{}</span>)",
                esc(name),
                esc(udid)
            ),
            None => "phone not checked (--offline)".to_string(),
        },
        p.now.format("%Y-%m-%d %H:%M")
    );
    cards(&mut h, p, class);
    for part in PARTS
        .iter()
        .filter(|x| !x.phone || p.phone_report.is_some())
    {
        section(&mut h, p, part);
    }
    foot(&mut h, p.warnings);
    h
}

fn cards(h: &mut String, p: &VerifyPage, verdict_class: &str) {
    let a = p.archive;
    h.push_str("<div class=\"cards\">\n");
    let how = if a.checksums {
        "intact (size and content checked)"
    } else {
        "intact (size checked; --checksums compares contents)"
    };
    card(h, "intact", verdict_class, &a.ok.to_string(), how);
    let bad = |n: u64| if n == 0 { "ok" } else { "bad" };
    let damaged = a.damaged() - a.missing;
    card(
        h,
        "damaged",
        bad(damaged),
        &damaged.to_string(),
        "damaged in DEST",
    );
    card(
        h,
        "missing",
        bad(a.missing),
        &a.missing.to_string(),
        "missing from DEST",
    );
    match p.phone_report {
        Some(r) => {
            card(
                h,
                "at-risk",
                if r.at_risk == 0 { "ok" } else { "warn" },
                &r.at_risk.to_string(),
                "files only on this phone",
            );
            card(
                h,
                "icloud-only",
                bad(r.icloud_only_items),
                &r.icloud_only_items.to_string(),
                "items only in iCloud",
            );
            card(
                h,
                "original-missing",
                bad(r.original_missing_items),
                &r.original_missing_items.to_string(),
                "items missing everywhere",
            );
        }
        None => card(h, "at-risk", "info", "?", "phone not checked (--offline)"),
    }
    if let Some(r) = p.repair {
        card(
            h,
            "repaired",
            bad(r.not_repaired),
            &r.repaired.to_string(),
            &format!("restored from the phone ({} could not be)", r.not_repaired),
        );
    }
    h.push_str("</div>\n");
}

/// One part: its count, advice, and the first problems as a table.
fn section(h: &mut String, p: &VerifyPage, part: &Part) {
    let listed: Vec<&Listed> = part
        .kinds
        .iter()
        .filter_map(|k| p.problems.0.get(k))
        .collect();
    let n: u64 = listed.iter().map(|l| l.count).sum();
    section_start(h, part.id, part.title, n);
    if n == 0 {
        h.push_str("<p>None.</p></section>\n");
        return;
    }
    let _ = writeln!(
        h,
        "<p>{}</p><table><tr><th>What</th><th>On the phone</th><th>In DEST</th><th>Detail</th></tr>",
        part.advice()
    );
    let mut shown = 0;
    for problem in listed.iter().flat_map(|l| &l.first).take(MAX_LISTED) {
        shown += 1;
        let _ = writeln!(
            h,
            "<tr data-kind=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            problem.kind.label().replace(' ', "-"),
            esc(problem.kind.label()),
            esc(&problem.device_path),
            problem.dest_path.as_deref().map(esc).unwrap_or_default(),
            esc(&problem.detail)
        );
    }
    h.push_str("</table>");
    if n > shown {
        let _ = write!(
            h,
            "<p class=\"more\">… and {} more (<code>iphone-import verify --json</code> lists every one).</p>",
            n - shown
        );
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: ProblemKind, device: &str) -> Problem {
        Problem {
            kind,
            udid: "U".into(),
            device_path: device.into(),
            dest_path: Some(format!("2025/{device}")),
            detail: "<b>size</b>".into(),
        }
    }

    #[test]
    fn sections_count_every_problem_and_escape_what_they_list() {
        let mut problems = Problems::default();
        problems.add(&problem(ProblemKind::Missing, "DCIM/<script>.HEIC"));
        problems.add(&problem(ProblemKind::SizeChanged, "DCIM/a.HEIC"));
        problems.add(&problem(ProblemKind::HashMismatch, "DCIM/b.HEIC"));
        for i in 0..MAX_LISTED + 3 {
            problems.add(&problem(ProblemKind::AtRisk, &format!("DCIM/{i}.HEIC")));
        }
        let archive = ArchiveReport {
            files: 10,
            ok: 7,
            missing: 1,
            size_changed: 1,
            hash_mismatch: 1,
            ..ArchiveReport::default()
        };
        let phone = PhoneReport {
            at_risk: (MAX_LISTED + 3) as u64,
            ..PhoneReport::default()
        };
        let page = VerifyPage {
            dest: "/backup/<photos>",
            phone: Some(("Ana's \"iPhone\"", "UDID")),
            archive: &archive,
            phone_report: Some(&phone),
            repair: None,
            problems: &problems,
            warnings: &[],
            status: "damaged",
            now: Local::now(),
        };
        let html = render(&page);
        assert!(
            html.contains(r#"data-risk="damaged" data-count="2""#),
            "{html}"
        );
        assert!(html.contains(r#"data-risk="missing" data-count="1""#));
        let at_risk = format!(r#"data-risk="at-risk" data-count="{}""#, MAX_LISTED + 3);
        assert!(html.contains(&at_risk));
        assert!(html.contains("… and 3 more"));
        assert!(html.contains(r#"data-risk="icloud-only" data-count="0""#));
        assert!(!html.contains("<script>.HEIC") && !html.contains("<b>size"));
        assert!(html.contains("DCIM/&lt;script&gt;.HEIC"));
        assert!(html.contains("/backup/&lt;photos&gt;"));
        assert!(html.contains(r#"data-status="damaged""#));
        // Offline: no phone sections, and the page says the phone was not checked.
        let offline = VerifyPage {
            phone: None,
            phone_report: None,
            ..page
        };
        let html = render(&offline);
        assert!(!html.contains(r#"data-risk="at-risk""#));
        assert!(html.contains("phone not checked (--offline)"));
    }
}
