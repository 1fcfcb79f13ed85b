//! The simulated iPhone's usbmuxd-compatible front: real clients (libimobiledevice tools,
//! ifuse, pymobiledevice3) and our own `muxd` client reach the phone through it, exactly as
//! they would reach a real phone through the usbmuxd daemon.
//!
//! It speaks the daemon role of `usbmux::muxd_proto`: plist requests (answered with XML plists,
//! tag echoed) and the binary Listen/Connect of version-0 clients. A successful Connect hands
//! the raw socket to `SimulatedPhone::accept`. Pair records live in memory, or as
//! `<UDID>.plist` files in a state directory.
//!
//! Split by concept: this file holds the front's daemon state (the phones it reports, its BUID,
//! records and listeners) and the calls that change what it reports; `serve` the sockets and
//! requests; `store` the BUID and pair records on disk or in memory. The public items stay at
//! `mock::muxd_server::X`.

mod serve;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use plist::Dictionary;
use tokio::sync::broadcast;

use crate::mock::phone::SimulatedPhone;
use crate::mock::stall::Stall;
use crate::usbmux::muxd_proto::{DeviceEvent, DeviceRecord};

use store::{PairRecordStore, load_or_create_buid, new_buid};

/// First DeviceID handed out; usbmuxd counts from 1 as well.
const FIRST_DEVICE_ID: u32 = 1;

/// How the front is set up.
#[derive(Debug, Clone, Default)]
pub struct MuxdServerConfig {
    /// The BUID ReadBUID reports. Default: the one saved in `state_dir`, else a fresh random one.
    pub buid: Option<String>,
    /// Persist pair records (and the BUID) here; in memory only when `None`.
    pub state_dir: Option<PathBuf>,
    /// Go silent here (`Stall::MuxdAccept`, `Stall::MuxdListHalfway`); other stalls are ignored.
    pub stall: Option<Stall>,
}

/// One phone as the front reports it.
struct Attached {
    device_id: u32,
    location_id: u32,
    phone: Arc<SimulatedPhone>,
    /// False while "unplugged" ([`MuxdServer::toggle_plugged`]): not listed, not connectable.
    plugged: std::sync::atomic::AtomicBool,
}

/// The usbmuxd-compatible front for a set of simulated phones.
pub struct MuxdServer {
    devices: Vec<Attached>,
    buid: String,
    records: PairRecordStore,
    events: broadcast::Sender<DeviceEvent>,
    /// Listen connections, for ListListeners.
    listeners: Mutex<BTreeMap<u64, Dictionary>>,
    next_listener: AtomicU64,
    stall: Option<Stall>,
    /// Stalls hit once: set when the one stalled connection has happened.
    stall_used: std::sync::atomic::AtomicBool,
}

impl MuxdServer {
    /// A front for `phones`, numbered from DeviceID 1 in order.
    pub fn new(
        phones: Vec<Arc<SimulatedPhone>>,
        config: MuxdServerConfig,
    ) -> io::Result<Arc<MuxdServer>> {
        if let Some(dir) = &config.state_dir {
            std::fs::create_dir_all(dir)?;
        }
        let buid = match (config.buid, &config.state_dir) {
            (Some(buid), _) => buid,
            (None, Some(dir)) => load_or_create_buid(dir)?,
            (None, None) => new_buid(),
        };
        let devices = phones
            .into_iter()
            .zip(FIRST_DEVICE_ID..)
            .map(|(phone, device_id)| Attached {
                device_id,
                location_id: 0x0112_0000 + device_id,
                phone,
                plugged: std::sync::atomic::AtomicBool::new(true),
            })
            .collect();
        let (events, _) = broadcast::channel(64);
        Ok(Arc::new(MuxdServer {
            devices,
            buid,
            records: PairRecordStore {
                dir: config.state_dir,
                memory: Mutex::new(HashMap::new()),
            },
            events,
            listeners: Mutex::new(BTreeMap::new()),
            next_listener: AtomicU64::new(1),
            stall: config.stall,
            stall_used: Default::default(),
        }))
    }

    /// The BUID this front reports.
    pub fn buid(&self) -> &str {
        &self.buid
    }

    /// Simulate pulling every phone's cable out, or plugging it back in: Listen clients see
    /// Detached / Attached (same DeviceID again), ListDevices and Connect follow. Connections
    /// already open are left alone. Returns whether the phones are now plugged in.
    pub(crate) fn toggle_plugged(&self) -> bool {
        let mut now_plugged = true;
        for d in &self.devices {
            let was = d.plugged.fetch_xor(true, Ordering::SeqCst);
            now_plugged = !was;
        }
        let events: Vec<DeviceEvent> = if now_plugged {
            self.device_records()
                .into_iter()
                .map(DeviceEvent::Attached)
                .collect()
        } else {
            self.devices
                .iter()
                .map(|d| DeviceEvent::Detached {
                    device_id: d.device_id,
                })
                .collect()
        };
        for e in events {
            // Nobody listening is fine.
            let _ = self.events.send(e);
        }
        now_plugged
    }

    /// The devices as ListDevices reports them.
    pub(crate) fn device_records(&self) -> Vec<DeviceRecord> {
        self.devices
            .iter()
            .filter(|d| d.plugged.load(Ordering::SeqCst))
            .map(|d| DeviceRecord {
                device_id: d.device_id,
                serial_number: d.phone.identity.udid.clone(),
                product_id: d.phone.identity.product_id,
                location_id: Some(d.location_id),
                connection_speed: Some(d.phone.identity.connection_speed),
                connection_type: "USB".into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
