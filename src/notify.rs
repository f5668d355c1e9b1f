//! LISTEN/NOTIFY (`useListenNotify`): one dedicated connection listens on the channel pg-boss
//! uses; a notification (payload = queue name) wakes that queue's workers at once. Polling stays
//! as the backstop, relaxed to `notifyPollingIntervalSeconds` while the listener is up. The
//! connection is re-opened with backoff (1 s doubling to 30 s) when it drops.

use crate::engine::{Engine, EngineEvent};
use crate::error::BossError;
use futures_util::StreamExt;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio_postgres::AsyncMessage;

impl Engine {
    /// `useListenNotify` at start: the listener on the native pool's connection settings. With a
    /// constructor `db` there is no connection of ours to listen on (the engine does not LISTEN
    /// through an adapter), so, as pg-boss does for a `db` without `listen`, one warning says the
    /// instance polls instead.
    pub fn start_listening(self: &Arc<Self>) {
        if self.config.external_db {
            self.emit(EngineEvent::Warning {
                message: "useListenNotify is enabled but pg-boss-native does not LISTEN through a db adapter. Continuing with polling only.".into(),
                data: serde_json::json!({ "type": "listen_notify_unavailable" }),
            });
            return;
        }
        self.spawn_listener();
    }

    fn spawn_listener(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move { listen_forever(weak).await });
        self.add_task(task);
    }
}

async fn listen_forever(weak: Weak<Engine>) {
    // failed tries since the listener was last up; the first try that never got up is a warning
    // (the instance carries on polling), a listener lost after it was up an error, as in pg-boss
    let mut failures: u32 = 0;
    let mut ever_up = false;
    loop {
        let Some(engine) = weak.upgrade() else { return };
        let mut was_up = false;
        let result = listen_once(&engine, &mut was_up).await;
        engine.set_listening(false);
        if was_up {
            ever_up = true;
            failures = 0;
        }
        if let Err(err) = result {
            if !ever_up && failures == 0 {
                engine
                    .warn(
                        "listen_notify_unavailable",
                        "Failed to start LISTEN/NOTIFY listener. Continuing with polling only."
                            .into(),
                        serde_json::json!({
                            "type": "listen_notify_unavailable",
                            "instance": engine.config.instance.id,
                            "error": err.message
                        }),
                    )
                    .await;
            } else {
                engine.emit(EngineEvent::Error(err));
            }
        }
        failures = failures.saturating_add(1);
        drop(engine);
        let backoff = Duration::from_secs(2u64.saturating_pow(failures.saturating_sub(1)).min(30));
        tokio::time::sleep(backoff).await;
    }
}

/// Listen until the connection ends; `up` is set once the subscription is made.
async fn listen_once(engine: &Arc<Engine>, up: &mut bool) -> Result<(), BossError> {
    let settings = engine.config.connection.as_ref().ok_or_else(|| {
        BossError::operational("LISTEN/NOTIFY needs the native pool's connection settings")
    })?;
    // as pg-boss's listener: TCP keepalive so a silently dead connection is found
    let keepalive = Duration::from_millis(engine.config.notify_keepalive_initial_delay_ms);
    let (client, mut connection) = crate::connection::open(settings, Some(keepalive)).await?;
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<Result<AsyncMessage, tokio_postgres::Error>>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            let end = message.is_err();
            if tx.send(message).is_err() || end {
                break;
            }
        }
    });
    let channel = engine.config.schema.notify_channel();
    client
        .batch_execute(&crate::plans::notify::listen(&channel))
        .await?;
    engine.set_listening(true);
    *up = true;
    // after every (re)subscribe, every notify queue's workers fetch once: nothing sent while we
    // were not listening is missed
    for w in engine.workers.all() {
        w.wake.notify_one();
    }
    // as pg-boss's listener: a heartbeat on the same session finds a connection that died
    // silently, or a subscription the server no longer holds
    let every = Duration::from_millis(engine.config.notify_heartbeat_interval_ms.max(1));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let result = loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(Ok(AsyncMessage::Notification(n))) => engine.notify_queue(n.payload()),
                Some(Ok(_)) => {}
                Some(Err(err)) => break Err(BossError::from(err)),
                None => break Err(BossError::operational("LISTEN/NOTIFY connection ended")),
            },
            _ = heartbeat.tick() => {
                if let Err(err) = still_listening(engine, &client, &channel).await {
                    break Err(err);
                }
            }
        }
    };
    driver.abort();
    result
}

async fn still_listening(
    engine: &Engine,
    client: &tokio_postgres::Client,
    channel: &str,
) -> Result<(), BossError> {
    let limit = Duration::from_millis(engine.config.notify_heartbeat_timeout_ms.max(1));
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&channel];
    let check = client.query_one(crate::plans::notify::STILL_LISTENING, &params);
    match tokio::time::timeout(limit, check).await {
        Err(_) => Err(BossError::operational("LISTEN/NOTIFY heartbeat timed out")),
        Ok(Err(err)) => Err(err.into()),
        Ok(Ok(row)) if row.try_get::<_, bool>(0).unwrap_or(false) => Ok(()),
        Ok(Ok(_)) => Err(BossError::operational(
            "LISTEN/NOTIFY channel registration was lost",
        )),
    }
}
