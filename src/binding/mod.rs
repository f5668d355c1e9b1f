//! The napi layer: the `NativeBoss` class, JSON in and out, JS `executeSql` plumbing. No queue
//! logic lives here.

mod executor;
mod handler;
mod host;
mod identity;
mod password;

use crate::api;
use crate::config::Config;
use crate::engine::{Engine, EngineEvent};
use crate::error::{BossError, ErrorKind};
use executor::{ExecuteSqlFn, JsExecutor};
use futures_util::FutureExt;
use handler::{AbortFn, JsHandler, RunFn};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// The engine's Tokio runtime: one worker thread unless PGBOSS_NATIVE_THREADS says otherwise.
#[napi_derive::module_init]
fn init_runtime() {
    let threads = std::env::var("PGBOSS_NATIVE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    if let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("pg-boss-native")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}

/// Errors cross to JS as data, `{ "err": { kind, message, code } }` (an aggregate carries
/// `errors` instead of `code`), and index.js rethrows them as `AssertionError`, `AggregateError`
/// or `Error`, so no rejection path loses the kind or the SQLSTATE.
fn error_data(err: &BossError) -> serde_json::Value {
    let (kind, code) = match &err.kind {
        ErrorKind::Assertion => ("assertion", None),
        ErrorKind::Operational | ErrorKind::Connection => ("error", None),
        ErrorKind::Coded { code } => ("error", Some(code.clone())),
        ErrorKind::Database { code } => ("database", code.clone()),
        ErrorKind::Aggregate { errors } => {
            return serde_json::json!({ "err": { "kind": "aggregate", "message": err.message, "errors": errors } })
        }
    };
    serde_json::json!({ "err": { "kind": kind, "message": err.message, "code": code } })
}

fn error_envelope(err: &BossError) -> String {
    error_data(err).to_string()
}

fn ok_envelope(payload: &str) -> String {
    let mut s = String::with_capacity(payload.len() + 8);
    s.push_str("{\"ok\":");
    s.push_str(payload);
    s.push('}');
    s
}

type EventFn = ThreadsafeFunction<String, (), String, Status, false, true>;

#[napi]
pub struct NativeBoss {
    engine: Arc<Engine>,
    outcomes: Arc<handler::Outcomes>,
}

#[napi]
impl NativeBoss {
    /// `config` is the constructor argument as JSON; `execute_sql` wraps the constructor `db`;
    /// `on_event` receives `error`/`warning` events as JSON; `password` and
    /// `check_server_identity` wrap those function options (`ssl.checkServerIdentity`).
    #[napi(constructor)]
    pub fn new(
        env: Env,
        config: String,
        execute_sql: Option<ExecuteSqlFn>,
        on_event: Option<EventFn>,
        password: Option<password::PasswordFn>,
        check_server_identity: Option<identity::IdentityFn>,
        host: Option<host::HostFn>,
    ) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| Error::from_reason(e.to_string()))?;
        let mut config = Config::from_value(&value, execute_sql.is_some())
            .map_err(|e| Error::from_reason(error_envelope(&e)))?;
        if let Ok(v) = env.get_node_version() {
            config.instance.node_version = format!("v{}.{}.{}", v.major, v.minor, v.patch);
        }
        if let Some(connection) = config.connection.as_mut() {
            if let Some(password) = password {
                connection.set_password_provider(Arc::new(password::JsPassword::new(password)));
            }
            if let Some(check) = check_server_identity {
                connection.set_identity_check(Arc::new(identity::JsIdentityCheck::new(check)));
            }
        }
        let external =
            execute_sql.map(|f| Arc::new(JsExecutor::new(f)) as crate::db::SharedExecutor);
        let engine = Engine::new(config, external);
        if let Some(host) = host {
            let host = Arc::new(host::JsHost::new(host));
            engine.timekeeper.set_host(host.clone());
            engine.vitals.set_source(host);
        }
        let outcomes = Arc::new(handler::Outcomes::default());
        if let Some(on_event) = on_event {
            let on_event = Arc::new(on_event);
            engine.set_event_sink(Some(Arc::new(move |event: EngineEvent| {
                let payload = match event {
                    EngineEvent::Error(err) => {
                        serde_json::json!({ "event": "error", "error": error_data(&err) })
                    }
                    EngineEvent::WorkerError {
                        error,
                        queue,
                        worker,
                    } => {
                        serde_json::json!({
                            "event": "error",
                            "error": error_data(&error),
                            "queue": queue,
                            "worker": worker,
                        })
                    }
                    EngineEvent::Wip(data) => serde_json::json!({ "event": "wip", "data": data }),
                    EngineEvent::Named { name, data } => {
                        serde_json::json!({ "event": "named", "name": name, "data": data })
                    }
                    EngineEvent::Warning { message, data } => {
                        serde_json::json!({ "event": "warning", "message": message, "data": data })
                    }
                    EngineEvent::Spy(spy) => spy.to_json(),
                };
                on_event.call(payload.to_string(), ThreadsafeFunctionCallMode::NonBlocking);
            })));
        }
        Ok(NativeBoss { engine, outcomes })
    }

    /// The constructor `db` implements `beginTransaction()`: transactional workers open their
    /// transactions through it (see executor.rs).
    #[napi]
    pub fn set_transaction_opener(&self, transactions: executor::TransactionFn) {
        let opener = executor::JsTransactionOpener::new(transactions);
        self.engine.transactions.set_opener(Arc::new(opener));
    }

    /// Resolved schema names, for `getDb()` and plan helpers in JS.
    #[napi(getter)]
    pub fn schema(&self) -> String {
        self.engine.config.schema.ident.clone()
    }

    /// `work()` (or `workEach()` when `each`): `run` calls the user's handler and resolves with
    /// its outcome as JSON, `abort` aborts job signals. Resolves with the work id envelope.
    #[napi]
    pub async fn work(&self, args: String, each: bool, run: RunFn, abort: AbortFn) -> String {
        let engine = self.engine.clone();
        let outcomes = self.outcomes.clone();
        let work = async move {
            let args: Vec<serde_json::Value> = serde_json::from_str(&args).unwrap_or_default();
            let name = args.first().cloned();
            let options = match args.get(1) {
                Some(serde_json::Value::Object(o)) => o.clone(),
                _ => serde_json::Map::new(),
            };
            let handler = Arc::new(JsHandler::new(run, abort, outcomes));
            engine
                .work(name.as_ref(), &options, handler, each)
                .await
                .map(|id| serde_json::Value::String(id).to_string())
        };
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(Ok(payload)) => ok_envelope(&payload),
            Ok(Err(err)) => error_envelope(&err),
            Err(_) => error_envelope(&BossError::operational(
                "pg-boss-native internal error in work()",
            )),
        }
    }

    /// A worker's handler call for `batch` has settled with `outcome` (JSON); see handler.rs.
    /// Returns the run message of the batch chained after it, for JavaScript to start at once.
    #[napi]
    pub fn handled(&self, batch: i64, outcome: String) -> Option<String> {
        u64::try_from(batch)
            .ok()
            .and_then(|b| self.outcomes.deliver(b, outcome))
    }

    /// `tx.executeSql(text, values)` of a transactional handler: `values` is the JSON array of
    /// its parameters; resolves with the `executeSql` envelope (rows and date columns).
    #[napi]
    pub async fn transaction_sql(&self, tx: i64, text: String, values: String) -> String {
        let engine = self.engine.clone();
        let work = async move {
            let values: Vec<serde_json::Value> = serde_json::from_str(&values).unwrap_or_default();
            let id = u64::try_from(tx).unwrap_or(0);
            engine.transaction_sql(id, &text, values).await
        };
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(Ok(payload)) => ok_envelope(&payload),
            Ok(Err(err)) => error_envelope(&err),
            Err(_) => error_envelope(&BossError::operational(
                "pg-boss-native internal error in tx.executeSql()",
            )),
        }
    }

    /// The synchronous members (`getWipData`, `getMetrics`): same envelope, no Promise.
    #[napi]
    pub fn call_sync(&self, method: String, args: String) -> String {
        let args: Vec<serde_json::Value> = serde_json::from_str(&args).unwrap_or_default();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            api::call_sync(&self.engine, &method, &args)
        }));
        match result {
            Ok(Ok(payload)) => ok_envelope(&payload),
            Ok(Err(err)) => error_envelope(&err),
            Err(_) => error_envelope(&BossError::operational("pg-boss-native internal error")),
        }
    }

    /// One schema administration command of the CLI (`admin.rs`) on an instance it never starts;
    /// the same envelope as `call`, a panic an error.
    #[napi]
    pub async fn admin(&self, command: String, args: String) -> String {
        let engine = self.engine.clone();
        let work = async move {
            let args: Vec<serde_json::Value> = serde_json::from_str(&args).unwrap_or_default();
            crate::admin::call(&engine, &command, &args).await
        };
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(Ok(payload)) => ok_envelope(&payload),
            Ok(Err(err)) => error_envelope(&err),
            Err(_) => error_envelope(&BossError::operational("pg-boss-native internal error")),
        }
    }

    /// Run one public method: `args` is the JSON array of its arguments, `execute_sql` the per-call
    /// `db`. Always resolves with a JSON envelope; a panic becomes an error, never a crash.
    #[napi]
    pub async fn call(
        &self,
        method: String,
        args: String,
        execute_sql: Option<ExecuteSqlFn>,
    ) -> String {
        let engine = self.engine.clone();
        let work = async move {
            let args: Vec<serde_json::Value> = match serde_json::from_str(&args) {
                Ok(serde_json::Value::Array(a)) => a,
                Ok(_) | Err(_) => {
                    return Err(BossError::operational(
                        "pg-boss-native: arguments must be a JSON array",
                    ))
                }
            };
            let db = execute_sql.map(|f| Arc::new(JsExecutor::new(f)) as crate::db::SharedExecutor);
            api::call(&engine, &method, args, db).await
        };
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(Ok(payload)) => ok_envelope(&payload),
            Ok(Err(err)) => error_envelope(&err),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                error_envelope(&BossError::operational(format!(
                    "pg-boss-native internal error: {what}"
                )))
            }
        }
    }
}

/// `getConstructionPlans(schema?, { createSchema, backend }?)`: the install script pg-boss-native
/// runs for that backend, as one string. (Called from JS only, which a test build of the crate
/// cannot see.)
#[napi]
#[cfg_attr(test, allow(dead_code))]
pub fn construction_plans(
    schema: Option<String>,
    create_schema: Option<bool>,
    backend: Option<String>,
) -> Result<String> {
    crate::module_fns::construction_plans(schema, create_schema.unwrap_or(true), backend)
        .map_err(|e| Error::from_reason(error_envelope(&e)))
}

/// The functions exported beside the class (`getUninstallPlans`, `getIndexBloatPlans`, `addBins`,
/// `percentile`): arguments as a JSON array, the answer as a JSON envelope.
#[napi]
#[cfg_attr(test, allow(dead_code))]
pub fn module_call(method: String, args: String) -> String {
    let outcome = std::panic::catch_unwind(|| {
        let args: Vec<serde_json::Value> = serde_json::from_str(&args).unwrap_or_default();
        crate::module_fns::call(&method, &args)
    });
    match outcome {
        Ok(Ok(payload)) => ok_envelope(&payload),
        Ok(Err(err)) => error_envelope(&err),
        Err(_) => error_envelope(&BossError::operational("pg-boss-native internal error")),
    }
}

/// `getMigrationPlans(schema?, version?, { partitionTables, backend }?)`: our migration from `version`
/// (default: the one before the served version) to the served one, its index builds spelled out
/// after the COMMIT on job_common and the partitions named, as pg-boss 12.38 exports them.
#[napi]
#[cfg_attr(test, allow(dead_code))]
pub fn migration_plans(
    schema: Option<String>,
    version: Option<i64>,
    partition_tables: Option<Vec<Vec<String>>>,
    backend: Option<String>,
) -> Result<String> {
    crate::module_fns::assert_plan_backend("getMigrationPlans", backend)
        .map_err(|e| Error::from_reason(error_envelope(&e)))?;
    let schema = plan_schema(schema)?;
    let version = version.unwrap_or(crate::plans::schema::SCHEMA_VERSION - 1);
    if let Some(sql) = crate::plans::migrate::v10::plan(&schema, version) {
        // a v10 schema's jobs move into job_common; there are no partitions to aim builds at
        if partition_tables.as_ref().is_some_and(|p| !p.is_empty()) {
            let e = crate::error::BossError::assertion(format!(
                "partitionTables does not apply to the upgrade from pg-boss 10 (schema version {version}): \
                 it installs schema {} afresh, with nothing left to build",
                crate::plans::schema::SCHEMA_VERSION
            ));
            return Err(Error::from_reason(error_envelope(&e)));
        }
        return Ok(sql);
    }
    let mut partitions = Vec::new();
    // [tableName, policy] pairs
    for pair in partition_tables.unwrap_or_default() {
        let [table_name, policy]: [String; 2] = pair.try_into().map_err(|_| {
            Error::from_reason("partitionTables: expected [tableName, policy] pairs")
        })?;
        crate::names::assert_table_name(&table_name)
            .map_err(|e| Error::from_reason(error_envelope(&e)))?;
        partitions.push(crate::plans::migrate::PartitionTable { table_name, policy });
    }
    // the path start() and the CLI take (migrate::upgrade_plan), its builds spelled out
    crate::migrate::upgrade_plan(&schema, version, Some(&partitions))
        .map(|script| script.text())
        .map_err(|_| no_plan("migration from", version))
}

/// `getRollbackPlans(schema?, version?, { backend }?)`: our rollback of `version` (default: the served one)
/// to the version before it.
#[napi]
#[cfg_attr(test, allow(dead_code))]
pub fn rollback_plans(
    schema: Option<String>,
    version: Option<i64>,
    backend: Option<String>,
) -> Result<String> {
    crate::module_fns::assert_plan_backend("getRollbackPlans", backend)
        .map_err(|e| Error::from_reason(error_envelope(&e)))?;
    let schema = plan_schema(schema)?;
    let version = version.unwrap_or(crate::plans::schema::SCHEMA_VERSION);
    crate::plans::migrate::rollback(&schema, version).ok_or_else(|| no_plan("rollback of", version))
}

fn plan_schema(schema: Option<String>) -> Result<crate::names::SchemaName> {
    let name = schema.unwrap_or_else(|| crate::names::DEFAULT_SCHEMA.to_string());
    crate::names::SchemaName::parse(&name).map_err(|e| Error::from_reason(error_envelope(&e)))
}

fn no_plan(what: &str, version: i64) -> Error {
    let e =
        crate::error::BossError::assertion(crate::plans::migrate::no_plan_message(what, version));
    Error::from_reason(error_envelope(&e))
}

/// The connection settings the constructor options resolve to (no password text), as JSON: how
/// the tests hold our resolution to node-postgres's, option by option.
#[napi]
#[cfg_attr(test, allow(dead_code))]
pub fn resolved_connection(config: String) -> Result<String> {
    let value: serde_json::Value =
        serde_json::from_str(&config).map_err(|e| Error::from_reason(e.to_string()))?;
    let obj = value.as_object().cloned().unwrap_or_default();
    crate::connection::options::resolve(&obj, &crate::connection::options::process_env)
        .map(|s| s.describe().to_string())
        .map_err(|e| Error::from_reason(error_envelope(&e)))
}

/// A TestClock's statements for `schema` (see plans/clock.rs), as `{ attach, set, restore }`;
/// `attach` takes over `job_now()` at `seconds`.
#[napi]
#[cfg_attr(test, allow(dead_code))]
pub fn test_clock_plans(schema: String, seconds: f64) -> Result<String> {
    let schema = crate::names::SchemaName::parse(&schema)
        .map_err(|e| Error::from_reason(error_envelope(&e)))?;
    Ok(serde_json::json!({
        "attach": crate::plans::clock::attach(&schema, seconds),
        "set": crate::plans::clock::set(&schema),
        "restore": crate::plans::clock::restore(&schema),
    })
    .to_string())
}
