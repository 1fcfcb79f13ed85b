//! Bulk-IN throughput from `iphone-mock gadget` inside the USB VM (`tests/usbvm/run bench`):
//! the plain USB path (gadget `--raw-source`, a synchronous libusb read loop here) against the
//! mux path (gadget `--bench-port`, our `usb` link + `MuxHost` here). A benchmark, not a test:
//! it prints MB/s and fails only if the transfer itself fails.
//!
//! usage: usbvm_bench raw BYTES | usbvm_bench mux BYTES PORT

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use iphone_import::usbmux::driver::MuxHost;
use iphone_import::usbmux::{APPLE_VID, usb};
use tokio::io::AsyncReadExt;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bytes: u64 = match args.get(2).map(|s| s.parse()) {
        Some(Ok(n)) => n,
        _ => bail!("usage: usbvm_bench raw BYTES | usbvm_bench mux BYTES PORT"),
    };
    match args.get(1).map(String::as_str) {
        Some("raw") => raw(bytes),
        Some("mux") => {
            let port: u16 = args.get(3).context("mux needs a PORT")?.parse()?;
            tokio::runtime::Runtime::new()?.block_on(mux(bytes, port))
        }
        _ => bail!("usage: usbvm_bench raw BYTES | usbvm_bench mux BYTES PORT"),
    }
}

fn report(path: &str, bytes: u64, took: Duration) {
    let mb_s = bytes as f64 / took.as_secs_f64() / 1e6;
    println!(
        "{path}: {bytes} bytes in {:.2} s = {mb_s:.1} MB/s",
        took.as_secs_f64()
    );
}

/// One synchronous 64 KiB bulk read after another, straight on the usbmux interface's IN pipe.
fn raw(total: u64) -> anyhow::Result<()> {
    let handle =
        rusb::open_device_with_vid_pid(APPLE_VID, 0x12a8).context("no 05ac:12a8 device")?;
    let device = handle.device();
    let mut found = None;
    for index in 0..device.device_descriptor()?.num_configurations() {
        let config = device.config_descriptor(index)?;
        for interface in config.interfaces() {
            for alt in interface.descriptors() {
                if (alt.class_code(), alt.sub_class_code(), alt.protocol_code()) != (255, 254, 2) {
                    continue;
                }
                let bulk_in = alt.endpoint_descriptors().find(|e| {
                    e.direction() == rusb::Direction::In
                        && e.transfer_type() == rusb::TransferType::Bulk
                });
                if let Some(ep) = bulk_in {
                    found = Some((config.number(), alt.interface_number(), ep.address()));
                }
            }
        }
    }
    let (config, interface, endpoint) = found.context("no usbmux interface (255/254/2)")?;
    if handle.active_configuration()? != config {
        handle.set_active_configuration(config)?;
    }
    handle.claim_interface(interface)?;
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    let mut got = 0u64;
    while got < total {
        got += handle.read_bulk(endpoint, &mut buf, Duration::from_secs(10))? as u64;
    }
    report("raw", got, start.elapsed());
    Ok(())
}

/// Our direct-USB route: usb link, mux handshake, one connection, read to the end.
async fn mux(total: u64, port: u16) -> anyhow::Result<()> {
    let (link, _info) = usb::open(None).await?;
    let host = MuxHost::start(link).await?;
    let mut stream = host.connect(port).await?;
    let mut buf = vec![0u8; 256 * 1024];
    let start = Instant::now();
    let mut got = 0u64;
    // usbmux has no FIN: a service that is done resets the connection, so a reset after every
    // byte arrived is the normal end.
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => got += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && got == total => break,
            Err(e) => bail!("after {got} of {total} bytes: {e}"),
        }
    }
    let took = start.elapsed();
    if got != total {
        bail!("the phone sent {got} bytes, expected {total}");
    }
    report("mux", got, took);
    Ok(())
}
