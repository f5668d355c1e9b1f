// The peers `--peers` adds: each module exports RUNS (workload id -> run(ctx)), NOT_RUN (workload
// id -> why it cannot run it) and settings(id) (the settings a row ran with, printed). Loaded on
// demand, so a plain `npm run bench` needs neither package nor Redis.
export const PEERS = ['graphile', 'bullmq']

export const PEER_SCHEMA = { graphile: 'bench_graphile', bullmq: 'bench_bullmq' } // bullmq's store is Redis; its name only scopes endLeftovers

export async function loadPeer (name) {
  if (name === 'graphile') return import('./graphile.mjs')
  if (name === 'bullmq') return import('./bullmq.mjs')
  throw new Error(`unknown peer ${name}`)
}
