//! The emulated TCP header on the wire: its 20-byte layout, the flag bits, and the window and
//! segment-size limits both roles use. A leaf: the connection and the table build on it.

use bytes::Bytes;

use crate::usbmux::error::MuxFrameError;

pub(crate) const TCP_HEADER_LEN: usize = 20;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub(crate) const ACK: u8 = 0x10;
/// Receive window both sides advertise (usbmuxd and rusbmux use 128 KiB).
pub(crate) const WINDOW: u32 = 131072;
/// Largest payload in one host segment: 49152 − 16 − 20.
pub(crate) const MAX_PAYLOAD: usize = 49116;
/// Data offset byte: 5 words, no options.
const DATA_OFFSET: u8 = 0x50;

/// The emulated TCP header (big-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// In units of 256 bytes.
    pub window: u16,
}

impl TcpHeader {
    pub fn to_bytes(&self) -> [u8; TCP_HEADER_LEN] {
        let mut b = [0u8; TCP_HEADER_LEN];
        b[0..2].copy_from_slice(&self.sport.to_be_bytes());
        b[2..4].copy_from_slice(&self.dport.to_be_bytes());
        b[4..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..12].copy_from_slice(&self.ack.to_be_bytes());
        b[12] = DATA_OFFSET;
        b[13] = self.flags;
        b[14..16].copy_from_slice(&self.window.to_be_bytes());
        b
    }

    /// Split a TCP packet payload into header and data.
    pub fn parse(mut packet: Bytes) -> Result<(TcpHeader, Bytes), MuxFrameError> {
        if packet.len() < TCP_HEADER_LEN {
            return Err(MuxFrameError::Malformed {
                what: "TCP segment (shorter than its 20-byte header)",
            });
        }
        let b = &packet[..];
        let hdr = TcpHeader {
            sport: u16::from_be_bytes([b[0], b[1]]),
            dport: u16::from_be_bytes([b[2], b[3]]),
            seq: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ack: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            flags: b[13],
            window: u16::from_be_bytes([b[14], b[15]]),
        };
        // Honour a data offset other than 5 words, but never one outside the packet.
        let offset = ((b[12] >> 4) as usize * 4).max(TCP_HEADER_LEN);
        if offset > packet.len() {
            return Err(MuxFrameError::Malformed {
                what: "TCP segment (data offset beyond its end)",
            });
        }
        let data = packet.split_off(offset);
        Ok((hdr, data))
    }

    pub(crate) fn window_bytes(&self) -> u32 {
        (self.window as u32) << 8
    }
}
