//! Pair records: what a host keeps after pairing (protocol.md §5.1, §5.3), and where it keeps them.
//!
//! Lookup order: usbmuxd (when that transport is used) → `/var/lib/lockdown` (read-only, when
//! readable) → our own store `$XDG_DATA_HOME/iphone-import/lockdown`. New records go to our store,
//! and to usbmuxd when that transport is used, so libimobiledevice tools can use them too.
//!
//! The record itself and the store interface live in `pair_record` (re-exported here).

// missing_docs: pub for the integration tests; the undocumented items are fields and variants named for what they hold.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use super::error::RecordError;
pub use super::pair_record::{PairRecord, PairRecordSource};
use super::record_dir::{DirectoryStore, off_runtime};

/// Where a found record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOrigin {
    Usbmuxd,
    System,
    Own,
}

/// All the places records live, in lookup order.
#[derive(Clone)]
pub struct PairRecordStores {
    usbmuxd: Option<Arc<dyn PairRecordSource>>,
    system: Option<DirectoryStore>,
    own: DirectoryStore,
}

impl PairRecordStores {
    /// Only our own store, in `own_dir` (tests, or a custom location).
    pub fn new(own_dir: impl Into<PathBuf>) -> PairRecordStores {
        PairRecordStores {
            usbmuxd: None,
            system: None,
            own: DirectoryStore::own(own_dir),
        }
    }

    /// The real locations: our store under `$XDG_DATA_HOME` plus `/var/lib/lockdown`.
    pub(crate) fn default_locations() -> Result<PairRecordStores, RecordError> {
        Ok(PairRecordStores::new(DirectoryStore::default_own_dir()?)
            .with_system_dir(DirectoryStore::SYSTEM_DIR))
    }

    /// Also read (never write) records from a system directory like `/var/lib/lockdown`.
    pub(crate) fn with_system_dir(mut self, dir: impl Into<PathBuf>) -> PairRecordStores {
        self.system = Some(DirectoryStore::read_only(dir));
        self
    }

    /// Use usbmuxd's records first and save new ones there too (when the usbmuxd transport is used).
    pub fn with_usbmuxd(mut self, source: Arc<dyn PairRecordSource>) -> PairRecordStores {
        self.usbmuxd = Some(source);
        self
    }

    pub fn own(&self) -> &DirectoryStore {
        &self.own
    }

    /// The first record found for `udid`: usbmuxd → system → own.
    pub async fn find(
        &self,
        udid: &str,
    ) -> Result<Option<(PairRecord, RecordOrigin)>, RecordError> {
        if let Some(muxd) = &self.usbmuxd {
            match muxd.read(udid).await {
                Ok(Some(r)) => return Ok(Some((r, RecordOrigin::Usbmuxd))),
                Ok(None) => {}
                // A broken usbmuxd answer must not hide a good local record.
                Err(e) => tracing::warn!("reading the pair record from usbmuxd failed: {e}"),
            }
        }
        if let Some(system) = &self.system {
            match system.read(udid).await {
                Ok(Some(r)) => return Ok(Some((r, RecordOrigin::System))),
                Ok(None) => {}
                Err(e) => tracing::warn!("skipping the system pair record: {e}"),
            }
        }
        Ok(self.own.read(udid).await?.map(|r| (r, RecordOrigin::Own)))
    }

    /// Keep a new record: in our store, and in usbmuxd when used.
    pub(crate) async fn save_new(
        &self,
        udid: &str,
        record: &PairRecord,
    ) -> Result<(), RecordError> {
        self.own.save(udid, record).await?;
        if let Some(muxd) = &self.usbmuxd {
            muxd.save(udid, record).await?;
        }
        Ok(())
    }

    /// Forget the record: in our store and in usbmuxd (the system directory is never written).
    pub(crate) async fn delete(&self, udid: &str) -> Result<(), RecordError> {
        self.own.delete(udid).await?;
        if let Some(muxd) = &self.usbmuxd {
            muxd.delete(udid).await?;
        }
        Ok(())
    }

    /// SystemBUID for a new pairing: usbmuxd's (ReadBUID) → the system's → ours (created once).
    pub async fn system_buid(&self) -> Result<String, RecordError> {
        if let Some(muxd) = &self.usbmuxd
            && let Some(buid) = muxd.system_buid().await?
        {
            return Ok(buid);
        }
        if let Some(system) = &self.system
            && let Ok(Some(buid)) = system.system_buid().await
        {
            return Ok(buid);
        }
        let own = self.own.clone();
        off_runtime(move || own.system_buid_or_create()).await
    }
}

/// A stable HostID per computer (upper-case name-based UUID), so re-pairing from this computer
/// replaces the phone's entry for it instead of piling up new ones. Not pymobiledevice3's
/// uuid3(DNS, hostname): on the same computer the two tools would then overwrite each other's
/// pairing on the phone and each would find its record rejected.
pub(crate) fn host_id_for_this_computer() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    host_id_for_host_name(&name)
}

fn host_id_for_host_name(name: &str) -> String {
    let scoped = format!("iphone-import.{name}");
    uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_DNS, scoped.as_bytes())
        .to_string()
        .to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::future::BoxFuture;
    use plist::{Dictionary, Value};
    use std::os::unix::fs::PermissionsExt;

    const UDID: &str = "00008030-001A2B3C4D5E802E";

    fn record() -> PairRecord {
        let mut extra = Dictionary::new();
        extra.insert("UDID".into(), UDID.into());
        PairRecord {
            device_certificate: b"-----BEGIN CERTIFICATE-----\ndev\n".to_vec(),
            host_certificate: b"host".to_vec(),
            host_private_key: b"hostkey".to_vec(),
            root_certificate: b"root".to_vec(),
            root_private_key: b"rootkey".to_vec(),
            host_id: "D2DA463A-92C2-BE31-3D42-D6BFEC3E5E18".into(),
            system_buid: "5A0A1B2C-3D4E-5F60-7182-93A4B5C6D7E8".into(),
            escrow_bag: Some(vec![1, 2, 3]),
            wifi_mac_address: Some("aa:bb:cc:dd:ee:02".into()),
            extra,
        }
    }

    #[test]
    fn save_then_load_keeps_everything_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("lockdown");
        let store = DirectoryStore::own(&dir);
        store.save_sync(UDID, &record()).unwrap();
        assert_eq!(store.read_sync(UDID).unwrap().unwrap(), record());
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(format!("{UDID}.plist"))), 0o600);
        // No temp file left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // XML on disk, like usbmuxd writes.
        assert!(
            std::fs::read(dir.join(format!("{UDID}.plist")))
                .unwrap()
                .starts_with(b"<?xml")
        );
        store.delete_sync(UDID).unwrap();
        assert!(store.read_sync(UDID).unwrap().is_none());
    }

    #[test]
    fn loose_existing_folder_is_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        DirectoryStore::own(tmp.path())
            .save_sync(UDID, &record())
            .unwrap();
        assert_eq!(
            std::fs::metadata(tmp.path()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn binary_records_and_string_pem_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = record().to_dictionary();
        d.insert("HostCertificate".into(), "host".into());
        d.remove("EscrowBag");
        d.insert("SomethingElse".into(), 7.into());
        plist::to_file_binary(
            tmp.path().join(format!("{UDID}.plist")),
            &Value::Dictionary(d),
        )
        .unwrap();
        let r = DirectoryStore::read_only(tmp.path())
            .read_sync(UDID)
            .unwrap()
            .unwrap();
        assert_eq!(r.host_certificate, b"host");
        assert_eq!(r.escrow_bag, None);
        assert_eq!(r.extra.get("SomethingElse"), Some(&Value::from(7)));
    }

    #[test]
    fn broken_records_are_typed_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirectoryStore::own(tmp.path());
        std::fs::write(tmp.path().join(format!("{UDID}.plist")), b"not a plist").unwrap();
        assert!(matches!(
            store.read_sync(UDID),
            Err(RecordError::Parse { .. })
        ));
        let mut d = record().to_dictionary();
        d.remove("HostID");
        plist::to_file_xml(
            tmp.path().join(format!("{UDID}.plist")),
            &Value::Dictionary(d),
        )
        .unwrap();
        assert!(matches!(
            store.read_sync(UDID),
            Err(RecordError::MissingKey { key: "HostID", .. })
        ));
        assert!(store.read_sync("../etc/passwd").is_err());
    }

    #[test]
    fn read_only_store_refuses_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirectoryStore::read_only(tmp.path());
        assert!(matches!(
            store.save_sync(UDID, &record()),
            Err(RecordError::ReadOnly(_))
        ));
        assert!(matches!(
            store.delete_sync(UDID),
            Err(RecordError::ReadOnly(_))
        ));
    }

    #[test]
    fn pair_request_record_carries_no_private_keys() {
        let d = record().to_pair_request_dictionary();
        assert!(!d.contains_key("HostPrivateKey") && !d.contains_key("RootPrivateKey"));
        for k in [
            "DeviceCertificate",
            "HostCertificate",
            "RootCertificate",
            "HostID",
            "SystemBUID",
        ] {
            assert!(d.contains_key(k), "{k}");
        }
    }

    /// A usbmuxd stand-in holding records in memory.
    struct MemorySource(
        std::sync::Mutex<std::collections::HashMap<String, PairRecord>>,
        Option<String>,
    );

    impl PairRecordSource for MemorySource {
        fn describe(&self) -> String {
            "memory".into()
        }
        fn read<'a>(
            &'a self,
            udid: &'a str,
        ) -> BoxFuture<'a, Result<Option<PairRecord>, RecordError>> {
            Box::pin(async move { Ok(self.0.lock().unwrap().get(udid).cloned()) })
        }
        fn save<'a>(
            &'a self,
            udid: &'a str,
            r: &'a PairRecord,
        ) -> BoxFuture<'a, Result<(), RecordError>> {
            Box::pin(async move {
                self.0.lock().unwrap().insert(udid.into(), r.clone());
                Ok(())
            })
        }
        fn delete<'a>(&'a self, udid: &'a str) -> BoxFuture<'a, Result<(), RecordError>> {
            Box::pin(async move {
                self.0.lock().unwrap().remove(udid);
                Ok(())
            })
        }
        fn system_buid(&self) -> BoxFuture<'_, Result<Option<String>, RecordError>> {
            Box::pin(async move { Ok(self.1.clone()) })
        }
    }

    #[tokio::test]
    async fn lookup_order_is_usbmuxd_then_system_then_own() {
        let tmp = tempfile::tempdir().unwrap();
        let (sys, own) = (tmp.path().join("sys"), tmp.path().join("own"));
        let mut r_sys = record();
        r_sys.host_id = "SYSTEM".into();
        DirectoryStore::own(&sys).save_sync(UDID, &r_sys).unwrap();
        let mut d = Dictionary::new();
        d.insert("SystemBUID".into(), "SYS-BUID".into());
        plist::to_file_xml(sys.join("SystemConfiguration.plist"), &Value::Dictionary(d)).unwrap();

        let muxd = Arc::new(MemorySource(Default::default(), Some("MUXD-BUID".into())));
        let stores = PairRecordStores::new(&own).with_system_dir(&sys);
        assert_eq!(
            stores.find(UDID).await.unwrap().unwrap().1,
            RecordOrigin::System
        );
        assert_eq!(stores.system_buid().await.unwrap(), "SYS-BUID");

        let stores = stores.with_usbmuxd(muxd.clone());
        assert_eq!(stores.system_buid().await.unwrap(), "MUXD-BUID");
        stores.save_new(UDID, &record()).await.unwrap();
        let (found, origin) = stores.find(UDID).await.unwrap().unwrap();
        assert_eq!(
            (found.host_id.as_str(), origin),
            (record().host_id.as_str(), RecordOrigin::Usbmuxd)
        );
        assert!(
            DirectoryStore::own(&own).read_sync(UDID).unwrap().is_some(),
            "also saved to our store"
        );

        stores.delete(UDID).await.unwrap();
        assert!(muxd.0.lock().unwrap().is_empty());
        // The system store is never written: its record is still found.
        assert_eq!(
            stores.find(UDID).await.unwrap().unwrap().1,
            RecordOrigin::System
        );

        let only_own = PairRecordStores::new(&own);
        assert!(only_own.find(UDID).await.unwrap().is_none());
        let buid = only_own.system_buid().await.unwrap();
        assert_eq!(
            buid,
            only_own.system_buid().await.unwrap(),
            "created once, then reused"
        );
        assert_eq!(buid, buid.to_uppercase());
    }

    #[test]
    fn host_id_is_stable_and_upper_case() {
        let a = host_id_for_this_computer();
        assert_eq!(a, host_id_for_this_computer());
        assert_eq!(a, a.to_uppercase());
        assert_eq!(a.len(), 36);
        // Distinct from pymobiledevice3's HostID for the same host name.
        let pmd3 = uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_DNS, b"box")
            .to_string()
            .to_uppercase();
        assert_ne!(host_id_for_host_name("box"), pmd3);
        assert_ne!(host_id_for_host_name("box"), host_id_for_host_name("other"));
    }
}
