//! Reaching the phone from the command line: the transport the global options ask for (or the
//! simulated iPhone of `--demo`), a paired lockdown session, AFC connections, and the exit code
//! an error maps to.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Mutex;

use super::args::{GlobalArgs, TransportArg};
#[cfg(feature = "mock")]
use super::demo::DemoPhone;
use super::exit;
use crate::afc::{AfcClient, AfcError, ClientOptions};
use crate::import::pull::{AfcConnector, ConnectError, PullDevice};
use crate::lockdown::muxd_records::MuxdPairRecords;
use crate::lockdown::service::{ServiceError, StartedService};
use crate::lockdown::{
    self, LockdownClient, LockdownError, PairRecord, PairRecordStores, PairingOptions,
    PairingProgress, TRUST_PROMPT, UNLOCK_PROMPT, start_session_when_unlocked,
};
use crate::usbmux::muxd::MuxdError;
use crate::usbmux::transport::{TransportChoice, TransportError};
use crate::usbmux::{DeviceInfo, DeviceStream, LOCKDOWN_PORT, Transport};

/// The AFC service name (media folder access).
pub(super) const AFC_SERVICE: &str = "com.apple.afc";

/// A transport plus whatever must stay alive while it is used (the demo phone and its records).
pub(super) struct Reach {
    pub transport: Transport,
    #[cfg(feature = "mock")]
    demo: Option<DemoPhone>,
    /// `--io-timeout`: how long the phone may stay silent while an answer is due.
    pub io_timeout: Duration,
}

pub(super) async fn open(global: &GlobalArgs) -> anyhow::Result<Reach> {
    let io_timeout = Duration::from_secs(global.io_timeout);
    #[cfg(feature = "mock")]
    if global.demo {
        let (demo, transport) = DemoPhone::start()
            .await
            .context("starting the simulated iPhone")?;
        return Ok(Reach {
            transport,
            demo: Some(demo),
            io_timeout,
        });
    }
    let choice = match global.transport {
        TransportArg::Auto => TransportChoice::Auto,
        TransportArg::Usb => TransportChoice::Usb,
        TransportArg::Usbmuxd => TransportChoice::Usbmuxd,
    };
    let mut transport = Transport::open(choice).await?;
    transport.set_io_timeout(io_timeout);
    Ok(Reach {
        transport,
        #[cfg(feature = "mock")]
        demo: None,
        io_timeout,
    })
}

impl Reach {
    /// Where pair records for `device` are looked up and saved: usbmuxd first when that is the
    /// route, then /var/lib/lockdown, then our own store.
    pub(super) fn pair_records(&self, device: &DeviceInfo) -> anyhow::Result<PairRecordStores> {
        #[cfg(feature = "mock")]
        if let Some(demo) = &self.demo {
            return Ok(PairRecordStores::new(demo.records()));
        }
        let stores = PairRecordStores::default_locations()?;
        Ok(match self.transport.muxd() {
            Some(client) => stores.with_usbmuxd(Arc::new(MuxdPairRecords::new(
                client.clone(),
                device.device_id,
            ))),
            None => stores,
        })
    }

    /// A plain (unpaired) lockdown connection to `device`.
    pub(super) async fn lockdown(&self, device: &DeviceInfo) -> anyhow::Result<LockdownClient> {
        let stream = self.transport.connect(device, LOCKDOWN_PORT).await?;
        let mut client = LockdownClient::new(stream);
        client.set_io_timeout(self.io_timeout);
        client
            .query_type()
            .await
            .context("the phone's lockdown service did not answer")?;
        Ok(client)
    }
}

/// How the command line pairs: the timeout flag, the Trust prompt on stderr, Ctrl-C to stop.
pub(super) fn pairing_options(global: &GlobalArgs) -> PairingOptions {
    PairingOptions {
        timeout: Duration::from_secs(global.trust_timeout),
        ..Default::default()
    }
}

pub(super) fn show_progress(progress: PairingProgress) {
    match progress {
        PairingProgress::WaitingForTrust { polls: 1 } => {
            eprintln!("{TRUST_PROMPT} (waiting; Ctrl-C to stop)");
        }
        PairingProgress::WaitingForUnlock { polls: 1 } => {
            eprintln!("{UNLOCK_PROMPT} (waiting; Ctrl-C to stop)");
        }
        _ => {}
    }
}

pub(super) async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await
    }
}

/// A phone with a paired lockdown session: what every command that reads the phone needs.
pub(super) struct PhoneSession {
    pub reach: Reach,
    pub device: DeviceInfo,
    pub record: PairRecord,
    lockdown: Mutex<LockdownClient>,
    /// How long StartService waits for a phone locked since its restart (--trust-timeout).
    unlock: PairingOptions,
}

impl PhoneSession {
    /// Select the phone, and start a lockdown session, pairing first when this computer has no
    /// record for it (the same flow as `iphone-import pair`).
    pub(super) async fn open(global: &GlobalArgs) -> anyhow::Result<PhoneSession> {
        let reach = open(global).await?;
        let device = reach.transport.select(global.udid.as_deref()).await?;
        let stores = reach.pair_records(&device)?;
        let mut client = reach.lockdown(&device).await?;
        let unlock = pairing_options(global);
        let record = crate::lockdown::ensure_paired_session(
            &mut client,
            &stores,
            &device.udid,
            &unlock,
            show_progress,
            ctrl_c(),
        )
        .await?;
        Ok(PhoneSession {
            reach,
            device,
            record,
            lockdown: Mutex::new(client),
            unlock,
        })
    }

    /// Run `f` with the session's lockdown client.
    pub(super) async fn with_lockdown<T>(
        &self,
        f: impl AsyncFnOnce(&mut LockdownClient) -> Result<T, LockdownError>,
    ) -> Result<T, LockdownError> {
        let mut client = self.lockdown.lock().await;
        f(&mut client).await
    }

    /// A new AFC connection (StartService each time: every connection gets its own port).
    pub(super) async fn afc(&self) -> anyhow::Result<AfcClient> {
        let (stream, port) = self.start_service(AFC_SERVICE).await?;
        let options = ClientOptions {
            io_timeout: self.reach.io_timeout,
            // A StartService port where nothing answers is then named in the stall error.
            service: format!("{AFC_SERVICE} on port {port}"),
            ..ClientOptions::default()
        };
        Ok(AfcClient::with_options(stream, options))
    }

    /// Start `service` and connect to it (with TLS when the phone asks for it); and its port.
    /// The lockdown session is held for StartService only, so connections open in parallel.
    async fn start_service(&self, service: &str) -> anyhow::Result<(DeviceStream, u16)> {
        let started = self.start_service_endpoint(service).await?;
        let reach = &self.reach;
        let stream = started
            .connect(
                &reach.transport,
                &self.device,
                &self.record,
                reach.io_timeout,
            )
            .await?;
        Ok((stream, started.port()))
    }

    /// StartService, waiting for a phone locked since its restart. When the phone has ended the
    /// session (SessionInactive), one new lockdown connection and session replace the old ones
    /// and the request is made once more; a second refusal is reported.
    async fn start_service_endpoint(&self, service: &str) -> anyhow::Result<StartedService> {
        let mut client = self.lockdown.lock().await;
        match self.start_service_on(&mut client, service).await {
            Err(e) if e.is_session_inactive() => {
                tracing::info!("the phone ended the lockdown session; starting a new one");
                *client = self.new_session().await?;
                self.start_service_on(&mut client, service).await.context(
                    "the phone ended the lockdown session twice in a row; unplug and replug \
                         it and try again",
                )
            }
            other => Ok(other?),
        }
    }

    async fn start_service_on(
        &self,
        client: &mut LockdownClient,
        service: &str,
    ) -> Result<StartedService, ServiceError> {
        let pending = std::future::pending();
        lockdown::service::start(client, service, &self.unlock, show_progress, pending).await
    }

    /// A fresh lockdown connection with a session on this session's pair record.
    async fn new_session(&self) -> anyhow::Result<LockdownClient> {
        let mut client = self.reach.lockdown(&self.device).await?;
        start_session_when_unlocked(
            &mut client,
            &self.record,
            &self.unlock,
            show_progress,
            std::future::pending(),
        )
        .await?;
        Ok(client)
    }

    /// Who the import engine is talking to: the UDID and the name the owner gave the phone.
    pub(super) async fn pull_device(&self) -> PullDevice {
        let name = self
            .with_lockdown(async |c| c.get_value(None, Some("DeviceName")).await)
            .await
            .ok()
            .and_then(|v| v.as_string().map(str::to_string))
            .unwrap_or_else(|| "iPhone".to_string());
        PullDevice {
            udid: self.device.udid.clone(),
            name,
        }
    }

    /// End the session politely (close_notify both ways).
    pub(super) async fn close(self) {
        let mut client = self.lockdown.into_inner();
        if let Err(e) = client.stop_session().await {
            tracing::debug!("StopSession: {e}");
        }
    }
}

/// The import engine's source of AFC connections: one StartService per connection.
pub(super) struct SessionConnector(pub Arc<PhoneSession>);

impl AfcConnector for SessionConnector {
    fn connect(&self) -> futures::future::BoxFuture<'_, Result<AfcClient, ConnectError>> {
        Box::pin(async move { self.0.afc().await.map_err(ConnectError::from) })
    }
}

/// Closes the session if nobody else holds it any more.
pub(super) async fn close_shared(session: Arc<PhoneSession>) {
    if let Ok(session) = Arc::try_unwrap(session) {
        session.close().await;
    }
}

/// Exit codes scripts can tell apart: no phone, phone not trusted or locked, anything else.
pub(super) fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if is_stall(cause) {
            return exit::STALLED;
        }
        if let Some(TransportError::NoDevice { .. }) = cause.downcast_ref::<TransportError>() {
            return exit::NO_DEVICE;
        }
        if let Some(e) = cause.downcast_ref::<LockdownError>() {
            match e {
                LockdownError::PasswordProtected
                | LockdownError::LockedSinceRestart(_)
                | LockdownError::LockedAtPairing(_)
                | LockdownError::UserDeniedPairing
                | LockdownError::PairingTimedOut(_)
                | LockdownError::PairingNotAccepted { .. }
                | LockdownError::NotPaired { .. } => return exit::NOT_TRUSTED,
                LockdownError::PairingCancelled => return exit::INTERRUPTED,
                _ => {}
            }
        }
    }
    exit::ERROR
}

/// The phone or usbmuxd went silent for `--io-timeout` (exit code [`exit::STALLED`]).
pub(super) fn is_stall(cause: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        cause.downcast_ref::<LockdownError>(),
        Some(LockdownError::Stalled { .. })
    ) || matches!(
        cause.downcast_ref::<AfcError>(),
        Some(AfcError::Stalled { .. })
    ) || matches!(
        cause.downcast_ref::<MuxdError>(),
        Some(MuxdError::Stalled { .. })
    ) || matches!(
        cause.downcast_ref::<TransportError>(),
        Some(TransportError::Muxd(MuxdError::Stalled { .. }))
    )
}

/// The phone stayed locked since its restart for the whole wait (its advice differs from Trust's).
pub(super) fn locked_since_restart(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<LockdownError>(),
            Some(LockdownError::LockedSinceRestart(_))
        )
    })
}
