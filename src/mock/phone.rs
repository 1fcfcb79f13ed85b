//! The simulated phone itself: who it is, and which service answers on which port.
//! Every front (in-process mux link, usbmuxd-compatible socket, USB gadget) hands the
//! connections it accepts to `SimulatedPhone::accept`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::usbmux::DeviceStream;

/// Serves one accepted connection to the end.
pub type ServiceFn =
    Arc<dyn Fn(DeviceStream) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Who the simulated phone is: the values lockdownd and usbmuxd report.
#[derive(Debug, Clone)]
pub struct PhoneIdentity {
    /// Dashed UDID, as usbmuxd reports it.
    pub udid: String,
    pub product_id: u16,
    pub device_name: String,
    pub product_type: String,
    pub product_version: String,
    pub build_version: String,
    pub serial_number: String,
    pub wifi_address: String,
    /// Link speed the fronts report (bits per second).
    pub connection_speed: u64,
}

impl Default for PhoneIdentity {
    fn default() -> Self {
        PhoneIdentity {
            udid: "00008030-001A2B3C4D5E802E".into(),
            product_id: 0x12a8,
            device_name: "Simulated iPhone".into(),
            product_type: "iPhone12,8".into(),
            product_version: "17.6.1".into(),
            build_version: "21G93".into(),
            serial_number: "F2LZK0SIMPHN".into(),
            wifi_address: "a4:c3:f0:12:34:56".into(),
            connection_speed: 480_000_000,
        }
    }
}

/// First port handed out by StartService, as on a real phone.
const FIRST_SERVICE_PORT: u16 = 49152;

struct Ports {
    listening: HashMap<u16, ServiceFn>,
    next: u16,
}

/// A simulated iPhone: identity plus the services listening on its ports.
pub struct SimulatedPhone {
    pub identity: PhoneIdentity,
    ports: Mutex<Ports>,
    /// Services that lockdownd's StartService can start, by name ("com.apple.afc").
    named: Mutex<HashMap<String, ServiceFn>>,
}

impl SimulatedPhone {
    pub fn new(identity: PhoneIdentity) -> Arc<Self> {
        Arc::new(SimulatedPhone {
            identity,
            ports: Mutex::new(Ports {
                listening: HashMap::new(),
                next: FIRST_SERVICE_PORT,
            }),
            named: Mutex::new(HashMap::new()),
        })
    }

    /// Listen on a fixed port (lockdownd on 62078).
    pub fn listen(&self, port: u16, service: ServiceFn) {
        self.ports
            .lock()
            .expect("ports lock")
            .listening
            .insert(port, service);
    }

    /// Make a named service startable through lockdownd's StartService.
    pub fn add_named_service(&self, name: &str, service: ServiceFn) {
        self.named
            .lock()
            .expect("named lock")
            .insert(name.to_string(), service);
    }

    /// StartService: listen for the named service on a fresh port and return it.
    pub fn start_service(&self, name: &str) -> Option<u16> {
        let service = self.named.lock().expect("named lock").get(name).cloned()?;
        let mut ports = self.ports.lock().expect("ports lock");
        loop {
            let port = ports.next;
            ports.next = if ports.next == u16::MAX {
                FIRST_SERVICE_PORT
            } else {
                ports.next + 1
            };
            if let std::collections::hash_map::Entry::Vacant(e) = ports.listening.entry(port) {
                e.insert(service);
                return Some(port);
            }
        }
    }

    pub fn is_listening(&self, port: u16) -> bool {
        self.ports
            .lock()
            .expect("ports lock")
            .listening
            .contains_key(&port)
    }

    /// Hand an accepted connection to the service on `port`; false if nothing listens there.
    /// Must be called inside a tokio runtime: the service runs as its own task.
    pub fn accept(&self, port: u16, stream: DeviceStream) -> bool {
        let service = self
            .ports
            .lock()
            .expect("ports lock")
            .listening
            .get(&port)
            .cloned();
        match service {
            Some(service) => {
                tokio::spawn(service(stream));
                true
            }
            None => false,
        }
    }
}

impl crate::usbmux::driver::PortListener for SimulatedPhone {
    fn is_listening(&self, port: u16) -> bool {
        SimulatedPhone::is_listening(self, port)
    }

    fn accept(&self, port: u16, stream: DeviceStream) -> bool {
        SimulatedPhone::accept(self, port, stream)
    }
}
