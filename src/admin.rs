//! Schema administration outside `start()`: what the `pg-boss-native` CLI (lib/cli) asks of the
//! engine. The CLI constructs an instance it never starts, opens its pool with `open`, runs its
//! commands and closes it: no worker, supervisor, cron or BAM runner runs, and nothing is
//! registered. Arguments arrive as a JSON array and answers leave as JSON text, like `api::call`.
//! Reads the CLI shares with the class (`schemaVersion`, `detectSchemaDrift`) go through the
//! class's own methods once the pool is open; only what pg-boss's CLI does beyond its class is here.

use crate::engine::Engine;
use crate::error::{BossError, Result};
use crate::plans;
use crate::plans::schema::SCHEMA_VERSION;
use serde_json::{json, Value};

fn version_arg(args: &[Value], command: &str) -> Result<i64> {
    args.first().and_then(Value::as_i64).ok_or_else(|| {
        BossError::assertion(format!("{command}: expected the schema version found"))
    })
}

/// The rows of `sql` (one JSON object each) as one JSON array.
async fn json_rows(engine: &Engine, sql: &str) -> Result<String> {
    let db = engine.instance_db()?;
    let rows: Vec<Value> = engine
        .query(&db, sql, &[])
        .await?
        .iter()
        .map(|r| serde_json::from_str(r))
        .collect::<std::result::Result<_, _>>()?;
    Ok(Value::Array(rows).to_string())
}

pub async fn call(engine: &Engine, command: &str, args: &[Value]) -> Result<String> {
    let s = &engine.config.schema;
    match command {
        "open" => engine.open_pool().map(|_| "null".into()),
        "close" => {
            engine.close_pool();
            Ok("null".into())
        }
        // the full install, schema included, as pg-boss's CLI creates it
        "install" => {
            let db = engine.instance_db()?;
            // the backend's layout, as start() installs it
            db.batch(&plans::schema_flat::install_for(
                s,
                true,
                engine.config.profile(),
            ))
            .await?;
            Ok(SCHEMA_VERSION.to_string())
        }
        // from the version found to the one served, the index builds run here after the COMMIT
        "upgrade" => {
            let from = version_arg(args, command)?;
            if plans::migrate::v10::V10_VERSIONS.contains(&from) || from == SCHEMA_VERSION {
                // pg-boss 10's schema (or the rest of its interrupted move): installed afresh,
                // with nothing left to build
                engine.upgrade_v10_at_start().await?;
                return Ok(json!({ "failedBuild": null }).to_string());
            }
            let upgraded = engine.upgrade(from, true).await?;
            Ok(match upgraded.failed_build {
                None => json!({ "failedBuild": null }),
                Some((error, remaining)) => {
                    json!({ "failedBuild": { "error": error, "remaining": remaining } })
                }
            }
            .to_string())
        }
        // an upgrade from pg-boss 10 begun and not finished (the schema reads 46 meanwhile)
        "v10Pending" => Ok(engine.v10_upgrade_pending().await?.to_string()),
        "rollback" => {
            let version = version_arg(args, command)?;
            let script = plans::migrate::rollback(s, version).ok_or_else(|| {
                BossError::operational(plans::migrate::no_plan_message("rollback of", version))
            })?;
            engine.instance_db()?.batch(&script).await?;
            Ok((version - 1).to_string())
        }
        // the `{ tableName, policy }` rows an exported migration aims its index builds at
        "partitionTables" => json_rows(engine, &plans::migrate::partition_tables(s)).await,
        // job indexes with their size (`{ name, table, pages, entries, bytes, owned }`): the
        // bloated ones by pg-boss's default thresholds, or all of them with `force`
        "jobIndexes" => {
            let force = args.first().and_then(Value::as_bool).unwrap_or(false);
            let thresholds = (!force).then(plans::reindex::BloatThresholds::default);
            json_rows(engine, &plans::reindex::targets(s, thresholds)).await
        }
        // the statements that rebuild the named indexes (after dropping stubs a rebuild left)
        "reindexCommands" => {
            let names: Vec<String> = args
                .first()
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let db = engine.instance_db()?;
            let leftovers = engine
                .query(&db, &plans::reindex::leftovers(s), &[])
                .await?;
            Ok(json!(plans::reindex::commands(s, &leftovers, &names)).to_string())
        }
        // whether job_now() carries a TestClock override (read from its source, best effort)
        "clockOverridden" => {
            let db = engine.instance_db()?;
            let overridden = match engine.query(&db, &plans::clock::source(s), &[]).await {
                Ok(rows) => rows
                    .first()
                    .is_some_and(|src| plans::clock::is_overridden(src)),
                Err(_) => false,
            };
            Ok(overridden.to_string())
        }
        "restoreClock" => {
            engine
                .instance_db()?
                .batch(&plans::clock::restore(s))
                .await?;
            Ok("null".into())
        }
        other => Err(BossError::operational(format!(
            "unknown admin command {other}"
        ))),
    }
}
