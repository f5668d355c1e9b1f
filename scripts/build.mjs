// Builds the native addon into ./pg-boss-native.<target>.node, which lib/loader.js loads before
// any prebuilt package.
//
// `npm install` in a clone runs this: it is the `preprepare` script, which npm runs for the project
// it installs in, never for a package installed as a dependency, and which `npm pack`/`npm publish`
// do not run (they run `prepare`), so the published package has no install script and packing it
// needs no Rust. It uses @napi-rs/cli when it is installed and falls back to plain cargo, so a
// checkout builds even before dev dependencies are present.
//
// Other arguments go to `napi build`: the release workflow builds each target with e.g.
// `node scripts/build.mjs --target aarch64-unknown-linux-gnu.2.17 -x`.
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { nativeFileName } = require('../lib/platform.js')
const debug = process.argv.includes('--debug')
const napiArgs = process.argv.slice(2).filter(arg => arg !== '--debug')

function run (cmd, args) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  if (result.status !== 0) {
    console.error(`pg-boss-native: ${cmd} ${args.join(' ')} failed`)
    process.exit(result.status ?? 1)
  }
}

let cli = null
try { cli = require.resolve('@napi-rs/cli/package.json') } catch {}

if (cli) {
  const bin = join(dirname(cli), 'dist', 'cli.js')
  const args = [bin, 'build', '--platform', '--no-js', '--dts', 'binding.d.ts', '--output-dir', '.']
  if (!debug) args.push('--release')
  run(process.execPath, [...args, ...napiArgs])
} else if (napiArgs.length) {
  console.error(`pg-boss-native: ${napiArgs.join(' ')} needs @napi-rs/cli (npm install first)`)
  process.exit(1)
} else {
  run('cargo', debug ? ['build'] : ['build', '--release'])
  const profile = debug ? 'debug' : 'release'
  const lib = process.platform === 'win32'
    ? 'pg_boss_native.dll'
    : process.platform === 'darwin' ? 'libpg_boss_native.dylib' : 'libpg_boss_native.so'
  const built = join(root, 'target', profile, lib)
  if (!existsSync(built)) {
    console.error(`pg-boss-native: expected ${built} after cargo build`)
    process.exit(1)
  }
  copyFileSync(built, join(root, nativeFileName()))
}
if (!napiArgs.length) console.log(`pg-boss-native: built ${nativeFileName()}`)
