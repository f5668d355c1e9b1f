'use strict'
// `pg-boss-native <command> [options]`: pg-boss 12.38's CLI commands on pg-boss-native's engine.
// Arguments and configuration: config.js; the commands: commands.js and doctor.js.

const { UsageError, parseCliArgs } = require('./config.js')
const { printHelp } = require('./help.js')

const COMMANDS = ['version', 'doctor', 'create', 'migrate', 'rollback', 'plans', 'reindex']

function fail (lines) {
  for (const line of lines) console.error(line)
  process.exitCode = 1
}

async function main (argv = process.argv.slice(2)) {
  let args
  try {
    args = parseCliArgs(argv)
  } catch (err) {
    // node's parseArgs message (an unknown option, a missing value)
    return fail([`Error: ${err.message}`])
  }
  if (args.help || !args.command) {
    printHelp()
    return
  }
  if (!COMMANDS.includes(args.command)) {
    return fail([`Unknown command: ${args.command}`, 'Run "pg-boss-native --help" for available commands.'])
  }
  try {
    // loaded here, so --help and bad input answer without loading the addon
    const commands = require('./commands.js')
    await commands[args.command](args)
  } catch (err) {
    if (err instanceof UsageError) return fail(err.lines)
    fail([`Error: ${err.message}`])
    if (process.env.DEBUG) console.error(err.stack)
  }
}

module.exports = { main }
