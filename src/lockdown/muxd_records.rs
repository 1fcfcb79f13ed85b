//! Pair records kept by usbmuxd (ReadPairRecord / SavePairRecord / DeletePairRecord / ReadBUID),
//! as a `PairRecordSource`: how libimobiledevice and pymobiledevice3 share records with us.

use futures::future::BoxFuture;

use super::error::RecordError;
use super::records::{PairRecord, PairRecordSource};
use crate::usbmux::muxd::MuxdClient;

/// usbmuxd's record store for one attached device (SavePairRecord names its DeviceID).
#[derive(Clone)]
pub struct MuxdPairRecords {
    client: MuxdClient,
    device_id: u32,
}

impl MuxdPairRecords {
    /// Pair records of the phone usbmuxd knows as `device_id`, read and saved through `client`.
    pub fn new(client: MuxdClient, device_id: u32) -> MuxdPairRecords {
        MuxdPairRecords { client, device_id }
    }
}

fn failed(e: impl std::fmt::Display) -> RecordError {
    RecordError::Usbmuxd(e.to_string())
}

impl PairRecordSource for MuxdPairRecords {
    fn describe(&self) -> String {
        format!("usbmuxd at {}", self.client.address())
    }

    fn read<'a>(&'a self, udid: &'a str) -> BoxFuture<'a, Result<Option<PairRecord>, RecordError>> {
        Box::pin(async move {
            match self.client.read_pair_record(udid).await.map_err(failed)? {
                Some(bytes) => Ok(Some(PairRecord::from_bytes(
                    &bytes,
                    &format!("usbmuxd record for {udid}"),
                )?)),
                None => Ok(None),
            }
        })
    }

    fn save<'a>(
        &'a self,
        udid: &'a str,
        record: &'a PairRecord,
    ) -> BoxFuture<'a, Result<(), RecordError>> {
        Box::pin(async move {
            self.client
                .save_pair_record(udid, self.device_id, &record.to_xml())
                .await
                .map_err(failed)
        })
    }

    fn delete<'a>(&'a self, udid: &'a str) -> BoxFuture<'a, Result<(), RecordError>> {
        Box::pin(async move { self.client.delete_pair_record(udid).await.map_err(failed) })
    }

    fn system_buid(&self) -> BoxFuture<'_, Result<Option<String>, RecordError>> {
        Box::pin(async move { self.client.read_buid().await.map(Some).map_err(failed) })
    }
}
