import type { Parsed } from './backend'
import { LANES, MAX_ENQUEUE_BATCH } from './constants'
import * as C from './contract'
import { findProtoKey } from './validate'

/**
 * The common shape of the inputs on the hot path — a worker's claim, an enqueue and a worker's batch
 * of completions — checked by hand, before (and instead of) the contract's zod schemas.
 *
 * Why: an idle worker's pickup latency is a sum of a few cold calls (after an idle gap nothing is in
 * the CPU's caches and little of the code is optimised), and the generic schema machinery was a
 * tenth of a millisecond of each of the claim and the enqueue. A busy worker settles hundreds of runs
 * per completion call, and the schema's walk over them (an object, a UUID and a lease pattern per
 * run) was 4 % of its CPU at concurrency 100.
 *
 * The rule that keeps validation whole: a fast check returns the parsed input only for an input the
 * schema accepts with the same result, and `undefined` for anything else — anything invalid, and
 * anything merely unusual (a template, a class instance, an optional key set to `undefined`) — which
 * then goes through the schema as before, with the same typed errors. `fastParse.test.ts` compares
 * both on generated inputs; a change to ClaimRunsInput or RunSpec must be mirrored here.
 */
export function fastParse<K extends 'ClaimRunsInput' | 'EnqueueRunsInput' | 'CompleteRunsInput'>(
  name: K,
  input: unknown,
): Parsed<(typeof C)[K]> | undefined
export function fastParse(name: string, input: unknown): unknown
export function fastParse(name: string, input: unknown): unknown {
  if (name === 'ClaimRunsInput') return claimRuns(input)
  if (name === 'EnqueueRunsInput') return enqueueRuns(input)
  if (name === 'CompleteRunsInput') return completeRuns(input)
  return undefined
}

type Obj = Record<string, unknown>

const LANE_SET: ReadonlySet<string> = new Set(LANES)
const CLAIM_KEYS: ReadonlySet<string> = new Set(['workerId', 'lanes', 'kinds'])
const ENQUEUE_KEYS: ReadonlySet<string> = new Set(['sessionId', 'runs'])
const RUN_KEYS: ReadonlySet<string> = new Set([
  'kind',
  'lane',
  'priority',
  'params',
  'runAt',
  'maxAttempts',
  'timeoutSeconds',
  'idempotencyKey',
  'template',
])
const COMPLETE_KEYS: ReadonlySet<string> = new Set(['workerId', 'results', 'returning'])
const RESULT_KEYS: ReadonlySet<string> = new Set(['id', 'lease', 'result'])
const UUID_PATTERN = (C.Run.shape.id.def as { pattern?: RegExp }).pattern
const RUN_AT = C.RunSpec.shape.runAt

/**
 * A plain object (prototype Object.prototype or null) whose enumerable keys, own and inherited, are
 * all allowed: what a strict object schema and a record of enum keys both accept. An own `__proto__`
 * key (JSON.parse keeps one) is never allowed, so the proto-key check has nothing to find here.
 */
function plainWith(v: unknown, allowed: ReadonlySet<string>): v is Obj {
  if (v === null || typeof v !== 'object') return false
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) return false
  for (const k in v) if (!allowed.has(k)) return false
  return true
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max

const isString = (v: unknown, min: number, max: number): v is string =>
  typeof v === 'string' && v.length >= min && v.length <= max

function claimRuns(input: unknown): Parsed<typeof C.ClaimRunsInput> | undefined {
  if (!plainWith(input, CLAIM_KEYS)) return undefined
  const { workerId, lanes, kinds } = input
  if (!isString(workerId, 1, 200) || !plainWith(lanes, LANE_SET)) return undefined
  // A record refuses symbol keys (a strict object only drops them).
  if (Object.getOwnPropertySymbols(lanes).length > 0) return undefined
  const parsedLanes: Obj = {}
  for (const lane in lanes) {
    const n = lanes[lane]
    if (!isInt(n, 0, 1000)) return undefined
    parsedLanes[lane] = n
  }
  const out = { workerId, lanes: parsedLanes as Parsed<typeof C.ClaimRunsInput>['lanes'] }
  if (!('kinds' in input)) return out
  if (!Array.isArray(kinds) || kinds.length < 1 || kinds.length > 1000) return undefined
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds[i]
    if (typeof kind !== 'string' || !C.IDENTIFIER_PATTERN.test(kind)) return undefined
  }
  return { ...out, kinds: [...kinds] as string[] }
}

function enqueueRuns(input: unknown): Parsed<typeof C.EnqueueRunsInput> | undefined {
  if (!UUID_PATTERN || !plainWith(input, ENQUEUE_KEYS)) return undefined
  const { sessionId, runs } = input
  if (typeof sessionId !== 'string' || !UUID_PATTERN.test(sessionId)) return undefined
  if (!Array.isArray(runs) || runs.length < 1 || runs.length > MAX_ENQUEUE_BATCH) return undefined
  const parsed: Parsed<typeof C.RunSpec>[] = new Array(runs.length)
  for (let i = 0; i < runs.length; i++) {
    const run = runSpec(runs[i])
    if (!run) return undefined
    parsed[i] = run
  }
  return { sessionId, runs: parsed }
}

function runSpec(run: unknown): Parsed<typeof C.RunSpec> | undefined {
  // Runs from templates take the schema's path (their enqueue reads the template anyway).
  if (!plainWith(run, RUN_KEYS) || 'template' in run) return undefined
  const { kind, lane, priority, params, runAt, maxAttempts, timeoutSeconds, idempotencyKey } = run
  // Without a template, a kind is required.
  if (typeof kind !== 'string' || !C.IDENTIFIER_PATTERN.test(kind)) return undefined
  if (lane !== undefined && !(typeof lane === 'string' && LANE_SET.has(lane))) return undefined
  if (priority !== undefined && !isInt(priority, -1000, 1000)) return undefined
  if (maxAttempts !== undefined && !isInt(maxAttempts, 1, 100)) return undefined
  if (timeoutSeconds !== undefined && !isInt(timeoutSeconds, 1, 604_800)) return undefined
  if (idempotencyKey !== undefined && !isString(idempotencyKey, 1, 200)) return undefined
  // Its string keys only, as the schema returns them (it drops symbol keys, which a spread copies).
  const spec = {} as Record<string, unknown>
  for (const key in run) spec[key] = run[key]
  // Params and run times through their own schemas: size, serialisability, secrets, ISO dates.
  if (params !== undefined) {
    if (findProtoKey(params) !== undefined) return undefined
    const p = C.Params.safeParse(params)
    if (!p.success) return undefined
    spec.params = p.data
  }
  if (runAt !== undefined) {
    const r = RUN_AT.safeParse(runAt)
    if (!r.success) return undefined
    spec.runAt = r.data
  }
  return spec as Parsed<typeof C.RunSpec>
}

function completeRuns(input: unknown): Parsed<typeof C.CompleteRunsInput> | undefined {
  if (!UUID_PATTERN || !plainWith(input, COMPLETE_KEYS)) return undefined
  const { workerId, results, returning } = input
  if (!isString(workerId, 1, 200)) return undefined
  const hasReturning = 'returning' in input
  if (hasReturning && returning !== 'runs' && returning !== 'changes') return undefined
  if (!Array.isArray(results) || results.length < 1 || results.length > 10_000) return undefined
  const parsed: Parsed<typeof C.CompleteRunsInput>['results'] = new Array(results.length)
  for (let i = 0; i < results.length; i++) {
    const item: unknown = results[i]
    if (!plainWith(item, RESULT_KEYS)) return undefined
    const { id, lease, result } = item
    if (typeof id !== 'string' || !UUID_PATTERN.test(id)) return undefined
    if (typeof lease !== 'string' || !C.LEASE_PATTERN.test(lease)) return undefined
    if (!('result' in item)) {
      parsed[i] = { id, lease }
      continue
    }
    // An optional key set to `undefined`, or a result with a `__proto__` key: the schema's path.
    if (result === undefined || findProtoKey(result) !== undefined) return undefined
    parsed[i] = { id, lease, result }
  }
  const out: Parsed<typeof C.CompleteRunsInput> = { workerId, results: parsed }
  if (hasReturning) out.returning = returning as 'runs' | 'changes'
  return out
}
