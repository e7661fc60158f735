/**
 * `@ops-control-room/core`: the contract, errors and client of Ops Control Room. Web-standard APIs
 * only: this entry runs in Node, Deno and browsers. Direct PostgreSQL access lives in
 * `@ops-control-room/core/postgres`.
 */

export type { ArtifactBody, ArtifactPutInput, ArtifactStore, StoredArtifact } from './artifactStore'
export { toByteStream } from './artifactStore'
export type { Backend, Parsed, Unsubscribe } from './backend'
export type { OpsClient, OpsClientOptions, WatchRunsFilter } from './client'
export { createOpsClient, validateTemplateParams } from './client'
export {
  AckCancelInput,
  AppendEventsInput,
  ARTIFACT_KINDS,
  Artifact,
  ArtifactKind,
  CancelRunsInput,
  Change,
  ClaimRunsInput,
  CompleteRunsInput,
  CreateArtifactsInput,
  CreateSessionInput,
  CreateTemplateInput,
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
  LANES,
  Lane,
  ListArtifactsInput,
  ListEventsInput,
  ListRunsInput,
  ListSessionsInput,
  ListTemplatesInput,
  MAX_ENQUEUE_BATCH,
  MAX_PARAMS_BYTES,
  NewArtifact,
  NewEvent,
  Params,
  RecoverStuckRunsInput,
  ReleaseRunsInput,
  RUN_STATUSES,
  Run,
  RunEvent,
  RunSpec,
  RunStatus,
  RunTemplate,
  Session,
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
  InternalError,
  isOpsError,
  NotFoundError,
  OpsError,
  PayloadTooLargeError,
  SecretInParamsError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from './errors'
export {
  changesFromNotification,
  NOTIFY_CHANNELS,
  toArtifact,
  toRun,
  toRunEvent,
  toSession,
  toTemplate,
  toWorker,
} from './rows'
export { findSecret, valueLooksSecret } from './secrets'
export type { InputIssue } from './validate'
export { parseInput } from './validate'
