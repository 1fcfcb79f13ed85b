//! `iphone-import completions SHELL` and `iphone-import man`: generated from the real grammar.

mod common;

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_iphone-import"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_generate_for_bash_zsh_and_fish() {
    let bash = run(&["completions", "bash"]);
    assert!(bash.contains("complete -F _iphone-import") || bash.contains("_iphone__import"));
    let zsh = run(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef iphone-import"), "{}", &zsh[..40]);
    let fish = run(&["completions", "fish"]);
    assert!(fish.contains("complete -c iphone-import"));
    for script in [&bash, &zsh, &fish] {
        for word in ["watch", "pull", "include-trashed", "transport"] {
            assert!(script.contains(word), "{word} missing");
        }
    }
}

#[test]
fn bash_completion_script_is_valid_bash() {
    let Some(bash) = common::peer("bash") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iphone-import.bash");
    std::fs::write(&file, run(&["completions", "bash"])).unwrap();
    let check = Command::new(bash).arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn man_page_renders_with_every_command() {
    let roff = run(&["man"]);
    assert!(roff.contains(".TH iphone-import"), "a roff title");
    for page in [
        "iphone-import-pull",
        "iphone-import-watch",
        "iphone-import-config",
    ] {
        assert!(roff.contains(&format!(".TH {page}")), "{page} section");
    }
    // Render with man(1): a missing man skips loudly, and fails under REQUIRE_INTEROP=1.
    let Some(man) = common::peer("man") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iphone-import.1");
    std::fs::write(&file, &roff).unwrap();
    match Command::new(man)
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("SYNOPSIS"), "{text}");
            assert!(text.contains("--no-notify"), "watch options rendered");
        }
        Ok(out) => panic!("man -l failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!("man -l could not run: {e}"),
    }
}

/// `-q pull` (the cron form in docs/scripting.md) prints no line per copied file: the failures
/// (the demo phone's iCloud-only originals) and the summary only; without `-q`, every file.
#[test]
fn quiet_pull_prints_failures_and_the_summary_only() {
    let home = tempfile::tempdir().unwrap();
    let pull = |quiet: bool, dest: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iphone-import"));
        if quiet {
            cmd.arg("-q");
        }
        let out = cmd
            .args(["--demo", "pull"])
            .arg(home.path().join(dest))
            .env("HOME", home.path())
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let loud = pull(false, "loud");
    let quiet = pull(true, "quiet");
    let count = |text: &str, prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
    assert!(count(&loud, "copied ") > 10, "{loud}");
    assert_eq!(count(&quiet, "copied "), 0, "{quiet}");
    assert_eq!(count(&quiet, "failed "), count(&loud, "failed "));
    assert!(count(&quiet, "failed ") > 0);
    assert!(
        quiet.lines().any(|l| l.contains("files copied")),
        "no summary: {quiet}"
    );
    assert!(quiet.lines().count() < 15, "{quiet}");
    // Both imported the same files.
    let files = |d: &str| {
        walk(&home.path().join(d))
            .into_iter()
            .filter(|p| !p.starts_with(".iphone-import"))
            .collect::<Vec<_>>()
    };
    assert_eq!(files("loud"), files("quiet"));
}

/// Relative paths of every file under `root`, sorted.
fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// `iphone-import ls -R | head` closes the pipe before ls has said everything: ls stops quietly
/// with exit 0 (as ripgrep does), neither panicking nor reporting an error. The pipe's reading
/// end is closed before the child writes anything, so its first write meets a closed pipe.
#[test]
fn a_reader_that_goes_away_ends_listings_quietly_with_exit_0() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["--demo", "ls", "-R", "/DCIM"][..],
        &["--demo", "albums"][..],
        &["--demo", "info"][..],
        &["--demo", "status"][..],
    ] {
        let out = with_closed_stdout(home.path(), args.iter().map(std::ffi::OsStr::new));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("error"), "{args:?}: {stderr}");
    }
}

/// Runs iphone-import in a private HOME with a stdout whose reader is already gone.
fn with_closed_stdout<'a>(
    home: &std::path::Path,
    args: impl IntoIterator<Item = &'a std::ffi::OsStr>,
) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_iphone-import"))
        .args(args)
        .stdout(writer)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .output()
        .unwrap()
}

/// `pull` and `status --html` do their whole job for a reader that went away: the pull imports
/// everything and exits with its own code (3: the demo phone's iCloud-only originals), the
/// report is written; neither panics.
#[test]
fn a_reader_that_goes_away_costs_no_import_and_no_report() {
    let home = tempfile::tempdir().unwrap();
    let dest = home.path().join("dest");
    let report = home.path().join("report.html");
    let run_closed =
        |args: &[&std::ffi::OsStr]| with_closed_stdout(home.path(), args.iter().copied());
    let pulled = run_closed(&["--demo".as_ref(), "pull".as_ref(), dest.as_os_str()]);
    let stderr = String::from_utf8_lossy(&pulled.stderr);
    assert_eq!(pulled.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let again = Command::new(env!("CARGO_BIN_EXE_iphone-import"))
        .args(["--demo", "pull", "--json"])
        .arg(&dest)
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&again.stdout);
    assert!(
        summary.contains("\"files_to_copy\":0"),
        "the first run imported everything readable: {summary}"
    );

    let status = run_closed(&[
        "--demo".as_ref(),
        "status".as_ref(),
        "--html".as_ref(),
        report.as_os_str(),
        dest.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let page = std::fs::read_to_string(&report).expect("the report was written");
    assert!(page.contains("<html"), "{page}");
}
