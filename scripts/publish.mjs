// Publishes a release: every platform package first (npm/<target>/, each with its addon, put
// there by scripts/artifacts.mjs), then pg-boss-native itself, so that by the time the main
// package is visible every optional dependency it names exists at its version. A package whose
// version is already on the registry is skipped, so a release that failed half-way can be re-run.
//
//   node scripts/publish.mjs [--dry-run]
//
// The main package is packed first (scripts/pack-manifest.mjs adds its optionalDependencies),
// checked, and that tarball is what gets published. The dist-tag is `latest`, or `next` for a
// prerelease version (1.2.0-rc.1). Provenance and the token come from npm's own configuration
// (NPM_CONFIG_PROVENANCE, NODE_AUTH_TOKEN in CI).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { optionalDependencies, syncPackages } from './npm-version.mjs'
import { readManifest, releaseTargets, root as defaultRoot } from './targets.mjs'

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare']
const shell = process.platform === 'win32'

/** One file of a .tgz (ustar: 512-byte headers, contents padded to 512 bytes), or null. */
export function readFromTarball (tarball, wanted) {
  const tar = gunzipSync(readFileSync(tarball))
  for (let offset = 0; offset + 512 <= tar.length;) {
    const header = tar.subarray(offset, offset + 512)
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '')
    if (!name) break
    const prefix = header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '')
    const size = parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8)
    const path = prefix ? `${prefix}/${name}` : name
    if (path === wanted) return tar.subarray(offset + 512, offset + 512 + size).toString('utf8')
    offset += 512 + Math.ceil(size / 512) * 512
  }
  return null
}

/** npm pack of the main package into a temp directory: the tarball, its files and its package.json. */
export function packMain (root = defaultRoot, destination = mkdtempSync(join(tmpdir(), 'pgbn-publish-'))) {
  const result = spawnSync('npm', ['pack', '--json', '--pack-destination', destination], { cwd: root, encoding: 'utf8', shell })
  if (result.status !== 0) throw new Error(`npm pack failed: ${result.stderr}`)
  const [info] = JSON.parse(result.stdout)
  const tarball = join(destination, info.filename)
  return { tarball, files: info.files.map(f => f.path), manifest: JSON.parse(readFromTarball(tarball, 'package/package.json')) }
}

/** What to publish, in order, or the reasons it cannot be published. */
export function publishPlan ({ root = defaultRoot, destination } = {}) {
  const main = readManifest(root)
  const problems = syncPackages({ root, check: true })
  const tag = main.version.includes('-') ? 'next' : 'latest'
  const steps = []
  for (const t of releaseTargets(main)) {
    if (!existsSync(join(root, t.dir, t.binary))) problems.push(`${t.dir}/${t.binary}: missing (run scripts/artifacts.mjs)`)
    steps.push({ name: t.packageName, version: main.version, cwd: join(root, t.dir), spec: '.', tag })
  }
  const packed = packMain(root, destination)
  for (const file of packed.files.filter(path => path.endsWith('.node'))) problems.push(`${file}: the main package would carry an addon`)
  const scripts = INSTALL_SCRIPTS.filter(s => packed.manifest.scripts?.[s])
  if (scripts.length) problems.push(`the packed package.json has install scripts: ${scripts.join(', ')}`)
  if (JSON.stringify(packed.manifest.optionalDependencies) !== JSON.stringify(optionalDependencies(main))) {
    problems.push(`the packed package.json's optionalDependencies are ${JSON.stringify(packed.manifest.optionalDependencies)} ` +
      '(was it packed with --ignore-scripts?)')
  }
  steps.push({ name: main.name, version: main.version, cwd: root, spec: packed.tarball, tag })
  return { steps, problems }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dryRun = process.argv.includes('--dry-run')
  const { steps, problems } = publishPlan()
  if (problems.length) {
    console.error(`pg-boss-native: not publishing:\n  ${problems.join('\n  ')}`)
    process.exit(1)
  }
  for (const { name, version, cwd, spec, tag } of steps) {
    const seen = spawnSync('npm', ['view', `${name}@${version}`, 'version'], { cwd, encoding: 'utf8', shell })
    if (seen.status === 0 && seen.stdout.trim() === version) {
      console.log(`${name}@${version}: already published, skipped`)
      continue
    }
    const args = ['publish', spec, '--access', 'public', '--tag', tag, ...(dryRun ? ['--dry-run'] : [])]
    console.log(`${name}@${version}: npm ${args.join(' ')}`)
    const result = spawnSync('npm', args, { cwd, stdio: 'inherit', shell })
    if (result.status !== 0) {
      console.error(`pg-boss-native: publishing ${name}@${version} failed; fix it and run this again (published packages are skipped)`)
      process.exit(result.status ?? 1)
    }
  }
}
