//! `start({ attempts })`, as pg-boss 12.38 does it: a start that fails for any reason but an
//! assertion (a database not up yet, a schema another process is still migrating) is tried again,
//! 1 s after the first failure, the wait doubling up to 30 s. An assertion is a configuration the
//! engine refuses, which fails the same way every time, so it is not tried again. `stop()` ends a
//! wait: the start then fails with its last error.

use crate::engine::EngineEvent;
use crate::error::Result;
use serde_json::json;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const MAX_WAIT_SECONDS: u64 = 30;

/// The wait after try `tried` failed: 1 s, 2 s, 4 s, ... and 30 s from the sixth on.
pub fn wait_after(tried: u64) -> Duration {
    let doublings = tried.saturating_sub(1).min(5) as u32;
    Duration::from_secs((1u64 << doublings).min(MAX_WAIT_SECONDS))
}

/// Emitted once per start, on its first failure: an outage would otherwise repeat it every try.
fn retry_warning(attempts: u64, error: &str) -> EngineEvent {
    EngineEvent::Warning {
        message: format!(
            "start() failed and will try again, up to {} more times: {error}",
            attempts - 1
        ),
        data: json!({ "type": "start_retry", "attempts": attempts, "error": error }),
    }
}

/// One start's tries, for `stop()` to end.
#[derive(Default)]
struct Tries {
    cancelled: AtomicBool,
    /// `notify_one` keeps its permit, so a cancel between two checks still ends the next wait.
    wake: Notify,
}

/// The start in progress, if any (the engine's lifecycle lock lets one start try at a time).
#[derive(Default)]
pub struct StartRetries {
    current: Mutex<Option<Arc<Tries>>>,
}

/// Forgets the start's tries however `run` ends, so a later `cancel()` touches nothing.
struct Registered<'a>(&'a StartRetries);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if let Ok(mut current) = self.0.current.lock() {
            *current = None;
        }
    }
}

impl StartRetries {
    /// Runs `try_start` until it succeeds, fails with an assertion, has failed `attempts` times,
    /// or `cancel()` is called; resolves with the last error. `emit` receives the warning.
    pub async fn run<F, Fut>(
        &self,
        attempts: u64,
        emit: impl Fn(EngineEvent),
        mut try_start: F,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let tries = Arc::new(Tries::default());
        if let Ok(mut current) = self.current.lock() {
            *current = Some(tries.clone());
        }
        let _registered = Registered(self);
        let cancelled = || tries.cancelled.load(Ordering::SeqCst);
        let mut tried = 0u64;
        loop {
            tried += 1;
            let Err(err) = try_start().await else {
                return Ok(());
            };
            if tried >= attempts || err.is_assertion() || cancelled() {
                return Err(err);
            }
            if tried == 1 {
                emit(retry_warning(attempts, &err.message));
            }
            tokio::select! {
                _ = tokio::time::sleep(wait_after(tried)) => {}
                _ = tries.wake.notified() => {}
            }
            if cancelled() {
                return Err(err);
            }
        }
    }

    /// `stop()`: the start in progress tries no more, and a wait between tries ends now.
    pub fn cancel(&self) {
        let tries = self.current.lock().ok().and_then(|c| c.clone());
        if let Some(tries) = tries {
            tries.cancelled.store(true, Ordering::SeqCst);
            tries.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BossError;
    use std::sync::atomic::AtomicU64;
    use tokio::time::Instant;

    fn warnings(events: &Mutex<Vec<EngineEvent>>) -> Vec<(String, serde_json::Value)> {
        events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Warning { message, data } => Some((message.clone(), data.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn waits_double_from_one_second_up_to_thirty() {
        let waits: Vec<u64> = (1..=8).map(|n| wait_after(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(wait_after(u64::MAX).as_secs(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_start_is_tried_attempts_times_with_one_warning() {
        let retries = StartRetries::default();
        let events = Mutex::new(Vec::new());
        let calls = AtomicU64::new(0);
        let began = Instant::now();
        let result = retries
            .run(
                3,
                |e| events.lock().unwrap().push(e),
                || async {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    Err(BossError::database(None, format!("refused {n}")))
                },
            )
            .await;
        assert_eq!(result.unwrap_err().message, "refused 3");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(began.elapsed().as_secs(), 1 + 2);
        assert_eq!(
            warnings(&events),
            [(
                "start() failed and will try again, up to 2 more times: refused 1".to_string(),
                json!({ "type": "start_retry", "attempts": 3, "error": "refused 1" })
            )]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_start_that_succeeds_on_a_later_try_succeeds() {
        let retries = StartRetries::default();
        let calls = AtomicU64::new(0);
        let result = retries
            .run(
                5,
                |_| {},
                || async {
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0 | 1 => Err(BossError::operational("not yet")),
                        _ => Ok(()),
                    }
                },
            )
            .await;
        assert!(result.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_assertion_and_a_single_attempt_are_not_tried_again() {
        let retries = StartRetries::default();
        let events = Mutex::new(Vec::new());
        let calls = AtomicU64::new(0);
        let refused = retries
            .run(
                5,
                |e| events.lock().unwrap().push(e),
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(BossError::assertion("bad configuration"))
                },
            )
            .await;
        assert!(refused.unwrap_err().is_assertion());
        let once = retries
            .run(
                1,
                |e| events.lock().unwrap().push(e),
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(BossError::operational("down"))
                },
            )
            .await;
        assert_eq!(once.unwrap_err().message, "down");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(warnings(&events).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_ends_the_wait_and_the_start_fails_with_its_last_error() {
        let retries = Arc::new(StartRetries::default());
        let calls = Arc::new(AtomicU64::new(0));
        let running = {
            let (retries, calls) = (retries.clone(), calls.clone());
            tokio::spawn(async move {
                retries
                    .run(
                        10,
                        |_| {},
                        || async {
                            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                            Err(BossError::operational(format!("down {n}")))
                        },
                    )
                    .await
            })
        };
        // into the second wait (2 s, after the first try and the 1 s wait)
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let cancelled_at = Instant::now();
        retries.cancel();
        let result = running.await.unwrap();
        assert_eq!(cancelled_at.elapsed(), Duration::ZERO);
        assert_eq!(result.unwrap_err().message, "down 2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // nothing is left to cancel
        retries.cancel();
    }
}
