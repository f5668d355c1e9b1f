//! Pub/sub: `subscribe(event, name)` and `unsubscribe(event, name)` keep the `subscription` rows
//! that map an event to queues; `publish(event, data, options)` sends one job to every queue
//! subscribed to the event, through `send()` with the same data and options.
//!
//! As in pg-boss 12.38: the subscriptions are read on the instance's own database (the
//! constructor `db`, or the native pool) while the sends honour a per-call `options.db`; the sends
//! run concurrently and each settles on its own, so a queue that refuses its job (a validation
//! error, a `key_strict_fifo` queue without a `singletonKey`, a missing dead letter queue) does
//! not stop the others. The refusals come back together as one `AggregateError`. A queue deleted
//! since it was read is skipped, as a send to it would insert nothing; a policy that skips the
//! insert (singleton, throttle slot) is no failure, as `send()` then returns `null`.

use crate::db::SharedExecutor;
use crate::engine::Engine;
use crate::error::{BossError, Result};
use crate::jobs::check_send_args;
use crate::js;
use crate::plans;
use crate::queues::QUEUE_NOT_FOUND;
use crate::validate::required_argument;
use serde_json::Value;
use std::sync::Arc;

impl Engine {
    /// `subscribe(event, name)`.
    pub async fn subscribe(&self, event: Option<&Value>, name: Option<&Value>) -> Result<()> {
        self.write_subscription(plans::pubsub::subscribe(&self.config.schema), event, name)
            .await
    }

    /// `unsubscribe(event, name)`.
    pub async fn unsubscribe(&self, event: Option<&Value>, name: Option<&Value>) -> Result<()> {
        self.write_subscription(plans::pubsub::unsubscribe(&self.config.schema), event, name)
            .await
    }

    async fn write_subscription(
        &self,
        sql: String,
        event: Option<&Value>,
        name: Option<&Value>,
    ) -> Result<()> {
        required_argument(event)?;
        required_argument(name)?;
        let db = self.instance_db()?;
        self.query(&db, &sql, &[js::pg_text(event), js::pg_text(name)])
            .await?;
        Ok(())
    }

    /// `publish(event, data, options)`: one `send(queue, data, options)` per subscribed queue.
    /// `options` are as index.js forwards them (its `db` split off into `db`). Resolves with the
    /// (queue, job id) of each job sent.
    pub async fn publish(
        self: &Arc<Self>,
        event: Option<&Value>,
        data: Value,
        options: Value,
        db: Option<SharedExecutor>,
    ) -> Result<Vec<(String, String)>> {
        required_argument(event)?;
        let queues = self
            .query(
                &self.instance_db()?,
                &plans::pubsub::subscribed_queues(&self.config.schema),
                &[js::pg_text(event)],
            )
            .await?;
        let sends = queues.iter().map(|queue| {
            let args = [Value::String(queue.clone()), data.clone(), options.clone()];
            let db = db.clone();
            async move { self.send(check_send_args(&args)?, db).await }
        });
        let outcomes = futures_util::future::join_all(sends).await;
        let mut sent: Vec<(String, String)> = Vec::new();
        let mut refusals: Vec<(&str, BossError)> = Vec::new();
        for (queue, outcome) in queues.iter().zip(outcomes) {
            match outcome {
                Ok(Some(id)) => sent.push((queue.clone(), id)),
                Ok(None) => {}
                Err(err) => refusals.push((queue.as_str(), err)),
            }
        }
        match publish_failure(&js::display(event), queues.len(), refusals) {
            Some(err) => {
                // the jobs that were sent still count for the spies; JavaScript never sees their ids
                for (queue, id) in sent {
                    self.spy_created(&queue, || vec![(id, data.clone())]);
                }
                Err(err)
            }
            // (queue, job id) of each job sent, for the spies (`index.js` publish)
            None => Ok(sent),
        }
    }
}

/// The `AggregateError` for the sends of a publish to `subscribed` queues that were refused, or
/// none when every one either sent or found its queue gone. Each entry names its queue.
fn publish_failure(
    event: &str,
    subscribed: usize,
    refusals: Vec<(&str, BossError)>,
) -> Option<BossError> {
    let failures: Vec<String> = refusals
        .into_iter()
        .filter(|(_, err)| err.sqlstate() != Some(QUEUE_NOT_FOUND))
        .map(|(queue, err)| format!("{queue}: {}", err.message))
        .collect();
    if failures.is_empty() {
        return None;
    }
    Some(BossError::aggregate(
        format!(
            "publish('{event}') failed for {} of {subscribed} subscribed queue(s)",
            failures.len()
        ),
        failures,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn refused_sends_are_reported_together_naming_their_queues() {
        let err = publish_failure(
            "order-placed",
            3,
            vec![
                (
                    "audit",
                    BossError::operational("key_strict_fifo queues require a singletonKey"),
                ),
                ("email", BossError::assertion("priority must be an integer")),
            ],
        )
        .expect("an error");
        assert_eq!(
            err.message,
            "publish('order-placed') failed for 2 of 3 subscribed queue(s)"
        );
        assert_eq!(
            err.kind,
            ErrorKind::Aggregate {
                errors: vec![
                    "audit: key_strict_fifo queues require a singletonKey".into(),
                    "email: priority must be an integer".into()
                ]
            }
        );
    }

    #[test]
    fn a_queue_gone_since_it_was_read_is_no_failure() {
        let gone = crate::queues::queue_not_found("audit");
        assert!(publish_failure("e", 2, vec![("audit", gone)]).is_none());
        assert!(publish_failure("e", 2, vec![]).is_none());
    }
}
