//! Resume proves its prefix: before a temp file of an interrupted run is continued, some of its
//! kept bytes are compared with the phone's. A phone file that was replaced with one of the same
//! size and mtime (an edit saved back, a restore), or kept bytes that the disk lost or garbled
//! (power loss before they were synced), would otherwise give a splice: an old start and a new
//! end, hashed as one file into the ledger and called intact by every later `verify`.
//!
//! Checked: the [`WINDOW`] bytes just before the resume point (where a torn write shows), the
//! first window (headers, rewritten by every edit) and one in the middle. Any difference, or a
//! phone that cannot give those bytes, restarts the file from 0. The cost is at most three
//! small reads per *resumed* file; a file copied in one go is not touched. Bytes outside the
//! windows are not compared: a change confined to them goes unseen (`verify --deep` compares
//! whole files).

use crate::afc::{AfcClient, AfcError, Whence};

use super::safe_write::{Partial, SafeWriteError};

/// Bytes compared per window.
pub(crate) const WINDOW: u64 = 64 * 1024;

/// The windows `(start, len)` of a kept prefix `[0, offset)` that are compared: the one ending
/// at the resume point, the first, the middle one; clipped, without duplicates.
pub(crate) fn windows(offset: u64) -> Vec<(u64, u64)> {
    if offset == 0 {
        return Vec::new();
    }
    let tail = offset.saturating_sub(WINDOW);
    let mid = (offset / 2).saturating_sub(WINDOW / 2);
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(3);
    for start in [tail, 0, mid] {
        let len = WINDOW.min(offset - start);
        if !out.contains(&(start, len)) {
            out.push((start, len));
        }
    }
    out
}

/// Why the prefix was not kept.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Every window matched: resume from [`Partial::resume_offset`].
    Kept,
    /// Restarted from 0: the bytes differ at this offset (or the phone could not give them).
    Restarted { at: u64 },
}

/// Failures that stop the check (the phone is gone, or the temp file cannot be read).
#[derive(Debug)]
pub(crate) enum ProveError {
    Phone(AfcError),
    Dest(SafeWriteError),
}

/// Compares the windows of `partial`'s kept bytes with the phone's `device_path`, restarting
/// `partial` from 0 on any difference. Blocking file work runs on a blocking thread.
pub(crate) async fn prove_prefix(
    client: &AfcClient,
    device_path: &str,
    partial: Partial,
) -> Result<(Partial, Verdict), ProveError> {
    let offset = partial.resume_offset();
    let wins = windows(offset);
    let read = wins.clone();
    let (mut partial, kept) = tokio::task::spawn_blocking(move || {
        let kept: Result<Vec<Vec<u8>>, SafeWriteError> = read
            .iter()
            .map(|&(at, len)| partial.read_kept(at, len))
            .collect();
        (partial, kept)
    })
    .await
    .map_err(|e| ProveError::Dest(SafeWriteError::Source(std::io::Error::other(e))))?;
    let kept = kept.map_err(ProveError::Dest)?;
    let mut differs = None;
    for (&(at, len), local) in wins.iter().zip(&kept) {
        match read_window(client, device_path, at, len).await {
            Ok(remote) if remote == *local => {}
            Ok(_) => {
                differs = Some(at);
                break;
            }
            Err(e) if e.is_fatal() => return Err(ProveError::Phone(e)),
            // The copy that follows meets the same refusal and reports it.
            Err(_) => {
                differs = Some(at);
                break;
            }
        }
    }
    let Some(at) = differs else {
        return Ok((partial, Verdict::Kept));
    };
    let partial = tokio::task::spawn_blocking(move || partial.restart().map(|()| partial))
        .await
        .map_err(|e| ProveError::Dest(SafeWriteError::Source(std::io::Error::other(e))))?
        .map_err(ProveError::Dest)?;
    Ok((partial, Verdict::Restarted { at }))
}

/// `len` bytes of the phone's file at `at` (fewer if the file ends first).
async fn read_window(
    client: &AfcClient,
    path: &str,
    at: u64,
    len: u64,
) -> Result<Vec<u8>, AfcError> {
    let handle = client.open(path).await?;
    let read = async {
        client.seek(handle, Whence::Start, at as i64).await?;
        let mut out = Vec::with_capacity(len as usize);
        while (out.len() as u64) < len {
            let want = (len - out.len() as u64) as usize;
            let data = client.read(handle, want).await?;
            if data.is_empty() {
                break;
            }
            out.extend_from_slice(&data[..data.len().min(want)]);
        }
        Ok::<_, AfcError>(out)
    }
    .await;
    let closed = client.close(handle).await;
    let out = read?;
    closed?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_resume_point_the_start_and_the_middle() {
        assert!(windows(0).is_empty());
        assert_eq!(windows(1000), vec![(0, 1000)]);
        let w = windows(10 * WINDOW);
        assert_eq!(
            w,
            vec![
                (9 * WINDOW, WINDOW),
                (0, WINDOW),
                (5 * WINDOW - WINDOW / 2, WINDOW)
            ]
        );
        // Every window lies inside the kept prefix.
        for off in [1, WINDOW - 1, WINDOW, WINDOW + 1, 3 * WINDOW + 17] {
            for (start, len) in windows(off) {
                assert!(len > 0 && start + len <= off, "{off}: {start}+{len}");
            }
        }
    }
}
