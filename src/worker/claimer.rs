//! One fetch feeding several loops: the loops of a `work()` call with `localConcurrency > 1` ask
//! a shared claimer for their next batch; whichever asks while no fetch runs claims for every
//! loop waiting at that moment in one statement and hands each its share. Under load sixteen
//! idle loops cost one claim instead of sixteen; an idle queue costs what it did. A loop may
//! bring a carry (its last batch, all completed) for the fetch to write back in the same
//! statement: then the whole round is one commit, which is what loops at batchSize 1 wait on.

use super::ClaimedJob;
use crate::error::BossError;
use std::sync::Mutex;
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<Vec<ClaimedJob>, BossError>>;

/// Fetches of one claimer running at once. Measured at batchSize 1, localConcurrency 16: one
/// (~8,900 jobs/s) beats two (~8,200) and four (~6,800): with fewer, bigger claims the commits
/// the server waits on are fewer.
const IN_FLIGHT: usize = 1;

pub struct SharedClaimer<C> {
    state: Mutex<State<C>>,
}

struct State<C> {
    fetching: usize,
    waiting: Vec<(usize, Option<C>, Reply)>,
}

impl<C> Default for SharedClaimer<C> {
    fn default() -> Self {
        SharedClaimer {
            state: Mutex::new(State {
                fetching: 0,
                waiting: Vec::new(),
            }),
        }
    }
}

impl<C> SharedClaimer<C> {
    /// Claim up to `limit` jobs, bringing `carry`; `fetch(n, carries)` runs one claim of `n` jobs
    /// for everyone waiting and takes their carries (it answers for them, whatever happens).
    pub async fn claim<F, Fut>(
        &self,
        limit: usize,
        carry: Option<C>,
        fetch: F,
    ) -> Result<Vec<ClaimedJob>, BossError>
    where
        F: Fn(usize, Vec<C>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<ClaimedJob>, BossError>>,
    {
        let poisoned = || BossError::operational("claimer lock poisoned");
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut st = self.state.lock().map_err(|_| poisoned())?;
            st.waiting.push((limit, carry, tx));
            let lead = st.fetching < IN_FLIGHT;
            if lead {
                st.fetching += 1;
            }
            lead
        };
        if lead {
            loop {
                let batch = {
                    let mut st = self.state.lock().map_err(|_| poisoned())?;
                    if st.waiting.is_empty() {
                        st.fetching -= 1;
                        break;
                    }
                    // a power of two of the waiting loops: every distinct claim size is a
                    // statement each connection plans on its own, so sizes stay few; the rest
                    // go in the next claim
                    let mut batch = std::mem::take(&mut st.waiting);
                    let keep = 1usize << (usize::BITS - 1 - batch.len().leading_zeros());
                    st.waiting = batch.split_off(keep);
                    batch
                };
                let total: usize = batch.iter().map(|(n, _, _)| n).sum();
                let mut carries = Vec::new();
                let mut replies = Vec::with_capacity(batch.len());
                for (n, carry, reply) in batch {
                    carries.extend(carry);
                    replies.push((n, reply));
                }
                match fetch(total, carries).await {
                    Ok(jobs) => {
                        let mut jobs = jobs.into_iter();
                        for (n, reply) in replies {
                            let share: Vec<ClaimedJob> = jobs.by_ref().take(n).collect();
                            let _ = reply.send(Ok(share));
                        }
                    }
                    Err(err) => {
                        for (_, reply) in replies {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn job(id: usize) -> ClaimedJob {
        ClaimedJob::with_id(&id.to_string())
    }

    #[tokio::test]
    async fn loops_waiting_together_share_a_fetch_and_its_carries() {
        let claimer = Arc::new(SharedClaimer::<u32>::default());
        let fetches = Arc::new(Mutex::new(Vec::<(usize, Vec<u32>)>::new()));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for k in 0..5u32 {
            let (claimer, fetches, gate) = (claimer.clone(), fetches.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                claimer
                    .claim(2, Some(k), |n, carries| {
                        let (fetches, gate) = (fetches.clone(), gate.clone());
                        async move {
                            fetches.lock().unwrap().push((n, carries));
                            gate.notified().await; // hold the fetch so others queue up
                            Ok((0..n).map(job).collect())
                        }
                    })
                    .await
            }));
            tokio::task::yield_now().await;
        }
        for _ in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            gate.notify_waiters();
        }
        for t in tasks {
            assert_eq!(
                t.await.unwrap().unwrap().len(),
                2,
                "each loop gets its share"
            );
        }
        let fetches = fetches.lock().unwrap();
        let carried: usize = fetches.iter().map(|(_, c)| c.len()).sum();
        assert_eq!(carried, 5, "every carry went to exactly one fetch");
        assert!(
            fetches.len() < 5,
            "loops that waited together shared a fetch: {fetches:?}"
        );
        for (n, carries) in fetches.iter() {
            assert!(
                n.is_power_of_two() && *n == carries.len() * 2,
                "{n} for {carries:?}"
            );
        }
    }
}
