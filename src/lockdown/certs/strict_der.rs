//! Test-only strict DER check of an X.509 certificate (X.690 §10–11, RFC 5280 §4).
//!
//! x509-parser is lenient (it accepts an encoded DEFAULT), so the certificate tests walk the
//! encoding themselves: definite minimal lengths, canonical BOOLEAN, INTEGER and BIT STRING, no
//! DEFAULT value encoded (version v1, extension critical FALSE, BasicConstraints cA FALSE), and
//! KeyUsage without trailing zero bits. Extension values are checked the same way.

const MAX_DEPTH: usize = 32;
const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_VERSION: u8 = 0xa0;
const TAG_EXTENSIONS: u8 = 0xa3;
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];

type Tlv<'a> = (u8, &'a [u8], &'a [u8]);

/// One tag-length-value off the front of `input`: (tag, content, rest).
fn tlv(input: &[u8]) -> Result<Tlv<'_>, String> {
    let (&tag, rest) = input.split_first().ok_or("missing tag")?;
    if tag & 0x1f == 0x1f {
        return Err(format!("high tag number form in tag {tag:#04x}"));
    }
    let (&first, mut rest) = rest.split_first().ok_or("missing length")?;
    let len = match first {
        0..=0x7f => usize::from(first),
        0x80 => return Err("indefinite length".into()),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            if rest.len() < n {
                return Err("truncated length".into());
            }
            let (bytes, after) = rest.split_at(n);
            rest = after;
            if bytes[0] == 0 {
                return Err("length with a leading zero byte".into());
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
            if len < 0x80 {
                return Err(format!("long form for the short length {len}"));
            }
            len
        }
        _ => return Err(format!("length of {} bytes", first & 0x7f)),
    };
    if rest.len() < len {
        return Err(format!(
            "tag {tag:#04x}: {len} bytes announced, {} left",
            rest.len()
        ));
    }
    let (content, rest) = rest.split_at(len);
    Ok((tag, content, rest))
}

/// Every element of `input` (recursively into constructed ones) is canonical DER.
fn walk(mut input: &[u8], depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    while !input.is_empty() {
        let (tag, content, rest) = tlv(input)?;
        match tag {
            TAG_BOOLEAN if content != [0x00] && content != [0xff] => {
                return Err(format!("BOOLEAN encoded as {content:02x?}"));
            }
            TAG_INTEGER => match content {
                [] => return Err("empty INTEGER".into()),
                [0x00, next, ..] if next & 0x80 == 0 => {
                    return Err("INTEGER with a redundant leading 00".into());
                }
                [0xff, next, ..] if next & 0x80 != 0 => {
                    return Err("INTEGER with a redundant leading ff".into());
                }
                _ => {}
            },
            TAG_BIT_STRING => check_bit_string(content)?,
            _ if tag & 0x20 != 0 => walk(content, depth + 1)?,
            _ => {}
        }
        input = rest;
    }
    Ok(())
}

fn check_bit_string(content: &[u8]) -> Result<(), String> {
    let (&unused, bits) = content.split_first().ok_or("empty BIT STRING")?;
    if unused > 7 || (bits.is_empty() && unused != 0) {
        return Err(format!("BIT STRING with {unused} unused bits"));
    }
    if bits
        .last()
        .is_some_and(|last| last & ((1u8 << unused) - 1) != 0)
    {
        return Err("BIT STRING with unused bits set".into());
    }
    Ok(())
}

/// The elements of a SEQUENCE's content.
fn elements(mut content: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, value, rest) = tlv(content)?;
        out.push((tag, value));
        content = rest;
    }
    Ok(out)
}

/// Check one certificate; the error names the first rule broken.
pub(super) fn check_certificate(der: &[u8]) -> Result<(), String> {
    let (tag, cert, rest) = tlv(der)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return Err("not exactly one SEQUENCE".into());
    }
    walk(cert, 0)?;
    let (tag, tbs, _) = tlv(cert)?;
    if tag != TAG_SEQUENCE {
        return Err("no tbsCertificate".into());
    }
    for (tag, value) in elements(tbs)? {
        match tag {
            TAG_VERSION if value == [TAG_INTEGER, 1, 0] => {
                return Err("version v1 (the DEFAULT) encoded".into());
            }
            TAG_EXTENSIONS => {
                let (_, list, _) = tlv(value)?;
                for (_, extension) in elements(list)? {
                    check_extension(extension)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_extension(extension: &[u8]) -> Result<(), String> {
    let parts = elements(extension)?;
    let (oid, value) = match parts.as_slice() {
        [(_, oid), (TAG_OCTET_STRING, value)] => (*oid, *value),
        [(_, oid), (TAG_BOOLEAN, critical), (TAG_OCTET_STRING, value)] => {
            if *critical != [0xff] {
                return Err(format!(
                    "extension {oid:02x?}: critical FALSE (the DEFAULT) encoded"
                ));
            }
            (*oid, *value)
        }
        _ => return Err("malformed Extension".into()),
    };
    walk(value, 0).map_err(|e| format!("extension {oid:02x?}: {e}"))?;
    let (tag, inner, _) = tlv(value)?;
    if oid == OID_BASIC_CONSTRAINTS {
        if let Some((TAG_BOOLEAN, ca)) = elements(inner)?.first()
            && *ca != [0xff]
        {
            return Err("BasicConstraints: cA FALSE (the DEFAULT) encoded".into());
        }
    } else if oid == OID_KEY_USAGE {
        // A named bit list ends with a set bit (X.690 §11.2.2).
        let trailing_zeros = tag != TAG_BIT_STRING
            || inner.len() < 2
            || inner
                .last()
                .is_some_and(|last| last & (1u8 << inner[0]) == 0);
        if trailing_zeros {
            return Err("KeyUsage: trailing zero bits encoded".into());
        }
    }
    Ok(())
}
