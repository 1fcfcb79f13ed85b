//! The simulated phone itself: who it is, and which service answers on which port.
//! Every front (in-process mux link, usbmuxd-compatible socket, USB gadget) hands the
//! connections it accepts to `SimulatedPhone::accept`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// The service on each port, and the instance count it belongs to (a started service's).
    listening: HashMap<u16, (ServiceFn, Option<Arc<Instances>>)>,
    next: u16,
}

/// How many instances of a named service run (from StartService until their connection
/// ends), and how many may: a real phone refuses more with `ServiceLimit`.
#[derive(Default)]
struct Instances {
    running: AtomicUsize,
    /// `None`: no limit.
    limit: Mutex<Option<usize>>,
}

/// Why StartService started nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartRefused {
    /// No service of that name.
    Unknown,
    /// As many instances as the phone allows already run.
    Limit,
}

/// A simulated iPhone: identity plus the services listening on its ports.
pub struct SimulatedPhone {
    pub identity: PhoneIdentity,
    ports: Mutex<Ports>,
    /// Services that lockdownd's StartService can start, by name ("com.apple.afc").
    named: Mutex<HashMap<String, (ServiceFn, Arc<Instances>)>>,
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
            .insert(port, (service, None));
    }

    /// Make a named service startable through lockdownd's StartService (a service replaced
    /// keeps its instance count and limit).
    pub fn add_named_service(&self, name: &str, service: ServiceFn) {
        let mut named = self.named.lock().expect("named lock");
        let instances = named.remove(name).map(|(_, i)| i).unwrap_or_default();
        named.insert(name.to_string(), (service, instances));
    }

    /// At most `limit` instances of every named service at once (`None`: any number).
    pub fn limit_services(&self, limit: Option<usize>) {
        for (_, instances) in self.named.lock().expect("named lock").values() {
            *instances.limit.lock().expect("limit lock") = limit;
        }
    }

    /// StartService: listen for the named service on a fresh port and return it.
    pub fn start_service(&self, name: &str) -> Result<u16, StartRefused> {
        let (service, instances) = self
            .named
            .lock()
            .expect("named lock")
            .get(name)
            .cloned()
            .ok_or(StartRefused::Unknown)?;
        let limit = instances
            .limit
            .lock()
            .expect("limit lock")
            .unwrap_or(usize::MAX);
        instances
            .running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .map_err(|_| StartRefused::Limit)?;
        let mut ports = self.ports.lock().expect("ports lock");
        loop {
            let port = ports.next;
            ports.next = if ports.next == u16::MAX {
                FIRST_SERVICE_PORT
            } else {
                ports.next + 1
            };
            if let std::collections::hash_map::Entry::Vacant(e) = ports.listening.entry(port) {
                e.insert((service, Some(instances)));
                return Ok(port);
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
            Some((service, instances)) => {
                let served = service(stream);
                tokio::spawn(async move {
                    served.await;
                    // The instance ends with its connection.
                    if let Some(i) = instances {
                        let _ = i
                            .running
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                    }
                });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_limited_service_starts_again_once_a_connection_to_it_ends() {
        let phone = SimulatedPhone::new(PhoneIdentity::default());
        // Each instance serves until its connection's peer closes it.
        phone.add_named_service(
            "svc",
            Arc::new(|mut stream: DeviceStream| {
                Box::pin(async move {
                    let mut buf = [0u8; 1];
                    let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
                })
            }),
        );
        phone.limit_services(Some(1));
        assert_eq!(phone.start_service("nope"), Err(StartRefused::Unknown));
        let port = phone.start_service("svc").unwrap();
        assert_eq!(phone.start_service("svc"), Err(StartRefused::Limit));
        let (host, device) = tokio::io::duplex(64);
        assert!(phone.accept(port, Box::new(device)));
        assert_eq!(phone.start_service("svc"), Err(StartRefused::Limit));
        drop(host);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while phone.start_service("svc").is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the slot never came back"
            );
            tokio::task::yield_now().await;
        }
    }
}
