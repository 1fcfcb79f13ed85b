//! Defaults for `pull` and `watch` from `$XDG_CONFIG_HOME/iphone-import/config.toml` and
//! `IPHONE_IMPORT_*` variables. Precedence: built-in default < file < environment < flag.
//! A flag counts only when typed (clap's value source), so PullArgs stays plain.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Serialize;

use super::args::PullArgs;
use super::stdout::outln;

/// One configurable key: its name in the file, its clap argument id, and its kind.
struct Key {
    name: &'static str,
    arg: &'static str,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Number,
    Flag,
}

const KEYS: &[Key] = &[
    Key {
        name: "destination",
        arg: "dest",
        kind: Kind::Text,
    },
    Key {
        name: "layout",
        arg: "layout",
        kind: Kind::Text,
    },
    Key {
        name: "jobs",
        arg: "jobs",
        kind: Kind::Number,
    },
    Key {
        name: "since",
        arg: "since",
        kind: Kind::Text,
    },
    Key {
        name: "until",
        arg: "until",
        kind: Kind::Text,
    },
    Key {
        name: "photos_only",
        arg: "photos_only",
        kind: Kind::Flag,
    },
    Key {
        name: "videos_only",
        arg: "videos_only",
        kind: Kind::Flag,
    },
    Key {
        name: "include_trashed",
        arg: "include_trashed",
        kind: Kind::Flag,
    },
    Key {
        name: "exclude_hidden",
        arg: "exclude_hidden",
        kind: Kind::Flag,
    },
    Key {
        name: "edited",
        arg: "edited",
        kind: Kind::Flag,
    },
    Key {
        name: "xmp",
        arg: "xmp",
        kind: Kind::Flag,
    },
    Key {
        name: "xmp_name",
        arg: "xmp_name",
        kind: Kind::Text,
    },
    Key {
        name: "also_jpeg",
        arg: "also_jpeg",
        kind: Kind::Text,
    },
    // A global option: applies to every command that talks to the phone (see `io_timeout`).
    Key {
        name: "io_timeout",
        arg: "io_timeout",
        kind: Kind::Number,
    },
];

/// Bounds of `--io-timeout` (seconds), as the flag's parser has them.
const IO_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    Default,
    File,
    Env,
    Flag,
}

/// One effective setting, as `iphone-import config` shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Setting {
    pub key: &'static str,
    /// `None` = not set anywhere (no default).
    pub value: Option<String>,
    pub source: Source,
    /// The variable that would set it.
    pub env: String,
}

/// The config file: `$XDG_CONFIG_HOME/iphone-import/config.toml` (or `~/.config/...`).
/// `IPHONE_IMPORT_CONFIG` names another file.
pub(crate) fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("IPHONE_IMPORT_CONFIG") {
        return Some(PathBuf::from(p));
    }
    dirs::config_dir().map(|d| d.join("iphone-import").join("config.toml"))
}

pub(crate) fn env_name(key: &str) -> String {
    match key {
        "destination" => "IPHONE_IMPORT_DEST".to_string(),
        other => format!("IPHONE_IMPORT_{}", other.to_ascii_uppercase()),
    }
}

/// The file's values as strings, checked against the known keys (a typo is an error, not
/// silently ignored).
fn read_file() -> anyhow::Result<Vec<(&'static str, String)>> {
    let Some(path) = config_path() else {
        return Ok(Vec::new());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let mut values = Vec::new();
    for (name, value) in &table {
        let Some(key) = KEYS.iter().find(|k| k.name == name) else {
            let known: Vec<_> = KEYS.iter().map(|k| k.name).collect();
            bail!(
                "{}: unknown key `{name}` (known: {})",
                path.display(),
                known.join(", ")
            );
        };
        let text = match (key.kind, value) {
            (Kind::Text, toml::Value::String(s)) => s.clone(),
            (Kind::Number, toml::Value::Integer(n)) => n.to_string(),
            (Kind::Flag, toml::Value::Boolean(b)) => b.to_string(),
            _ => bail!(
                "{}: `{name}` must be {}",
                path.display(),
                match key.kind {
                    Kind::Text => "a string",
                    Kind::Number => "a number",
                    Kind::Flag => "true or false",
                }
            ),
        };
        values.push((key.name, text));
    }
    Ok(values)
}

/// The effective settings. `matches` are the `pull`/`watch` arguments (None for `config`).
pub(crate) fn effective(matches: Option<&ArgMatches>) -> anyhow::Result<Vec<Setting>> {
    let file = read_file()?;
    let mut out = Vec::new();
    for key in KEYS {
        let env = env_name(key.name);
        let typed = matches
            .filter(|m| m.value_source(key.arg) == Some(ValueSource::CommandLine))
            .map(|m| flag_value(m, key));
        let (value, source) = if let Some(v) = typed {
            (Some(v), Source::Flag)
        } else if let Some(v) = std::env::var(&env).ok().filter(|v| !v.is_empty()) {
            (Some(v), Source::Env)
        } else if let Some((_, v)) = file.iter().find(|(n, _)| *n == key.name) {
            (Some(v.clone()), Source::File)
        } else {
            (builtin_default(key.name), Source::Default)
        };
        out.push(Setting {
            key: key.name,
            value,
            source,
            env,
        });
    }
    Ok(out)
}

fn flag_value(m: &ArgMatches, key: &Key) -> String {
    match key.kind {
        Kind::Flag => m.get_flag(key.arg).to_string(),
        Kind::Number if key.arg == "io_timeout" => m
            .get_one::<u64>(key.arg)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        Kind::Number => m
            .get_one::<u16>(key.arg)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        Kind::Text if key.arg == "dest" || key.arg == "also_jpeg" => m
            .get_one::<PathBuf>(key.arg)
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        Kind::Text => m.get_one::<String>(key.arg).cloned().unwrap_or_default(),
    }
}

fn builtin_default(key: &str) -> Option<String> {
    match key {
        "layout" => Some(crate::import::layout::DEFAULT_LAYOUT.to_string()),
        "jobs" => Some("4".into()),
        "io_timeout" => Some("30".into()),
        "photos_only" | "videos_only" | "include_trashed" | "exclude_hidden" | "edited" | "xmp" => {
            Some("false".into())
        }
        "xmp_name" => Some("full".into()),
        _ => None,
    }
}

fn parse_flag(key: &str, v: &str) -> anyhow::Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{key}: `{v}` is not true/false"),
    }
}

/// Fill `args` from the file and environment wherever no flag was typed.
pub(crate) fn apply(args: &mut PullArgs, matches: &ArgMatches) -> anyhow::Result<()> {
    for s in effective(Some(matches))? {
        if s.source == Source::Flag || s.source == Source::Default {
            continue;
        }
        let Some(v) = s.value else { continue };
        let from = match s.source {
            Source::Env => s.env.clone(),
            _ => format!("`{}` in the config file", s.key),
        };
        match s.key {
            "destination" => args.dest = Some(PathBuf::from(v)),
            "layout" => args.layout = v,
            "jobs" => {
                let n: u16 = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=crate::import::pull::MAX_JOBS as u16).contains(n))
                    .with_context(|| {
                        format!(
                            "{from}: jobs must be 1..={}, not `{v}`",
                            crate::import::pull::MAX_JOBS
                        )
                    })?;
                args.jobs = n;
            }
            "since" => args.since = Some(v),
            "until" => args.until = Some(v),
            "photos_only" => args.photos_only = parse_flag(&from, &v)?,
            "videos_only" => args.videos_only = parse_flag(&from, &v)?,
            "include_trashed" => args.include_trashed = parse_flag(&from, &v)?,
            "exclude_hidden" => args.exclude_hidden = parse_flag(&from, &v)?,
            "edited" => args.edited = parse_flag(&from, &v)?,
            "xmp" => args.xmp = parse_flag(&from, &v)?,
            "xmp_name" => args.xmp_name = v,
            "also_jpeg" => args.also_jpeg = Some(PathBuf::from(v)),
            _ => {}
        }
    }
    if args.photos_only && args.videos_only {
        bail!("photos_only and videos_only are both set (config file, environment or flags)");
    }
    Ok(())
}

/// `io_timeout` from the file or environment when `--io-timeout` was not typed. `matches` are
/// the top-level matches (the option is global).
pub(crate) fn io_timeout(matches: &ArgMatches) -> anyhow::Result<Option<u64>> {
    if matches.value_source("io_timeout") == Some(ValueSource::CommandLine) {
        return Ok(None);
    }
    let env = env_name("io_timeout");
    let (v, from) = match std::env::var(&env).ok().filter(|v| !v.is_empty()) {
        Some(v) => (v, env),
        None => match read_file()?.into_iter().find(|(n, _)| *n == "io_timeout") {
            Some((_, v)) => (v, "`io_timeout` in the config file".to_string()),
            None => return Ok(None),
        },
    };
    let secs = v
        .parse::<u64>()
        .ok()
        .filter(|n| IO_TIMEOUT_RANGE.contains(n))
        .with_context(|| {
            format!(
                "{from}: io_timeout must be {}..={} seconds, not `{v}`",
                IO_TIMEOUT_RANGE.start(),
                IO_TIMEOUT_RANGE.end()
            )
        })?;
    Ok(Some(secs))
}

/// Before reaching the phone: a destination must come from somewhere.
pub(crate) fn require_dest(args: &PullArgs) -> anyhow::Result<()> {
    if args.dest.is_none() {
        bail!(
            "no destination: give DEST, or set `destination` in {} or IPHONE_IMPORT_DEST (see `iphone-import config`)",
            config_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the config file".into())
        );
    }
    Ok(())
}

/// `iphone-import config [--json]`.
pub(crate) fn run(json: bool) -> anyhow::Result<u8> {
    let settings = effective(None)?;
    let path = config_path();
    if json {
        let v = serde_json::json!({
            "file": path.as_ref().map(|p| p.display().to_string()),
            "file_exists": path.as_ref().is_some_and(|p| p.exists()),
            "settings": settings,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        match &path {
            Some(p) if p.exists() => outln!("config file: {}", p.display())?,
            Some(p) => outln!("config file: {} (not present)", p.display())?,
            None => outln!("config file: none (no config directory)")?,
        }
        for s in &settings {
            let source = match s.source {
                Source::Default => "default".to_string(),
                Source::File => "file".to_string(),
                Source::Env => format!("env {}", s.env),
                Source::Flag => "flag".to_string(),
            };
            outln!(
                "{:<16} {:<40} ({source})",
                s.key,
                s.value.as_deref().unwrap_or("(not set)")
            )?;
        }
    }
    Ok(super::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_key_names_a_real_pull_and_watch_argument() {
        let cli = super::super::args::Cli::command();
        for sub in ["pull", "watch"] {
            let cmd = cli.find_subcommand(sub).expect(sub);
            for key in KEYS {
                assert!(
                    cmd.get_arguments().any(|a| a.get_id() == key.arg)
                        || cli
                            .get_arguments()
                            .any(|a| a.get_id() == key.arg && a.is_global_set()),
                    "{sub} has no argument {}",
                    key.arg
                );
            }
        }
    }

    #[test]
    fn typed_flags_are_told_apart_from_defaults() {
        let m = super::super::args::Cli::command()
            .try_get_matches_from(["iphone-import", "pull", "/d", "--jobs", "2", "--edited"])
            .unwrap();
        let (_, pull) = m.subcommand().unwrap();
        let typed: Vec<_> = KEYS
            .iter()
            .filter(|k| pull.value_source(k.arg) == Some(ValueSource::CommandLine))
            .map(|k| (k.name, flag_value(pull, k)))
            .collect();
        assert_eq!(
            typed,
            [
                ("destination", "/d".to_string()),
                ("jobs", "2".to_string()),
                ("edited", "true".to_string())
            ]
        );
    }

    #[test]
    fn flags_from_text() {
        for yes in ["1", "true", "YES", "on"] {
            assert!(parse_flag("k", yes).unwrap());
        }
        for no in ["0", "false", "No", "off"] {
            assert!(!parse_flag("k", no).unwrap());
        }
        assert!(parse_flag("k", "maybe").is_err());
        assert_eq!(env_name("destination"), "IPHONE_IMPORT_DEST");
        assert_eq!(env_name("include_trashed"), "IPHONE_IMPORT_INCLUDE_TRASHED");
    }
}
