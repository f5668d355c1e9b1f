//! The LISTEN connection's statements.

/// Subscribe to pg-boss's channel (a validated schema-derived name, quoted).
pub fn listen(channel: &str) -> String {
    format!("LISTEN \"{channel}\"")
}

/// The heartbeat: is this session still subscribed to `$1`?
pub const STILL_LISTENING: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_listening_channels() AS c(name) WHERE name = $1)";
