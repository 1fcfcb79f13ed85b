//! User and shared albums from ZGENERICALBUM: kind 2 (user) and 1505 (shared), not trashed,
//! with their folder path built up the ZPARENTFOLDER chain.

use std::collections::HashMap;

use rusqlite::Connection;

use super::db_records::DbAlbum;
use super::db_rows::{Corrupt, for_rows, int, text};
use super::db_schema::{Schema, col};

/// Album nesting followed when building folder paths (guards against parent cycles).
const MAX_FOLDER_DEPTH: usize = 32;

pub(super) fn read_albums(conn: &Connection, schema: &Schema) -> Result<Vec<DbAlbum>, Corrupt> {
    const T: &str = "ZGENERICALBUM";
    if !schema.has(T, "Z_PK") || !schema.has(T, "ZKIND") {
        return Ok(Vec::new());
    }
    struct Row {
        kind: Option<i64>,
        title: Option<String>,
        parent: Option<i64>,
        trashed: bool,
        uuid: Option<String>,
    }
    let sql = format!(
        "SELECT a.Z_PK, a.ZKIND, {}, {}, {}, {} FROM {T} a",
        col(schema, T, "a", "ZTITLE"),
        col(schema, T, "a", "ZPARENTFOLDER"),
        col(schema, T, "a", "ZTRASHEDSTATE"),
        col(schema, T, "a", "ZUUID"),
    );
    let mut rows: HashMap<i64, Row> = HashMap::new();
    for_rows(conn, &sql, |r| {
        if let Some(pk) = int(r.get_ref(0)?) {
            rows.insert(
                pk,
                Row {
                    kind: int(r.get_ref(1)?),
                    title: text(r.get_ref(2)?),
                    parent: int(r.get_ref(3)?),
                    trashed: int(r.get_ref(4)?) == Some(1),
                    uuid: text(r.get_ref(5)?),
                },
            );
        }
        Ok(())
    })?;
    let mut albums = Vec::new();
    for (pk, row) in &rows {
        let Some(kind @ (2 | 1505)) = row.kind else {
            continue;
        };
        if row.trashed {
            continue;
        }
        // Folder titles up the ZPARENTFOLDER chain until the root (3999) or a missing parent.
        let mut parts = vec![row.title.clone().unwrap_or_else(|| "(untitled)".to_owned())];
        let mut parent = row.parent;
        let mut in_trash = false;
        for _ in 0..MAX_FOLDER_DEPTH {
            let Some(p) = parent.and_then(|p| rows.get(&p)) else {
                break;
            };
            if p.kind != Some(4000) {
                break;
            }
            in_trash |= p.trashed;
            parts.push(p.title.clone().unwrap_or_else(|| "(untitled)".to_owned()));
            parent = p.parent;
        }
        if in_trash {
            continue;
        }
        parts.reverse();
        let title = parts.pop().unwrap_or_default();
        let folders = parts;
        let path = folders
            .iter()
            .chain(std::iter::once(&title))
            .cloned()
            .collect::<Vec<_>>()
            .join("/");
        albums.push(DbAlbum {
            pk: *pk,
            uuid: row.uuid.clone(),
            kind,
            path,
            title,
            folders,
            shared: kind == 1505,
        });
    }
    albums.sort_by(|a, b| a.path.cmp(&b.path).then(a.pk.cmp(&b.pk)));
    Ok(albums)
}
