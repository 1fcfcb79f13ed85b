//! Which route reaches the phone (usbmuxd daemon, direct USB, or the in-process demo link), and
//! the device list every route reports the same way.

use std::collections::HashMap;

use super::DeviceStream;
use super::device_info::{DeviceInfo, TransportKind};
use super::driver::{MuxError, MuxHost, MuxOptions};
use super::link::Link;
use super::muxd::{MuxdClient, MuxdError};
use super::usb::{self, UsbError};

/// Which route the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportChoice {
    /// The usbmuxd daemon when its socket answers, else direct USB.
    Auto,
    Usb,
    Usbmuxd,
}

/// Why no stream to the phone could be had.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "no iPhone or iPad found ({route}). Connect it with a USB cable, unlock it, and check the cable carries data"
    )]
    NoDevice { route: &'static str },
    #[error("several devices are connected; pick one with --udid:\n{list}")]
    Ambiguous { list: String },
    #[error("no connected device has UDID {udid}; connected: {list}")]
    UnknownUdid { udid: String, list: String },
    #[error(transparent)]
    Muxd(#[from] MuxdError),
    #[error(transparent)]
    Usb(#[from] UsbError),
    #[error(transparent)]
    Mux(#[from] MuxError),
    /// The blocking USB scan's task panicked or was cancelled (a bug, not the phone).
    #[error(
        "the scan of USB devices stopped unexpectedly ({0}); run again, and report this if it repeats"
    )]
    ScanStopped(#[source] tokio::task::JoinError),
}

/// A route to phones: the usbmuxd daemon, our own mux over USB, or links handed in (the simulated
/// phone of `--demo` and tests). Every route gives the same `DeviceInfo` list and `DeviceStream`s.
pub struct Transport {
    route: Route,
    /// The handshake and connect waits of our own mux (direct USB).
    mux: MuxOptions,
}

enum Route {
    Muxd(MuxdClient),
    /// Direct USB: a mux host per phone, opened on first use.
    Usb(tokio::sync::Mutex<HashMap<String, (DeviceInfo, MuxHost)>>),
    /// Phones whose links already exist.
    Linked(Vec<(DeviceInfo, MuxHost)>),
}

impl Transport {
    /// Open the route the user chose. `Auto` asks the daemon first: when it runs, it holds the
    /// phones' USB interfaces and direct USB would only find them busy.
    pub async fn open(choice: TransportChoice) -> Result<Transport, TransportError> {
        let route = match choice {
            TransportChoice::Usbmuxd => Route::Muxd(MuxdClient::from_env()),
            TransportChoice::Usb => Route::Usb(Default::default()),
            TransportChoice::Auto => {
                let client = MuxdClient::from_env();
                if client.probe().await {
                    tracing::info!("usbmuxd answers at {}: using it", client.addr());
                    Route::Muxd(client)
                } else {
                    tracing::info!("no usbmuxd daemon answers: using USB directly");
                    Route::Usb(Default::default())
                }
            }
        };
        Ok(Transport {
            route,
            mux: MuxOptions::default(),
        })
    }

    /// A transport over links that already exist (one per phone), e.g. the in-process simulated
    /// iPhone. The mux handshake runs here.
    pub async fn from_links(links: Vec<(DeviceInfo, Link)>) -> Result<Transport, TransportError> {
        let mut linked = Vec::with_capacity(links.len());
        for (info, link) in links {
            linked.push((info, MuxHost::start(link).await?));
        }
        Ok(Transport {
            route: Route::Linked(linked),
            mux: MuxOptions::default(),
        })
    }

    /// How long the usbmuxd daemon may stay silent while a reply is outstanding; for direct USB,
    /// what our own mux's handshake and connect waits derive from (`MuxOptions::for_io_timeout`).
    pub fn set_io_timeout(&mut self, limit: std::time::Duration) {
        self.mux = MuxOptions::for_io_timeout(limit);
        if let Route::Muxd(client) = &mut self.route {
            client.set_io_timeout(limit);
        }
    }

    /// Which route this transport takes to the phone.
    pub fn kind(&self) -> TransportKind {
        match &self.route {
            Route::Muxd(_) => TransportKind::Usbmuxd,
            Route::Usb(_) => TransportKind::Usb,
            Route::Linked(devices) => devices
                .first()
                .map(|(info, _)| info.transport)
                .unwrap_or(TransportKind::Demo),
        }
    }

    /// The usbmuxd client, when that is the route (pair records live in the daemon then).
    pub fn muxd(&self) -> Option<&MuxdClient> {
        match &self.route {
            Route::Muxd(client) => Some(client),
            _ => None,
        }
    }

    /// Every phone this route reaches now.
    pub async fn list(&self) -> Result<Vec<DeviceInfo>, TransportError> {
        match &self.route {
            Route::Muxd(client) => Ok(client.list_devices().await?),
            Route::Usb(_) => Ok(tokio::task::spawn_blocking(usb::list_devices)
                .await
                .map_err(TransportError::ScanStopped)??),
            Route::Linked(devices) => Ok(devices.iter().map(|(info, _)| info.clone()).collect()),
        }
    }

    /// The phone to work with: the one given by `udid`, or the only one connected.
    pub(crate) async fn select(&self, udid: Option<&str>) -> Result<DeviceInfo, TransportError> {
        let devices = self.list().await?;
        pick_device(devices, udid, self.route_name())
    }

    fn route_name(&self) -> &'static str {
        match &self.route {
            Route::Muxd(_) => "through the usbmuxd daemon",
            Route::Usb(_) => "on USB",
            Route::Linked(_) => "in process",
        }
    }

    /// Open a byte stream to `port` on the phone.
    pub async fn connect(
        &self,
        device: &DeviceInfo,
        port: u16,
    ) -> Result<DeviceStream, TransportError> {
        match &self.route {
            Route::Muxd(client) => Ok(client.connect(device.device_id, port).await?),
            Route::Linked(devices) => {
                let (_, host) = devices
                    .iter()
                    .find(|(info, _)| info.udid == device.udid)
                    .ok_or_else(|| TransportError::UnknownUdid {
                        udid: device.udid.clone(),
                        list: list_udids(devices.iter().map(|(i, _)| i)),
                    })?;
                Ok(host.connect(port).await?)
            }
            Route::Usb(hosts) => {
                let mut hosts = hosts.lock().await;
                let alive = hosts
                    .get(&device.udid)
                    .is_some_and(|(_, host)| host.is_alive());
                if !alive {
                    let (link, info) = usb::open(Some(device.udid.clone())).await?;
                    let host = MuxHost::start_with(link, self.mux).await?;
                    hosts.insert(device.udid.clone(), (info, host));
                }
                let (_, host) = &hosts[&device.udid];
                Ok(host.connect(port).await?)
            }
        }
    }
}

fn list_udids<'a>(devices: impl Iterator<Item = &'a DeviceInfo>) -> String {
    let list: Vec<&str> = devices.map(|d| d.udid.as_str()).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Device selection, apart from I/O so it can be tested: an explicit UDID matches with or without
/// the dash and in any case; no UDID is fine only when exactly one device is connected.
pub(crate) fn pick_device(
    devices: Vec<DeviceInfo>,
    udid: Option<&str>,
    route: &'static str,
) -> Result<DeviceInfo, TransportError> {
    let normal = |s: &str| s.replace('-', "").to_ascii_uppercase();
    match udid {
        Some(want) => {
            let list = list_udids(devices.iter());
            devices
                .into_iter()
                .find(|d| normal(&d.udid) == normal(want))
                .ok_or(TransportError::UnknownUdid {
                    udid: want.to_string(),
                    list,
                })
        }
        None => match devices.len() {
            0 => Err(TransportError::NoDevice { route }),
            1 => Ok(devices.into_iter().next().expect("one device")),
            _ => Err(TransportError::Ambiguous {
                list: devices
                    .iter()
                    .map(|d| format!("  {} (product 0x{:04x})", d.udid, d.product_id))
                    .collect::<Vec<_>>()
                    .join("\n"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn dev(udid: &str) -> DeviceInfo {
        DeviceInfo {
            udid: udid.into(),
            device_id: 1,
            product_id: 0x12a8,
            connection_speed: None,
            location_id: None,
            transport: TransportKind::Demo,
        }
    }

    #[test]
    fn picks_the_only_device_or_explains() {
        let one = pick_device(vec![dev("A")], None, "on USB").unwrap();
        assert_eq!(one.udid, "A");
        let none = pick_device(vec![], None, "on USB").unwrap_err();
        assert!(none.to_string().contains("no iPhone"), "{none}");
        let two = pick_device(vec![dev("A"), dev("B")], None, "on USB").unwrap_err();
        let text = two.to_string();
        assert!(
            text.contains("--udid") && text.contains("A") && text.contains("B"),
            "{text}"
        );
    }

    #[test]
    fn udid_matches_with_or_without_dash_and_case() {
        let devices = vec![dev("00008030-001A2B3C4D5E802E"), dev("B")];
        let got = pick_device(devices.clone(), Some("00008030001a2b3c4d5e802e"), "x").unwrap();
        assert_eq!(got.udid, "00008030-001A2B3C4D5E802E");
        let err = pick_device(devices, Some("C"), "x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("C") && err.contains("00008030-001A2B3C4D5E802E"),
            "{err}"
        );
    }

    #[test]
    fn mux_waits_follow_the_io_timeout_and_never_drop_below_the_defaults() {
        use crate::usbmux::driver::{CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT};
        let secs = Duration::from_secs;
        // The default --io-timeout keeps the mux's defaults.
        assert_eq!(MuxOptions::for_io_timeout(secs(30)), MuxOptions::default());
        // A slow phone given more time gets it for VERSION and SYN too.
        let slow = MuxOptions::for_io_timeout(secs(120));
        assert_eq!(slow.handshake_timeout, secs(20));
        assert_eq!(slow.connect_timeout, secs(40));
        // A short --io-timeout does not make the mux impatient.
        let short = MuxOptions::for_io_timeout(secs(1));
        assert_eq!(short.handshake_timeout, HANDSHAKE_TIMEOUT);
        assert_eq!(short.connect_timeout, CONNECT_TIMEOUT);
    }

    #[tokio::test]
    async fn the_direct_usb_route_takes_its_mux_waits_from_the_io_timeout() {
        let mut transport = Transport::open(TransportChoice::Usb).await.unwrap();
        assert_eq!(transport.mux, MuxOptions::default());
        transport.set_io_timeout(Duration::from_secs(90));
        assert_eq!(
            transport.mux,
            MuxOptions::for_io_timeout(Duration::from_secs(90))
        );
        assert_eq!(transport.mux.connect_timeout, Duration::from_secs(30));
    }
}
