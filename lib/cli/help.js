'use strict'
// `pg-boss-native --help`: pg-boss 12.38's CLI help, for this package's commands and name.

const { version } = require('../../package.json')

function printHelp () {
  console.log(`
pg-boss-native CLI v${version}

Usage: pg-boss-native <command> [options]

Commands:
  migrate     Run pending migrations (creates schema if not exists)
  create      Create the pg-boss schema (initial installation)
  version     Show current schema version
  doctor      Check for schema/index drift against the expected shape
  plans       Output SQL plans without executing
  reindex     Rebuild bloated job indexes (REINDEX INDEX CONCURRENTLY)
  rollback    Rollback the last migration

Options:
  --help, -h              Show this help message
  --config, -c <file>     Path to config file (default: pgboss.json)
  --schema, -s <name>     Schema name (default: pgboss)
  --host <host>           Database host
  --port <port>           Database port
  --database, -d <name>   Database name
  --user, -u <user>       Database user
  --password, -p <pass>   Database password
  --connection-string     Full connection string (overrides other connection options)
  --ssl                   Enable SSL connection
  --backend <profile>     Database backend: postgres (default), citus. (cockroachdb and
                          yugabytedb are refused by the commands that write schema: the
                          schema pg-boss-native installs is PostgreSQL's.)
  --dry-run               Output SQL without executing (for create, migrate, rollback and reindex)
  --force                 Rebuild every job index, not just the bloated ones (reindex)
  --fix                   Restore a job_now() left overridden by a killed TestClock run
                          (doctor). Only run this when no instance holds a live TestClock.

Environment Variables:
  PGBOSS_DATABASE_URL     Full connection string
  PGBOSS_HOST             Database host
  PGBOSS_PORT             Database port
  PGBOSS_DATABASE         Database name
  PGBOSS_USER             Database user
  PGBOSS_PASSWORD         Database password
  PGBOSS_SCHEMA           Schema name (default: pgboss)
  PGBOSS_BACKEND          Database backend profile (default: postgres)

Config File (pgboss.json, .pgbossrc or .pgbossrc.json):
  {
    "host": "localhost",
    "port": 5432,
    "database": "mydb",
    "user": "postgres",
    "password": "secret",
    "schema": "pgboss",
    "ssl": false,
    "backend": "postgres"
  }

Examples:
  pg-boss-native migrate
  pg-boss-native migrate --schema my_schema
  pg-boss-native create --connection-string postgres://user:pass@localhost/db
  pg-boss-native plans migrate --dry-run
  pg-boss-native plans uninstall --schema my_schema
  pg-boss-native version
  PGBOSS_DATABASE_URL=postgres://localhost/mydb pg-boss-native migrate
`)
}

module.exports = { printHelp }
