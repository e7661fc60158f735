export type { RunningPostgres } from './embeddedPostgres'
export { freePort, startEmbeddedPostgres } from './embeddedPostgres'
export type { TestDatabase } from './testDatabase'
export { createDatabaseFromTemplate, createTestDatabase } from './testDatabase'
