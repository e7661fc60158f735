/**
 * `@ops-control-room/core/client`: the client for browsers (and any HTTP consumer), without the
 * contract's zod schemas: `createOpsClient` over `httpBackend` or `supabaseBackend`, the errors, the
 * contract's constants and types. The server validates every input where it enters. Everything here
 * is also exported by `@ops-control-room/core`, whose `createOpsClient` validates before any I/O.
 */

export type { Backend, ChangeType, Parsed, SubscribeOptions, Unsubscribe } from './backend'
export { filterChanges } from './backend'
export { createOpsClient } from './browserClient'
export type { ClientChecks, InputName, OpsClient, OpsClientOptions, WatchRunsFilter } from './client'
export {
  ARTIFACT_KINDS,
  EVENT_LEVELS,
  LANES,
  MAX_ARTIFACT_NAME_BYTES,
  MAX_BULK_RUNS,
  MAX_ENQUEUE_BATCH,
  MAX_PARAMS_BYTES,
  RUN_STATUSES,
  TERMINAL_STATUSES,
} from './constants'
export type {
  AckCancelInput,
  AppendEventsInput,
  Artifact,
  ArtifactKind,
  BulkRunsResult,
  CancelMatchingInput,
  CancelRunsInput,
  Change,
  ClaimRunsInput,
  CompleteRunsInput,
  CreateArtifactsInput,
  CreateSessionInput,
  CreateTemplateInput,
  DeleteKindPolicyInput,
  EnqueueFromTemplateInput,
  EnqueueRunsInput,
  ErrorInfo,
  EventLevel,
  FailRunsInput,
  GetTemplateInput,
  HeartbeatInput,
  HeartbeatResult,
  HeldRun,
  KindPolicy,
  Lane,
  LaneHistory,
  LaneHistoryInput,
  Lease,
  ListArtifactsInput,
  ListEventsInput,
  ListRunsInput,
  ListSessionsInput,
  ListTemplatesInput,
  NewArtifact,
  NewEvent,
  QueueStats,
  QueueStatsInput,
  RecoverStuckRunsInput,
  ReleaseRunsInput,
  RetryMatchingInput,
  RetryRunsInput,
  Run,
  RunChanges,
  RunCount,
  RunEvent,
  RunFilter,
  RunSpec,
  RunStatus,
  RunTemplate,
  Session,
  SessionStats,
  SessionStatsInput,
  SetKindPolicyInput,
  StatusCounts,
  UpdateProgressInput,
  WorkerInfo,
  WorkerRegistration,
} from './contract'
export type { OpsErrorCode, OpsErrorJSON } from './errors'
export {
  CancelledError,
  ConflictError,
  errorFromJSON,
  ForbiddenError,
  IdempotencyConflictError,
  InternalError,
  isOpsError,
  LeaseLostError,
  NotFoundError,
  OPS_ERROR_CODES,
  OpsError,
  PayloadTooLargeError,
  RateLimitedError,
  SecretInParamsError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from './errors'
export { httpArtifactStore } from './http/httpArtifactStore'
export type { ConnectionState, HttpBackendOptions, TokenSource } from './http/httpBackend'
export { errorFromResponse, httpBackend } from './http/httpBackend'
export type { SseEvent } from './http/sse'
export { readServerSentEvents } from './http/sse'
// Checking params against a template's JSON Schema (for forms) is `@ops-control-room/core/params`:
// it bundles a JSON Schema validator and RE2, so a page loads it when a form needs it.
export type { SupabaseBackendOptions, SupabaseClientLike } from './supabase/supabaseBackend'
export { supabaseBackend } from './supabase/supabaseBackend'
