import { createHmac, randomUUID } from 'node:crypto'
import examples from '@octokit/webhooks-examples/api.github.com/index.json' with { type: 'json' }

export const WEBHOOK_SECRET = 'test-webhook-secret'

type Example = { name: string; examples: Record<string, unknown>[] }

/** A real payload from @octokit/webhooks-examples (a deep copy, to adjust freely). */
// biome-ignore lint/suspicious/noExplicitAny: payloads are adjusted field by field in tests.
export function example(event: string, action?: string): any {
  const group = (examples as unknown as Example[]).find((e) => e.name === event)
  const found = group?.examples.find((e) => action === undefined || e.action === action)
  if (!found) throw new Error(`no example of ${event} ${action ?? ''}`)
  return structuredClone(found)
}

export function sign(body: string, secret = WEBHOOK_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

/** A webhook request as GitHub sends it. */
export function webhookRequest(
  event: string,
  payload: unknown,
  options: { delivery?: string; signature?: string | null; url?: string } = {},
): Request {
  const body = JSON.stringify(payload)
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': options.delivery ?? randomUUID(),
    'user-agent': 'GitHub-Hookshot/test',
  }
  const signature = options.signature === undefined ? sign(body) : options.signature
  if (signature !== null) headers['x-hub-signature-256'] = signature
  return new Request(options.url ?? 'http://localhost/github/webhooks', { method: 'POST', headers, body })
}

export const SHA_A = 'a'.repeat(40)
export const SHA_B = 'b'.repeat(40)

/** The `synchronize` example, for a given head commit and installation 1. */
// biome-ignore lint/suspicious/noExplicitAny: see example()
export function pullRequestPayload(sha: string, action = 'synchronize'): any {
  const p = example('pull_request', 'synchronize')
  p.action = action
  p.pull_request.head.sha = sha
  p.installation = { id: 1, node_id: 'x' }
  return p
}
