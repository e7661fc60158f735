/**
 * `@ops-control-room/worker`: the runner. Register handlers by kind, start a worker, and it claims,
 * executes, heartbeats, cancels, retries, recovers and reports runs, coordinated only through
 * PostgreSQL.
 */

export type { ClaimLoop, ClaimLoopOptions } from './claimLoop'
export { startClaimLoop } from './claimLoop'
export type { Worker, WorkerHealth, WorkerState } from './createWorker'
export { createWorker } from './createWorker'
export { defineHandler } from './defineHandler'
export { HandlerError, toErrorInfo } from './handlerError'
export type { HealthServer } from './healthServer'
export { startHealthServer } from './healthServer'
export type { HandlerFactory, LoadHandlersOptions } from './loadHandlers'
export { loadHandlers } from './loadHandlers'
export type { WorkerMetrics } from './metrics'
export { isSecretReference } from './runSecrets'
export type { ShellHandlerOptions, ShellResult } from './shellHandler'
export {
  createShellHandler,
  DEFAULT_SHELL_ENV,
  ShellParams,
  secretValuesOf,
  shellHandler,
} from './shellHandler'
export type { FilesystemArtifactStoreOptions } from './stores/filesystemArtifactStore'
export { filesystemArtifactStore } from './stores/filesystemArtifactStore'
export type { PostgresArtifactStore, PostgresArtifactStoreOptions } from './stores/postgresArtifactStore'
export { postgresArtifactStore } from './stores/postgresArtifactStore'
export type {
  AbortCause,
  AnyHandler,
  Concurrency,
  HandlerContext,
  HandlerDefinition,
  PrefetchOptions,
  RunArtifacts,
  RunLogger,
  RunOutcome,
  RunSecrets,
  SecretReference,
  SecretSource,
  WorkerEvents,
  WorkerOptions,
} from './types'
