// What the peers' runs share: the drain's wait on their own store's counts, and the drains'
// job numbering (job `i` fails when i % 10 === 0, as on the pg-boss sides).
import { sleep } from '../measure.mjs'

export const failing = i => i % 10 === 0

/**
 * Resolves with `counts()` once its completed + failed reach `n`. Like measure.mjs's untilSettled,
 * the handlers' tally (`seen()`) only decides when to ask; the answer is the store's. Throws when
 * nothing moves for `stallMs`, or after `maxMs`.
 */
export async function untilCounted (counts, n, seen, { stallMs = 60_000, maxMs = Infinity } = {}) {
  let progress = -1
  let movedAt = Date.now()
  const deadline = Date.now() + maxMs
  for (;;) {
    if (Date.now() > deadline) throw new Error(`too slow: after ${maxMs / 1000} s handlers saw ${seen()} of ${n} jobs; store ${JSON.stringify(await counts())}`)
    let marker = seen()
    if (marker >= n) {
      const c = await counts()
      if (c.completed + c.failed >= n) return c
      marker = n + c.completed + c.failed
    }
    if (marker !== progress) {
      progress = marker
      movedAt = Date.now()
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(`stalled: handlers saw ${seen()} of ${n} jobs; store ${JSON.stringify(await counts())}`)
    }
    await sleep(marker >= n ? 10 : 5)
  }
}

/** Runs `send(i)` for i = 0..n-1 from `senders` concurrent loops. */
export function sendFrom (senders, n, send) {
  let next = 0
  return Promise.all(Array.from({ length: senders }, async () => {
    while (next < n) await send(next++)
  }))
}
