//! The engine driven directly from Rust (no napi) against a real PostgreSQL: install, queues,
//! send, claim, a mixed settle in one statement, fencing, expiry. Uses DATABASE_URL (npm test
//! sets it); without a reachable server the test fails rather than pretending to pass.

use pg_boss_native::config::Config;
use pg_boss_native::engine::Engine;
use pg_boss_native::jobs::check_send_args;
use pg_boss_native::worker::outcome::SettleRow;
use pg_boss_native::worker::ClaimedJob;
use serde_json::{json, Value};

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".into())
}

async fn drop_schema(schema: &str) {
    let cfg: tokio_postgres::Config = database_url().parse().expect("DATABASE_URL");
    let (client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to DATABASE_URL");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .expect("drop schema");
}

fn engine(schema: &str) -> std::sync::Arc<Engine> {
    let config = Config::from_value(
        &json!({ "connectionString": database_url(), "schema": schema, "supervise": false, "schedule": false }),
        false,
    )
    .expect("config");
    Engine::new(config, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_claim_and_settle_a_mixed_batch_in_one_statement() {
    let schema = "pgbn_rust_engine";
    drop_schema(schema).await;
    let engine = engine(schema);
    engine.start().await.expect("start installs the schema");
    assert_eq!(engine.schema_version().await.unwrap(), Some(46));

    let mut options = serde_json::Map::new();
    options.insert("retryLimit".into(), json!(1));
    engine
        .create_queue(Some(&json!("rust-q")), &options)
        .await
        .expect("create queue");
    for i in 0..3 {
        let req = check_send_args(&[json!("rust-q"), json!({ "i": i })]).unwrap();
        assert!(engine.send(req, None).await.unwrap().is_some());
    }

    let mut fetch = serde_json::Map::new();
    fetch.insert("batchSize".into(), json!(3));
    let jobs: Vec<ClaimedJob> = engine
        .claim_rows("rust-q", &fetch, None, None, false)
        .await
        .unwrap()
        .1;
    assert_eq!(jobs.len(), 3);
    // handed out in claim order (equal priority: creation order), each as Job<T> JSON
    for (i, job) in jobs.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(&job.json).expect("job JSON");
        assert_eq!(v["id"], json!(job.id));
        assert_eq!(v["name"], json!("rust-q"));
        assert_eq!(v["data"], json!({ "i": i }));
        assert_eq!(v["retryCount"], json!(0));
        assert_eq!(v["groupId"], serde_json::Value::Null);
    }

    let rows: Vec<SettleRow> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| SettleRow {
            id: j.id.clone(),
            retry_count: j.retry_count,
            status: ["completed", "failed", "deadletter"][i],
            output: json!({ "n": i }),
        })
        .collect();
    let q = engine.queue_info("rust-q").await.unwrap();
    assert_eq!(q.table, "job_common");
    let counts = engine.settle_rows("rust-q", &q, &rows).await.unwrap();
    assert_eq!((counts.completed, counts.retried, counts.failed), (1, 1, 1));

    // a second settle of the same attempts is fenced out: nothing is active any more
    let again = engine.settle_rows("rust-q", &q, &rows).await.unwrap();
    assert_eq!((again.completed, again.retried, again.failed), (0, 0, 0));

    let found: Value = serde_json::from_str(
        &engine
            .find_jobs(Some(&json!("rust-q")), &serde_json::Map::new(), None)
            .await
            .unwrap(),
    )
    .unwrap();
    let mut states: Vec<String> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"].as_str().unwrap().to_string())
        .collect();
    states.sort();
    assert_eq!(states, vec!["completed", "failed", "retry"]);

    engine.stop(true, false, 1000).await.unwrap();
    drop_schema(schema).await;
}
