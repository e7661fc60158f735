import type { Backend, SubscribeOptions, Unsubscribe } from './backend'
import { applyToMatchingRuns, type BulkRunsResult } from './bulkRuns'
import * as C from './contract'
import { NotFoundError, ValidationError } from './errors'
import { paramsSchemaValidator } from './paramsSchema'
import { parseInput } from './validate'

export interface OpsClientOptions {
  backend: Backend
}

/** Filters for `runs.watch`. */
export interface WatchRunsFilter {
  sessionId?: string
}

/**
 * The client: every operation validates its input before any I/O and rejects with a typed
 * `OpsError`. Obtain one with `createOpsClient`.
 */
export interface OpsClient {
  readonly backend: Backend
  readonly sessions: {
    create(input: C.CreateSessionInput): Promise<C.Session>
    /** @throws NotFoundError */
    get(id: string): Promise<C.Session>
    list(input?: C.ListSessionsInput): Promise<C.Session[]>
  }
  readonly runs: {
    /** Enqueues runs into a session in one round trip; returns them in input order. */
    enqueue(input: C.EnqueueRunsInput): Promise<C.Run[]>
    /** @throws NotFoundError */
    get(id: string): Promise<C.Run>
    /** Newest first, or oldest first after `afterSeq`. */
    list(input?: C.ListRunsInput): Promise<C.Run[]>
    /** Cancels one run (queued: at once; running: its worker is told). @throws NotFoundError */
    cancel(id: string, reason?: string): Promise<C.Run>
    /** Cancels many runs; unknown ids are left out of the result. */
    cancelMany(input: C.CancelRunsInput): Promise<C.Run[]>
    /**
     * Retries failed or cancelled runs as a new attempt of the same run (back to `queued`); runs in
     * another status come back unchanged, unknown ids are left out. Each retry records a
     * `run:retried` event holding the ended attempt's error.
     */
    retry(input: C.RetryRunsInput): Promise<C.Run[]>
    /** How many runs match a filter: every run in the database, up to `max` (then `capped`). */
    count(input?: C.CountRunsInput): Promise<C.RunCount>
    /**
     * Cancels every queued or running run matching a filter (not only loaded ones), in batches of
     * 500, at most `max` (default and most MAX_BULK_RUNS); each batch is a `cancelMany`.
     */
    cancelMatching(input: { filter: C.RunFilter; reason?: string; max?: number }): Promise<BulkRunsResult>
    /** Retries every failed or cancelled run matching a filter, as `cancelMatching` does. */
    retryMatching(input: { filter: C.RunFilter; max?: number }): Promise<BulkRunsResult>
    /** Live run changes (status, progress, cancel requests), optionally of one session. */
    watch(
      filter: WatchRunsFilter,
      listener: (change: Extract<C.Change, { type: 'run' }>) => void,
    ): Promise<Unsubscribe>
  }
  readonly events: {
    list(input: C.ListEventsInput): Promise<C.RunEvent[]>
    /** Called with the run ids that got new events. */
    watch(listener: (runIds: string[]) => void): Promise<Unsubscribe>
  }
  readonly artifacts: {
    list(input: C.ListArtifactsInput): Promise<C.Artifact[]>
    /** @throws NotFoundError */
    get(id: string): Promise<C.Artifact>
  }
  readonly templates: {
    /** Creates the next version of a template (version 1 for a new name). */
    create(input: C.CreateTemplateInput): Promise<C.RunTemplate>
    /** The given version, or the latest. @throws NotFoundError */
    get(input: C.GetTemplateInput): Promise<C.RunTemplate>
    list(input?: C.ListTemplatesInput): Promise<C.RunTemplate[]>
    /** Enqueues one run from a template; params are merged over its defaults and checked against its schema. */
    enqueue(input: C.EnqueueFromTemplateInput): Promise<C.Run>
  }
  readonly workers: {
    list(): Promise<C.WorkerInfo[]>
  }
  /**
   * The queue now (queued/running per lane and kind, oldest queued age) and the last window
   * (finished runs, error rate, recoveries, worker health). Signed-in users and the service role.
   */
  readonly stats: {
    (input?: C.QueueStatsInput): Promise<C.QueueStats>
    /** Counts per lane and status, throughput and error rate of one session (or of every run). */
    session(input?: C.SessionStatsInput): Promise<C.SessionStats>
  }
  /**
   * Who may enqueue which kinds (service_role only). A kind without a policy can be enqueued by
   * service_role alone; the database enforces this for every caller.
   */
  readonly policies: {
    /** Creates or replaces the policy of one kind (or of `'*'`, every kind). */
    set(input: C.SetKindPolicyInput): Promise<C.KindPolicy>
    list(): Promise<C.KindPolicy[]>
    /** Removes a kind's policy (it becomes service_role-only); whether there was one. */
    delete(kind: string): Promise<boolean>
  }
  /** The operations a worker performs. `@ops-control-room/worker` uses these; most apps never do. */
  readonly worker: {
    claim(input: C.ClaimRunsInput): Promise<C.Run[]>
    heartbeat(input: C.HeartbeatInput): Promise<C.HeartbeatResult>
    complete(input: C.CompleteRunsInput): Promise<C.Run[]>
    fail(input: C.FailRunsInput): Promise<C.Run[]>
    ackCancel(input: C.AckCancelInput): Promise<C.Run[]>
    release(input: C.ReleaseRunsInput): Promise<C.Run[]>
    recoverStuck(input?: C.RecoverStuckRunsInput): Promise<C.Run[]>
    progress(input: C.UpdateProgressInput): Promise<number>
    appendEvents(input: C.AppendEventsInput): Promise<number>
    createArtifacts(input: C.CreateArtifactsInput): Promise<C.Artifact[]>
  }
  /** Live changes: all of them, or only the `types` asked for (see `SubscribeOptions`). */
  subscribe(listener: (change: C.Change) => void, options?: SubscribeOptions): Promise<Unsubscribe>
  close(): Promise<void>
}

const id = (value: unknown, what: string): string => parseInput(C.Run.shape.id, value, what)

/** Checks params against a template's JSON Schema; throws ValidationError listing what is wrong. */
export function validateTemplateParams(template: C.RunTemplate, params: Record<string, unknown>): void {
  if (!template.paramsSchema) return
  const result = paramsSchemaValidator(template.paramsSchema).validate(params)
  if (!result.valid) {
    const issues = result.errors
      .filter((e) => e.keyword !== 'properties' && e.keyword !== 'allOf')
      .map((e) => ({
        path: `params${e.instanceLocation.replace(/^#/, '').replace(/\//g, '.')}`,
        // A pattern runs as a format of ours (see paramsSchema.ts): say "pattern", as written.
        message: e.error.replace(
          /does not match format "ops-linear-pattern:(.*)"\.$/s,
          'does not match pattern $1.',
        ),
      }))
    throw new ValidationError(
      `params do not match template ${template.name}@${template.version}: ${issues[0]?.path}: ${issues[0]?.message}`,
      { details: { issues } },
    )
  }
}

/**
 * Creates a client over a backend.
 *
 * @example
 * import { createOpsClient } from '@ops-control-room/core'
 * import { postgresBackend } from '@ops-control-room/core/postgres'
 *
 * const ops = createOpsClient({ backend: postgresBackend({ databaseUrl: process.env.DATABASE_URL! }) })
 * const session = await ops.sessions.create({ name: 'deploy api' })
 * await ops.runs.enqueue({ sessionId: session.id, runs: [{ kind: 'shell', lane: 'A', params: { command: 'make' } }] })
 */
export function createOpsClient(options: OpsClientOptions): OpsClient {
  const { backend } = options
  if (!backend || typeof backend.enqueueRuns !== 'function') {
    throw new TypeError(
      'createOpsClient needs { backend }: postgresBackend(...), httpBackend(...) or supabaseBackend(...)',
    )
  }

  const mustExist = <T>(value: T | null, message: string): T => {
    if (value === null) throw new NotFoundError(message)
    return value
  }

  return {
    backend,
    sessions: {
      create: async (input) => backend.createSession(parseInput(C.CreateSessionInput, input, 'session')),
      get: async (sessionId) =>
        mustExist(
          await backend.getSession(id(sessionId, 'session id')),
          `session ${sessionId} does not exist`,
        ),
      list: async (input = {}) =>
        backend.listSessions(parseInput(C.ListSessionsInput, input, 'session query')),
    },
    runs: {
      enqueue: async (input) => {
        const parsed = parseInput(C.EnqueueRunsInput, input, 'enqueue request')
        // Runs from templates: params checked against the template's schema, and the version pinned
        // to the one checked (a newer version created meanwhile cannot slip in unvalidated).
        if (parsed.runs.some((r) => r.template)) {
          const templates = new Map<string, C.RunTemplate>()
          const runs = []
          for (const [i, run] of parsed.runs.entries()) {
            if (!run.template) {
              runs.push(run)
              continue
            }
            const key = `${run.template.name}@${run.template.version ?? 'latest'}`
            let template = templates.get(key)
            if (!template) {
              template = mustExist(
                await backend.getTemplate({ name: run.template.name, version: run.template.version }),
                `template ${key.replace(/@latest$/, '')} does not exist`,
              )
              templates.set(key, template)
            }
            try {
              validateTemplateParams(template, { ...template.defaultParams, ...(run.params ?? {}) })
            } catch (err) {
              const e = err as ValidationError
              throw new ValidationError(`runs[${i}]: ${e.message}`, { cause: e, details: e.details })
            }
            // Pinned, unless an idempotency key asks for "the latest": a retry of that request after a
            // newer version appeared must still find its first run rather than conflict with it.
            const pin = run.template.version !== undefined || run.idempotencyKey === undefined
            runs.push(pin ? { ...run, template: { name: template.name, version: template.version } } : run)
          }
          return backend.enqueueRuns({ ...parsed, runs })
        }
        return backend.enqueueRuns(parsed)
      },
      get: async (runId) =>
        mustExist(await backend.getRun(id(runId, 'run id')), `run ${runId} does not exist`),
      list: async (input = {}) => backend.listRuns(parseInput(C.ListRunsInput, input, 'run query')),
      cancel: async (runId, reason) => {
        const parsed = parseInput(
          C.CancelRunsInput,
          { ids: [runId], ...(reason === undefined ? {} : { reason }) },
          'cancel request',
        )
        const [run] = await backend.cancelRuns(parsed)
        return mustExist(run ?? null, `run ${runId} does not exist`)
      },
      cancelMany: async (input) => backend.cancelRuns(parseInput(C.CancelRunsInput, input, 'cancel request')),
      retry: async (input) => backend.retryRuns(parseInput(C.RetryRunsInput, input, 'retry request')),
      count: async (input = {}) => backend.countRuns(parseInput(C.CountRunsInput, input, 'run count')),
      cancelMatching: async ({ filter, reason, max }) =>
        applyToMatchingRuns(backend, { action: 'cancel', reason }, { filter, max }),
      retryMatching: async ({ filter, max }) =>
        applyToMatchingRuns(backend, { action: 'retry' }, { filter, max }),
      watch: async (filter, listener) => {
        const sessionId = filter.sessionId === undefined ? undefined : id(filter.sessionId, 'session id')
        return backend.subscribe(
          (change) => {
            if (change.type === 'run' && (sessionId === undefined || change.sessionId === sessionId))
              listener(change)
          },
          { types: ['run'] },
        )
      },
    },
    events: {
      list: async (input) => backend.listEvents(parseInput(C.ListEventsInput, input, 'event query')),
      watch: async (listener) =>
        backend.subscribe(
          (change) => {
            if (change.type === 'events') listener(change.runIds)
          },
          { types: ['events'] },
        ),
    },
    artifacts: {
      list: async (input) => backend.listArtifacts(parseInput(C.ListArtifactsInput, input, 'artifact query')),
      get: async (artifactId) =>
        mustExist(
          await backend.getArtifact(id(artifactId, 'artifact id')),
          `artifact ${artifactId} does not exist`,
        ),
    },
    templates: {
      create: async (input) => {
        const parsed = parseInput(C.CreateTemplateInput, input, 'template')
        if (parsed.paramsSchema) paramsSchemaValidator(parsed.paramsSchema)
        return backend.createTemplate(parsed)
      },
      get: async (input) => {
        const parsed = parseInput(C.GetTemplateInput, input, 'template query')
        return mustExist(
          await backend.getTemplate(parsed),
          `template ${parsed.name}${parsed.version ? `@${parsed.version}` : ''} does not exist`,
        )
      },
      list: async (input = {}) =>
        backend.listTemplates(parseInput(C.ListTemplatesInput, input, 'template query')),
      enqueue: async (input) => {
        const parsed = parseInput(C.EnqueueFromTemplateInput, input, 'enqueue request')
        const template = mustExist(
          await backend.getTemplate({ name: parsed.name, version: parsed.version }),
          `template ${parsed.name}${parsed.version ? `@${parsed.version}` : ''} does not exist`,
        )
        validateTemplateParams(template, { ...template.defaultParams, ...(parsed.params ?? {}) })
        const [run] = await backend.enqueueRuns({
          sessionId: parsed.sessionId,
          runs: [
            {
              template: { name: template.name, version: template.version },
              params: parsed.params,
              lane: parsed.lane,
              priority: parsed.priority,
              runAt: parsed.runAt,
              idempotencyKey: parsed.idempotencyKey,
            },
          ],
        })
        return run as C.Run
      },
    },
    workers: {
      list: async () => backend.listWorkers(),
    },
    // Callable for the queue's figures, with `.session` for one session's: both are aggregates
    // computed by the database, true at any size.
    stats: Object.assign(
      async (input: C.QueueStatsInput = {}) =>
        backend.queueStats(parseInput(C.QueueStatsInput, input, 'stats request')),
      {
        session: async (input: C.SessionStatsInput = {}) =>
          backend.sessionStats(parseInput(C.SessionStatsInput, input, 'stats query')),
      },
    ),
    policies: {
      set: async (input) => backend.setKindPolicy(parseInput(C.SetKindPolicyInput, input, 'kind policy')),
      list: async () => backend.listKindPolicies(),
      delete: async (kind) =>
        backend.deleteKindPolicy(parseInput(C.DeleteKindPolicyInput, { kind }, 'kind policy')),
    },
    worker: {
      claim: async (input) => backend.claimRuns(parseInput(C.ClaimRunsInput, input, 'claim request')),
      heartbeat: async (input) => backend.heartbeat(parseInput(C.HeartbeatInput, input, 'heartbeat')),
      complete: async (input) => backend.completeRuns(parseInput(C.CompleteRunsInput, input, 'completion')),
      fail: async (input) => backend.failRuns(parseInput(C.FailRunsInput, input, 'failure')),
      ackCancel: async (input) =>
        backend.ackCancel(parseInput(C.AckCancelInput, input, 'cancel acknowledgement')),
      release: async (input) => backend.releaseRuns(parseInput(C.ReleaseRunsInput, input, 'release request')),
      recoverStuck: async (input = {}) =>
        backend.recoverStuckRuns(parseInput(C.RecoverStuckRunsInput, input, 'recovery request')),
      progress: async (input) =>
        backend.updateProgress(parseInput(C.UpdateProgressInput, input, 'progress update')),
      appendEvents: async (input) => backend.appendEvents(parseInput(C.AppendEventsInput, input, 'events')),
      createArtifacts: async (input) =>
        backend.createArtifacts(parseInput(C.CreateArtifactsInput, input, 'artifacts')),
    },
    subscribe: (listener, options) => backend.subscribe(listener, options),
    close: () => backend.close(),
  }
}
