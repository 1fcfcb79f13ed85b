//! Config precedence for `pull` and `watch`: built-in default < config file < IPHONE_IMPORT_*
//! variable < typed flag, seen both in `iphone-import config --json` and in where a real
//! `pull --demo` puts its files.

use std::path::Path;
use std::process::{Command, Output};

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new(config: Option<&str>) -> Env {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("config/iphone-import");
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(text) = config {
            std::fs::write(dir.join("config.toml"), text).unwrap();
        }
        Env { home }
    }

    fn cmd(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let p = self.home.path();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iphone-import"));
        cmd.args(args)
            .env("HOME", p)
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_CACHE_HOME", p.join("cache"))
            .env("XDG_DATA_HOME", p.join("data"));
        for (k, _) in std::env::vars() {
            if k.starts_with("IPHONE_IMPORT_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied()).output().unwrap()
    }

    fn path(&self, rel: &str) -> String {
        self.home.path().join(rel).to_string_lossy().into_owned()
    }
}

fn setting(json: &serde_json::Value, key: &str) -> (String, String) {
    let s = json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    (
        s["value"].as_str().unwrap_or("").to_string(),
        s["source"].as_str().unwrap().to_string(),
    )
}

fn config_json(env: &Env, vars: &[(&str, &str)]) -> serde_json::Value {
    let out = env.cmd(&["config", "--json"], vars);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn config_shows_each_value_with_its_source() {
    let env = Env::new(Some(
        "destination = \"/srv/photos\"\njobs = 2\nedited = true\n",
    ));
    let json = config_json(&env, &[("IPHONE_IMPORT_JOBS", "3")]);
    assert_eq!(json["file_exists"], true);
    assert_eq!(
        setting(&json, "destination"),
        ("/srv/photos".into(), "file".into())
    );
    assert_eq!(setting(&json, "jobs"), ("3".into(), "env".into()));
    assert_eq!(setting(&json, "edited"), ("true".into(), "file".into()));
    assert_eq!(
        setting(&json, "layout"),
        ("{year}/{month}/{name}".into(), "default".into())
    );

    // Without the file, everything is a default and destination is unset.
    let bare = Env::new(None);
    let json = config_json(&bare, &[]);
    assert_eq!(json["file_exists"], false);
    assert_eq!(setting(&json, "destination"), ("".into(), "default".into()));
    assert_eq!(setting(&json, "jobs"), ("4".into(), "default".into()));
}

fn imported_into(dir: &Path) -> bool {
    dir.join(".iphone-import").is_dir()
}

#[test]
fn destination_precedence_file_then_env_then_flag() {
    let env = Env::new(None);
    let (file_dest, env_dest, flag_dest) = (env.path("a"), env.path("b"), env.path("c"));
    std::fs::write(
        env.home.path().join("config/iphone-import/config.toml"),
        format!("destination = {file_dest:?}\nlayout = \"{{name}}\"\n"),
    )
    .unwrap();

    // File only.
    let out = env.cmd(&["--demo", "pull"], &[]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{out:?}");
    assert!(imported_into(Path::new(&file_dest)));
    // The file's layout applied: files directly under DEST.
    let flat = std::fs::read_dir(&file_dest)
        .unwrap()
        .flatten()
        .any(|e| e.file_type().unwrap().is_file());
    assert!(flat, "layout {{name}} from the file puts files at the top");

    // Env beats file.
    let out = env.cmd(&["--demo", "pull"], &[("IPHONE_IMPORT_DEST", &env_dest)]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{out:?}");
    assert!(imported_into(Path::new(&env_dest)));

    // Flag beats env and file; `--layout` typed beats the file's layout.
    let out = env.cmd(
        &["--demo", "pull", &flag_dest, "--layout", "x/{name}"],
        &[("IPHONE_IMPORT_DEST", &env_dest)],
    );
    assert!(matches!(out.status.code(), Some(0 | 3)), "{out:?}");
    assert!(imported_into(Path::new(&flag_dest)));
    assert!(Path::new(&flag_dest).join("x").is_dir());
}

#[test]
fn no_destination_anywhere_is_a_clear_error_before_touching_a_phone() {
    let env = Env::new(None);
    let out = env.cmd(&["--demo", "pull"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no destination"), "{err}");
    assert!(err.contains("IPHONE_IMPORT_DEST"), "{err}");
}

#[test]
fn bad_config_values_are_named() {
    let env = Env::new(Some("destinaton = \"/x\"\n"));
    let out = env.cmd(&["config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key `destinaton`"), "{err}");

    let env = Env::new(Some("jobs = \"many\"\n"));
    let err = String::from_utf8_lossy(&env.cmd(&["config"], &[]).stderr).into_owned();
    assert!(err.contains("`jobs` must be a number"), "{err}");

    let env = Env::new(None);
    let out = env.cmd(
        &["--demo", "pull", &env.path("d")],
        &[("IPHONE_IMPORT_JOBS", "0")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IPHONE_IMPORT_JOBS"), "{err}");
}

#[test]
fn also_jpeg_from_the_file_reaches_pull() {
    let env = Env::new(None);
    let (dest, jpeg) = (env.path("dest"), env.path("jpeg"));
    std::fs::write(
        env.home.path().join("config/iphone-import/config.toml"),
        format!("also_jpeg = {jpeg:?}\n"),
    )
    .unwrap();
    assert_eq!(
        setting(&config_json(&env, &[]), "also_jpeg"),
        (jpeg.clone(), "file".into())
    );
    // libheif made unavailable: the --also-jpeg pass says so, which it does only when the key
    // turned it on.
    let out = env.cmd(
        &["--demo", "pull", &dest],
        &[("IPHONE_IMPORT_LIBHEIF", "/nonexistent/libheif.so.1")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(text.contains("HEIC → JPEG needs libheif"), "{text}");
    assert!(imported_into(Path::new(&dest)));
}
