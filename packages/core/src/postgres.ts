/**
 * `@ops-control-room/core/postgres`: direct PostgreSQL access (Node and Deno): the postgres backend
 * and `migrate()`.
 */

export type { ExecutorHandler, ExecutorHandlerOptions } from './executor/createExecutorHandler'
export { createExecutorHandler } from './executor/createExecutorHandler'
export type { MigrateOptions, MigrateResult } from './postgres/migrate'
export { defaultMigrationsDir, EXECUTOR_ROLE, executorDatabaseUrl, migrate } from './postgres/migrate'
export { toOpsError } from './postgres/pgErrors'
export type { PostgresBackendOptions, Sql } from './postgres/postgresBackend'
export { postgresBackend } from './postgres/postgresBackend'
