'use strict'
// The key of PgBoss's schema administration method, which the CLI (lib/cli) calls on an instance
// it never starts (the engine side is src/admin.rs). A symbol: it is no part of pg-boss's API, and
// no user code reaches it by a name.

const ADMIN = Symbol('pg-boss-native schema administration')

module.exports = { ADMIN }
