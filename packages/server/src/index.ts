/**
 * `@ops-control-room/server`: the self-hosted Ops Control Room control plane on Node: the executor
 * API, a live SSE change stream fed by LISTEN/NOTIFY, signed-URL artifact stores, retention, and the
 * `ops-control-room` CLI.
 */

export { supabaseStorageStore } from '@ops-control-room/core'
export type {
  AlertChannel,
  AlertEvent,
  AlertNotifier,
  AlertNotifierOptions,
  AlertRule,
} from './alertNotifier'
export {
  alertChannelsFromEnv,
  createAlertNotifier,
  DEFAULT_ALERT_RULES,
  emailChannel,
  pagerDutyChannel,
  slackChannel,
} from './alertNotifier'
export type { CliCommand, CliFlags, CliOptions } from './cliCommand'
export { CliUsageError, parseFlags } from './cliCommand'
export type { CompressionOptions, ContentCoding } from './compressResponse'
export type { OpsServer, ServerOptions } from './createServer'
export { createServer } from './createServer'
export type { FilesystemArtifactStore, FilesystemArtifactStoreOptions } from './filesystemArtifactStore'
export { CONTENT_PREFIX, createFilesystemArtifactStore } from './filesystemArtifactStore'
export type { RateLimit, RateLimitOptions } from './rateLimiter'
export type { ServerMetrics, ServerMetricsOptions } from './serverMetrics'
export { createServerMetrics } from './serverMetrics'
export type { SignedGrant } from './signedUrl'
export { signGrant, verifyGrant } from './signedUrl'
export type { ArtifactSweeperOptions } from './sweeper'
export { startArtifactSweeper } from './sweeper'
