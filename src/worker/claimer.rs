//! One fetch feeding several loops: the loops of a `work()` call with `localConcurrency > 1` ask
//! a shared claimer for their next batch; whichever asks while no fetch is running claims for
//! every loop waiting at that moment in one statement and hands each its share. Under load
//! sixteen idle loops cost one claim instead of sixteen; an idle queue costs what it did.

use super::ClaimedJob;
use crate::error::BossError;
use std::sync::Mutex;
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<Vec<ClaimedJob>, BossError>>;

#[derive(Default)]
pub struct SharedClaimer {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    fetching: bool,
    waiting: Vec<(usize, Reply)>,
}

impl SharedClaimer {
    /// Claim up to `limit` jobs; `fetch(n)` runs one claim of `n` jobs for everyone waiting.
    pub async fn claim<F, Fut>(&self, limit: usize, fetch: F) -> Result<Vec<ClaimedJob>, BossError>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<ClaimedJob>, BossError>>,
    {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut st = self
                .state
                .lock()
                .map_err(|_| BossError::operational("claimer lock poisoned"))?;
            st.waiting.push((limit, tx));
            !std::mem::replace(&mut st.fetching, true)
        };
        if lead {
            loop {
                let batch = {
                    let mut st = self
                        .state
                        .lock()
                        .map_err(|_| BossError::operational("claimer lock poisoned"))?;
                    if st.waiting.is_empty() {
                        st.fetching = false;
                        break;
                    }
                    std::mem::take(&mut st.waiting)
                };
                let total: usize = batch.iter().map(|(n, _)| n).sum();
                match fetch(total).await {
                    Ok(jobs) => {
                        let mut jobs = jobs.into_iter();
                        for (n, reply) in batch {
                            let share: Vec<ClaimedJob> = jobs.by_ref().take(n).collect();
                            let _ = reply.send(Ok(share));
                        }
                    }
                    Err(err) => {
                        for (_, reply) in batch {
                            let _ = reply.send(Err(err.clone()));
                        }
                    }
                }
            }
        }
        rx.await
            .map_err(|_| BossError::operational("claim abandoned"))?
    }
}
