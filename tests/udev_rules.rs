//! The udev rules shipped in udev/: every rule line parses as udev `KEY op VALUE` pairs, and the
//! access rule matches Apple's vendor id on USB devices and tags them for uaccess.

use std::collections::BTreeMap;

/// One `KEY{attr}=="value"` (or `=`, `+=`, `!=`) element of a rule.
#[derive(Debug, PartialEq)]
struct Pair {
    key: String,
    op: String,
    value: String,
}

/// Parse a rule line into its comma-separated pairs; `Err` names what is wrong.
fn parse_rule(line: &str) -> Result<Vec<Pair>, String> {
    let mut pairs = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_{}".contains(c)))
            .ok_or(format!("no operator after {rest:?}"))?;
        let key = &rest[..key_end];
        if key.is_empty() || key.matches('{').count() != key.matches('}').count() {
            return Err(format!("bad key in {rest:?}"));
        }
        let after = &rest[key_end..];
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|op| after.starts_with(op))
            .ok_or(format!("bad operator in {after:?}"))?;
        let after = after[op.len()..]
            .strip_prefix('"')
            .ok_or(format!("value of {key} is not quoted"))?;
        let close = after
            .find('"')
            .ok_or(format!("unterminated value of {key}"))?;
        pairs.push(Pair {
            key: key.to_string(),
            op: op.to_string(),
            value: after[..close].to_string(),
        });
        rest = after[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(format!("expected ',' before {rest:?}"));
        }
    }
    Ok(pairs)
}

fn rules(file: &str) -> Vec<Vec<Pair>> {
    let path = format!("{}/udev/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| parse_rule(l).unwrap_or_else(|e| panic!("{path}: {e}: {l}")))
        .collect()
}

fn as_map(rule: &[Pair]) -> BTreeMap<String, (String, String)> {
    rule.iter()
        .map(|p| (p.key.clone(), (p.op.clone(), p.value.clone())))
        .collect()
}

/// A udev glob like `12[9a][0-9a-f]` against a product id (only the forms our rules use).
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut chars = text.chars();
    let mut p = pattern.chars().peekable();
    while let Some(c) = p.next() {
        let Some(t) = chars.next() else { return false };
        if c == '[' {
            let mut set = Vec::new();
            for s in p.by_ref() {
                if s == ']' {
                    break;
                }
                set.push(s);
            }
            let ok = set
                .windows(3)
                .any(|w| w[1] == '-' && (w[0]..=w[2]).contains(&t))
                || set.contains(&t);
            if !ok {
                return false;
            }
        } else if c != t {
            return false;
        }
    }
    chars.next().is_none()
}

#[test]
fn access_rule_matches_apple_usb_devices_and_grants_uaccess() {
    let rules = rules("70-iphone-import.rules");
    assert_eq!(rules.len(), 1, "one rule");
    let r = as_map(&rules[0]);
    assert_eq!(r["SUBSYSTEM"], ("==".into(), "usb".into()));
    assert_eq!(r["ENV{DEVTYPE}"], ("==".into(), "usb_device".into()));
    assert_eq!(r["ATTR{idVendor}"], ("==".into(), "05ac".into()));
    assert_eq!(r["TAG"], ("+=".into(), "uaccess".into()));
    let product = &r["ATTR{idProduct}"].1;
    // iPhone (12a8), iPad (12ab), iPod touch (129a...) match; Apple keyboards and the recovery
    // mode id do not.
    for id in ["12a8", "12ab", "129a", "12af"] {
        assert!(glob_matches(product, id), "{id} must match {product}");
    }
    for id in ["1281", "024f", "12b0", "12a"] {
        assert!(!glob_matches(product, id), "{id} must not match {product}");
    }
}

#[test]
fn pull_on_plug_example_starts_the_user_unit_for_apple_devices_only() {
    let rules = rules("71-iphone-import-pull.rules.example");
    assert_eq!(rules.len(), 1);
    let r = as_map(&rules[0]);
    assert_eq!(r["SUBSYSTEM"], ("==".into(), "usb".into()));
    assert_eq!(r["ACTION"], ("==".into(), "add".into()));
    assert_eq!(r["ATTR{idVendor}"], ("==".into(), "05ac".into()));
    assert_eq!(r["TAG"], ("+=".into(), "systemd".into()));
    let wants = &r["ENV{SYSTEMD_USER_WANTS}"].1;
    assert!(wants.starts_with("iphone-import-pull@"), "{wants}");
    let unit = format!(
        "{}/systemd/iphone-import-pull@.service",
        env!("CARGO_MANIFEST_DIR")
    );
    let unit = std::fs::read_to_string(unit).unwrap();
    assert!(unit.contains("ExecStart=") && unit.contains("pull"));
}

#[test]
fn the_parser_rejects_malformed_rules() {
    assert!(parse_rule(r#"SUBSYSTEM=="usb", ATTR{idVendor}=="05ac""#).is_ok());
    assert!(parse_rule(r#"SUBSYSTEM=="usb" ATTR{idVendor}=="05ac""#).is_err());
    assert!(parse_rule(r#"SUBSYSTEM==usb"#).is_err());
    assert!(parse_rule(r#"ATTR{idVendor=="05ac""#).is_err());
    assert!(parse_rule(r#"TAG+="uaccess"#).is_err());
}

#[test]
fn watch_user_unit_runs_watch_and_stops_with_sigterm() {
    let unit = format!(
        "{}/systemd/iphone-import-watch.service",
        env!("CARGO_MANIFEST_DIR")
    );
    let unit = std::fs::read_to_string(unit).unwrap();
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart");
    assert!(exec.ends_with("iphone-import watch"), "{exec}");
    assert!(unit.contains("KillSignal=SIGTERM"));
    assert!(unit.contains("WantedBy=default.target"));
}
