//! AFC packet framing (sans-I/O): the 40-byte little-endian header and whole packets.
//!
//! Framing is on `entire_length`; every length is checked against a limit before anything is
//! allocated from it, because the peer is untrusted (a phone for the host, a host for the mock).

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

use super::error::AfcProtocolError;
use super::opcode::Opcode;
use bytes::{BufMut, Bytes, BytesMut};

/// "CFA6LPAA" as it appears on the wire.
pub(crate) const MAGIC: [u8; 8] = *b"CFA6LPAA";
pub const HEADER_LEN: usize = 40;
// error.rs names the 40 in `ShortHeader`'s message (it does not import this module: no cycle).
const _: () = assert!(HEADER_LEN == 40);
/// The largest read a host asks for in one request (pymobiledevice3's MAXIMUM_READ_SIZE).
pub(crate) const MAX_READ_LEN: usize = 4 * 1024 * 1024;
/// The largest packet body either role accepts: twice the largest read, so a peer that answers
/// a little more generously still works, while a hostile length cannot make us allocate much.
pub const MAX_BODY_LEN: usize = 8 * 1024 * 1024;

/// The fixed part of every AFC packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Header + header data + payload.
    pub entire_length: u64,
    /// Header + header data.
    pub this_length: u64,
    pub packet_num: u64,
    pub operation: Opcode,
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

impl Header {
    /// Parse and validate a header; `max_body` bounds what the caller is prepared to receive.
    pub(crate) fn decode(buf: &[u8], max_body: usize) -> Result<Header, AfcProtocolError> {
        if buf.len() < HEADER_LEN {
            return Err(AfcProtocolError::ShortHeader { got: buf.len() });
        }
        let magic: [u8; 8] = buf[0..8].try_into().expect("8 bytes");
        if magic != MAGIC {
            return Err(AfcProtocolError::BadMagic(magic));
        }
        let entire_length = u64_at(buf, 8);
        let this_length = u64_at(buf, 16);
        let header = Header {
            entire_length,
            this_length,
            packet_num: u64_at(buf, 24),
            operation: Opcode::from_code(u64_at(buf, 32)),
        };
        if entire_length < HEADER_LEN as u64
            || this_length < HEADER_LEN as u64
            || this_length > entire_length
        {
            // Framing needs 40 <= this_length <= entire_length; anything else is not AFC.
            return Err(AfcProtocolError::BadLengths {
                entire: entire_length,
                this: this_length,
            });
        }
        let max_total = (HEADER_LEN + max_body) as u64;
        if entire_length > max_total {
            return Err(AfcProtocolError::TooLarge {
                len: entire_length,
                max: max_total,
            });
        }
        Ok(header)
    }

    /// Bytes that follow the header (header data + payload); validated by `decode`.
    pub(crate) fn body_len(&self) -> usize {
        (self.entire_length - HEADER_LEN as u64) as usize
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&MAGIC);
        out.put_u64_le(self.entire_length);
        out.put_u64_le(self.this_length);
        out.put_u64_le(self.packet_num);
        out.put_u64_le(self.operation.code());
    }
}

/// One whole packet. `body` is header data and payload together: readers of the read-side
/// operations never need the split (pymobiledevice3 puts everything in header data, limd
/// splits path and payload differently per operation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub packet_num: u64,
    pub operation: Opcode,
    pub body: Bytes,
}

/// Encode a packet with everything in header data (this_length = entire_length), as
/// pymobiledevice3 does for requests and both stacks accept.
pub fn encode_packet(packet_num: u64, operation: Opcode, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len());
    let len = (HEADER_LEN + body.len()) as u64;
    Header {
        entire_length: len,
        this_length: len,
        packet_num,
        operation,
    }
    .encode(&mut out);
    out.put_slice(body);
    out.freeze()
}

/// Encode a reply whose body is payload (this_length = 40), as a real phone does for DATA.
pub(crate) fn encode_payload_packet(packet_num: u64, operation: Opcode, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
    Header {
        entire_length: (HEADER_LEN + payload.len()) as u64,
        this_length: HEADER_LEN as u64,
        packet_num,
        operation,
    }
    .encode(&mut out);
    out.put_slice(payload);
    out.freeze()
}

/// Take one complete packet off the front of `buf`, if there is one. Validates the header as
/// soon as 40 bytes are present, so a bad or oversized packet fails before its body arrives.
pub fn decode_packet(
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<Option<Packet>, AfcProtocolError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let header = Header::decode(&buf[..HEADER_LEN], max_body)?;
    let total = header.entire_length as usize;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let mut packet = buf.split_to(total);
    let body = packet.split_off(HEADER_LEN).freeze();
    Ok(Some(Packet {
        packet_num: header.packet_num,
        operation: header.operation,
        body,
    }))
}

/// Read the little-endian u64 at `index` (in 8-byte words) of a body.
pub(crate) fn body_u64(op: Opcode, body: &[u8], index: usize) -> Result<u64, AfcProtocolError> {
    let at = index * 8;
    body.get(at..at + 8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or(AfcProtocolError::ShortBody {
            op,
            need: at + 8,
            got: body.len(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_matches_a_captured_request() {
        // pmd3 `afc ls` first request: READ_DIR #0, len 46, body "/DCIM\0".
        let bytes = encode_packet(0, Opcode::ReadDir, b"/DCIM\0");
        assert_eq!(bytes.len(), 46);
        assert_eq!(&bytes[..8], b"CFA6LPAA");
        let h = Header::decode(&bytes, MAX_BODY_LEN).unwrap();
        assert_eq!(
            h,
            Header {
                entire_length: 46,
                this_length: 46,
                packet_num: 0,
                operation: Opcode::ReadDir
            }
        );
        let mut buf = BytesMut::from(&bytes[..]);
        let p = decode_packet(&mut buf, MAX_BODY_LEN).unwrap().unwrap();
        assert_eq!(p.body.as_ref(), b"/DCIM\0");
        assert!(buf.is_empty());
    }

    #[test]
    fn packets_split_and_coalesced_arbitrarily_decode() {
        let a = encode_packet(1, Opcode::GetDeviceInfo, b"");
        let b = encode_payload_packet(2, Opcode::Data, &[7u8; 1000]);
        let all: Vec<u8> = [a.as_ref(), b.as_ref()].concat();
        for split in 0..all.len() {
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for part in [&all[..split], &all[split..]] {
                buf.extend_from_slice(part);
                while let Some(p) = decode_packet(&mut buf, MAX_BODY_LEN).unwrap() {
                    got.push(p);
                }
            }
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[1].body.len(), 1000);
        }
    }

    #[test]
    fn malformed_headers_are_clean_errors() {
        assert_eq!(
            Header::decode(&[0u8; 10], MAX_BODY_LEN),
            Err(AfcProtocolError::ShortHeader { got: 10 })
        );
        let mut bad = encode_packet(0, Opcode::ReadDir, b"x\0").to_vec();
        bad[0] = b'X';
        assert!(matches!(
            Header::decode(&bad, MAX_BODY_LEN),
            Err(AfcProtocolError::BadMagic(_))
        ));

        let mut short = encode_packet(0, Opcode::ReadDir, b"").to_vec();
        short[8..16].copy_from_slice(&39u64.to_le_bytes());
        assert!(matches!(
            Header::decode(&short, MAX_BODY_LEN),
            Err(AfcProtocolError::BadLengths { .. })
        ));

        let mut this_too_big = encode_packet(0, Opcode::ReadDir, b"").to_vec();
        this_too_big[16..24].copy_from_slice(&41u64.to_le_bytes());
        assert!(matches!(
            Header::decode(&this_too_big, MAX_BODY_LEN),
            Err(AfcProtocolError::BadLengths { .. })
        ));
    }

    #[test]
    fn huge_lengths_fail_before_any_allocation() {
        let mut huge = encode_packet(0, Opcode::Data, b"").to_vec();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        huge[16..24].copy_from_slice(&40u64.to_le_bytes());
        let mut buf = BytesMut::from(&huge[..]);
        let cap_before = buf.capacity();
        assert!(matches!(
            decode_packet(&mut buf, MAX_BODY_LEN),
            Err(AfcProtocolError::TooLarge { .. })
        ));
        assert_eq!(
            buf.capacity(),
            cap_before,
            "nothing reserved for a hostile length"
        );

        let just_over = (HEADER_LEN + MAX_BODY_LEN + 1) as u64;
        huge[8..16].copy_from_slice(&just_over.to_le_bytes());
        assert!(matches!(
            Header::decode(&huge, MAX_BODY_LEN),
            Err(AfcProtocolError::TooLarge { .. })
        ));
        huge[8..16].copy_from_slice(&(just_over - 1).to_le_bytes());
        assert!(Header::decode(&huge, MAX_BODY_LEN).is_ok());
    }

    #[test]
    fn body_words_are_bounds_checked() {
        let body = 5u64.to_le_bytes();
        assert_eq!(body_u64(Opcode::FileRefClose, &body, 0), Ok(5));
        assert!(matches!(
            body_u64(Opcode::FileRefRead, &body, 1),
            Err(AfcProtocolError::ShortBody { .. })
        ));
    }
}
