//! `iphone-import completions SHELL` and `iphone-import man`: generated from the real grammar.

use std::process::{Command, Stdio};

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
    let Ok(status) = Command::new("bash")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
    else {
        println!("SKIP: bash not installed");
        return;
    };
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iphone-import.bash");
    std::fs::write(&file, run(&["completions", "bash"])).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
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
    // Render with man(1) when it is there.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("iphone-import.1");
    std::fs::write(&file, &roff).unwrap();
    match Command::new("man")
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
        Err(_) => println!("SKIP: man not installed; checked the roff text only"),
    }
}
