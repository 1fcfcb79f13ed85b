//! The one byte-stream type every upper layer speaks over, whatever carried it.

use tokio::io::{AsyncRead, AsyncWrite};

/// Anything that reads and writes bytes asynchronously and can move between tasks.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncStream for T {}

/// A connection to one service port on a phone (or, in the device role, from one host).
pub type DeviceStream = Box<dyn AsyncStream>;
