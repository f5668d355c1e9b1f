//! A local queue's batches, chained in JavaScript: with `prefetch` above `batchSize` a loop holds
//! more claimed jobs than one handler call takes (`batch::run`). Sent one at a time, each batch
//! would wait on a round trip from JavaScript to the engine's thread and back (measured at
//! batchSize 1: most of a no-op handler's cycle, the engine's wake-up and the event loop's). So
//! each batch is queued to start the moment the one before it reports its outcome
//! (`JobHandler::chain`): JavaScript starts it in the same call that reports, and the loop, which
//! still takes every outcome in order and times, fences and writes back every batch as before,
//! learns when it started.
//!
//! A chained batch that has not started can be taken back (`withdraw_from`): on a stop or once
//! held its share of the window, the loop takes back every batch not yet started and hands
//! their jobs back to the queue; the ones already started run to their end as any started batch.

use super::handler_call::Dispatch;
use super::{next_batch_id, Chained, ClaimedJob, Worker};
use std::sync::Arc;
use std::time::Instant;

pub(super) struct Chain {
    worker: Arc<Worker>,
    /// the batch id of each batch
    ids: Vec<u64>,
    /// `links[i]`: batch `i` queued to start after batch `i - 1` (none for the first, or once
    /// taken by `dispatch` or `withdraw_from`)
    links: Vec<Option<Chained>>,
}

impl Chain {
    /// `batches` (in order), each after the first queued to start once the one before reports.
    /// `None` when the handler does not chain.
    pub fn new(worker: &Arc<Worker>, batches: &[&[ClaimedJob]]) -> Option<Chain> {
        let ids: Vec<u64> = batches.iter().map(|_| next_batch_id()).collect();
        let mut links = Vec::with_capacity(batches.len());
        links.push(None);
        for i in 1..batches.len() {
            let message = super::handler_call::run_message(ids[i], batches[i], None);
            match worker.handler.chain(ids[i - 1], ids[i], message) {
                Some(link) => links.push(Some(link)),
                None => {
                    // not a chaining handler (it said so at the first batch): nothing is queued
                    debug_assert_eq!(i, 1);
                    return None;
                }
            }
        }
        Some(Chain {
            worker: worker.clone(),
            ids,
            links,
        })
    }

    /// How batch `i` starts: already started after the batch before it, or (not started, taken
    /// back now) to be sent.
    pub fn dispatch(&mut self, i: usize) -> (u64, Dispatch) {
        let id = self.ids[i];
        let Some(link) = self.links.get_mut(i).and_then(Option::take) else {
            return (id, Dispatch::Send);
        };
        if self.worker.handler.unchain(self.ids[i - 1]) {
            // dropped first: its pending outcome entry goes before `run` makes a new one
            drop(link);
            return (id, Dispatch::Send);
        }
        let at = link.started.get().copied().unwrap_or_else(Instant::now);
        (id, Dispatch::Started(link.outcome, at))
    }

    /// Take back every batch from `i` on that has not started; the index of the first of them
    /// (the batches before it had started: a batch starts only after the one before it).
    pub fn withdraw_from(&mut self, i: usize) -> usize {
        let mut first_unstarted = self.links.len();
        for j in i..self.links.len() {
            let Some(link) = self.links[j].take() else {
                continue;
            };
            if self.worker.handler.unchain(self.ids[j - 1]) {
                first_unstarted = first_unstarted.min(j);
            } else {
                self.links[j] = Some(link);
            }
        }
        first_unstarted
    }
}

impl Drop for Chain {
    /// Nothing stays queued once the loop is done with these batches (it may leave early).
    fn drop(&mut self) {
        self.withdraw_from(1);
    }
}
