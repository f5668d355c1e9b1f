// Publishes a release: every platform package first (npm/<target>/, each with its addon, put
// there by scripts/artifacts.mjs), then pg-boss-native itself, so that by the time the main
// package is visible every optional dependency it names exists at its version. A package whose
// version is already on the registry is skipped, so a release that failed half-way can be re-run.
//
//   node scripts/publish.mjs [--dry-run]
//
// The dist-tag is `latest`, or `next` for a prerelease version (1.2.0-rc.1). Provenance and the
// token come from npm's own configuration (NPM_CONFIG_PROVENANCE, NODE_AUTH_TOKEN in CI).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { syncPackages } from './npm-version.mjs'
import { readManifest, releaseTargets, root as defaultRoot } from './targets.mjs'

/** What to publish, in order, or the reasons it cannot be published. */
export function publishPlan ({ root = defaultRoot } = {}) {
  const main = readManifest(root)
  const problems = syncPackages({ root, check: true })
  const tag = main.version.includes('-') ? 'next' : 'latest'
  const steps = []
  for (const t of releaseTargets(main)) {
    if (!existsSync(join(root, t.dir, t.binary))) problems.push(`${t.dir}/${t.binary}: missing (run scripts/artifacts.mjs)`)
    steps.push({ name: t.packageName, version: main.version, dir: join(root, t.dir), tag })
  }
  const stray = spawnSync('npm', ['pack', '--dry-run', '--json'], { cwd: root, encoding: 'utf8', shell: process.platform === 'win32' })
  const packed = stray.status === 0 ? JSON.parse(stray.stdout)[0].files.map(f => f.path) : []
  if (stray.status !== 0) problems.push(`npm pack --dry-run failed: ${stray.stderr}`)
  for (const file of packed.filter(path => path.endsWith('.node'))) problems.push(`${file}: the main package would carry an addon`)
  steps.push({ name: main.name, version: main.version, dir: root, tag })
  return { steps, problems }
}

function npm (args, cwd) {
  return spawnSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], shell: process.platform === 'win32' })
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dryRun = process.argv.includes('--dry-run')
  const { steps, problems } = publishPlan()
  if (problems.length) {
    console.error(`pg-boss-native: not publishing:\n  ${problems.join('\n  ')}`)
    process.exit(1)
  }
  for (const { name, version, dir, tag } of steps) {
    const seen = npm(['view', `${name}@${version}`, 'version'], dir)
    if (seen.status === 0 && seen.stdout.trim() === version) {
      console.log(`${name}@${version}: already published, skipped`)
      continue
    }
    const args = ['publish', '--access', 'public', '--tag', tag, ...(dryRun ? ['--dry-run'] : [])]
    console.log(`${name}@${version}: npm ${args.join(' ')}`)
    const result = spawnSync('npm', args, { cwd: dir, stdio: 'inherit', shell: process.platform === 'win32' })
    if (result.status !== 0) {
      console.error(`pg-boss-native: publishing ${name}@${version} failed; fix it and run this again (published packages are skipped)`)
      process.exit(result.status ?? 1)
    }
  }
}
