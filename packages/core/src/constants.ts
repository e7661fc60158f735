/**
 * The contract's constants, in a module of their own without zod: the browser entry
 * (`@ops-control-room/core/client`) and the React package use them without pulling in the schemas.
 * `contract.ts` re-exports them.
 */

export const LANES = ['A', 'B', 'C', 'D'] as const
export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const
export const TERMINAL_STATUSES = ['succeeded', 'failed', 'cancelled'] as const
export const EVENT_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export const ARTIFACT_KINDS = ['file', 'link', 'text'] as const

/** Size limit of a run's params, serialised as JSON (the database enforces the same order of size). */
export const MAX_PARAMS_BYTES = 256 * 1024
/**
 * Longest artifact name, in UTF-8 bytes. Stores keep a name as a file name with a suffix, and file
 * systems allow 255 bytes: counted in characters, a name of 251–255 bytes broke the store.
 */
export const MAX_ARTIFACT_NAME_BYTES = 200

/** Most runs one enqueue call accepts. */
export const MAX_ENQUEUE_BATCH = 10_000

/** Most runs one bulk action over a filter changes (it works in batches of 500). */
export const MAX_BULK_RUNS = 10_000
