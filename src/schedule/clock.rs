//! The instance's clock as the timekeeper sees it: the `clock` option's time and timers when the
//! constructor was given one (reached through the `TimekeeperHost`), else the system's; and an
//! attachable clock's hold on the schema's `job_now()` from start to stop.

use super::TimekeeperHost;
use crate::engine::Engine;
use crate::error::Result;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

impl Engine {
    /// This instance's clock: the `clock` option's when given, else the system's.
    pub(super) async fn local_now_ms(&self) -> Result<f64> {
        match (self.config.clock, self.timekeeper.host()) {
            (Some(_), Some(host)) => host.now().await,
            _ => Ok(crate::worker::now_ms() as f64),
        }
    }

    /// Wait `ms` on this instance's clock, or until the timekeeper stops (false then).
    pub(super) async fn timekeeper_sleep(
        &self,
        chain: &'static str,
        ms: f64,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let wait: futures_util::future::BoxFuture<'static, ()> =
            match (self.config.clock, self.timekeeper.host()) {
                (Some(_), Some(host)) => {
                    let sleep = host.sleep(chain, ms);
                    Box::pin(async move {
                        let _ = sleep.await;
                    })
                }
                _ => Box::pin(tokio::time::sleep(
                    Duration::from_millis(ms.max(0.0) as u64),
                )),
            };
        let woke = tokio::select! {
            _ = wait => true,
            _ = stop.wait_for(|s| *s) => false,
        };
        woke && !*stop.borrow()
    }

    fn attachable_clock_host(&self) -> Option<Arc<dyn TimekeeperHost>> {
        match self.config.clock {
            Some(crate::config::ClockConfig { attachable: true }) => self.timekeeper.host(),
            _ => None,
        }
    }

    /// An attachable `clock` takes over `job_now()` (start, once the schema exists).
    pub async fn attach_clock(&self) -> Result<()> {
        match self.attachable_clock_host() {
            Some(host) => host.attach().await,
            None => Ok(()),
        }
    }

    /// Its release (stop).
    pub async fn detach_clock(&self) -> Result<()> {
        match self.attachable_clock_host() {
            Some(host) => host.detach().await,
            None => Ok(()),
        }
    }
}
