//! Constructor options: pg-boss's defaults and validation (`getConfig`), in one place.

use crate::connection::{options as connection_options, ConnectionSettings};
use crate::error::{ensure, Result};
use crate::js::{self, Object};
use crate::names::{SchemaName, DEFAULT_SCHEMA};
use serde_json::Value;

mod clock;
mod instance;
mod maintenance;
mod read;

use clock::clock_option;
pub use clock::{ClockConfig, TEST_CLOCK_SETTING};
use instance::instance_options;
pub use instance::InstanceConfig;
use maintenance::reindex_options;
pub use maintenance::ReindexSetting;
use read::{between, bool_or, interval_option, millis_or, number_or};

const MAX_RETENTION_DAYS: i64 = 365;
pub const BACKENDS: [&str; 5] = ["postgres", "cockroachdb", "yugabytedb", "citus", "pglite"];

#[derive(Debug, Clone)]
pub struct Config {
    pub schema: SchemaName,
    /// How the native pool connects; `None` when the constructor was given `db`.
    pub connection: Option<ConnectionSettings>,
    pub migrate: bool,
    pub create_schema: bool,
    pub supervise: bool,
    pub schedule: bool,
    pub use_listen_notify: bool,
    /// The LISTEN connection's heartbeat (`notifyHeartbeatIntervalMs`, `notifyHeartbeatTimeoutMs`)
    /// and TCP keepalive (`notifyKeepAliveInitialDelayMs`), pg-boss's defaults.
    pub notify_heartbeat_interval_ms: u64,
    pub notify_heartbeat_timeout_ms: u64,
    pub notify_keepalive_initial_delay_ms: u64,
    pub allow_schema_case_variant: bool,
    pub backend: String,
    pub supervise_interval_seconds: f64,
    pub maintenance_interval_seconds: f64,
    pub monitor_interval_seconds: f64,
    pub queue_cache_interval_seconds: f64,
    pub warning_slow_query_seconds: f64,
    pub warning_queue_size: f64,
    pub warning_retention_days: i64,
    pub persist_warnings: bool,
    pub persist_queue_stats: bool,
    pub queue_stat_retention_days: i64,
    /// The background reindex pass (`reindex`): `None` when `reindex: false` (bloat is still
    /// reported), else the thresholds given (defaults where unset).
    pub reindex: Option<ReindexSetting>,
    pub reindex_interval_seconds: f64,
    /// `monitorVacuum`: the `xmin_horizon` / `autovacuum_disabled` checks and the monitor backoff.
    pub monitor_vacuum: bool,
    pub bam_interval_seconds: f64,
    pub flow_interval_seconds: f64,
    pub clock_monitor_interval_seconds: f64,
    pub cron_monitor_interval_seconds: f64,
    pub cron_worker_interval_seconds: f64,
    /// The constructor was given `db`: SQL runs through the caller's `executeSql`.
    pub external_db: bool,
    /// The instance registry (`registerInstance`, `instanceName`, `instanceHeartbeatSeconds`).
    pub instance: InstanceConfig,
    /// The `clock` option: `None` for the system clock.
    pub clock: Option<ClockConfig>,
    /// `__test__enableSpies`: `getSpy()` works and the engine reports spy events (`src/spy.rs`).
    pub spies: bool,
    /// pg-boss v10's defaults given to the constructor, as the options `createQueue()` and
    /// `work()` take from them (`src/v10_defaults.rs`).
    pub v10_defaults: crate::v10_defaults::V10Defaults,
}

impl Config {
    /// `value` is what the constructor received (a string or an options object) as JSON;
    /// `has_db` says whether it carried a `db` (which JSON cannot).
    pub fn from_value(value: &Value, has_db: bool) -> Result<Config> {
        let obj: Object = match value {
            Value::String(s) if !s.is_empty() => {
                let mut o = Object::new();
                o.insert("connectionString".into(), Value::String(s.clone()));
                o
            }
            Value::Object(o) => o.clone(),
            _ => return Err(crate::error::BossError::assertion(
                "configuration assert: string or config object is required to connect to postgres",
            )),
        };

        let backend = match obj.get("backend") {
            None => "postgres".to_string(),
            Some(v) => js::display(Some(v)),
        };
        ensure(
            BACKENDS.contains(&backend.as_str())
                && (obj.get("backend").is_none()
                    || obj.get("backend").map(|v| v.is_string()).unwrap_or(false)),
            format!(
                "configuration assert: backend must be one of {}",
                BACKENDS.join(", ")
            ),
        )?;

        let clock = clock_option(&obj)?;
        let schema = match obj.get("schema") {
            Some(v) if js::truthy(Some(v)) => match v {
                Value::String(s) => SchemaName::parse(s)?,
                _ => return Err(crate::error::BossError::assertion("Name must be a string")),
            },
            _ => SchemaName::parse(DEFAULT_SCHEMA)?,
        };
        // pg-boss's locked statements run unlocked where the backend has no advisory locks
        let schema = if crate::backend::Profile::of(&backend).no_advisory_locks {
            schema.without_advisory_locks()
        } else {
            schema
        };

        let supervise_interval_seconds = interval_option(&obj, "superviseIntervalSeconds", 60.0)?;
        let maintenance_interval_seconds =
            interval_option(&obj, "maintenanceIntervalSeconds", 86400.0)?;
        let monitor_interval_seconds = interval_option(&obj, "monitorIntervalSeconds", 60.0)?;
        let queue_cache_interval_seconds =
            interval_option(&obj, "queueCacheIntervalSeconds", 60.0)?;

        let queue_stat_retention_days = if js::has(&obj, "queueStatRetentionDays") {
            let v = obj.get("queueStatRetentionDays");
            ensure(
                js::is_integer(v) && js::ge(v, 1.0),
                "configuration assert: queueStatRetentionDays must be an integer >= 1",
            )?;
            let n = js::as_i64(v).unwrap_or(7);
            ensure(
                n <= MAX_RETENTION_DAYS,
                "configuration assert: queueStatRetentionDays cannot exceed 365 days",
            )?;
            n
        } else {
            7
        };
        let (reindex, reindex_interval_seconds, monitor_vacuum) = reindex_options(&obj)?;

        let clock_monitor_interval_seconds = between(
            &obj,
            "clockMonitorIntervalSeconds",
            1.0,
            600.0,
            "clockMonitorIntervalSeconds must be between 1 second and 10 minutes",
            600.0,
        )?;
        let cron_monitor_interval_seconds = between(
            &obj,
            "cronMonitorIntervalSeconds",
            1.0,
            45.0,
            "cronMonitorIntervalSeconds must be between 1 and 45 seconds",
            30.0,
        )?;
        let cron_worker_interval_seconds = between(
            &obj,
            "cronWorkerIntervalSeconds",
            1.0,
            45.0,
            "cronWorkerIntervalSeconds must be between 1 and 45 seconds",
            5.0,
        )?;

        let bam_min = if bool_or(&obj, "__test__bypass_bam_interval_check", false) {
            1.0
        } else {
            10.0
        };
        ensure(
            !js::has(&obj, "bamIntervalSeconds") || js::ge(obj.get("bamIntervalSeconds"), bam_min),
            format!("configuration assert: bamIntervalSeconds must be at least {bam_min} seconds"),
        )?;
        let bam_interval_seconds = number_or(&obj, "bamIntervalSeconds", 60.0);
        ensure(
            !js::has(&obj, "flowIntervalSeconds") || js::ge(obj.get("flowIntervalSeconds"), 1.0),
            "configuration assert: flowIntervalSeconds must be at least 1 seconds",
        )?;
        let flow_interval_seconds = number_or(&obj, "flowIntervalSeconds", 5.0);

        // pg-boss checks the registry's options after the intervals, before the warnings
        let (register_instance, instance_name, instance_heartbeat_seconds) =
            instance_options(&obj)?;
        ensure(
            !js::has(&obj, "warningQueueSize") || js::ge(obj.get("warningQueueSize"), 1.0),
            "configuration assert: warningQueueSize must be at least 1",
        )?;
        ensure(
            !js::has(&obj, "warningSlowQuerySeconds")
                || js::ge(obj.get("warningSlowQuerySeconds"), 1.0),
            "configuration assert: warningSlowQuerySeconds must be at least 1",
        )?;
        if js::has(&obj, "warningRetentionDays") {
            let v = obj.get("warningRetentionDays");
            ensure(
                js::is_integer(v) && js::ge(v, 1.0),
                "configuration assert: warningRetentionDays must be an integer >= 1",
            )?;
            ensure(
                js::as_i64(v).unwrap_or(0) <= MAX_RETENTION_DAYS,
                "configuration assert: warningRetentionDays cannot exceed 365 days",
            )?;
        }

        let v10_defaults = crate::v10_defaults::from_constructor(&obj)?;

        let instance_id = crate::ids::new_instance_id();

        // node-postgres's settings, resolved and checked now so a setting pg-boss-native cannot
        // honour is refused at construction; pg-boss ignores them when given `db`, and so do we.
        // A registered instance's connections carry its id, so pg_stat_activity joins to its row.
        let connection = if has_db {
            None
        } else {
            let name = if register_instance {
                format!("pgboss:{}", &instance_id[..8])
            } else {
                "pgboss".to_string()
            };
            Some(connection_options::resolve_named(
                &obj,
                &connection_options::process_env,
                &name,
            )?)
        };
        let recorded_options = crate::registry::recorded_options(&obj, &backend, has_db);
        // A TestClock's job_now() serves its time only to sessions that opt in (12.38's
        // `pgboss.test_clock` setting), so every connection of the pool opts in as it opens.
        let mut connection = connection;
        if let (Some(settings), Some(ClockConfig { attachable: true })) =
            (connection.as_mut(), clock)
        {
            let opt_in = format!("-c {TEST_CLOCK_SETTING}=on");
            settings.options = Some(match settings.options.take() {
                Some(o) if !o.is_empty() => format!("{o} {opt_in}"),
                _ => opt_in,
            });
        }

        Ok(Config {
            schema,
            connection,
            migrate: bool_or(&obj, "migrate", true),
            create_schema: bool_or(&obj, "createSchema", true),
            supervise: bool_or(&obj, "supervise", true),
            schedule: bool_or(&obj, "schedule", true),
            use_listen_notify: bool_or(&obj, "useListenNotify", false),
            notify_heartbeat_interval_ms: millis_or(&obj, "notifyHeartbeatIntervalMs", 10_000),
            notify_heartbeat_timeout_ms: millis_or(&obj, "notifyHeartbeatTimeoutMs", 5_000),
            notify_keepalive_initial_delay_ms: millis_or(
                &obj,
                "notifyKeepAliveInitialDelayMs",
                10_000,
            ),
            allow_schema_case_variant: bool_or(&obj, "allowSchemaCaseVariant", false),
            backend,
            supervise_interval_seconds,
            maintenance_interval_seconds,
            monitor_interval_seconds,
            queue_cache_interval_seconds,
            warning_slow_query_seconds: number_or(&obj, "warningSlowQuerySeconds", 30.0),
            warning_queue_size: number_or(&obj, "warningQueueSize", 10000.0),
            warning_retention_days: js::as_i64(obj.get("warningRetentionDays"))
                .filter(|d| *d > 0)
                .unwrap_or(365),
            persist_warnings: bool_or(&obj, "persistWarnings", false),
            persist_queue_stats: bool_or(&obj, "persistQueueStats", false),
            queue_stat_retention_days,
            reindex,
            reindex_interval_seconds,
            monitor_vacuum,
            bam_interval_seconds,
            flow_interval_seconds,
            clock_monitor_interval_seconds,
            cron_monitor_interval_seconds,
            cron_worker_interval_seconds,
            external_db: has_db,
            instance: InstanceConfig {
                id: instance_id,
                register: register_instance,
                name: instance_name,
                heartbeat_seconds: instance_heartbeat_seconds,
                recorded_options,
                node_version: "unknown".to_string(),
            },
            clock,
            // truthy, as pg-boss reads it (it checks nothing else)
            spies: bool_or(&obj, "__test__enableSpies", false),
            v10_defaults,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_pg_boss() {
        let c = Config::from_value(&json!("postgres://localhost/test"), false).unwrap();
        assert_eq!(c.schema.ident, "pgboss");
        assert!(c.migrate && c.supervise && c.schedule && c.create_schema && !c.use_listen_notify);
        assert_eq!(c.supervise_interval_seconds, 60.0);
        assert_eq!(c.maintenance_interval_seconds, 86400.0);
        let connection = c.connection.unwrap();
        assert_eq!(connection.pool.max, 10);
        assert_eq!(
            connection.application_name,
            Some(format!("pgboss:{}", &c.instance.id[..8]))
        );
        assert!(c.instance.register);
        assert_eq!(c.instance.heartbeat_seconds, 30);
        assert_eq!(c.reindex, Some(ReindexSetting::default()));
        assert_eq!(c.reindex_interval_seconds, 86400.0);
        assert!(c.monitor_vacuum && !c.persist_queue_stats && !c.persist_warnings);
        assert_eq!(
            (c.queue_stat_retention_days, c.warning_retention_days),
            (7, 365)
        );
    }

    #[test]
    fn reindex_can_be_switched_off_or_tuned() {
        let c =
            Config::from_value(&json!({"reindex": false, "monitorVacuum": false}), false).unwrap();
        assert_eq!(c.reindex, None);
        assert!(!c.monitor_vacuum);
        let c = Config::from_value(
            &json!({"reindex": {"minPages": 0, "maxIndexBytes": 1024}}),
            false,
        )
        .unwrap();
        let r = c.reindex.unwrap();
        assert_eq!(
            (r.min_pages, r.max_index_bytes, r.min_size_ratio),
            (Some(0.0), Some(1024.0), None)
        );
    }

    #[test]
    fn connections_keep_their_name_without_the_registry_or_when_named() {
        let name = |v: serde_json::Value| {
            Config::from_value(&v, false)
                .unwrap()
                .connection
                .unwrap()
                .application_name
        };
        assert_eq!(
            name(json!({"registerInstance": false})).as_deref(),
            Some("pgboss")
        );
        assert_eq!(
            name(json!({"application_name": "mine"})).as_deref(),
            Some("mine")
        );
        assert_eq!(
            name(json!({"connectionString": "postgres://h/db?application_name=url"})).as_deref(),
            Some("url")
        );
    }

    #[test]
    fn invalid_options_get_pg_boss_messages() {
        let cases = [
            (json!(null), "configuration assert: string or config object is required to connect to postgres"),
            (json!({"superviseIntervalSeconds": 0.5}), "configuration assert: superviseIntervalSeconds must be at least every second"),
            (json!({"maintenanceIntervalSeconds": 90000}), "configuration assert: maintenanceIntervalSeconds cannot exceed 24 hours"),
            (json!({"cronMonitorIntervalSeconds": 46}), "configuration assert: cronMonitorIntervalSeconds must be between 1 and 45 seconds"),
            (json!({"bamIntervalSeconds": 5}), "configuration assert: bamIntervalSeconds must be at least 10 seconds"),
            (json!({"backend": "mysql"}), "configuration assert: backend must be one of postgres, cockroachdb, yugabytedb, citus, pglite"),
            (json!({"warningRetentionDays": 400}), "configuration assert: warningRetentionDays cannot exceed 365 days"),
            (json!({"queueStatRetentionDays": 1.5}), "configuration assert: queueStatRetentionDays must be an integer >= 1"),
            (json!({"reindex": "yes"}), "configuration assert: reindex must be a boolean or an options object"),
            (json!({"reindex": null}), "configuration assert: reindex must be a boolean or an options object"),
            (json!({"reindex": {"minPages": 1.5}}), "configuration assert: reindex.minPages must be an integer >= 0"),
            (json!({"reindex": {"maxEntriesPerPage": 0}}), "configuration assert: reindex.maxEntriesPerPage must be a number > 0"),
            (json!({"reindex": {"minSizeRatio": -1}}), "configuration assert: reindex.minSizeRatio must be a number >= 0"),
            (json!({"reindex": {"maxIndexBytes": 0}}), "configuration assert: reindex.maxIndexBytes must be an integer > 0"),
            (json!({"reindex": {"force": true}}), "configuration assert: reindex.force cannot be set in constructor options. Pass it to supervise()"),
            (json!({"reindexIntervalSeconds": 0.5}), "configuration assert: reindexIntervalSeconds must be at least every second"),
            (json!({"reindexIntervalSeconds": 90000}), "configuration assert: reindexIntervalSeconds cannot exceed 24 hours"),
            (json!({"monitorVacuum": "no"}), "configuration assert: monitorVacuum must be a boolean"),
            (json!({"queueStatRetentionDays": 366}), "configuration assert: queueStatRetentionDays cannot exceed 365 days"),
            (json!({"warningRetentionDays": 0}), "configuration assert: warningRetentionDays must be an integer >= 1"),
            (json!({"instanceName": ""}), "configuration assert: instanceName must be a non-empty string"),
            (json!({"instanceName": 5}), "configuration assert: instanceName must be a non-empty string"),
            (json!({"instanceHeartbeatSeconds": 0}), "configuration assert: instanceHeartbeatSeconds must be an integer from 1 to 3600"),
            (json!({"instanceHeartbeatSeconds": 3601}), "configuration assert: instanceHeartbeatSeconds must be an integer from 1 to 3600"),
            (json!({"instanceHeartbeatSeconds": "30"}), "configuration assert: instanceHeartbeatSeconds must be an integer from 1 to 3600"),
        ];
        for (input, message) in cases {
            let err = Config::from_value(&input, false).unwrap_err();
            assert!(err.is_assertion());
            assert_eq!(err.message, message);
        }
    }
}
