//! The USB bulk pipes of one phone, bridged to a [`Link`].
//!
//! # Transfer design
//!
//! libusb's asynchronous API (through `rusb::ffi`) with **one event thread per link**:
//!
//! - **Reading:** [`RX_TRANSFERS`] IN transfers stay permanently in flight (usbmuxd keeps 3; one
//!   at a time leaves the bus idle between completions and roughly halves throughput). Each is
//!   resubmitted from its own completion callback. Order is preserved by construction: transfers
//!   on one endpoint are filled by the host controller in queue order, every callback runs on the
//!   single event thread (no other thread ever handles events of this link's private libusb
//!   context, and no synchronous libusb I/O, which would handle events itself, is done on it
//!   after start), and on top of that [`RxOrder`] numbers each submission and releases data only
//!   in submission order (a completion stranded behind more than [`RX_TRANSFERS`] later ones
//!   fails the link instead of buffering without bound). Several threads each calling
//!   `read_bulk` would race to deliver their results and could reorder bytes; this cannot.
//! - **Short and zero-length completions** are delivered as they are (a zero-length one is
//!   skipped): the mux frame decoder reassembles, so bytes are never merged, dropped or reordered
//!   here.
//! - **RX buffer size** is [`RX_BUFFER_SIZE`] = 128 KiB: larger than any packet a device sends
//!   (usbmuxd's DEV_MRU is 64 KiB), so one device packet normally completes one transfer, ended by
//!   its short packet or the device's ZLP. In the VM measurements (usb-vm.md §8) 16 KiB reads
//!   with ZLPs gave 24.7 MB/s against 36.6 MB/s with 128 KiB. A device that omitted the ZLP after
//!   an exact multiple of the packet size would only delay delivery until its next packet (the
//!   same assumption usbmuxd's 16 KiB reads make for any smaller multiple).
//! - **Writing:** a tokio task takes whole mux packets from `Link::outgoing` and submits each as
//!   one bulk OUT transfer, plus a zero-length transfer when its length is an exact multiple of
//!   the endpoint's packet size ([`needs_zlp`]). Submissions on one endpoint complete in order. At
//!   most [`TX_IN_FLIGHT`] data transfers are outstanding (backpressure on `outgoing`).
//! - **Backpressure without blocking:** callbacks never block. When `incoming` is full, the
//!   released data waits in a backlog and the finished IN transfer is parked instead of
//!   resubmitted; the event loop (polling every 5 ms while anything is parked) flushes the backlog
//!   and resubmits once the reader catches up. So the phone's data waits in its own buffers, and
//!   OUT completions keep being processed meanwhile (a blocked event thread could deadlock a
//!   driver that waits to send before it reads).
//! - **Failure:** any completion other than success (unplug gives NO_DEVICE or ERROR), a failed
//!   resubmission, or a TX timeout marks the link dead, as usbmuxd does: the event loop cancels
//!   everything, sends one `Err` on `incoming` (or, if the reader's queue is full, just closes
//!   it, which the `Link` contract also reads as unplugged) and closes the channel. Event
//!   handling wakes at least every 100 ms and the drain is bounded, so this takes well under 2 s.
//! - **Shutdown:** dropping `Link::outgoing` or `Link::incoming` stops the link: transfers are
//!   cancelled, their callbacks awaited (1.5 s at most), the interface released and the device
//!   closed. If libusb never returned a transfer, its memory and the device are leaked rather
//!   than freed under libusb's feet.

use std::collections::{HashSet, VecDeque};
use std::os::raw::{c_int, c_uint, c_void};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusb::constants::{
    LIBUSB_ERROR_NO_DEVICE, LIBUSB_TRANSFER_CANCELLED, LIBUSB_TRANSFER_COMPLETED,
    LIBUSB_TRANSFER_ERROR, LIBUSB_TRANSFER_NO_DEVICE, LIBUSB_TRANSFER_OVERFLOW,
    LIBUSB_TRANSFER_STALL, LIBUSB_TRANSFER_TIMED_OUT,
};
use rusb::ffi::{self, libusb_transfer};
use rusb::{Context, DeviceHandle, UsbContext};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use super::plan::{MuxEndpoints, needs_zlp};
use super::rx_order::{RxOrder, TooFarOutOfOrder};
use crate::usbmux::link::{Link, LinkError};

/// IN transfers kept in flight.
pub(crate) const RX_TRANSFERS: usize = 3;
/// Size of each IN transfer's buffer (see the module comment).
pub(crate) const RX_BUFFER_SIZE: usize = 128 * 1024;
/// OUT data transfers allowed in flight before `outgoing` is left to fill up.
pub(crate) const TX_IN_FLIGHT: usize = 16;
/// An OUT transfer the phone has not taken within this time means it stopped reading.
const TX_TIMEOUT_MS: c_uint = 10_000;
/// Longest the event loop waits before checking whether it should stop.
const EVENT_POLL: Duration = Duration::from_millis(100);
/// Event-loop period while IN transfers are parked waiting for the reader.
const BACKLOG_POLL: Duration = Duration::from_millis(5);
/// Longest shutdown waits for cancelled transfers to come back.
const DRAIN_LIMIT: Duration = Duration::from_millis(1500);
/// Chunks `incoming` buffers before IN transfers are parked.
const INCOMING_CAPACITY: usize = 64;
const OUTGOING_CAPACITY: usize = 64;

type Incoming = mpsc::Sender<Result<Bytes, LinkError>>;

/// Start moving bytes between the claimed mux interface of `handle` and a new [`Link`]. Spawns
/// the event thread and, on `runtime`, the writer task.
pub(crate) fn start(
    handle: DeviceHandle<Context>,
    mux: MuxEndpoints,
    runtime: &tokio::runtime::Handle,
) -> Result<Link, rusb::Error> {
    let (incoming_tx, incoming_rx) = mpsc::channel(INCOMING_CAPACITY);
    let (outgoing_tx, outgoing_rx) = mpsc::channel(OUTGOING_CAPACITY);
    let pipes = Arc::new(BulkPipes {
        handle,
        mux,
        state: Mutex::new(State::default()),
        rx_order: Mutex::new(RxOrder::new(RX_TRANSFERS)),
        incoming: Mutex::new(Some(incoming_tx)),
        backlog: Mutex::new(Backlog::default()),
        tx_stop: Notify::new(),
    });

    // The event thread runs first, so a failure below is cleaned up like any other stop.
    let events = pipes.clone();
    std::thread::Builder::new()
        .name("usb-events".into())
        .spawn(move || run_events(events))
        .map_err(|_| rusb::Error::NoMem)?;
    for _ in 0..RX_TRANSFERS {
        if let Err(error) = pipes.submit_rx() {
            pipes.stop(None);
            return Err(error);
        }
    }
    runtime.spawn(write_packets(pipes, outgoing_rx));
    Ok(Link {
        outgoing: outgoing_tx,
        incoming: incoming_rx,
    })
}

/// Shared between the event thread, the writer task and the transfer callbacks.
struct BulkPipes {
    handle: DeviceHandle<Context>,
    mux: MuxEndpoints,
    state: Mutex<State>,
    rx_order: Mutex<RxOrder>,
    /// Taken (closed) by the event thread when the link ends.
    incoming: Mutex<Option<Incoming>>,
    /// Received data and IN transfers waiting for room in `incoming` (event thread only).
    backlog: Mutex<Backlog>,
    /// Wakes the writer task when the link stops.
    tx_stop: Notify,
}

#[derive(Default)]
struct Backlog {
    chunks: VecDeque<Bytes>,
    /// Completed IN transfers not resubmitted yet (pointers as integers; not in flight).
    parked: Vec<usize>,
}

#[derive(Default)]
struct State {
    stopping: bool,
    /// The first failure, reported once on `incoming`.
    error: Option<LinkError>,
    /// Submitted transfers whose callback has not run yet (pointers as integers).
    in_flight: HashSet<usize>,
}

/// What a transfer's `user_data` points to: owned by the transfer while it is in flight.
struct TransferCtx {
    pipes: Arc<BulkPipes>,
    buffer: Vec<u8>,
    kind: Kind,
}

enum Kind {
    Rx {
        seq: u64,
    },
    Tx {
        _permit: Option<OwnedSemaphorePermit>,
    },
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not wedge the USB side; the data is still consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl BulkPipes {
    /// Stop the link, recording `error` if it is the first failure.
    fn stop(&self, error: Option<LinkError>) {
        {
            let mut state = lock(&self.state);
            state.stopping = true;
            if state.error.is_none() {
                state.error = error;
            }
        }
        self.tx_stop.notify_one();
        self.handle.context().interrupt_handle_events();
    }

    fn stopping(&self) -> bool {
        lock(&self.state).stopping
    }

    /// Queue chunks for the reader, in order, and pass on as many as fit. Returns whether
    /// everything went through (if not, the caller parks its IN transfer). Event thread only.
    fn deliver(&self, chunks: Vec<Bytes>) -> bool {
        let mut backlog = lock(&self.backlog);
        backlog.chunks.extend(chunks);
        self.flush(&mut backlog)
    }

    /// Move backlog chunks into `incoming` until it is full. Never blocks.
    fn flush(&self, backlog: &mut Backlog) -> bool {
        if self.stopping() {
            backlog.chunks.clear();
            return true;
        }
        let Some(sender) = lock(&self.incoming).clone() else {
            backlog.chunks.clear();
            return true;
        };
        while let Some(chunk) = backlog.chunks.pop_front() {
            match sender.try_send(Ok(chunk)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(Ok(chunk))) => {
                    backlog.chunks.push_front(chunk);
                    return false;
                }
                Err(_) => {
                    // The reader is gone: the Link was dropped.
                    backlog.chunks.clear();
                    self.stop(None);
                    return true;
                }
            }
        }
        true
    }

    /// Once the backlog has drained, resubmit the parked IN transfers (oldest first).
    fn resume_parked(&self) {
        let parked = {
            let mut backlog = lock(&self.backlog);
            if backlog.parked.is_empty() || !self.flush(&mut backlog) {
                return;
            }
            std::mem::take(&mut backlog.parked)
        };
        for transfer in parked {
            let transfer = transfer as *mut libusb_transfer;
            if let Err(error) = self.submit(transfer) {
                // SAFETY: parked transfers are ours and not in flight.
                unsafe { free_transfer(transfer) };
                if error != rusb::Error::Interrupted {
                    self.stop(Some(LinkError::Disconnected));
                }
            }
        }
    }

    fn submit_rx(self: &Arc<Self>) -> Result<(), rusb::Error> {
        let ctx = Box::new(TransferCtx {
            pipes: self.clone(),
            buffer: vec![0; RX_BUFFER_SIZE],
            kind: Kind::Rx { seq: 0 },
        });
        self.submit_new(ctx, self.mux.endpoint_in, 0)
    }

    fn submit_tx(
        self: &Arc<Self>,
        data: Vec<u8>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<(), rusb::Error> {
        let ctx = Box::new(TransferCtx {
            pipes: self.clone(),
            buffer: data,
            kind: Kind::Tx { _permit: permit },
        });
        self.submit_new(ctx, self.mux.endpoint_out, TX_TIMEOUT_MS)
    }

    /// Allocate a transfer for `ctx` and submit it.
    fn submit_new(
        &self,
        ctx: Box<TransferCtx>,
        endpoint: u8,
        timeout: c_uint,
    ) -> Result<(), rusb::Error> {
        let length = c_int::try_from(ctx.buffer.len()).map_err(|_| rusb::Error::InvalidParam)?;
        // SAFETY: a fresh transfer with no isochronous packets; checked for null.
        let transfer = unsafe { ffi::libusb_alloc_transfer(0) };
        if transfer.is_null() {
            return Err(rusb::Error::NoMem);
        }
        let ctx = Box::into_raw(ctx);
        // SAFETY: `transfer` is valid; the buffer lives in `ctx`, which the transfer owns until
        // its callback runs (or until it is freed below when submission fails).
        unsafe {
            ffi::libusb_fill_bulk_transfer(
                transfer,
                self.handle.as_raw(),
                endpoint,
                (*ctx).buffer.as_mut_ptr(),
                length,
                transfer_done,
                ctx as *mut c_void,
                timeout,
            );
        }
        match self.submit(transfer) {
            Ok(()) => Ok(()),
            Err(error) => {
                // SAFETY: not in flight, so nobody else references either.
                unsafe { free_transfer(transfer) };
                Err(error)
            }
        }
    }

    /// Submit a filled transfer (new, or an RX transfer being recycled) unless the link is
    /// stopping. The state lock is held across the submission so shutdown's cancel pass sees
    /// every transfer that can still complete.
    fn submit(&self, transfer: *mut libusb_transfer) -> Result<(), rusb::Error> {
        let mut state = lock(&self.state);
        if state.stopping {
            return Err(rusb::Error::Interrupted);
        }
        // SAFETY: `transfer` is filled and owned by us. libusb allows submission from any
        // thread, callbacks included; the event thread holds no libusb lock that submission
        // needs while it runs callbacks (which also submit), so holding our lock cannot deadlock.
        unsafe {
            if let Kind::Rx { seq } = &mut (*((*transfer).user_data as *mut TransferCtx)).kind {
                *seq = lock(&self.rx_order).issue();
            }
            match ffi::libusb_submit_transfer(transfer) {
                0 => {
                    state.in_flight.insert(transfer as usize);
                    Ok(())
                }
                LIBUSB_ERROR_NO_DEVICE => Err(rusb::Error::NoDevice),
                _ => Err(rusb::Error::Io),
            }
        }
    }
}

/// Free a transfer and the context it owns.
///
/// # Safety
/// `transfer` must not be in flight, and its `user_data` must be the `TransferCtx` it was filled
/// with (not yet freed).
unsafe fn free_transfer(transfer: *mut libusb_transfer) {
    unsafe {
        drop(Box::from_raw((*transfer).user_data as *mut TransferCtx));
        ffi::libusb_free_transfer(transfer);
    }
}

fn status_error(status: c_int) -> LinkError {
    match status {
        LIBUSB_TRANSFER_NO_DEVICE | LIBUSB_TRANSFER_ERROR => LinkError::Disconnected,
        LIBUSB_TRANSFER_TIMED_OUT => {
            LinkError::Transfer("the phone stopped accepting data (USB write timed out)".into())
        }
        LIBUSB_TRANSFER_STALL => LinkError::Transfer("the phone stalled a USB endpoint".into()),
        LIBUSB_TRANSFER_OVERFLOW => {
            LinkError::Transfer("the phone sent more data than was asked for".into())
        }
        other => LinkError::Transfer(format!("USB transfer failed with status {other}")),
    }
}

/// libusb calls this on the event thread when a transfer finishes, fails or is cancelled.
extern "system" fn transfer_done(transfer: *mut libusb_transfer) {
    // SAFETY: libusb passes back the transfer we submitted; `user_data` is its TransferCtx, which
    // nothing else touches while the transfer is in flight and until we resubmit or free it. The
    // shared borrow ends before the transfer is resubmitted (which writes the sequence number).
    let (pipes, outcome) = unsafe {
        let ctx = &*((*transfer).user_data as *const TransferCtx);
        let finished = Finished {
            status: (*transfer).status,
            actual: usize::try_from((*transfer).actual_length).unwrap_or(0),
            requested: ctx.buffer.len(),
        };
        let outcome = match ctx.kind {
            Kind::Rx { seq } => match finished.rx() {
                Ok(length) => Outcome::Received {
                    seq,
                    data: Bytes::copy_from_slice(&ctx.buffer[..length]),
                },
                Err(outcome) => outcome,
            },
            Kind::Tx { .. } => finished.tx(),
        };
        (ctx.pipes.clone(), outcome)
    };
    lock(&pipes.state).in_flight.remove(&(transfer as usize));

    // Whether the transfer is still ours to keep (resubmitted or parked) rather than freed.
    let kept = match outcome {
        Outcome::Received { seq, data } => {
            // Bound first so the order lock is not held while delivering.
            let completed = lock(&pipes.rx_order).complete(seq, data);
            let all_delivered = match completed {
                Ok(ready) => pipes.deliver(ready),
                Err(TooFarOutOfOrder) => {
                    pipes.stop(Some(LinkError::Transfer(
                        "USB IN transfers completed out of order".into(),
                    )));
                    true
                }
            };
            if !all_delivered && !pipes.stopping() {
                lock(&pipes.backlog).parked.push(transfer as usize);
                true
            } else {
                match pipes.submit(transfer) {
                    Ok(()) => true,
                    Err(rusb::Error::Interrupted) => false,
                    Err(_) => {
                        pipes.stop(Some(LinkError::Disconnected));
                        false
                    }
                }
            }
        }
        Outcome::Sent => false,
        Outcome::Cancelled => {
            // We cancel only while stopping; anything else cancelled it behind our back.
            if !pipes.stopping() {
                pipes.stop(Some(LinkError::Disconnected));
            }
            false
        }
        Outcome::Failed(error) => {
            pipes.stop(Some(error));
            false
        }
    };
    if !kept {
        // SAFETY: the callback ran, so the transfer is no longer in flight; not kept.
        unsafe { free_transfer(transfer) };
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Received { seq: u64, data: Bytes },
    Sent,
    Cancelled,
    Failed(LinkError),
}

/// How a transfer came back, as libusb reports it.
struct Finished {
    status: c_int,
    actual: usize,
    requested: usize,
}

impl Finished {
    /// An IN transfer: how many bytes to deliver (a short read is normal), or why not.
    fn rx(&self) -> Result<usize, Outcome> {
        match self.status {
            LIBUSB_TRANSFER_COMPLETED => Ok(self.actual.min(self.requested)),
            LIBUSB_TRANSFER_CANCELLED => Err(Outcome::Cancelled),
            status => Err(Outcome::Failed(status_error(status))),
        }
    }

    /// An OUT transfer: sent in full, or why not.
    fn tx(&self) -> Outcome {
        match self.status {
            LIBUSB_TRANSFER_COMPLETED if self.actual == self.requested => Outcome::Sent,
            LIBUSB_TRANSFER_COMPLETED => Outcome::Failed(LinkError::Transfer(
                "the phone took only part of a packet".into(),
            )),
            LIBUSB_TRANSFER_CANCELLED => Outcome::Cancelled,
            status => Outcome::Failed(status_error(status)),
        }
    }
}

/// The event thread: run callbacks until the link stops, then cancel, clean up and report.
fn run_events(pipes: Arc<BulkPipes>) {
    let context = pipes.handle.context().clone();
    loop {
        let parked = !lock(&pipes.backlog).parked.is_empty();
        let wait = if parked { BACKLOG_POLL } else { EVENT_POLL };
        match context.handle_events(Some(wait)) {
            Ok(()) | Err(rusb::Error::Interrupted) => {}
            Err(error) => pipes.stop(Some(LinkError::Transfer(format!(
                "USB event handling failed: {error}"
            )))),
        }
        if lock(&pipes.incoming).as_ref().is_none_or(|s| s.is_closed()) {
            pipes.stop(None);
        }
        if pipes.stopping() {
            break;
        }
        pipes.resume_parked();
    }

    // Cancel what is in flight. Callbacks (the only code that frees in-flight transfers) run on
    // this thread, and nothing is submitted once `stopping` is set, so the snapshot stays valid.
    let flying: Vec<usize> = lock(&pipes.state).in_flight.iter().copied().collect();
    for transfer in flying {
        // SAFETY: in flight, hence allocated; NOT_FOUND (just completed) is harmless.
        unsafe { ffi::libusb_cancel_transfer(transfer as *mut libusb_transfer) };
    }
    let deadline = Instant::now() + DRAIN_LIMIT;
    while !lock(&pipes.state).in_flight.is_empty() && Instant::now() < deadline {
        let _ = context.handle_events(Some(Duration::from_millis(50)));
    }
    let parked = std::mem::take(&mut lock(&pipes.backlog).parked);
    for transfer in parked {
        // SAFETY: parked transfers are ours and not in flight.
        unsafe { free_transfer(transfer as *mut libusb_transfer) };
    }
    let stuck = lock(&pipes.state).in_flight.len();
    if stuck == 0 {
        let _ = pipes.handle.release_interface(pipes.mux.interface);
    } else {
        tracing::warn!(
            stuck,
            "USB transfers did not return after cancel; leaking them"
        );
        std::mem::forget(pipes.clone());
    }

    // Report the failure, then close `incoming`. A full queue gets no Err: the reader sees the
    // channel close after the data, which the Link contract also means "unplugged".
    let error = lock(&pipes.state).error.clone();
    let sender = lock(&pipes.incoming).take();
    if let (Some(error), Some(sender)) = (error, sender) {
        tracing::debug!(%error, "USB link ended");
        let _ = sender.try_send(Err(error));
    }
}

/// The writer task: each packet from `outgoing` becomes one OUT transfer (+ ZLP when needed).
async fn write_packets(pipes: Arc<BulkPipes>, mut outgoing: mpsc::Receiver<Bytes>) {
    let slots = Arc::new(Semaphore::new(TX_IN_FLIGHT));
    loop {
        let packet = tokio::select! {
            _ = pipes.tx_stop.notified() => break,
            packet = outgoing.recv() => match packet {
                Some(packet) => packet,
                None => {
                    // Every sender dropped: the Link is gone.
                    pipes.stop(None);
                    break;
                }
            },
        };
        let permit = tokio::select! {
            _ = pipes.tx_stop.notified() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let length = packet.len();
        let mut result = pipes.submit_tx(Vec::from(packet), Some(permit));
        if result.is_ok() && needs_zlp(length, pipes.mux.out_max_packet) {
            result = pipes.submit_tx(Vec::new(), None);
        }
        match result {
            Ok(()) => {}
            Err(rusb::Error::Interrupted) => break,
            Err(rusb::Error::NoDevice) => {
                pipes.stop(Some(LinkError::Disconnected));
                break;
            }
            Err(error) => {
                pipes.stop(Some(LinkError::Transfer(format!(
                    "USB write failed: {error}"
                ))));
                break;
            }
        }
    }
    // Let later senders see the link is closed instead of filling a dead queue.
    outgoing.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(status: c_int, actual: usize, requested: usize) -> Finished {
        Finished {
            status,
            actual,
            requested,
        }
    }

    #[test]
    fn short_and_empty_reads_deliver_what_arrived() {
        assert_eq!(
            finished(LIBUSB_TRANSFER_COMPLETED, 9093, RX_BUFFER_SIZE).rx(),
            Ok(9093)
        );
        assert_eq!(
            finished(LIBUSB_TRANSFER_COMPLETED, 0, RX_BUFFER_SIZE).rx(),
            Ok(0)
        );
        // A bogus length from below never reads past the buffer.
        assert_eq!(
            finished(LIBUSB_TRANSFER_COMPLETED, 1 << 20, 16).rx(),
            Ok(16)
        );
    }

    #[test]
    fn unplug_and_errors_end_the_link() {
        for status in [LIBUSB_TRANSFER_NO_DEVICE, LIBUSB_TRANSFER_ERROR] {
            assert_eq!(
                finished(status, 0, 512).rx(),
                Err(Outcome::Failed(LinkError::Disconnected))
            );
            assert_eq!(
                finished(status, 0, 512).tx(),
                Outcome::Failed(LinkError::Disconnected)
            );
        }
        for status in [
            LIBUSB_TRANSFER_STALL,
            LIBUSB_TRANSFER_OVERFLOW,
            LIBUSB_TRANSFER_TIMED_OUT,
        ] {
            assert!(matches!(
                finished(status, 0, 512).tx(),
                Outcome::Failed(LinkError::Transfer(_))
            ));
        }
        assert_eq!(
            finished(LIBUSB_TRANSFER_CANCELLED, 0, 512).rx(),
            Err(Outcome::Cancelled)
        );
    }

    #[test]
    fn writes_must_go_out_whole() {
        assert_eq!(
            finished(LIBUSB_TRANSFER_COMPLETED, 512, 512).tx(),
            Outcome::Sent
        );
        assert_eq!(
            finished(LIBUSB_TRANSFER_COMPLETED, 0, 0).tx(),
            Outcome::Sent
        );
        assert!(matches!(
            finished(LIBUSB_TRANSFER_COMPLETED, 100, 512).tx(),
            Outcome::Failed(LinkError::Transfer(_))
        ));
    }
}
