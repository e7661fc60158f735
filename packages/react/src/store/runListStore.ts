import type { Change, Lane, ListRunsInput, OpsClient, Run, RunStatus } from '@ops-control-room/core'
import type { QueryStatus } from '../types'
import type { ChangeHub } from './changeHub'

/** Which runs a live list holds. */
export interface RunListFilter {
  sessionId?: string
  /** One list per lane in these lanes (all four when omitted). */
  lanes?: readonly Lane[]
  status?: readonly RunStatus[]
  kind?: string
  workerId?: string
  /** Text in the kind, params, error or progress message. */
  search?: string
  createdAfter?: string
  createdBefore?: string
}

/** One lane's loaded runs, newest first, and whether older ones remain. */
export interface RunListLane {
  runs: Run[]
  hasMore: boolean
  isLoadingMore: boolean
}

export interface RunListState {
  lanes: Record<Lane, RunListLane>
  status: QueryStatus
  error: Error | undefined
  /** When the lists were last brought up to date (ms since the epoch). */
  updatedAt: number
}

export interface RunListStore {
  subscribe(onStoreChange: () => void): () => void
  getSnapshot(): RunListState
  /** Loads the next page (older runs) of a lane. */
  loadMore(lane: Lane): Promise<void>
  /** Reads the first page of every lane again, dropping what was loaded beyond it. */
  reload(): Promise<void>
  readonly size: number
}

export interface RunListOptions {
  /** Runs per page and lane. Default 50. */
  pageSize?: number
  /** Delay of a resync after the first change of a quiet spell. Default 20 ms. */
  leadMs?: number
  /** Least time between resyncs while changes keep coming. Default 400 ms. */
  busyGapMs?: number
  /** Most runs kept per lane; the oldest loaded are dropped past it. Default 2000. */
  maxPerLane?: number
}

const ALL_LANES: readonly Lane[] = ['A', 'B', 'C', 'D']
/**
 * `updated_at` is taken when a transaction starts, and seen only once it commits (and rows carry
 * milliseconds): a resync looks back this far before the newest update it has seen, so a change that
 * committed late is still read. Longer means more rows read twice; shorter, a transaction longer than
 * this could be missed until the next reload.
 */
const OVERLAP_MS = 1000
/** Most rows one resync reads; a resync that fills it reloads the first pages instead. */
const SYNC_LIMIT = 500

/**
 * Live, paged run lists, one per lane, that stay correct at any size without re-reading them. Each
 * lane is loaded newest first, a page at a time (`beforeSeq` is the cursor). Changes are not
 * re-read one by one: a change (or a `runs` digest) schedules one resync of every lane together,
 * `afterSeq` (the oldest loaded run) + `updatedAfter` (the newest update seen, less an overlap),
 * which answers only the rows that changed in the loaded windows and the runs added since. While a
 * session of 100,000 runs drains oldest first, that answer is usually empty.
 *
 * With filters beyond session and lane, a resync also re-reads the loaded rows by id (at most 200,
 * at most every 2 s), so a run that no longer matches leaves the list.
 */
export function createRunListStore(
  client: OpsClient,
  hub: ChangeHub,
  filter: RunListFilter,
  options: RunListOptions = {},
): RunListStore {
  const pageSize = options.pageSize ?? 50
  const leadMs = options.leadMs ?? 20
  const busyGapMs = options.busyGapMs ?? 400
  const maxPerLane = options.maxPerLane ?? 2000
  const lanes = filter.lanes ?? ALL_LANES
  const filtered =
    filter.status !== undefined ||
    filter.kind !== undefined ||
    filter.workerId !== undefined ||
    filter.search !== undefined ||
    filter.createdAfter !== undefined ||
    filter.createdBefore !== undefined
  const base: ListRunsInput = {
    sessionId: filter.sessionId,
    status: filter.status ? [...filter.status] : undefined,
    kind: filter.kind,
    workerId: filter.workerId,
    search: filter.search,
    createdAfter: filter.createdAfter,
    createdBefore: filter.createdBefore,
  }

  const subscribers = new Set<() => void>()
  const emptyLane = (): RunListLane => ({ runs: [], hasMore: false, isLoadingMore: false })
  let state: RunListState = {
    lanes: { A: emptyLane(), B: emptyLane(), C: emptyLane(), D: emptyLane() },
    status: 'pending',
    error: undefined,
    updatedAt: 0,
  }
  /** The newest `updatedAt` seen (ms, the database's clock). */
  let newestUpdate = 0
  /** When (this browser's clock) `newestUpdate` was first seen. */
  let newestSeenAt = 0
  /** A resync that started OVERLAP_MS after `newestSeenAt` saw every row updated up to here. */
  let settled = 0
  let generation = 0
  let syncing: Promise<void> | undefined
  let again = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let lastSyncEnd = 0
  let busyStreak = 0
  let lastVerify = 0
  let stopListening: (() => void) | undefined

  const set = (patch: Partial<RunListState>) => {
    state = { ...state, ...patch }
    for (const s of subscribers) s()
  }
  const setLane = (lane: Lane, patch: Partial<RunListLane>) =>
    set({ lanes: { ...state.lanes, [lane]: { ...state.lanes[lane], ...patch } } })
  const note = (runs: readonly Run[]) => {
    for (const r of runs) {
      const t = Date.parse(r.updatedAt)
      if (t > newestUpdate) {
        newestUpdate = t
        newestSeenAt = Date.now()
      }
    }
  }
  const fail = (err: unknown) =>
    set({
      error: err instanceof Error ? err : new Error(String(err)),
      status: state.status === 'success' ? 'success' : 'error',
    })

  let reloading: Promise<void> | undefined
  const reload = (): Promise<void> => {
    const p = doReload().finally(() => {
      if (reloading === p) reloading = undefined
    })
    reloading = p
    return p
  }
  const doReload = async (): Promise<void> => {
    const mine = ++generation
    try {
      // Every lane's first page in one call.
      const all = await client.runs.list({
        ...base,
        lane: lanes.length === 1 ? lanes[0] : undefined,
        limit: pageSize,
        perLane: true,
      })
      if (mine !== generation) return
      const next = { ...state.lanes }
      lanes.forEach((lane) => {
        const runs = all.filter((r) => r.lane === lane).sort((a, b) => b.seq - a.seq)
        note(runs)
        next[lane] = { runs, hasMore: runs.length === pageSize, isLoadingMore: false }
      })
      set({ lanes: next, status: 'success', error: undefined, updatedAt: Date.now() })
    } catch (err) {
      if (mine === generation) fail(err)
    }
  }

  /** Merges fresh rows into the lanes: replaces loaded ones, inserts new ones inside the window. */
  const merge = (rows: readonly Run[], removed: ReadonlySet<string> = new Set()) => {
    if (rows.length === 0 && removed.size === 0) return
    const next = { ...state.lanes }
    for (const lane of lanes) {
      const fresh = rows.filter((r) => r.lane === lane)
      const current = next[lane]
      if (fresh.length === 0 && !current.runs.some((r) => removed.has(r.id))) continue
      const oldest = current.runs.at(-1)?.seq ?? 0
      const byId = new Map(current.runs.filter((r) => !removed.has(r.id)).map((r) => [r.id, r]))
      for (const r of fresh) {
        // Older than the window while older pages remain: it belongs to a page not loaded yet.
        if (current.hasMore && r.seq < oldest && !byId.has(r.id)) continue
        byId.set(r.id, r)
      }
      let runs = [...byId.values()].sort((a, b) => b.seq - a.seq)
      let hasMore = current.hasMore
      if (runs.length > maxPerLane) {
        runs = runs.slice(0, maxPerLane)
        hasMore = true
      }
      next[lane] = { ...current, runs, hasMore }
    }
    set({ lanes: next, updatedAt: Date.now() })
  }

  const sync = async (): Promise<void> => {
    // The stream went live while the first pages were being read: wait for them, then read only
    // what changed since (the first page is not read twice on load).
    if (reloading) await reloading.catch(() => {})
    const mine = generation
    if (state.status !== 'success') return reload()
    // The window: from the oldest loaded run of every lane. An empty, fully loaded lane can only
    // gain runs newer than anything loaded, so it does not widen the window (else an empty lane
    // would make every resync scan the whole session).
    const newest = Math.max(0, ...lanes.map((l) => state.lanes[l].runs[0]?.seq ?? 0))
    let from = newest
    for (const lane of lanes) {
      const oldest = state.lanes[lane].runs.at(-1)?.seq
      if (oldest !== undefined) from = Math.min(from, oldest)
    }
    // Rows updated up to `newestUpdate` have all committed once OVERLAP_MS passed after we saw it
    // (differences of this browser's clock only: no skew). The first resync that starts after that
    // looks back by the overlap, once; every other asks only for what is newer (+1 ms: rows carry
    // milliseconds, the database microseconds), so an idle window answers nothing.
    const startedAt = Date.now()
    const upTo = newestUpdate
    const covers = settled !== upTo && startedAt >= newestSeenAt + OVERLAP_MS
    if (upTo !== 0 && settled !== upTo && !covers) scheduleCover(newestSeenAt + OVERLAP_MS - startedAt)
    const since = upTo === 0 ? undefined : new Date(covers ? upTo - OVERLAP_MS : upTo + 1).toISOString()
    try {
      const rows = await client.runs.list({
        ...base,
        lane: lanes.length === 1 ? lanes[0] : undefined,
        afterSeq: Math.max(0, from - 1),
        updatedAfter: since,
        limit: SYNC_LIMIT,
      })
      if (mine !== generation) return
      if (rows.length === SYNC_LIMIT) {
        await reload()
        return
      }
      note(rows)
      let removed = new Set<string>()
      if (filtered && Date.now() - lastVerify > 2000) {
        lastVerify = Date.now()
        const loaded = lanes.flatMap((l) => state.lanes[l].runs.map((r) => r.id)).slice(0, 200)
        if (loaded.length > 0) {
          const still = await client.runs.list({ ...base, ids: loaded, limit: loaded.length })
          if (mine !== generation) return
          const ids = new Set(still.map((r) => r.id))
          removed = new Set(loaded.filter((id) => !ids.has(id)))
          merge(still)
        }
      }
      merge(rows, removed)
      if (covers && newestUpdate === upTo) settled = upTo
      if (state.error) set({ error: undefined })
    } catch (err) {
      fail(err)
    }
  }

  const runSync = () => {
    if (syncing) {
      again = true
      return
    }
    syncing = sync().finally(() => {
      syncing = undefined
      lastSyncEnd = Date.now()
      if (again) {
        again = false
        // Changes keep coming during reads: from the second read in a row, the next one waits a
        // little, so a busy session costs a few reads a second whatever its rate, while one change
        // during a read (a quiet board) is still shown at once.
        busyStreak++
        schedule(busyStreak >= 2 ? busyGapMs : 0)
      } else busyStreak = 0
    })
  }

  const schedule = (gap = 0) => {
    if (subscribers.size === 0) return
    if (syncing) {
      again = true
      return
    }
    if (timer) return
    const wait = Math.max(leadMs, lastSyncEnd + gap - Date.now())
    timer = setTimeout(() => {
      timer = undefined
      runSync()
    }, wait)
  }

  let coverTimer: ReturnType<typeof setTimeout> | undefined
  const scheduleCover = (ms: number) => {
    if (coverTimer) return
    coverTimer = setTimeout(
      () => {
        coverTimer = undefined
        schedule()
      },
      Math.max(0, ms),
    )
  }

  const concerns = (change: Change): boolean => {
    if (change.type === 'queued') return lanes.includes(change.lane)
    if (change.type === 'run') {
      return (
        (filter.sessionId === undefined || change.sessionId === filter.sessionId) &&
        lanes.includes(change.lane)
      )
    }
    if (change.type === 'runs') {
      return (
        (filter.sessionId === undefined || change.sessionId === filter.sessionId) &&
        change.lanes.some((l) => lanes.includes(l))
      )
    }
    return false
  }

  const start = () => {
    stopListening = hub.listen({
      onChange: (change) => {
        if (concerns(change)) schedule()
      },
      // (Re)connected: changes may have been missed. The resync reads everything changed since.
      onLive: () => schedule(),
    })
    if (reloading) return
    if (state.status !== 'success') void reload()
    else schedule()
  }

  const stop = () => {
    stopListening?.()
    stopListening = undefined
    if (timer) clearTimeout(timer)
    timer = undefined
    if (coverTimer) clearTimeout(coverTimer)
    coverTimer = undefined
  }

  return {
    subscribe(onStoreChange) {
      subscribers.add(onStoreChange)
      if (subscribers.size === 1) start()
      return () => {
        if (subscribers.delete(onStoreChange) && subscribers.size === 0) stop()
      }
    },
    getSnapshot: () => state,
    async loadMore(lane) {
      const current = state.lanes[lane]
      if (!current.hasMore || current.isLoadingMore) return
      const mine = generation
      const cursor = current.runs.at(-1)?.seq
      setLane(lane, { isLoadingMore: true })
      try {
        const page = await client.runs.list({ ...base, lane, limit: pageSize, beforeSeq: cursor })
        if (mine !== generation) return
        note(page)
        const have = new Set(state.lanes[lane].runs.map((r) => r.id))
        setLane(lane, {
          runs: [...state.lanes[lane].runs, ...page.filter((r) => !have.has(r.id))],
          hasMore: page.length === pageSize,
          isLoadingMore: false,
        })
      } catch (err) {
        setLane(lane, { isLoadingMore: false })
        fail(err)
      }
    },
    reload,
    get size() {
      return subscribers.size
    },
  }
}
