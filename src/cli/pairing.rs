//! `iphone-import pair` and `unpair`.

use super::args::GlobalArgs;
use super::exit;
use super::session::{self, ctrl_c, pairing_options, show_progress};
use crate::untrusted::text::for_terminal;

pub(super) async fn pair(global: &GlobalArgs) -> anyhow::Result<u8> {
    let reach = session::open(global).await?;
    let device = reach.transport.select(global.udid.as_deref()).await?;
    let stores = reach.pair_records(&device)?;
    let mut client = reach.lockdown(&device).await?;
    let options = pairing_options(global);
    let record = crate::lockdown::pair_device(
        &mut client,
        &stores,
        &device.udid,
        &options,
        show_progress,
        ctrl_c(),
    )
    .await?;
    // Prove the new record works before saying so.
    client.start_session(&record).await?;
    client.stop_session().await?;
    println!(
        "Paired with {}: this computer is trusted.",
        for_terminal(&device.udid)
    );
    Ok(exit::OK)
}

pub(super) async fn unpair(global: &GlobalArgs) -> anyhow::Result<u8> {
    let reach = session::open(global).await?;
    let device = reach.transport.select(global.udid.as_deref()).await?;
    let stores = reach.pair_records(&device)?;
    let mut client = reach.lockdown(&device).await?;
    crate::lockdown::unpair_device(&mut client, &stores, &device.udid).await?;
    println!(
        "Unpaired from {}: the phone will ask to trust this computer again.",
        device.udid
    );
    Ok(exit::OK)
}
