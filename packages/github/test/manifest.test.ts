import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

describe('the App manifest', () => {
  it('asks for exactly the permissions and events the integration uses', () => {
    const manifest = JSON.parse(readFileSync(new URL('../app-manifest.json', import.meta.url), 'utf8'))
    expect(manifest.default_permissions).toEqual({
      checks: 'write',
      contents: 'read',
      metadata: 'read',
      pull_requests: 'read',
      statuses: 'write',
    })
    expect([...manifest.default_events].sort()).toEqual([
      'check_run',
      'check_suite',
      'pull_request',
      'pull_request_review',
      'push',
    ])
  })
})
