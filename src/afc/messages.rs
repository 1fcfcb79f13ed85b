//! The read-side AFC operations: host requests, replies (both roles encode and decode them),
//! and the structured answers (`FileInfo`, `DeviceInfo`) decoded from key/value lists.
//!
//! `HostRequest` can only express operations that leave the phone unchanged, and opens only in
//! read mode: the host role cannot write to the phone because it cannot say "write".

// missing_docs: pub for the fuzz targets and protocol tests; fields and variants carry the wire format's names.
#![allow(missing_docs)]

use bytes::{BufMut, Bytes, BytesMut};

use super::codec::{
    HEADER_LEN, Header, MAX_BODY_LEN, MAX_READ_LEN, Packet, body_u64, encode_packet,
    encode_payload_packet,
};
use super::error::AfcProtocolError;
use super::opcode::Opcode;
use super::status_code::AfcStatus;

/// FileRefOpen mode 1, "r" (O_RDONLY): the only mode the host ever sends.
pub(crate) const OPEN_MODE_READ: u64 = 1;

/// Where a seek offset counts from (values as on the wire: SEEK_SET/CUR/END).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whence {
    Start = 0,
    Current = 1,
    End = 2,
}

/// A request the host sends. Deliberately has no variant that modifies the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRequest<'a> {
    ReadDir {
        path: &'a str,
    },
    GetFileInfo {
        path: &'a str,
    },
    GetDeviceInfo,
    /// FileRefOpen, always in mode 1 (read only).
    OpenRead {
        path: &'a str,
    },
    Read {
        handle: u64,
        len: u64,
    },
    Seek {
        handle: u64,
        whence: Whence,
        offset: i64,
    },
    Tell {
        handle: u64,
    },
    Close {
        handle: u64,
    },
}

fn put_path(body: &mut BytesMut, path: &str) -> Result<(), AfcProtocolError> {
    if path.as_bytes().contains(&0) {
        return Err(AfcProtocolError::PathHasNul(path.to_string()));
    }
    body.put_slice(path.as_bytes());
    body.put_u8(0);
    Ok(())
}

impl HostRequest<'_> {
    pub(crate) fn opcode(&self) -> Opcode {
        match self {
            HostRequest::ReadDir { .. } => Opcode::ReadDir,
            HostRequest::GetFileInfo { .. } => Opcode::GetFileInfo,
            HostRequest::GetDeviceInfo => Opcode::GetDeviceInfo,
            HostRequest::OpenRead { .. } => Opcode::FileRefOpen,
            HostRequest::Read { .. } => Opcode::FileRefRead,
            HostRequest::Seek { .. } => Opcode::FileRefSeek,
            HostRequest::Tell { .. } => Opcode::FileRefTell,
            HostRequest::Close { .. } => Opcode::FileRefClose,
        }
    }

    /// The path the request names, for error messages.
    pub fn path(&self) -> Option<&str> {
        match self {
            HostRequest::ReadDir { path }
            | HostRequest::GetFileInfo { path }
            | HostRequest::OpenRead { path } => Some(path),
            _ => None,
        }
    }

    /// The most reply body the host accepts for this request; checked before allocating.
    pub(crate) fn max_reply_body(&self) -> usize {
        match self {
            // A read never returns more than was asked for.
            HostRequest::Read { len, .. } => (*len as usize).min(MAX_READ_LEN),
            _ => MAX_BODY_LEN,
        }
    }

    pub fn encode(&self, packet_num: u64) -> Result<Bytes, AfcProtocolError> {
        let mut body = BytesMut::new();
        match *self {
            HostRequest::ReadDir { path } | HostRequest::GetFileInfo { path } => {
                put_path(&mut body, path)?
            }
            HostRequest::GetDeviceInfo => {}
            HostRequest::OpenRead { path } => {
                body.put_u64_le(OPEN_MODE_READ);
                put_path(&mut body, path)?;
            }
            HostRequest::Read { handle, len } => {
                body.put_u64_le(handle);
                body.put_u64_le(len.min(MAX_READ_LEN as u64));
            }
            HostRequest::Seek {
                handle,
                whence,
                offset,
            } => {
                body.put_u64_le(handle);
                body.put_u64_le(whence as u64);
                body.put_i64_le(offset);
            }
            HostRequest::Tell { handle } | HostRequest::Close { handle } => body.put_u64_le(handle),
        }
        Ok(encode_packet(packet_num, self.opcode(), &body))
    }
}

/// A reply, as either role sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(AfcStatus),
    Data(Bytes),
    /// FILE_OPEN_RES: the new handle.
    FileOpened(u64),
    /// FILE_TELL_RES: the position.
    Position(u64),
    /// Any other operation in a reply: kept so the host can say what it got.
    Other(Opcode),
}

impl Reply {
    pub fn decode(packet: Packet) -> Result<Reply, AfcProtocolError> {
        let op = packet.operation;
        Ok(match op {
            Opcode::Status => Reply::Status(AfcStatus::from_code(body_u64(op, &packet.body, 0)?)),
            Opcode::Data => Reply::Data(packet.body),
            Opcode::FileRefOpenResult => Reply::FileOpened(body_u64(op, &packet.body, 0)?),
            Opcode::FileRefTellResult => Reply::Position(body_u64(op, &packet.body, 0)?),
            other => Reply::Other(other),
        })
    }

    /// Encode as a real phone does: STATUS, FILE_OPEN_RES and FILE_TELL_RES as 48-byte
    /// packets, DATA with this_length 40 (what both limd and pymobiledevice3 accept).
    pub fn encode(&self, packet_num: u64) -> Bytes {
        match self {
            Reply::Status(status) => {
                encode_packet(packet_num, Opcode::Status, &status.code().to_le_bytes())
            }
            Reply::Data(data) => encode_payload_packet(packet_num, Opcode::Data, data),
            Reply::FileOpened(handle) => {
                encode_packet(packet_num, Opcode::FileRefOpenResult, &handle.to_le_bytes())
            }
            Reply::Position(pos) => {
                encode_packet(packet_num, Opcode::FileRefTellResult, &pos.to_le_bytes())
            }
            Reply::Other(op) => encode_packet(packet_num, *op, &[]),
        }
    }
}

/// The header of a DATA reply carrying `payload_len` bytes, so a server can send the header
/// and a large payload buffer without concatenating them.
pub fn data_reply_header(packet_num: u64, payload_len: usize) -> [u8; HEADER_LEN] {
    let mut out = BytesMut::with_capacity(HEADER_LEN);
    Header {
        entire_length: (HEADER_LEN + payload_len) as u64,
        this_length: HEADER_LEN as u64,
        packet_num,
        operation: Opcode::Data,
    }
    .encode(&mut out);
    out[..].try_into().expect("header is 40 bytes")
}

/// Split a NUL-separated list (ReadDir names, GetFileInfo pairs). A missing final NUL is
/// tolerated; a name that is not UTF-8 is an error, never a lossy guess.
pub fn parse_list(body: &[u8], context: &'static str) -> Result<Vec<String>, AfcProtocolError> {
    let body = body.strip_suffix(&[0]).unwrap_or(body);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|b| *b == 0)
        .map(|item| {
            String::from_utf8(item.to_vec()).map_err(|_| AfcProtocolError::NotUtf8 { context })
        })
        .collect()
}

/// A NUL-separated list of names, each decoded lossily: one name that is not UTF-8 must not
/// cost the others (it keeps a U+FFFD, by which callers recognise and report it).
pub(crate) fn parse_list_lossy(body: &[u8]) -> Vec<String> {
    let body = body.strip_suffix(&[0]).unwrap_or(body);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|b| *b == 0)
        .map(|item| String::from_utf8_lossy(item).into_owned())
        .collect()
}

/// Encode a NUL-separated list (each item NUL-terminated), as the phone does.
pub fn encode_list<S: AsRef<str>>(items: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(item.as_ref().as_bytes());
        out.push(0);
    }
    out
}

/// Split a key\0value\0… list into pairs, in the phone's order.
pub fn parse_dict(
    body: &[u8],
    context: &'static str,
) -> Result<Vec<(String, String)>, AfcProtocolError> {
    let items = parse_list(body, context)?;
    if items.len() % 2 != 0 {
        return Err(AfcProtocolError::OddDictionary { context });
    }
    let mut it = items.into_iter();
    let mut pairs = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        pairs.push((k, v));
    }
    Ok(pairs)
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn number(pairs: &[(String, String)], key: &'static str) -> Result<Option<u64>, AfcProtocolError> {
    lookup(pairs, key)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| AfcProtocolError::BadNumber {
                    key,
                    value: crate::untrusted::text::for_terminal(v),
                })
        })
        .transpose()
}

fn required(pairs: &[(String, String)], key: &'static str) -> Result<u64, AfcProtocolError> {
    number(pairs, key)?.ok_or(AfcProtocolError::MissingKey(key))
}

/// What `st_ifmt` says a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Other(String),
}

impl FileKind {
    pub(crate) fn from_ifmt(s: &str) -> FileKind {
        match s {
            "S_IFREG" => FileKind::Regular,
            "S_IFDIR" => FileKind::Directory,
            "S_IFLNK" => FileKind::Symlink,
            other => FileKind::Other(other.to_string()),
        }
    }

    pub(crate) fn as_ifmt(&self) -> &str {
        match self {
            FileKind::Regular => "S_IFREG",
            FileKind::Directory => "S_IFDIR",
            FileKind::Symlink => "S_IFLNK",
            FileKind::Other(s) => s,
        }
    }
}

/// GetFileInfo, decoded. Times are nanoseconds since the Unix epoch, as the phone sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub st_size: u64,
    pub st_blocks: u64,
    pub st_nlink: u64,
    pub st_ifmt: FileKind,
    pub st_mtime_ns: u64,
    /// Absent on some file systems; then None.
    pub st_birthtime_ns: Option<u64>,
    pub link_target: Option<String>,
}

impl FileInfo {
    pub fn parse(body: &[u8]) -> Result<FileInfo, AfcProtocolError> {
        let pairs = parse_dict(body, "GetFileInfo")?;
        Ok(FileInfo {
            st_size: required(&pairs, "st_size")?,
            st_blocks: number(&pairs, "st_blocks")?.unwrap_or(0),
            st_nlink: number(&pairs, "st_nlink")?.unwrap_or(1),
            st_ifmt: FileKind::from_ifmt(
                lookup(&pairs, "st_ifmt").ok_or(AfcProtocolError::MissingKey("st_ifmt"))?,
            ),
            st_mtime_ns: required(&pairs, "st_mtime")?,
            st_birthtime_ns: number(&pairs, "st_birthtime")?,
            link_target: lookup(&pairs, "LinkTarget").map(str::to_string),
        })
    }

    /// Key/value pairs in the order a real phone sends them (all five numeric keys present,
    /// which pymobiledevice3 requires).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("st_size".to_string(), self.st_size.to_string()),
            ("st_blocks".to_string(), self.st_blocks.to_string()),
            ("st_nlink".to_string(), self.st_nlink.to_string()),
            ("st_ifmt".to_string(), self.st_ifmt.as_ifmt().to_string()),
            ("st_mtime".to_string(), self.st_mtime_ns.to_string()),
            (
                "st_birthtime".to_string(),
                self.st_birthtime_ns.unwrap_or(self.st_mtime_ns).to_string(),
            ),
        ];
        if let Some(target) = &self.link_target {
            pairs.push(("LinkTarget".to_string(), target.clone()));
        }
        pairs
    }

    pub fn is_dir(&self) -> bool {
        self.st_ifmt == FileKind::Directory
    }
}

/// GetDeviceInfo, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub model: String,
    pub fs_total_bytes: u64,
    pub fs_free_bytes: u64,
    pub fs_block_size: u64,
    /// Every pair as sent, including keys not decoded above.
    pub raw: Vec<(String, String)>,
}

impl DeviceInfo {
    pub fn parse(body: &[u8]) -> Result<DeviceInfo, AfcProtocolError> {
        let raw = parse_dict(body, "GetDeviceInfo")?;
        Ok(DeviceInfo {
            model: lookup(&raw, "Model").unwrap_or_default().to_string(),
            fs_total_bytes: required(&raw, "FSTotalBytes")?,
            fs_free_bytes: required(&raw, "FSFreeBytes")?,
            fs_block_size: required(&raw, "FSBlockSize")?,
            raw,
        })
    }

    pub fn to_pairs(&self) -> Vec<(String, String)> {
        vec![
            ("Model".to_string(), self.model.clone()),
            ("FSTotalBytes".to_string(), self.fs_total_bytes.to_string()),
            ("FSFreeBytes".to_string(), self.fs_free_bytes.to_string()),
            ("FSBlockSize".to_string(), self.fs_block_size.to_string()),
        ]
    }
}

/// Encode key/value pairs as a DATA body.
pub fn encode_dict(pairs: &[(String, String)]) -> Vec<u8> {
    let flat: Vec<&str> = pairs
        .iter()
        .flat_map(|(k, v)| [k.as_str(), v.as_str()])
        .collect();
    encode_list(&flat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::afc::codec::decode_packet;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn requests_match_captured_client_bytes() {
        // Bodies from transcripts/07 (pymobiledevice3) and 08 (ifuse).
        let open = HostRequest::OpenRead {
            path: "/DCIM/100APPLE/IMG_0001.JPG",
        }
        .encode(15)
        .unwrap();
        assert_eq!(open.len(), 76);
        assert!(hex(&open[40..]).starts_with("01000000000000002f4443494d2f3130304150504c452f49"));
        let read = HostRequest::Read {
            handle: 1,
            len: 0x0aae60,
        }
        .encode(16)
        .unwrap();
        assert_eq!(read.len(), 56);
        assert_eq!(hex(&read[40..]), "010000000000000060ae0a0000000000");
        let seek = HostRequest::Seek {
            handle: 1,
            whence: Whence::Start,
            offset: 0x20000,
        }
        .encode(10)
        .unwrap();
        assert_eq!(seek.len(), 64);
        assert_eq!(
            hex(&seek[40..]),
            "010000000000000000000000000000000000020000000000"
        );
        let close = HostRequest::Close { handle: 1 }.encode(17).unwrap();
        assert_eq!(hex(&close[40..]), "0100000000000000");
        assert_eq!(HostRequest::GetDeviceInfo.encode(1).unwrap().len(), 40);
    }

    #[test]
    fn host_opens_are_read_only_and_reads_are_capped() {
        let open = HostRequest::OpenRead { path: "x" }.encode(0).unwrap();
        assert_eq!(
            body_u64(Opcode::FileRefOpen, &open[40..], 0).unwrap(),
            OPEN_MODE_READ
        );
        let read = HostRequest::Read {
            handle: 3,
            len: u64::MAX,
        }
        .encode(0)
        .unwrap();
        assert_eq!(
            body_u64(Opcode::FileRefRead, &read[40..], 1).unwrap(),
            MAX_READ_LEN as u64
        );
    }

    #[test]
    fn no_host_request_can_change_the_phone() {
        // Every variant the host can build; the match makes a new variant a compile error here.
        let all = [
            HostRequest::ReadDir { path: "/" },
            HostRequest::GetFileInfo { path: "/" },
            HostRequest::GetDeviceInfo,
            HostRequest::OpenRead { path: "/x" },
            HostRequest::Read { handle: 1, len: 1 },
            HostRequest::Seek {
                handle: 1,
                whence: Whence::Start,
                offset: 0,
            },
            HostRequest::Tell { handle: 1 },
            HostRequest::Close { handle: 1 },
        ];
        for req in all {
            match req {
                HostRequest::ReadDir { .. }
                | HostRequest::GetFileInfo { .. }
                | HostRequest::GetDeviceInfo
                | HostRequest::OpenRead { .. }
                | HostRequest::Read { .. }
                | HostRequest::Seek { .. }
                | HostRequest::Tell { .. }
                | HostRequest::Close { .. } => {}
            }
            let packet = req.encode(0).unwrap();
            let op = Opcode::from_code(body_u64(Opcode::Unknown(0), &packet[32..40], 0).unwrap());
            assert_eq!(op, req.opcode());
            assert!(!op.changes_phone(), "{op}");
            if op == Opcode::FileRefOpen {
                assert_eq!(body_u64(op, &packet[40..], 0).unwrap(), OPEN_MODE_READ);
            }
        }
    }

    #[test]
    fn nul_in_a_path_is_refused() {
        assert!(matches!(
            HostRequest::GetFileInfo { path: "a\0b" }.encode(0),
            Err(AfcProtocolError::PathHasNul(_))
        ));
    }

    #[test]
    fn every_status_round_trips_through_a_reply() {
        for code in (0..=23u64).chain([24, 1000]) {
            let status = AfcStatus::from_code(code);
            let bytes = Reply::Status(status).encode(9);
            assert_eq!(bytes.len(), 48);
            let mut buf = BytesMut::from(&bytes[..]);
            let packet = decode_packet(&mut buf, MAX_BODY_LEN).unwrap().unwrap();
            assert_eq!(packet.packet_num, 9);
            assert_eq!(Reply::decode(packet).unwrap(), Reply::Status(status));
        }
    }

    #[test]
    fn replies_round_trip() {
        for reply in [
            Reply::Data(Bytes::from_static(b"abc")),
            Reply::Data(Bytes::new()),
            Reply::FileOpened(4),
            Reply::Position(1 << 40),
        ] {
            let mut buf = BytesMut::from(&reply.encode(3)[..]);
            let packet = decode_packet(&mut buf, MAX_BODY_LEN).unwrap().unwrap();
            assert_eq!(Reply::decode(packet).unwrap(), reply);
        }
        let header = data_reply_header(5, 3);
        assert_eq!(
            &header[..],
            &Reply::Data(Bytes::from_static(b"abc")).encode(5)[..40]
        );
    }

    #[test]
    fn short_status_body_is_an_error() {
        let bytes = encode_packet(1, Opcode::Status, &[0, 0]);
        let mut buf = BytesMut::from(&bytes[..]);
        let packet = decode_packet(&mut buf, MAX_BODY_LEN).unwrap().unwrap();
        assert!(matches!(
            Reply::decode(packet),
            Err(AfcProtocolError::ShortBody { .. })
        ));
    }

    #[test]
    fn lists_and_dicts_decode() {
        assert_eq!(
            parse_list(b".\0..\0DCIM\0", "ReadDir").unwrap(),
            vec![".", "..", "DCIM"]
        );
        assert_eq!(parse_list(b"a\0b", "ReadDir").unwrap(), vec!["a", "b"]);
        assert!(parse_list(b"", "ReadDir").unwrap().is_empty());
        assert_eq!(
            parse_list(b"ok\0\xff\xfe\0", "ReadDir"),
            Err(AfcProtocolError::NotUtf8 { context: "ReadDir" })
        );
        assert_eq!(
            parse_dict(b"k\0v\0", "x").unwrap(),
            vec![("k".to_string(), "v".to_string())]
        );
        assert_eq!(
            parse_dict(b"k\0v\0k2\0", "x"),
            Err(AfcProtocolError::OddDictionary { context: "x" })
        );
    }

    #[test]
    fn file_info_round_trips_and_checks_numbers() {
        let info = FileInfo {
            st_size: 12345,
            st_blocks: 32,
            st_nlink: 1,
            st_ifmt: FileKind::Regular,
            st_mtime_ns: 1_700_000_000_123_456_789,
            st_birthtime_ns: Some(1_600_000_000_000_000_000),
            link_target: None,
        };
        let body = encode_dict(&info.to_pairs());
        assert_eq!(FileInfo::parse(&body).unwrap(), info);
        assert_eq!(
            FileInfo::parse(b"st_size\0big\0st_ifmt\0S_IFREG\0st_mtime\x001\0"),
            Err(AfcProtocolError::BadNumber {
                key: "st_size",
                value: "big".into()
            })
        );
        assert_eq!(
            FileInfo::parse(b"st_ifmt\0S_IFREG\0"),
            Err(AfcProtocolError::MissingKey("st_size"))
        );
        let dev = DeviceInfo {
            model: "iPhone12,8".into(),
            fs_total_bytes: 64_000_000_000,
            fs_free_bytes: 1_000,
            fs_block_size: 4096,
            raw: vec![],
        };
        let parsed = DeviceInfo::parse(&encode_dict(&dev.to_pairs())).unwrap();
        assert_eq!(parsed.fs_free_bytes, 1_000);
        assert_eq!(parsed.model, "iPhone12,8");
    }
}
