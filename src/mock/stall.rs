//! Where the simulated phone stops answering, on demand (`iphone-mock serve --stall WHERE`):
//! for tests of the host's deadlines. A stalled peer stays connected and reads on, so the host
//! sees silence, not a closed connection. Each stall hits once, like a phone that recovers
//! after a replug, so a second run shows that the first one left nothing locked.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::AsyncRead;

use crate::mock::phone::ServiceFn;

/// One place to go silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// usbmuxd accepts connections and reads requests, but never answers.
    MuxdAccept,
    /// usbmuxd sends the first half of its ListDevices reply, then nothing.
    MuxdListHalfway,
    /// lockdownd never answers this request (QueryType, GetValue, StartSession, StartService…).
    LockdownRequest(String),
    /// lockdownd answers StartSession but never takes part in the TLS handshake.
    TlsHandshake,
    /// The AFC server stops answering after this many requests on a connection.
    AfcAfterRequests(u64),
    /// The AFC server stops answering at a read of this media-relative file once this many of
    /// its bytes were served (0: at the first read). Tests wait for the bytes, not a pace.
    AfcInFile(String, u64),
    /// StartService answers with a port where a silent service listens.
    WrongServicePort,
}

impl FromStr for Stall {
    type Err = String;

    fn from_str(s: &str) -> Result<Stall, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let stall = match (name, arg) {
            ("muxd-accept", None) => Stall::MuxdAccept,
            ("muxd-list", None) => Stall::MuxdListHalfway,
            ("lockdown", Some(request)) if !request.is_empty() => {
                Stall::LockdownRequest(request.to_string())
            }
            ("tls", None) => Stall::TlsHandshake,
            ("afc-after", Some(n)) => Stall::AfcAfterRequests(
                n.parse()
                    .map_err(|_| format!("afc-after:N needs a number, not `{n}`"))?,
            ),
            ("afc-read", Some(spec)) if !spec.is_empty() => afc_read(spec)?,
            ("wrong-port", None) => Stall::WrongServicePort,
            _ => {
                return Err(format!(
                    "unknown stall `{s}`: use muxd-accept, muxd-list, lockdown:REQUEST, tls, \
                     afc-after:N, afc-read:PATH[@BYTES] or wrong-port"
                ));
            }
        };
        Ok(stall)
    }
}

/// `PATH` or `PATH@BYTES` (the last `@` when a number follows it; paths may hold `@`).
fn afc_read(spec: &str) -> Result<Stall, String> {
    if let Some((path, at)) = spec.rsplit_once('@')
        && let Ok(at) = at.parse::<u64>()
        && !path.is_empty()
    {
        return Ok(Stall::AfcInFile(path.to_string(), at));
    }
    Ok(Stall::AfcInFile(spec.to_string(), 0))
}

/// The first connection accepts and never says a word; later ones reach `then`.
pub(crate) fn silent_once(then: ServiceFn) -> ServiceFn {
    let used = Arc::new(AtomicBool::new(false));
    Arc::new(move |mut stream| {
        if used.swap(true, Ordering::SeqCst) {
            then(stream)
        } else {
            Box::pin(async move { drain(&mut stream).await })
        }
    })
}

/// Read and discard until the peer gives up and closes.
pub(crate) async fn drain<R: AsyncRead + Unpin>(input: &mut R) {
    let _ = tokio::io::copy(input, &mut tokio::io::sink()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stall_parses_and_typos_are_explained() {
        assert_eq!("muxd-accept".parse(), Ok(Stall::MuxdAccept));
        assert_eq!("muxd-list".parse(), Ok(Stall::MuxdListHalfway));
        assert_eq!(
            "lockdown:GetValue".parse(),
            Ok(Stall::LockdownRequest("GetValue".into()))
        );
        assert_eq!("tls".parse(), Ok(Stall::TlsHandshake));
        assert_eq!("afc-after:3".parse(), Ok(Stall::AfcAfterRequests(3)));
        assert_eq!(
            "afc-read:DCIM/100APPLE/IMG_0001.JPG".parse(),
            Ok(Stall::AfcInFile("DCIM/100APPLE/IMG_0001.JPG".into(), 0))
        );
        assert_eq!(
            "afc-read:DCIM/100APPLE/IMG_9000.MOV@1048576".parse(),
            Ok(Stall::AfcInFile(
                "DCIM/100APPLE/IMG_9000.MOV".into(),
                1 << 20
            ))
        );
        assert_eq!(
            "afc-read:DCIM/a@b.JPG".parse(),
            Ok(Stall::AfcInFile("DCIM/a@b.JPG".into(), 0))
        );
        assert_eq!("wrong-port".parse(), Ok(Stall::WrongServicePort));
        for bad in ["", "lockdown", "lockdown:", "afc-after:x", "tls:1", "nope"] {
            assert!(bad.parse::<Stall>().is_err(), "{bad}");
        }
    }
}
