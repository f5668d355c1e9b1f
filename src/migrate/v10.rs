//! The upgrade of a pg-boss 10 schema (21-24) to 46 (SQL and its reasons in
//! `plans::migrate::v10`): one short transaction moves the v10 schema aside and installs 46 with
//! v10's queues, schedules and subscriptions; then the jobs follow in batches, each a statement
//! of its own, live jobs first; then a last transaction drops what is left of v10. Killed at any
//! point, the next `start()` (or `upgradeFromV10()`) carries on from the rows still in the old
//! tables; `rollbackV10Upgrade()` puts v10 back. Every transaction is timed, so a report can say
//! how long the longest held its locks.

use crate::engine::{Engine, Lifecycle};
use crate::error::{ensure, BossError, Result};
use crate::js::Object;
use crate::plans::migrate::v10 as plan;
use crate::plans::schema::SCHEMA_VERSION;
use serde_json::{json, Map, Value};
use std::time::Instant;

/// What pg-boss's migration race check raises (ours raises the same).
const RACE: &str = "division by zero";

/// `upgradeFromV10()`'s options, checked.
pub struct UpgradeOptions {
    pub dry_run: bool,
    pub batch_size: i64,
    /// Stop after this many batches (a move done a slice at a time; the rest on a later call).
    pub max_batches: Option<u64>,
}

impl Default for UpgradeOptions {
    fn default() -> Self {
        UpgradeOptions {
            dry_run: false,
            batch_size: plan::DEFAULT_BATCH_SIZE,
            max_batches: None,
        }
    }
}

impl UpgradeOptions {
    pub fn parse(o: &Object) -> Result<UpgradeOptions> {
        let mut out = UpgradeOptions::default();
        for (key, value) in o {
            match key.as_str() {
                "dryRun" => {
                    out.dry_run = value.as_bool().ok_or_else(|| {
                        BossError::assertion("dryRun must be a boolean")
                    })?
                }
                "batchSize" => {
                    let n = value.as_f64().filter(|n| n.fract() == 0.0 && *n >= 1.0 && *n <= 1e6);
                    out.batch_size = n.ok_or_else(|| {
                        BossError::assertion("batchSize must be an integer from 1 to 1000000")
                    })? as i64;
                }
                "maxBatches" => {
                    let n = value.as_f64().filter(|n| n.fract() == 0.0 && *n >= 1.0);
                    out.max_batches = Some(n.ok_or_else(|| {
                        BossError::assertion("maxBatches must be a positive integer")
                    })? as u64);
                }
                other => {
                    return Err(BossError::assertion(format!(
                        "upgradeFromV10: unknown option {other} (options are dryRun, batchSize, maxBatches)"
                    )))
                }
            }
        }
        Ok(out)
    }
}

/// Timings and counts of one run.
#[derive(Default)]
struct Run {
    began: bool,
    batches: u64,
    moved: u64,
    unmoved: u64,
    longest_ms: f64,
    begin_ms: Option<f64>,
    finish_ms: Option<f64>,
}

impl Run {
    fn timed(&mut self, started: Instant) -> f64 {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.longest_ms = self.longest_ms.max(ms);
        ms
    }
}

impl Engine {
    /// `start()` found a v10 schema (or a v10 upgrade under way): the whole upgrade, default
    /// batch size, before start() goes on.
    pub(crate) async fn upgrade_v10_at_start(&self) -> Result<()> {
        self.upgrade_from_v10(&UpgradeOptions::default())
            .await
            .map(|_| ())
    }

    /// Whether a v10 upgrade is under way on this schema (its aside schema holds the marker).
    pub(crate) async fn v10_upgrade_pending(&self) -> Result<bool> {
        let db = self.instance_db()?;
        let rows = self
            .query(&db, &plan::marker(&self.config.schema), &[])
            .await?;
        Ok(rows.first().is_some_and(|r| !r.is_empty()))
    }

    /// `upgradeFromV10(config, options)` and `rollbackV10Upgrade(config)` from an instance that
    /// need not be started: the pool is opened for the call and closed after, unless started.
    pub(crate) async fn v10_module_call(&self, rollback: bool, options: &Object) -> Result<String> {
        let options = if rollback {
            ensure(options.is_empty(), "rollbackV10Upgrade takes no options")?;
            UpgradeOptions::default()
        } else {
            UpgradeOptions::parse(options)?
        };
        let own_pool = self.lifecycle() != Lifecycle::Started;
        self.open_pool()?;
        let result = if rollback {
            self.rollback_v10_upgrade().await
        } else {
            self.upgrade_from_v10(&options).await
        };
        if own_pool {
            self.close_pool();
        }
        result.map(|v| v.to_string())
    }

    /// The upgrade, or the rest of one, or (dry run) what it would do.
    pub(crate) async fn upgrade_from_v10(&self, options: &UpgradeOptions) -> Result<Value> {
        let schema = &self.config.schema;
        let db = self.instance_db()?;
        let started = Instant::now();
        let version = self.schema_version().await?;
        let pending = self.v10_upgrade_pending().await?;
        let from = match version {
            Some(v) if plan::V10_VERSIONS.contains(&v) => Some(v),
            Some(v) if v == SCHEMA_VERSION && pending => None,
            Some(v) if v == SCHEMA_VERSION => {
                return Ok(
                    json!({ "schema": schema.resolved, "finished": true, "alreadyUpgraded": true }),
                )
            }
            other => {
                return Err(BossError::operational(format!(
                    "schema {} is not a pg-boss 10 schema (versions {}-{}): {}",
                    schema.ident,
                    plan::V10_VERSIONS.start(),
                    plan::V10_VERSIONS.end(),
                    match other {
                        Some(v) => format!("it is at version {v}"),
                        None => "no pg-boss is installed there".into(),
                    }
                )))
            }
        };
        // pg-boss 10 ran on PostgreSQL only, and the move lands in the partitioned layout
        ensure(
            matches!(self.config.backend.as_str(), "postgres" | "citus"),
            format!(
                "the upgrade from pg-boss 10 runs with backend 'postgres' or 'citus' only (not '{}')",
                self.config.backend
            ),
        )?;
        if options.dry_run {
            return self.v10_dry_run(from).await;
        }
        let mut run = Run::default();
        if let Some(from) = from {
            // the v10 schema moves aside and 46 is created under its name: a CREATE SCHEMA
            ensure(
                self.config.create_schema,
                format!(
                    "createSchema: false cannot be honoured by the upgrade from pg-boss 10: it moves schema {} aside and creates it anew; run it with createSchema: true",
                    schema.ident
                ),
            )?;
            let t = Instant::now();
            match db.batch(&plan::begin(schema)).await {
                Ok(()) => {
                    run.began = true;
                    run.begin_ms = Some(run.timed(t));
                }
                // someone else began it under the lock first: carry on with the move
                Err(err) if err.message.contains(RACE) => {
                    ensure(
                        self.schema_version().await? == Some(SCHEMA_VERSION),
                        format!(
                            "schema {} changed while pg-boss-native was upgrading it from version {from}; start again",
                            schema.ident
                        ),
                    )
                    .map_err(|e| BossError::operational(e.message))?;
                }
                // checked under the lock by the rename itself, so a racing instance sees the version first
                Err(err)
                    if err.message.contains("already exists")
                        && err.message.contains(&plan::aside(schema).resolved) =>
                {
                    return Err(BossError::operational(format!(
                        "cannot upgrade schema {} from pg-boss 10: the upgrade moves it aside as {}, and a schema by that name exists",
                        schema.ident,
                        plan::aside(schema).ident
                    )))
                }
                Err(err) => return Err(err),
            }
        }
        let finished = self.move_v10_rows(options, &mut run).await?;
        let from_version = match from {
            Some(v) => Some(v),
            None => self
                .query(&db, &plan::aside_version(schema), &[])
                .await
                .ok()
                .and_then(|r| r.first().and_then(|v| v.parse::<i64>().ok())),
        };
        Ok(json!({
            "schema": schema.resolved,
            "fromVersion": from_version,
            "toVersion": SCHEMA_VERSION,
            "began": run.began,
            "batches": run.batches,
            "batchSize": options.batch_size,
            "moved": run.moved,
            "unmoved": run.unmoved,
            "finished": finished,
            "totalMs": started.elapsed().as_secs_f64() * 1000.0,
            "beginMs": run.begin_ms,
            "finishMs": run.finish_ms,
            "longestTransactionMs": run.longest_ms,
        }))
    }

    /// The batches, pass by pass, then the closing transaction. True when the v10 schema is gone.
    async fn move_v10_rows(&self, options: &UpgradeOptions, run: &mut Run) -> Result<bool> {
        let schema = &self.config.schema;
        let db = self.instance_db()?;
        let partitions = self.query(&db, &plan::partitions(schema), &[]).await?;
        for (table, filter) in plan::passes(schema, &partitions) {
            let sql = plan::move_batch(schema, &table, filter, options.batch_size);
            loop {
                if options.max_batches.is_some_and(|max| run.batches >= max) {
                    return Ok(false);
                }
                let t = Instant::now();
                let answer = match self.query(&db, &sql, &[]).await {
                    Ok(answer) => answer,
                    // another instance moving beside this one finished and dropped the aside schema
                    Err(_) if !self.v10_upgrade_pending().await? => return Ok(true),
                    Err(err) => return Err(err),
                };
                run.timed(t);
                let (moved, unmoved) = answer
                    .first()
                    .and_then(|a| a.split_once(','))
                    .and_then(|(m, u)| Some((m.parse::<u64>().ok()?, u.parse::<u64>().ok()?)))
                    .ok_or_else(|| {
                        BossError::operational("v10 upgrade: a batch answered no count")
                    })?;
                if moved == 0 {
                    break;
                }
                run.batches += 1;
                run.moved += moved - unmoved;
                run.unmoved += unmoved;
                if moved < options.batch_size as u64 {
                    break;
                }
            }
        }
        let t = Instant::now();
        match db.batch(&plan::finish(schema)).await {
            Ok(()) => {
                run.finish_ms = Some(run.timed(t));
                Ok(true)
            }
            // rows remain: another mover's batch in flight, or rows kept in v10_unmoved
            Err(err) if err.message.contains(RACE) => Ok(!self.v10_upgrade_pending().await?),
            // another instance finished first
            Err(_) if !self.v10_upgrade_pending().await? => Ok(true),
            Err(err) => Err(err),
        }
    }

    async fn v10_dry_run(&self, from: Option<i64>) -> Result<Value> {
        let schema = &self.config.schema;
        let db = self.instance_db()?;
        // before it begins the v10 tables are in place; once begun, they wait aside
        let (v10, sql) = match from {
            Some(v) => (schema.clone(), plan::plan(schema, v).unwrap_or_default()),
            None => {
                let partitions = self.query(&db, &plan::partitions(schema), &[]).await?;
                let mut sql = String::from("-- the upgrade has begun; what is left:\n");
                for (table, filter) in plan::passes(schema, &partitions) {
                    sql.push_str(&plan::move_batch(
                        schema,
                        &table,
                        filter,
                        plan::DEFAULT_BATCH_SIZE,
                    ));
                    sql.push_str(";\n");
                }
                sql.push_str(&plan::finish(schema));
                (plan::aside(schema), sql)
            }
        };
        let mut jobs = Map::new();
        let mut archive = Map::new();
        let mut totals = Map::new();
        for line in self.query(&db, &plan::counts(&v10), &[]).await? {
            let Some((label, n)) = line.rsplit_once(',') else {
                continue;
            };
            let n: u64 = n.parse().unwrap_or(0);
            match label.split_once('.') {
                Some(("job", state)) => {
                    jobs.insert(state.to_string(), json!(n));
                }
                Some(("archive", state)) => {
                    archive.insert(state.to_string(), json!(n));
                }
                _ => {
                    totals.insert(label.to_string(), json!(n));
                }
            }
        }
        let rows: u64 = jobs
            .values()
            .chain(archive.values())
            .filter_map(Value::as_u64)
            .sum();
        Ok(json!({
            "schema": schema.resolved,
            "dryRun": true,
            "fromVersion": from,
            "toVersion": SCHEMA_VERSION,
            "began": from.is_none(),
            "plan": sql,
            "counts": { "jobs": jobs, "archive": archive, "queues": totals.get("queue"), "schedules": totals.get("schedule"), "subscriptions": totals.get("subscription") },
            "rowsToMove": rows,
        }))
    }

    /// Put the v10 schema back, with every job (moved or sent since) in it.
    pub(crate) async fn rollback_v10_upgrade(&self) -> Result<Value> {
        let schema = &self.config.schema;
        ensure(
            self.v10_upgrade_pending().await?,
            format!(
                "no upgrade from pg-boss 10 is under way on schema {} (none began, or it finished and dropped {}): nothing to roll back",
                schema.ident,
                plan::aside(schema).ident
            ),
        )
        .map_err(|e| BossError::operational(e.message))?;
        let db = self.instance_db()?;
        let t = Instant::now();
        db.batch(&plan::rollback(schema)).await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let version = self.schema_version().await?;
        let (exists, count) = plan::unrestored(schema);
        let kept = self.query(&db, &exists, &[]).await?;
        let unrestored: u64 = if kept.first().is_some_and(|t| !t.is_empty()) {
            let n = self.query(&db, &count, &[]).await?;
            n.first().and_then(|n| n.parse().ok()).unwrap_or(0)
        } else {
            0
        };
        Ok(json!({
            "schema": schema.resolved,
            "version": version,
            "rolledBack": true,
            "unrestored": unrestored,
            "totalMs": ms,
        }))
    }
}
