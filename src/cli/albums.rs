//! `iphone-import albums`: the phone's user and shared albums, with folders as paths.

use unicode_width::UnicodeWidthStr;

use anyhow::Context;

use super::args::{GlobalArgs, JsonArgs};
use super::exit;
use super::pull::default_cache_dir;
use super::session::PhoneSession;
use super::stdout::outln;
use crate::afc::AfcClient;
use crate::library::albums::{AlbumLine, album_lines, shown};
use crate::library::{self, Inventory, InventoryOptions};

/// The phone's library, Photos.sqlite included (cached per phone like `pull` does).
pub(super) async fn read_inventory(
    session: &PhoneSession,
) -> anyhow::Result<(AfcClient, Inventory)> {
    let afc = session.afc().await?;
    let options = InventoryOptions {
        cache_dir: default_cache_dir(&session.device.udid),
        ..InventoryOptions::default()
    };
    let inventory = library::inventory(&afc, &options)
        .await
        .context("reading the phone's photo library")?;
    Ok((afc, inventory))
}

pub(super) async fn run(global: &GlobalArgs, args: &JsonArgs) -> anyhow::Result<u8> {
    let session = PhoneSession::open(global).await?;
    let result = read_inventory(&session).await;
    session.close().await;
    let (_afc, inventory) = result?;
    for w in &inventory.warnings {
        eprintln!("warning: {w}");
    }
    if inventory.db.is_none() {
        eprintln!(
            "error: the phone's photo database (Photos.sqlite) could not be read, so its albums are unknown"
        );
        return Ok(exit::ERROR);
    }
    let lines = album_lines(&inventory);
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "albums": lines }))?
        )?;
        return Ok(exit::OK);
    }
    if lines.is_empty() {
        outln!("No albums on this phone.")?;
        return Ok(exit::OK);
    }
    let label = |l: &AlbumLine| {
        if l.shared {
            format!("{} (shared)", shown(&l.path))
        } else {
            shown(&l.path)
        }
    };
    // Display columns, not chars: 東京 and 🌋 are two columns wide each.
    let width = lines.iter().map(|l| label(l).width()).max().unwrap_or(0);
    outln!(
        "{} album{} on this phone:",
        lines.len(),
        plural(lines.len())
    )?;
    for l in &lines {
        let name = label(l);
        let pad = " ".repeat(width.saturating_sub(name.width()));
        let mut extra = Vec::new();
        if l.not_on_phone > 0 {
            extra.push(format!("{} not on this phone", l.not_on_phone));
        }
        // Two albums with one path: the id is how `--album` tells them apart.
        let same_path = lines.iter().filter(|o| o.path == l.path).count() > 1;
        if let (true, Some(id)) = (same_path, &l.id) {
            extra.push(format!("id {}", shown(id)));
        }
        if l.in_recently_deleted > 0 {
            extra.push(format!("{} in Recently Deleted", l.in_recently_deleted));
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(" ({})", extra.join(", "))
        };
        outln!("  {name}{pad}  {} item{}{extra}", l.items, plural(l.items))?;
    }
    outln!(
        "Copy one with `iphone-import pull DEST --album NAME` (the title, the full path, or the id that `albums --json` lists)."
    )?;
    Ok(exit::OK)
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
