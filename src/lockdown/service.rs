//! Opening a named service on a phone (AFC, and any other lockdown service): StartService on a
//! paired session, a connection to the port it answers with, and TLS on that connection when
//! lockdown says EnableServiceSSL. Two steps, so a caller sharing one lockdown session among
//! several connections holds it only for StartService.

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::future::Future;
use std::time::Duration;

use super::client::{LockdownClient, PairingOptions, PairingProgress, ServiceEndpoint};
use super::error::LockdownError;
use super::records::PairRecord;
use super::tls_stream::TlsStream;
use super::unlock::start_service_when_unlocked;
use crate::usbmux::transport::TransportError;
use crate::usbmux::{DeviceInfo, DeviceStream, Transport};

/// Why a service could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("starting {service} on the phone")]
    Start {
        service: String,
        #[source]
        source: LockdownError,
    },
    #[error("connecting to {service} on port {port}")]
    Connect {
        service: String,
        port: u16,
        #[source]
        source: TransportError,
    },
    /// Shown as the handshake's own error, as before this module (a stall names the service
    /// and port); kept as the source so callers can tell a stall from other failures.
    #[error("{source}")]
    Tls {
        #[source]
        source: LockdownError,
    },
}

impl ServiceError {
    /// The phone ended the lockdown session (SessionInactive) before StartService: a new
    /// session may succeed.
    pub fn is_session_inactive(&self) -> bool {
        matches!(
            self,
            ServiceError::Start {
                source: LockdownError::Device {
                    error: super::error::DeviceError::SessionInactive,
                    ..
                },
                ..
            }
        )
    }
}

/// A service the phone started for us, not yet connected.
#[derive(Debug, Clone)]
pub struct StartedService {
    pub name: String,
    pub endpoint: ServiceEndpoint,
}

/// StartService `name` on `client`'s session, waiting (per `unlock`) for a phone that has not
/// been unlocked since it restarted.
pub async fn start<P, C>(
    client: &mut LockdownClient,
    name: &str,
    unlock: &PairingOptions,
    on_progress: P,
    cancel: C,
) -> Result<StartedService, ServiceError>
where
    P: FnMut(PairingProgress) + Send,
    C: Future<Output = ()> + Send,
{
    match start_service_when_unlocked(client, name, unlock, on_progress, cancel).await {
        Ok(endpoint) => Ok(StartedService {
            name: name.to_string(),
            endpoint,
        }),
        Err(source) => Err(ServiceError::Start {
            service: name.to_string(),
            source,
        }),
    }
}

impl StartedService {
    pub fn port(&self) -> u16 {
        self.endpoint.port
    }

    /// Connect to the service through `transport`, with TLS (the record's host certificate) when
    /// lockdown asked for it; the handshake may take `io_timeout`.
    pub async fn connect(
        &self,
        transport: &Transport,
        device: &DeviceInfo,
        record: &PairRecord,
        io_timeout: Duration,
    ) -> Result<DeviceStream, ServiceError> {
        let (service, port) = (&self.name, self.endpoint.port);
        let stream =
            transport
                .connect(device, port)
                .await
                .map_err(|source| ServiceError::Connect {
                    service: service.clone(),
                    port,
                    source,
                })?;
        if !self.endpoint.ssl {
            return Ok(stream);
        }
        let handshake = TlsStream::connect_service(stream, record);
        let tls = match tokio::time::timeout(io_timeout, handshake).await {
            Ok(done) => done,
            Err(_) => Err(LockdownError::Stalled {
                waiting_for: format!("the TLS handshake of {service} on port {port}"),
                secs: io_timeout.as_secs(),
            }),
        };
        Ok(Box::new(
            tls.map_err(|source| ServiceError::Tls { source })?,
        ))
    }
}
