import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as C from './contract'
import { SecretInParamsError, ValidationError } from './errors'
import { fastParse } from './fastParse'
import { parseInput } from './validate'

const SESSION = '0b9f3e0c-6f1e-4d39-9a57-3f2c1d0e8a11'
const schemas = {
  ClaimRunsInput: C.ClaimRunsInput,
  EnqueueRunsInput: C.EnqueueRunsInput,
  CompleteRunsInput: C.CompleteRunsInput,
}
type Name = keyof typeof schemas

/** The fast check may only ever answer what the schema answers; `undefined` defers to it. */
function agrees(name: Name, input: unknown): boolean {
  const fast = fastParse(name, input)
  if (fast === undefined) return false
  const slow = schemas[name].safeParse(input)
  expect(slow.success).toBe(true)
  expect(fast).toStrictEqual(slow.data)
  return true
}

// Mostly valid values (so the fast path is reached), with every bound of the two schemas and values
// of the wrong type mixed in.
const mostly = <T, U>(valid: fc.Arbitrary<T>, wild: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: wild, weight: 1 })
const count = (min: number, max: number) =>
  mostly(
    fc.integer({ min, max }),
    fc.oneof(
      fc.integer({ min: min - 2, max: min + 2 }),
      fc.integer({ min: max - 2, max: max + 2 }),
      fc.constantFrom(0.5, Number.NaN, Number.POSITIVE_INFINITY, '1', null, undefined),
    ),
  )
const text = (max: number) =>
  mostly(
    fc.string({ minLength: 1, maxLength: 4 }),
    fc.oneof(fc.constantFrom('', 'x'.repeat(max), 'x'.repeat(max + 1)), fc.integer(), fc.constant(undefined)),
  )
const name = mostly(
  fc.stringMatching(/^[a-z0-9][a-z0-9_.:-]{0,6}$/),
  fc.oneof(
    fc.constantFrom('9x', 'A', '-x', '', 'x'.repeat(100), 'x'.repeat(101), '*', 'a b'),
    fc.string({ maxLength: 5 }),
    fc.integer(),
  ),
)
const laneKey = mostly(
  fc.constantFrom('A', 'B', 'C', 'D'),
  fc.constantFrom('E', 'a', 'toString', '__proto__'),
)
const extra = { other: fc.constant(1) }

const claimFields = {
  workerId: text(200),
  lanes: mostly(fc.dictionary(laneKey, count(0, 1000), { maxKeys: 4 }), fc.constantFrom(null, [], 'A')),
  kinds: mostly(
    fc.array(name, { minLength: 1, maxLength: 3 }),
    fc.constantFrom(undefined, 'noop', [], Array(2)),
  ),
}
const claimInput = fc.oneof(
  { arbitrary: fc.record(claimFields, { requiredKeys: ['workerId', 'lanes'] }), weight: 8 },
  { arbitrary: fc.record({ ...claimFields, ...extra }, { requiredKeys: [] }), weight: 1 },
  { arbitrary: fc.constantFrom(null, undefined, 'claim', [], 7), weight: 1 },
)

const params = mostly(
  fc.oneof(
    fc.constant({}),
    fc.dictionary(fc.stringMatching(/^[a-z]{1,4}$/), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  ),
  fc.constantFrom(
    { password: 'hunter2hunter2' },
    { nested: { api_key: 'sk_live_0123456789abcdefghijklmn' } },
    null,
    [],
    'params',
    JSON.parse('{"__proto__": {"x": 1}}'),
    JSON.parse('{"a": {"__proto__": {"x": 1}}}'),
  ),
)
const runFields = {
  kind: name,
  lane: mostly(fc.constantFrom('A', 'D'), fc.constantFrom('E', undefined, 1)),
  priority: count(-1000, 1000),
  params,
  runAt: mostly(
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom('2026-01-01T00:00:00.123+02:00', '2026-01-01', 'soon', 5),
  ),
  maxAttempts: count(1, 100),
  timeoutSeconds: count(1, 604_800),
  idempotencyKey: text(200),
}
const runSpec = fc.oneof(
  { arbitrary: fc.record(runFields, { requiredKeys: ['kind'] }), weight: 8 },
  {
    arbitrary: fc.record(
      { ...runFields, template: fc.record({ name }, { requiredKeys: [] }), other: fc.constant(true) },
      { requiredKeys: [] },
    ),
    weight: 1,
  },
)
const enqueueFields = {
  sessionId: mostly(
    fc.uuid(),
    fc.constantFrom('not-a-uuid', '00000000-0000-0000-0000-000000000000', SESSION.toUpperCase(), 3),
  ),
  runs: mostly(fc.array(runSpec, { minLength: 1, maxLength: 3 }), fc.constantFrom([], null, {}, 'runs')),
}
const resultFields = {
  id: mostly(fc.uuid(), fc.constantFrom('not-a-uuid', SESSION.toUpperCase(), 3, undefined)),
  lease: mostly(
    fc.bigInt({ min: 1n, max: 9_223_372_036_854_775_807n }).map(String),
    fc.constantFrom('', '-1', '1.5', '12345678901234567890', 'x', 1, undefined),
  ),
  result: mostly(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(undefined, JSON.parse('{"__proto__": {"x": 1}}'), [JSON.parse('{"__proto__": 1}')]),
  ),
}
const resultItem = fc.oneof(
  { arbitrary: fc.record(resultFields, { requiredKeys: ['id', 'lease'] }), weight: 8 },
  { arbitrary: fc.record({ ...resultFields, ...extra }, { requiredKeys: [] }), weight: 1 },
  { arbitrary: fc.constantFrom(null, 'x', []), weight: 1 },
)
const completeFields = {
  workerId: text(200),
  results: mostly(fc.array(resultItem, { minLength: 1, maxLength: 4 }), fc.constantFrom([], null, {}, 'x')),
  returning: mostly(fc.constantFrom('runs', 'changes'), fc.constantFrom(undefined, 'all', 1)),
}
const completeInput = fc.oneof(
  { arbitrary: fc.record(completeFields, { requiredKeys: ['workerId', 'results'] }), weight: 8 },
  { arbitrary: fc.record({ ...completeFields, ...extra }, { requiredKeys: [] }), weight: 1 },
  { arbitrary: fc.constantFrom(null, undefined, 'complete', []), weight: 1 },
)
const enqueueInput = fc.oneof(
  { arbitrary: fc.record(enqueueFields), weight: 8 },
  { arbitrary: fc.record({ ...enqueueFields, ...extra }, { requiredKeys: [] }), weight: 1 },
  { arbitrary: fc.constantFrom(null, undefined, 'enqueue', []), weight: 1 },
)

describe('fastParse', () => {
  it('takes the inputs of the pickup path: a worker’s claim and a plain enqueue', () => {
    for (const input of [
      { workerId: 'worker-1', lanes: { A: 10 }, kinds: ['noop', 'spec_kit_generate'] },
      { workerId: 'w', lanes: { A: 1 }, [Symbol('s')]: 1 },
      { workerId: 'w', lanes: { A: 0, B: 1000, C: 1, D: 5 } },
    ]) {
      expect(agrees('ClaimRunsInput', input)).toBe(true)
    }
    for (const input of [
      { sessionId: SESSION, runs: [{ kind: 'noop', lane: 'A' }] },
      {
        sessionId: SESSION,
        runs: [
          {
            kind: 'deploy',
            lane: 'B',
            priority: -1000,
            params: { ref: 'main', env: { region: 'eu' } },
            runAt: '2026-01-01T00:00:00Z',
            maxAttempts: 100,
            timeoutSeconds: 604_800,
            idempotencyKey: 'k',
          },
          { kind: 'lint', priority: undefined, params: {} },
          { kind: 'tagged', [Symbol('s')]: 1 },
        ],
      },
    ]) {
      expect(agrees('EnqueueRunsInput', input)).toBe(true)
    }
    for (const input of [
      { workerId: 'w', results: [{ id: SESSION, lease: '42', result: { ok: true } }], returning: 'changes' },
      {
        workerId: 'w',
        results: [
          { id: SESSION, lease: '9223372036854775807' },
          { id: SESSION, lease: '1', result: null },
        ],
      },
      {
        workerId: 'w',
        results: [{ id: SESSION, lease: '1', result: [1, 'x'], [Symbol('s')]: 1 }],
        returning: 'runs',
      },
    ]) {
      expect(agrees('CompleteRunsInput', input)).toBe(true)
    }
  })

  it('defers to the schema for anything it does not know to be valid', () => {
    const proto = JSON.parse('{"workerId": "w", "lanes": {"A": 1}, "__proto__": {"x": 1}}')
    for (const input of [
      proto,
      { workerId: 'w', lanes: { A: 1 }, kinds: undefined },
      { workerId: 'w', lanes: { A: 1001 } },
      { workerId: 'w', lanes: { E: 1 } },
      { workerId: '', lanes: { A: 1 } },
      { workerId: 'w', lanes: { A: 1 }, kinds: [] },
      { workerId: 'w', lanes: { A: 1 }, kinds: ['Noop'] },
      { workerId: 'w', lanes: { A: 1, [Symbol('s')]: 1 } },
      new (class {
        workerId = 'w'
        lanes = { A: 1 }
      })(),
    ]) {
      expect(fastParse('ClaimRunsInput', input)).toBeUndefined()
    }
    for (const input of [
      { sessionId: SESSION, runs: [{ template: { name: 't' } }] },
      { sessionId: SESSION, runs: [{ lane: 'A' }] },
      { sessionId: SESSION, runs: [{ kind: 'x', params: { password: 'hunter2hunter2' } }] },
      { sessionId: SESSION, runs: [{ kind: 'x', params: JSON.parse('{"__proto__": {"x": 1}}') }] },
      { sessionId: SESSION, runs: [{ kind: 'x', runAt: '2026-01-01' }] },
      { sessionId: SESSION, runs: [] },
      { sessionId: 'nope', runs: [{ kind: 'x' }] },
    ]) {
      expect(fastParse('EnqueueRunsInput', input)).toBeUndefined()
    }
    for (const input of [
      { workerId: 'w', results: [] },
      { workerId: 'w', results: [{ id: SESSION, lease: '1', result: undefined }] },
      {
        workerId: 'w',
        results: [{ id: SESSION, lease: '1', result: JSON.parse('{"a": {"__proto__": 1}}') }],
      },
      { workerId: 'w', results: [{ id: SESSION, lease: '01234567890123456789' }] },
      { workerId: 'w', results: [{ id: SESSION, lease: 1 }] },
      { workerId: 'w', results: [{ id: 'nope', lease: '1' }] },
      { workerId: 'w', results: [{ id: SESSION, lease: '1', more: 1 }] },
      { workerId: 'w', results: [{ id: SESSION, lease: '1' }], returning: undefined },
      { workerId: 'w', results: [{ id: SESSION, lease: '1' }], returning: 'rows' },
      { workerId: 'w', results: Array.from({ length: 10_001 }, () => ({ id: SESSION, lease: '1' })) },
    ]) {
      expect(fastParse('CompleteRunsInput', input)).toBeUndefined()
    }
    expect(fastParse('CreateSessionInput' as 'ClaimRunsInput', { name: 'x' })).toBeUndefined()
  })

  it('never accepts what the schema refuses, and returns what the schema returns (generated inputs)', () => {
    let claims = 0
    let enqueues = 0
    let completions = 0
    fc.assert(
      fc.property(claimInput, (input) => {
        if (agrees('ClaimRunsInput', input)) claims++
      }),
      { numRuns: 3000 },
    )
    fc.assert(
      fc.property(enqueueInput, (input) => {
        if (agrees('EnqueueRunsInput', input)) enqueues++
      }),
      { numRuns: 3000 },
    )
    fc.assert(
      fc.property(completeInput, (input) => {
        if (agrees('CompleteRunsInput', input)) completions++
      }),
      { numRuns: 3000 },
    )
    // Not vacuous: the generators reach the fast path.
    expect(claims).toBeGreaterThan(300)
    expect(enqueues).toBeGreaterThan(30)
    expect(completions).toBeGreaterThan(300)
  })

  it('leaves the errors to the schema: the same typed errors as before', () => {
    const parse = (name: Name, input: unknown) =>
      fastParse(name, input) ?? parseInput(schemas[name], input, name)
    expect(() => parse('ClaimRunsInput', { workerId: 'w', lanes: { A: -1 } })).toThrow(ValidationError)
    expect(() =>
      parse('EnqueueRunsInput', {
        sessionId: SESSION,
        runs: [{ kind: 'x', params: { password: 'hunter2x9' } }],
      }),
    ).toThrow(SecretInParamsError)
    expect(() =>
      parse('EnqueueRunsInput', {
        sessionId: SESSION,
        runs: [{ kind: 'x', params: JSON.parse('{"__proto__": 1}') }],
      }),
    ).toThrow(/__proto__/)
    expect(() =>
      parse('CompleteRunsInput', {
        workerId: 'w',
        results: [{ id: SESSION, lease: '1', result: JSON.parse('{"__proto__": 1}') }],
      }),
    ).toThrow(/__proto__/)
    expect(() =>
      parse('CompleteRunsInput', { workerId: 'w', results: [{ id: SESSION, lease: 'x' }] }),
    ).toThrow(ValidationError)
  })
})
