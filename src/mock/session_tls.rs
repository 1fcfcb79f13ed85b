//! How the simulated phone runs the TLS of its lockdown session: which versions it offers,
//! whether it writes records in bursts like a real phone, and faults for the host's error paths.

use std::str::FromStr;

use crate::lockdown::channel::Channel;

/// The TLS versions the phone offers for its lockdown session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsOffer {
    /// TLS 1.2 and 1.3 (the peer picks; rustls clients pick 1.3).
    #[default]
    Any,
    Tls12,
    Tls13,
    /// Only TLS 1.0, as an old iOS: answers the ClientHello with a TLS 1.0 ServerHello.
    Tls10,
}

static ONLY_TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
static ONLY_TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

impl TlsOffer {
    /// The rustls versions to serve with; `None` for TLS 1.0, which rustls cannot speak.
    pub(crate) fn rustls_versions(
        self,
    ) -> Option<&'static [&'static rustls::SupportedProtocolVersion]> {
        match self {
            TlsOffer::Any => Some(rustls::DEFAULT_VERSIONS),
            TlsOffer::Tls12 => Some(ONLY_TLS12),
            TlsOffer::Tls13 => Some(ONLY_TLS13),
            TlsOffer::Tls10 => None,
        }
    }
}

impl FromStr for TlsOffer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "any" => Ok(TlsOffer::Any),
            "1.2" => Ok(TlsOffer::Tls12),
            "1.3" => Ok(TlsOffer::Tls13),
            "1.0" => Ok(TlsOffer::Tls10),
            other => Err(format!(
                "unknown TLS version {other:?}: use 1.2, 1.3, any (both) or 1.0 (an old iOS)"
            )),
        }
    }
}

/// The phone's session TLS behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTls {
    pub offer: TlsOffer,
    /// Write records in bursts, as a real phone does: TLS 1.3 session tickets wait for the next
    /// reply, and the StopSession reply goes out with the phone's close_notify in one write.
    pub coalesce: bool,
    /// Hang up when the host's ClientHello arrives (a phone resetting the connection in the
    /// handshake, as one did on certificates a strict parser rejected).
    pub reset_in_handshake: bool,
    /// Hang up right after the StopSession reply (and, when coalescing, close_notify), before
    /// the host could answer the close_notify.
    pub hang_up_after_stop_session: bool,
}

impl Default for SessionTls {
    fn default() -> Self {
        SessionTls {
            offer: TlsOffer::Any,
            coalesce: true,
            reset_in_handshake: false,
            hang_up_after_stop_session: false,
        }
    }
}

/// Holds back what the phone would write on its own between replies, when coalescing.
#[derive(Default)]
pub(crate) struct Burst {
    held: Vec<u8>,
}

impl Burst {
    /// The bytes to write now. With `coalesce`, bytes produced without a reply inside an
    /// established TLS 1.3 session (session tickets) are held and go out with the next write.
    /// TLS 1.2's last handshake flight is never held: the host needs it to finish.
    pub(crate) fn outgoing(
        &mut self,
        coalesce: bool,
        channel: &Channel,
        out: Vec<u8>,
        replied: bool,
    ) -> Vec<u8> {
        let established_tls13 = channel.is_tls()
            && !channel.is_handshaking()
            && channel.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
        if coalesce && !replied && established_tls13 {
            self.held.extend(out);
            return Vec::new();
        }
        let mut all = std::mem::take(&mut self.held);
        all.extend(out);
        all
    }
}

/// A TLS 1.0 ServerHello (no extensions, TLS_RSA_WITH_AES_128_CBC_SHA): what a phone that only
/// speaks TLS 1.0 answers to a ClientHello.
pub(crate) fn tls10_server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend([0x5a; 32]); // server random
    body.extend([0x00, 0x00, 0x2f, 0x00]); // no session id, cipher suite, no compression
    let mut handshake = vec![0x02, 0x00, 0x00, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend(handshake);
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_offer_parses_the_cli_words() {
        assert_eq!("1.2".parse(), Ok(TlsOffer::Tls12));
        assert_eq!("1.3".parse(), Ok(TlsOffer::Tls13));
        assert_eq!("any".parse(), Ok(TlsOffer::Any));
        assert!("1.1".parse::<TlsOffer>().is_err());
    }
}
