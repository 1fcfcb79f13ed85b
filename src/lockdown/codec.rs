//! Lockdown framing: a u32 big-endian length, then a plist (XML or binary on input; we send XML).
//!
//! The length is checked against a limit before anything is allocated for the body: the phone is
//! untrusted, and so is the host when we play the phone.

use plist::{Dictionary, Value};

use super::error::LockdownFrameError;
use crate::untrusted::plist::{Limits, PlistError, decode_dict};

/// Largest lockdown message we accept. Real messages are a few KiB (the full GetValue dict,
/// a Pair request with three certificates).
pub(crate) const MAX_FRAME_LEN: usize = 1 << 20;

/// Encode one message as length + XML plist (what limd, pymobiledevice3 and iOS all send).
pub fn encode_frame(message: &Dictionary) -> Result<Vec<u8>, LockdownFrameError> {
    let mut body = Vec::with_capacity(512);
    plist::to_writer_xml(&mut body, &Value::Dictionary(message.clone()))
        .map_err(|e| LockdownFrameError::Encode(e.to_string()))?;
    let len = u32::try_from(body.len()).map_err(|_| LockdownFrameError::TooLong {
        len: body.len(),
        max: MAX_FRAME_LEN,
    })?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Take one complete message off the front of `buf`, if there is one. Leaves any following
/// bytes untouched (they may be the start of a TLS handshake).
pub fn decode_frame(
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<Option<Dictionary>, LockdownFrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > max {
        return Err(LockdownFrameError::TooLong { len, max });
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let limits = Limits {
        max_input: max,
        ..Limits::MESSAGE
    };
    let parsed = decode_dict(&buf[4..4 + len], &limits);
    buf.drain(..4 + len);
    match parsed {
        Ok(d) => Ok(Some(d)),
        Err(PlistError::NotADictionary) => Err(LockdownFrameError::NotADictionary),
        Err(e) => Err(LockdownFrameError::BadPlist(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Dictionary {
        let mut d = Dictionary::new();
        d.insert("Request".into(), "QueryType".into());
        d.insert("Label".into(), "test".into());
        d
    }

    #[test]
    fn round_trip_fed_one_byte_at_a_time() {
        let frame = encode_frame(&sample()).unwrap();
        assert_eq!(
            u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
        assert!(frame[4..].starts_with(b"<?xml"));
        let mut buf = Vec::new();
        for (i, b) in frame.iter().enumerate() {
            buf.push(*b);
            let got = decode_frame(&mut buf, MAX_FRAME_LEN).unwrap();
            if i + 1 < frame.len() {
                assert!(got.is_none(), "decoded early at byte {i}");
            } else {
                assert_eq!(got.unwrap(), sample());
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn two_frames_and_trailing_bytes_stay_separate() {
        let mut buf = encode_frame(&sample()).unwrap();
        buf.extend(encode_frame(&sample()).unwrap());
        buf.extend_from_slice(&[0x16, 0x03, 0x01]); // start of a ClientHello
        assert!(decode_frame(&mut buf, MAX_FRAME_LEN).unwrap().is_some());
        assert!(decode_frame(&mut buf, MAX_FRAME_LEN).unwrap().is_some());
        assert_eq!(buf, vec![0x16, 0x03, 0x01]);
        // Interpreted as a length this is huge: rejected without waiting for the body.
        buf.push(0);
        assert!(matches!(
            decode_frame(&mut buf, MAX_FRAME_LEN),
            Err(LockdownFrameError::TooLong { .. })
        ));
    }

    #[test]
    fn binary_plist_input_is_accepted() {
        let mut body = Vec::new();
        plist::to_writer_binary(&mut body, &Value::Dictionary(sample())).unwrap();
        let mut buf = (body.len() as u32).to_be_bytes().to_vec();
        buf.extend(body);
        assert_eq!(
            decode_frame(&mut buf, MAX_FRAME_LEN).unwrap().unwrap(),
            sample()
        );
    }

    #[test]
    fn oversize_length_is_rejected_before_the_body_arrives() {
        let mut buf = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
        match decode_frame(&mut buf, MAX_FRAME_LEN) {
            Err(LockdownFrameError::TooLong { len, max }) => {
                assert_eq!((len, max), (MAX_FRAME_LEN + 1, MAX_FRAME_LEN))
            }
            other => panic!("expected TooLong, got {other:?}"),
        }
    }

    #[test]
    fn garbage_and_non_dictionaries_are_typed_errors() {
        let mut buf = 5u32.to_be_bytes().to_vec();
        buf.extend_from_slice(b"\xff\x00zz\x01");
        assert!(matches!(
            decode_frame(&mut buf, MAX_FRAME_LEN),
            Err(LockdownFrameError::BadPlist(_))
        ));

        let mut body = Vec::new();
        plist::to_writer_xml(&mut body, &Value::String("hi".into())).unwrap();
        let mut buf = (body.len() as u32).to_be_bytes().to_vec();
        buf.extend(body);
        assert!(matches!(
            decode_frame(&mut buf, MAX_FRAME_LEN),
            Err(LockdownFrameError::NotADictionary)
        ));
    }
}
