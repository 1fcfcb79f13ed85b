//! The pairing flows: `LockdownClient::pair` and `pair_with_record` (wait for the first unlock,
//! then for Trust), `pair_device` (pair and keep the record) and `ensure_paired_session` (pair
//! when needed, then a session, waiting for an unlock).
//!
//! These are the flows that use `unlock`'s waits, which in turn drive a `LockdownClient`: they
//! sit above both, so `client` (the connection and its requests) imports nothing of `unlock`
//! and the two form no cycle. `lockdown` re-exports `pair_device` and `ensure_paired_session`.

use std::future::Future;
use std::time::Instant;

use plist::Value;

use super::certs;
use super::client::{LockdownClient, PairingOptions, PairingProgress, find_record, map_common};
use super::error::{CertError, DeviceError, LockdownError};
use super::messages;
use super::records::{PairRecord, PairRecordStores, host_id_for_this_computer};
use super::unlock::{pair_when_unlocked, start_session_when_unlocked};

impl LockdownClient {
    /// Pair: make keys and certificates, send Pair, resend while the Trust alert is up.
    /// Returns the complete record (not yet saved). `cancel` resolving aborts (e.g. Ctrl-C).
    pub async fn pair<P, C>(
        &mut self,
        system_buid: &str,
        options: &PairingOptions,
        on_progress: P,
        cancel: C,
    ) -> Result<PairRecord, LockdownError>
    where
        P: FnMut(PairingProgress) + Send,
        C: Future<Output = ()> + Send,
    {
        let device_key = match self.get_value(None, Some("DevicePublicKey")).await? {
            Value::Data(d) => d,
            Value::String(s) => s.into_bytes(),
            _ => {
                return Err(LockdownError::Protocol {
                    request: "GetValue".into(),
                    detail: "DevicePublicKey is not data".into(),
                });
            }
        };
        // limd stores the phone's Wi-Fi address with the record; a phone that refuses it is fine.
        let wifi = match self.get_value(None, Some("WiFiAddress")).await {
            Ok(Value::String(s)) => Some(s),
            _ => None,
        };
        // RSA key generation takes a moment: keep it off the async workers.
        let certs = tokio::task::spawn_blocking(move || certs::generate(&device_key))
            .await
            .map_err(|e| CertError::KeyGen(e.to_string()))??;
        let host_id = options
            .host_id
            .clone()
            .unwrap_or_else(host_id_for_this_computer);
        let mut record = PairRecord::new(certs, host_id, system_buid.to_string(), wifi);
        self.pair_with_record(&mut record, options, on_progress, cancel)
            .await?;
        Ok(record)
    }

    /// Send Pair for an existing record until the phone decides; stores the EscrowBag in it.
    /// A locked phone (e.g. not unlocked since it restarted) cannot show the Trust alert: wait
    /// for the unlock first (up to `options.timeout`), then for Trust (as long again).
    pub(crate) async fn pair_with_record<P, C>(
        &mut self,
        record: &mut PairRecord,
        options: &PairingOptions,
        mut on_progress: P,
        cancel: C,
    ) -> Result<(), LockdownError>
    where
        P: FnMut(PairingProgress) + Send,
        C: Future<Output = ()> + Send,
    {
        let request = messages::pair(
            &self.label,
            record.to_pair_request_dictionary(),
            options.host_name.as_deref(),
        );
        let mut cancel = std::pin::pin!(cancel);
        let unlocked =
            pair_when_unlocked(self, &request, options, &mut on_progress, cancel.as_mut()).await;
        let deadline = Instant::now() + options.timeout;
        let poll = async {
            let mut answer = unlocked;
            let mut polls = 0u32;
            loop {
                match answer {
                    Ok(reply) => return Ok(reply),
                    Err(LockdownError::Device {
                        error: DeviceError::PairingDialogResponsePending,
                        ..
                    }) => {
                        polls += 1;
                        on_progress(PairingProgress::WaitingForTrust { polls });
                        if Instant::now() + options.poll_interval > deadline {
                            return Err(LockdownError::PairingTimedOut(options.timeout));
                        }
                        tokio::time::sleep(options.poll_interval).await;
                    }
                    Err(e) => return Err(map_pairing_error(e)),
                }
                answer = self.request(request.clone()).await;
            }
        };
        let reply = tokio::select! {
            r = poll => r?,
            _ = cancel => return Err(LockdownError::PairingCancelled),
            _ = tokio::time::sleep_until(deadline.into()) => return Err(LockdownError::PairingTimedOut(options.timeout)),
        };
        if let Some(Value::Data(bag)) = reply.get("EscrowBag") {
            record.escrow_bag = Some(bag.clone());
        }
        Ok(())
    }
}

fn map_pairing_error(e: LockdownError) -> LockdownError {
    match e {
        LockdownError::Device {
            error: DeviceError::UserDeniedPairing,
            ..
        } => LockdownError::UserDeniedPairing,
        e => map_common(e),
    }
}

/// Pair with the phone on this connection and keep the record (our store, and usbmuxd when used).
pub async fn pair_device<P, C>(
    client: &mut LockdownClient,
    stores: &PairRecordStores,
    udid: &str,
    options: &PairingOptions,
    on_progress: P,
    cancel: C,
) -> Result<PairRecord, LockdownError>
where
    P: FnMut(PairingProgress) + Send,
    C: Future<Output = ()> + Send,
{
    let buid = stores.system_buid().await?;
    let record = client.pair(&buid, options, on_progress, cancel).await?;
    stores.save_new(udid, &record).await?;
    Ok(record)
}

/// A session, pairing first when this computer has no record for the phone (what `info` and
/// `import` want), waiting (up to `options.timeout`) for a phone that has not been unlocked
/// since it restarted. A record the phone no longer accepts is reported, not silently replaced:
/// the user decides to run `iphone-import pair`.
pub async fn ensure_paired_session<P, C>(
    client: &mut LockdownClient,
    stores: &PairRecordStores,
    udid: &str,
    options: &PairingOptions,
    on_progress: P,
    cancel: C,
) -> Result<PairRecord, LockdownError>
where
    P: FnMut(PairingProgress) + Send,
    C: Future<Output = ()> + Send,
{
    let mut on_progress = on_progress;
    let mut cancel = std::pin::pin!(cancel);
    let record = match find_record(stores, udid).await {
        Err(LockdownError::NotPaired { .. }) => {
            pair_device(
                client,
                stores,
                udid,
                options,
                &mut on_progress,
                cancel.as_mut(),
            )
            .await?
        }
        other => other?,
    };
    // A phone that restarted keeps its pairing but refuses sessions until its first unlock.
    start_session_when_unlocked(client, &record, options, on_progress, cancel).await?;
    Ok(record)
}
