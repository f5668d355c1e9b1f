//! Warnings: every `warning` event the engine emits goes through `Engine::warn`, which also stores
//! it in the `warning` table when the instance was started with `persistWarnings` (as pg-boss
//! 12.38's `emitAndPersistWarning`). A warning that cannot be stored is an `error` event, never a
//! failure of what raised it.

use crate::engine::{Engine, EngineEvent};
use crate::plans;
use serde_json::Value;

impl Engine {
    /// Report a warning (`warning` event) and, with `persistWarnings`, store it.
    pub async fn warn(&self, kind: &str, message: String, data: Value) {
        self.emit(EngineEvent::Warning {
            message: message.clone(),
            data: data.clone(),
        });
        self.store_warning(kind, message, data).await;
    }

    /// With `persistWarnings`, store a warning in the `warning` table (no event).
    pub async fn store_warning(&self, kind: &str, message: String, data: Value) {
        if self.config.persist_warnings {
            let stored = async {
                let db = self.instance_db()?;
                self.query(
                    &db,
                    &plans::warnings::insert_warning(&self.config.schema),
                    &[
                        Some(kind.to_string()),
                        Some(message),
                        Some(data.to_string()),
                    ],
                )
                .await
            }
            .await;
            if let Err(err) = stored {
                self.emit(EngineEvent::Error(err));
            }
        }
    }
}

impl Engine {
    /// At start: a YugabyteDB server without a backend profile that avoids table partitioning and
    /// advisory locks (which fail there) is warned about, as pg-boss 12.38 does. Best effort:
    /// nothing here can keep the instance from starting.
    pub async fn warn_if_distributed_misconfigured(&self) {
        if matches!(self.config.backend.as_str(), "yugabytedb" | "cockroachdb") {
            return;
        }
        let Ok(db) = self.instance_db() else { return };
        let Ok(rows) = db.query(plans::warnings::SERVER_VERSION, &[]).await else {
            return;
        };
        let version = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default()
            .to_lowercase();
        if version.contains("yugabyte") || version.contains("-yb-") {
            self.emit(EngineEvent::Warning {
                message: "YugabyteDB detected. YugabyteDB is not supported. Until the next major, backend: 'yugabytedb' avoids the table partitioning and advisory locks that fail there.".into(),
                data: serde_json::json!({ "backend": "yugabytedb" }),
            });
        }
    }
}
