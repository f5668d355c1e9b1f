'use strict'
// What the CLI connects to and where: options, then PGBOSS_* environment variables, then a config
// file (pgboss.json, .pgbossrc or .pgbossrc.json in the working directory, or --config), read as
// pg-boss 12.38's CLI reads them. The result is handed to the PgBoss constructor, so validation
// (schema names, backends, connection settings) and its messages are the engine's, once.

const { parseArgs } = require('node:util')
const { readFileSync, existsSync } = require('node:fs')
const { resolve } = require('node:path')

const DEFAULT_SCHEMA = 'pgboss'
const CONFIG_FILES = ['pgboss.json', '.pgbossrc', '.pgbossrc.json']

/** A usage error: printed as given, exit code 1. */
class UsageError extends Error {
  constructor (lines) {
    super(lines.join('\n'))
    this.lines = lines
  }
}

function parseCliArgs (argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      config: { type: 'string', short: 'c' },
      schema: { type: 'string', short: 's' },
      host: { type: 'string' },
      port: { type: 'string' },
      database: { type: 'string', short: 'd' },
      user: { type: 'string', short: 'u' },
      password: { type: 'string', short: 'p' },
      'connection-string': { type: 'string' },
      ssl: { type: 'boolean' },
      backend: { type: 'string' },
      'dry-run': { type: 'boolean' },
      force: { type: 'boolean' },
      fix: { type: 'boolean' }
    },
    allowPositionals: true
  })
  return {
    help: values.help,
    config: values.config,
    schema: values.schema,
    host: values.host,
    port: values.port,
    database: values.database,
    user: values.user,
    password: values.password,
    connectionString: values['connection-string'],
    ssl: values.ssl,
    backend: values.backend,
    dryRun: values['dry-run'],
    force: values.force,
    fix: values.fix,
    command: positionals[0],
    subCommand: positionals[1]
  }
}

/** The config file's object, `{}` when there is none; one that cannot be read is an error. */
function loadConfigFile (configPath) {
  const paths = configPath ? [resolve(configPath)] : CONFIG_FILES.map(name => resolve(name))
  for (const filePath of paths) {
    if (!existsSync(filePath)) continue
    let config
    try {
      config = JSON.parse(readFileSync(filePath, 'utf-8'))
    } catch (err) {
      throw new UsageError([`Error reading config file ${filePath}: ${err.message}`])
    }
    console.log(`Loaded config from ${filePath}`)
    return config ?? {}
  }
  return {}
}

function schemaOf (args, fileConfig) {
  return args.schema || process.env.PGBOSS_SCHEMA || fileConfig.schema || DEFAULT_SCHEMA
}

function backendOf (args, fileConfig) {
  const backend = args.backend || process.env.PGBOSS_BACKEND || fileConfig.backend
  // pglite runs in-process: there is nothing to connect to from a command line
  if (backend === 'pglite') throw new UsageError(['Error: the pglite backend is in-process and cannot be used from the CLI.'])
  return backend
}

function hasConnection (args, fileConfig) {
  return Boolean(args.connectionString || process.env.PGBOSS_DATABASE_URL || fileConfig.connectionString ||
    args.host || process.env.PGBOSS_HOST || fileConfig.host ||
    args.database || process.env.PGBOSS_DATABASE || fileConfig.database)
}

function portOf (args, fileConfig) {
  if (args.port) return parseInt(args.port, 10)
  if (process.env.PGBOSS_PORT) return parseInt(process.env.PGBOSS_PORT, 10)
  return fileConfig.port
}

/**
 * The PgBoss constructor options for the command line, or a UsageError when no database is named
 * (`required`), or null (`required: false`) for commands where a connection is optional.
 */
function connectionOptions (args, fileConfig, { required = true } = {}) {
  if (!hasConnection(args, fileConfig)) {
    if (!required) return null
    throw new UsageError([
      'Error: No database connection configured.',
      'Provide connection via --connection-string, environment variables, or config file.',
      'Run "pg-boss-native --help" for more information.'
    ])
  }
  const options = {
    connectionString: args.connectionString || process.env.PGBOSS_DATABASE_URL || fileConfig.connectionString,
    host: args.host || process.env.PGBOSS_HOST || fileConfig.host,
    port: portOf(args, fileConfig),
    database: args.database || process.env.PGBOSS_DATABASE || fileConfig.database,
    user: args.user || process.env.PGBOSS_USER || fileConfig.user,
    password: args.password || process.env.PGBOSS_PASSWORD || fileConfig.password,
    schema: schemaOf(args, fileConfig),
    backend: backendOf(args, fileConfig)
  }
  if (args.ssl || fileConfig.ssl) options.ssl = args.ssl ? { rejectUnauthorized: false } : fileConfig.ssl
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key]
  return options
}

module.exports = { DEFAULT_SCHEMA, UsageError, parseCliArgs, loadConfigFile, schemaOf, backendOf, connectionOptions }
