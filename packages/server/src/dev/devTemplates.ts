import type { CreateTemplateInput, OpsClient } from '@ops-control-room/core'

/** Templates the dev control room offers in the Runboard's enqueue form. */
export const DEV_TEMPLATES: CreateTemplateInput[] = [
  {
    name: 'demo',
    kind: 'demo',
    lane: 'A',
    description: 'Steps with progress, events at every level, a markdown report, a log file and a chart.',
    defaultParams: { steps: 5, stepMs: 800, fail: false },
    paramsSchema: {
      type: 'object',
      properties: {
        steps: { type: 'integer', minimum: 1, maximum: 100, description: 'how many steps (1–100)' },
        stepMs: { type: 'integer', minimum: 0, maximum: 60000, description: 'milliseconds per step' },
        fail: { type: 'boolean', description: 'fail at the end, to see a structured error' },
      },
      required: ['steps', 'stepMs'],
      additionalProperties: false,
    },
  },
  {
    name: 'sleep',
    kind: 'sleep',
    lane: 'B',
    description: 'Sleeps, reporting progress; good for trying cancel.',
    defaultParams: { seconds: 10 },
    paramsSchema: {
      type: 'object',
      properties: { seconds: { type: 'number', minimum: 0, maximum: 3600, description: 'seconds to sleep' } },
      required: ['seconds'],
      additionalProperties: false,
    },
  },
  {
    name: 'shell',
    kind: 'shell',
    lane: 'C',
    description: 'Runs a command (no shell unless asked); stdout and stderr become events.',
    defaultParams: { command: 'uname', args: ['-a'] },
    paramsSchema: {
      type: 'object',
      properties: {
        command: { type: 'string', minLength: 1, description: 'program on PATH' },
        args: { type: 'array', items: { type: 'string' }, description: 'arguments, as a JSON array' },
        shell: { type: 'boolean', description: 'run through /bin/sh' },
      },
      required: ['command'],
    },
  },
]

/** Creates the dev templates that do not exist yet (existing names keep their versions). */
export async function seedDevTemplates(client: OpsClient): Promise<string[]> {
  const existing = new Set((await client.templates.list({ latestOnly: true })).map((t) => t.name))
  const created: string[] = []
  for (const t of DEV_TEMPLATES) {
    if (existing.has(t.name)) continue
    await client.templates.create(t)
    created.push(t.name)
  }
  return created
}
