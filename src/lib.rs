//! pg-boss-native: a Rust engine for pg-boss's API and schema, exposed to Node through napi.
//!
//! The engine modules know nothing of napi; `binding` is the only napi-aware module.

pub mod admin;
pub mod api;
pub mod backend;
pub mod bam;
pub mod config;
pub mod connection;
pub mod db;
pub mod drift;
pub mod engine;
pub mod error;
pub mod flow;
pub mod ids;
pub mod jobs;
pub mod js;
pub mod metrics;
pub mod migrate;
pub mod module_fns;
pub mod monitor;
pub mod names;
pub mod notify;
pub mod plans;
pub mod pubsub;
pub mod queue_cache;
pub mod queue_stats;
pub mod queues;
pub mod raw_sql;
pub mod redrive;
pub mod registry;
pub mod reindex;
pub mod schedule;
pub mod send_batch;
pub mod spy;
pub mod start_retry;
pub mod supervise;
pub mod v10_defaults;
pub mod validate;
pub mod vitals;
pub mod warnings;
pub mod worker;

#[cfg(feature = "node")]
mod binding;

/// The addon's Rust allocations (rows, job JSON, settle payloads: many small short-lived buffers
/// per batch) go to mimalloc: glibc's malloc/free were the engine thread's largest cost, and
/// with mimalloc W4 drains measured 2–15% faster (batchSize 100 / 1000, perJobResults). Memory
/// never crosses to JS by pointer (napi copies), so the two heaps never free each other's blocks.
#[cfg(feature = "node")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
