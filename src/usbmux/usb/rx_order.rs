//! Delivers completed IN transfers in the order they were submitted.
//!
//! Several IN transfers are kept in flight on one endpoint. The host controller fills them in
//! queue order and libusb calls their callbacks from our single event thread, so completions
//! already arrive in order; this makes that a checked property rather than an assumption: every
//! submission takes a sequence number, and a completion is released only after all earlier ones.
//! Holding is bounded: more than `max_held` chunks waiting on one missing completion is reported
//! as an error (the link then fails) instead of buffering without limit.

use std::collections::BTreeMap;

use bytes::Bytes;

#[derive(Debug)]
pub(crate) struct RxOrder {
    next_issue: u64,
    next_release: u64,
    held: BTreeMap<u64, Bytes>,
    max_held: usize,
}

/// Completions strayed further from submission order than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooFarOutOfOrder;

impl RxOrder {
    pub(crate) fn new(max_held: usize) -> Self {
        RxOrder {
            next_issue: 0,
            next_release: 0,
            held: BTreeMap::new(),
            max_held,
        }
    }

    /// Sequence number for a transfer about to be submitted.
    pub(crate) fn issue(&mut self) -> u64 {
        let seq = self.next_issue;
        self.next_issue += 1;
        seq
    }

    /// Record the data of completed submission `seq` (possibly empty: a zero-length packet) and
    /// return every chunk that can now be delivered, in order, empty ones dropped.
    pub(crate) fn complete(
        &mut self,
        seq: u64,
        data: Bytes,
    ) -> Result<Vec<Bytes>, TooFarOutOfOrder> {
        debug_assert!(seq < self.next_issue && seq >= self.next_release);
        self.held.insert(seq, data);
        let mut ready = Vec::new();
        while let Some(chunk) = self.held.remove(&self.next_release) {
            self.next_release += 1;
            if !chunk.is_empty() {
                ready.push(chunk);
            }
        }
        if self.held.len() > self.max_held {
            return Err(TooFarOutOfOrder);
        }
        Ok(ready)
    }

    /// Chunks waiting for an earlier completion.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_completions_pass_straight_through() {
        let mut order = RxOrder::new(3);
        let (a, b) = (order.issue(), order.issue());
        assert_eq!(
            order.complete(a, Bytes::from_static(b"ab")).unwrap(),
            [Bytes::from_static(b"ab")]
        );
        assert_eq!(
            order.complete(b, Bytes::from_static(b"c")).unwrap(),
            [Bytes::from_static(b"c")]
        );
        assert_eq!(order.held(), 0);
    }

    #[test]
    fn early_completion_waits_for_the_earlier_submission() {
        let mut order = RxOrder::new(3);
        let (a, b, c) = (order.issue(), order.issue(), order.issue());
        assert!(
            order
                .complete(c, Bytes::from_static(b"3"))
                .unwrap()
                .is_empty()
        );
        assert!(
            order
                .complete(b, Bytes::from_static(b"2"))
                .unwrap()
                .is_empty()
        );
        assert_eq!(order.held(), 2);
        let out = order.complete(a, Bytes::from_static(b"1")).unwrap();
        assert_eq!(out.concat(), b"123");
        assert_eq!(order.held(), 0);
    }

    #[test]
    fn zero_length_completions_keep_the_sequence_moving() {
        let mut order = RxOrder::new(3);
        let (a, b, c) = (order.issue(), order.issue(), order.issue());
        assert!(
            order
                .complete(b, Bytes::from_static(b"x"))
                .unwrap()
                .is_empty()
        );
        assert!(order.complete(a, Bytes::new()).unwrap().len() == 1);
        assert_eq!(
            order.complete(c, Bytes::from_static(b"y")).unwrap(),
            [Bytes::from_static(b"y")]
        );
    }

    #[test]
    fn resubmission_cycle_preserves_the_byte_stream() {
        // Three transfers in flight, each resubmitted on completion with a new number, completing
        // in a scrambled (deterministic) order that never strands more than `max_held` chunks.
        // Each carries bytes naming its own sequence number, some none at all; the output must
        // be the submissions' bytes in submission order.
        let payload = |seq: u64| -> Vec<u8> { seq.to_be_bytes().repeat((seq % 3) as usize) };
        let mut order = RxOrder::new(4);
        let mut in_flight: Vec<u64> = (0..3).map(|_| order.issue()).collect();
        let mut out = Vec::new();
        let mut pick = 7usize;
        let mut out_of_order = 0;
        for _ in 0..300 {
            pick = (pick * 31 + 11) % 97;
            let index = if order.held() >= 4 {
                0
            } else {
                pick % in_flight.len()
            };
            out_of_order += usize::from(index != 0);
            let seq = in_flight.remove(index);
            for ready in order.complete(seq, Bytes::from(payload(seq))).unwrap() {
                out.extend_from_slice(&ready);
            }
            in_flight.push(order.issue());
        }
        assert!(out_of_order > 100);
        let released = order.next_release;
        assert!(released > 290);
        let expected: Vec<u8> = (0..released).flat_map(payload).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn a_completion_that_never_comes_is_an_error_not_unbounded_memory() {
        let mut order = RxOrder::new(2);
        let _stuck = order.issue();
        let (b, c, d) = (order.issue(), order.issue(), order.issue());
        assert!(order.complete(b, Bytes::from_static(b"b")).is_ok());
        assert!(order.complete(c, Bytes::from_static(b"c")).is_ok());
        assert_eq!(
            order.complete(d, Bytes::from_static(b"d")),
            Err(TooFarOutOfOrder)
        );
    }
}
