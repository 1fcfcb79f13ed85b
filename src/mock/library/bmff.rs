//! ISO base media / QuickTime box (atom) builders shared by the HEIC and MOV writers.

/// A plain box: 32-bit size, 4CC, payload.
pub(super) fn plain(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&((8 + payload.len()) as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

/// A full box: version + 24-bit flags before the payload.
pub(super) fn full(kind: &[u8; 4], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + payload.len());
    body.push(version);
    body.extend_from_slice(&flags.to_be_bytes()[1..]);
    body.extend_from_slice(payload);
    plain(kind, &body)
}

/// A container box of other boxes.
pub(super) fn container(kind: &[u8; 4], children: &[Vec<u8>]) -> Vec<u8> {
    plain(kind, &children.concat())
}

/// `ftyp`: major brand, minor version 0, compatible brands.
pub(super) fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
    let mut p = major.to_vec();
    p.extend_from_slice(&0u32.to_be_bytes());
    for b in compatible {
        p.extend_from_slice(*b);
    }
    plain(b"ftyp", &p)
}

/// Big-endian concatenation helper for box payloads.
#[derive(Default)]
pub(super) struct Payload(pub Vec<u8>);

impl Payload {
    pub(super) fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub(super) fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(super) fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    pub(super) fn zeros(mut self, n: usize) -> Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    /// The identity transformation matrix (36 bytes).
    pub(super) fn unity_matrix(self) -> Self {
        self.u32(0x0001_0000)
            .u32(0)
            .u32(0)
            .u32(0)
            .u32(0x0001_0000)
            .u32(0)
            .u32(0)
            .u32(0)
            .u32(0x4000_0000)
    }
}
