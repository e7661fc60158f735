import type { Backend, Parsed, SubscribeOptions, Unsubscribe } from './backend'
import type * as C from './contract'
import { NotFoundError, ValidationError } from './errors'

/** The contract's input schemas, by name. */
export type InputName = {
  [K in keyof typeof C]: K extends `${string}Input` ? K : never
}[keyof typeof C]

/**
 * How a client checks what it is given before any I/O. `createOpsClient` of `@ops-control-room/core`
 * parses every input with the contract's zod schemas; the one of `@ops-control-room/core/client`
 * (browsers) leaves that to the server, which parses the same schemas where the input enters.
 */
export interface ClientChecks {
  /** The parsed input (defaults applied), or throws a ValidationError. */
  input<K extends InputName>(name: K, input: unknown, what: string): Parsed<(typeof C)[K]>
  /** A run, session or artifact id, or throws a ValidationError. */
  id(value: unknown, what: string): string
  /**
   * Checks params against a template's JSON Schema here, pinning the version checked. Without it, the
   * server does both.
   */
  templateParams?(template: C.RunTemplate, params: Record<string, unknown>): void
  /** Checks that a template's params schema is one the server accepts. */
  paramsSchema?(schema: Record<string, unknown>): void
}

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
     * Cancels every queued or running run matching a filter (not only loaded ones), newest first,
     * at most `max` (default and most MAX_BULK_RUNS), in one database transaction: all of them or
     * none. Each goes through the same rules as `cancelMany`. `capped` says more matched.
     */
    cancelMatching(input: C.CancelMatchingInput): Promise<C.BulkRunsResult>
    /**
     * Retries every failed or cancelled run matching a filter, as `cancelMatching` does: one
     * transaction, so a kind the caller may not retry refuses the whole action (ForbiddenError) and
     * nothing is retried.
     */
    retryMatching(input: C.RetryMatchingInput): Promise<C.BulkRunsResult>
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
    /**
     * Queued runs per lane and runs finished/failed per bucket over the last window, rebuilt by the
     * database from the runs' timestamps (a chart's history on open). Anyone who may read runs.
     */
    laneHistory(input?: C.LaneHistoryInput): Promise<C.LaneHistory>
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
    /** Marks held runs succeeded; answers the runs as stored (or their `RunChanges`, if asked). */
    complete(input: C.CompleteRunsInput & { returning?: 'runs' }): Promise<C.Run[]>
    complete(input: C.CompleteRunsInput & { returning: 'changes' }): Promise<C.RunChanges[]>
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

/** Builds a client over a backend with the given checks (see `ClientChecks`). */
export function buildOpsClient(options: OpsClientOptions, check: ClientChecks): OpsClient {
  const { backend } = options
  const templateParams = check.templateParams
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
      create: async (input) => backend.createSession(check.input('CreateSessionInput', input, 'session')),
      get: async (sessionId) =>
        mustExist(
          await backend.getSession(check.id(sessionId, 'session id')),
          `session ${sessionId} does not exist`,
        ),
      list: async (input = {}) =>
        backend.listSessions(check.input('ListSessionsInput', input, 'session query')),
    },
    runs: {
      enqueue: async (input) => {
        const parsed = check.input('EnqueueRunsInput', input, 'enqueue request')
        // Runs from templates: params checked against the template's schema, and the version pinned
        // to the one checked (a newer version created meanwhile cannot slip in unvalidated).
        if (templateParams && parsed.runs.some((r) => r.template)) {
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
              templateParams(template, { ...template.defaultParams, ...(run.params ?? {}) })
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
        mustExist(await backend.getRun(check.id(runId, 'run id')), `run ${runId} does not exist`),
      list: async (input = {}) => backend.listRuns(check.input('ListRunsInput', input, 'run query')),
      cancel: async (runId, reason) => {
        const parsed = check.input(
          'CancelRunsInput',
          { ids: [runId], ...(reason === undefined ? {} : { reason }) },
          'cancel request',
        )
        const [run] = await backend.cancelRuns(parsed)
        return mustExist(run ?? null, `run ${runId} does not exist`)
      },
      cancelMany: async (input) =>
        backend.cancelRuns(check.input('CancelRunsInput', input, 'cancel request')),
      retry: async (input) => backend.retryRuns(check.input('RetryRunsInput', input, 'retry request')),
      count: async (input = {}) => backend.countRuns(check.input('CountRunsInput', input, 'run count')),
      cancelMatching: async (input) =>
        backend.cancelMatching(check.input('CancelMatchingInput', input, 'bulk cancel')),
      retryMatching: async (input) =>
        backend.retryMatching(check.input('RetryMatchingInput', input, 'bulk retry')),
      watch: async (filter, listener) => {
        const sessionId =
          filter.sessionId === undefined ? undefined : check.id(filter.sessionId, 'session id')
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
      list: async (input) => backend.listEvents(check.input('ListEventsInput', input, 'event query')),
      watch: async (listener) =>
        backend.subscribe(
          (change) => {
            if (change.type === 'events') listener(change.runIds)
          },
          { types: ['events'] },
        ),
    },
    artifacts: {
      list: async (input) =>
        backend.listArtifacts(check.input('ListArtifactsInput', input, 'artifact query')),
      get: async (artifactId) =>
        mustExist(
          await backend.getArtifact(check.id(artifactId, 'artifact id')),
          `artifact ${artifactId} does not exist`,
        ),
    },
    templates: {
      create: async (input) => {
        const parsed = check.input('CreateTemplateInput', input, 'template')
        if (parsed.paramsSchema) check.paramsSchema?.(parsed.paramsSchema)
        return backend.createTemplate(parsed)
      },
      get: async (input) => {
        const parsed = check.input('GetTemplateInput', input, 'template query')
        return mustExist(
          await backend.getTemplate(parsed),
          `template ${parsed.name}${parsed.version ? `@${parsed.version}` : ''} does not exist`,
        )
      },
      list: async (input = {}) =>
        backend.listTemplates(check.input('ListTemplatesInput', input, 'template query')),
      enqueue: async (input) => {
        const parsed = check.input('EnqueueFromTemplateInput', input, 'enqueue request')
        if (!templateParams) {
          // The server checks the params against the template and pins the version.
          const [run] = await backend.enqueueRuns({
            sessionId: parsed.sessionId,
            runs: [
              {
                template: { name: parsed.name, version: parsed.version },
                params: parsed.params,
                lane: parsed.lane,
                priority: parsed.priority,
                runAt: parsed.runAt,
                idempotencyKey: parsed.idempotencyKey,
              },
            ],
          })
          return run as C.Run
        }
        const template = mustExist(
          await backend.getTemplate({ name: parsed.name, version: parsed.version }),
          `template ${parsed.name}${parsed.version ? `@${parsed.version}` : ''} does not exist`,
        )
        templateParams(template, { ...template.defaultParams, ...(parsed.params ?? {}) })
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
        backend.queueStats(check.input('QueueStatsInput', input, 'stats request')),
      {
        session: async (input: C.SessionStatsInput = {}) =>
          backend.sessionStats(check.input('SessionStatsInput', input, 'stats query')),
        laneHistory: async (input: C.LaneHistoryInput = {}) =>
          backend.laneHistory(check.input('LaneHistoryInput', input, 'history query')),
      },
    ),
    policies: {
      set: async (input) => backend.setKindPolicy(check.input('SetKindPolicyInput', input, 'kind policy')),
      list: async () => backend.listKindPolicies(),
      delete: async (kind) =>
        backend.deleteKindPolicy(check.input('DeleteKindPolicyInput', { kind }, 'kind policy')),
    },
    worker: {
      claim: async (input) => backend.claimRuns(check.input('ClaimRunsInput', input, 'claim request')),
      heartbeat: async (input) => backend.heartbeat(check.input('HeartbeatInput', input, 'heartbeat')),
      complete: (async (input: C.CompleteRunsInput) =>
        backend.completeRuns(
          check.input('CompleteRunsInput', input, 'completion'),
        )) as OpsClient['worker']['complete'],
      fail: async (input) => backend.failRuns(check.input('FailRunsInput', input, 'failure')),
      ackCancel: async (input) =>
        backend.ackCancel(check.input('AckCancelInput', input, 'cancel acknowledgement')),
      release: async (input) =>
        backend.releaseRuns(check.input('ReleaseRunsInput', input, 'release request')),
      recoverStuck: async (input = {}) =>
        backend.recoverStuckRuns(check.input('RecoverStuckRunsInput', input, 'recovery request')),
      progress: async (input) =>
        backend.updateProgress(check.input('UpdateProgressInput', input, 'progress update')),
      appendEvents: async (input) => backend.appendEvents(check.input('AppendEventsInput', input, 'events')),
      createArtifacts: async (input) =>
        backend.createArtifacts(check.input('CreateArtifactsInput', input, 'artifacts')),
    },
    subscribe: (listener, options) => backend.subscribe(listener, options),
    close: () => backend.close(),
  }
}
