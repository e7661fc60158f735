/**
 * `@ops-control-room/core`: the contract, errors and client of Ops Control Room. Web-standard APIs
 * only: this entry runs in Node, Deno and browsers. Direct PostgreSQL access lives in
 * `@ops-control-room/core/postgres`.
 */

export type { ArtifactBody, ArtifactPutInput, ArtifactStore, StoredArtifact } from './artifactStore'
export { toByteStream } from './artifactStore'
export type { Backend, ChangeType, Parsed, SubscribeOptions, Unsubscribe, WaitForRunsInput } from './backend'
export { filterChanges } from './backend'
export type { RunsDigest } from './changeDigest'
export { createRunDigest, DIGEST_MAX_IDS } from './changeDigest'
export type { ClientChecks, InputName, OpsClient, OpsClientOptions, WatchRunsFilter } from './client'
export {
  AckCancelInput,
  AppendEventsInput,
  ARTIFACT_KINDS,
  Artifact,
  ArtifactKind,
  ArtifactName,
  BulkRunsResult,
  CancelMatchingInput,
  CancelRunsInput,
  Change,
  ClaimRunsInput,
  CompleteRunsInput,
  ContentType,
  CountRunsInput,
  CreateArtifactsInput,
  CreateSessionInput,
  CreateTemplateInput,
  DeleteKindPolicyInput,
  EnqueueFromTemplateInput,
  EnqueueRunsInput,
  ErrorInfo,
  EVENT_LEVELS,
  EventLevel,
  FailRunsInput,
  GetArtifactInput,
  GetTemplateInput,
  HeartbeatInput,
  HeartbeatResult,
  HeldRun,
  KindPolicy,
  LANES,
  Lane,
  LaneHistory,
  LaneHistoryInput,
  Lease,
  ListArtifactsInput,
  ListEventsInput,
  ListRunsInput,
  ListSessionsInput,
  ListTemplatesInput,
  MAX_ARTIFACT_NAME_BYTES,
  MAX_BULK_RUNS,
  MAX_ENQUEUE_BATCH,
  MAX_PARAMS_BYTES,
  MAX_RUN_COUNT,
  NewArtifact,
  NewEvent,
  Params,
  QueueStats,
  QueueStatsInput,
  RecoverStuckRunsInput,
  ReleaseRunsInput,
  RetryMatchingInput,
  RetryRunsInput,
  RUN_STATUSES,
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
  TERMINAL_STATUSES,
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
// The executor API (web-standard parts: routes, OpenAPI, the HTTP and Supabase backends). The handler
// itself needs a PostgreSQL driver: `createExecutorHandler` is in `@ops-control-room/core/postgres`.
export type { ArtifactContentStore } from './executor/artifactContentStore'
export type { Caller, JwtVerification } from './executor/auth'
export { createTokenVerifier, MIN_HS256_SECRET_BYTES } from './executor/auth'
export type { ChangeFilter, ChangeHub } from './executor/changeStream'
export { createChangeHub } from './executor/changeStream'
export { buildOpenApiDocument } from './executor/openApiDocument'
export { errorResponse, jsonResponse, STATUS_OF } from './executor/respond'
export type { ApiRole, RouteDef } from './executor/routes'
export {
  API_ROLES,
  ChangesInput,
  DeleteContentInput,
  DownloadUrl,
  DownloadUrlInput,
  ErrorBody,
  matchRoute,
  PurgeArtifactsInput,
  PurgeResult,
  ROUTES,
  UploadedContent,
  UploadUrl,
  UploadUrlInput,
} from './executor/routes'
export { httpArtifactStore } from './http/httpArtifactStore'
export type { ConnectionState, HttpBackendOptions, TokenSource } from './http/httpBackend'
export { errorFromResponse, httpBackend } from './http/httpBackend'
export type { ExecutorCall, RemoteOperations } from './http/remoteOperations'
export { createRemoteOperations } from './http/remoteOperations'
export type { SseEvent } from './http/sse'
export { readServerSentEvents } from './http/sse'
export {
  changesFromNotification,
  NOTIFY_CHANNELS,
  toArtifact,
  toKindPolicy,
  toRun,
  toRunEvent,
  toSession,
  toTemplate,
  toWorker,
} from './rows'
export { findSecret, valueLooksSecret } from './secrets'
export type { RawSessionStats } from './sessionStats'
export { toSessionStats } from './sessionStats'
export type { SupabaseBackendOptions, SupabaseClientLike } from './supabase/supabaseBackend'
export { changesFromRealtime, supabaseBackend } from './supabase/supabaseBackend'
export type { SupabaseStorageLike } from './supabase/supabaseStorageStore'
export { supabaseStorageStore } from './supabase/supabaseStorageStore'
export type { InputIssue } from './validate'
export { parseInput } from './validate'
export { createOpsClient, validateTemplateParams } from './validatingClient'
