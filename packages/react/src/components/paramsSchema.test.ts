import type { RunTemplate } from '@ops-control-room/core'
import { describe, expect, it } from 'vitest'
import { uniqueNames } from './DownloadAllArtifacts'
import { fieldsOf, paramsFrom, schemaErrors } from './paramsSchema'

const template = {
  name: 't',
  version: 1,
  defaultParams: { seconds: 1, extra: { a: 1 } },
  paramsSchema: {
    type: 'object',
    properties: {
      seconds: { type: 'integer', minimum: 1 },
      mode: { type: 'string', enum: ['fast', 'slow'] },
      verbose: { type: 'boolean' },
      name: { type: 'string' },
    },
    required: ['seconds', 'name'],
  },
} as unknown as RunTemplate

describe('params form', () => {
  it('derives one field per schema property or default', () => {
    expect(fieldsOf(template).map((f) => [f.name, f.control, f.required])).toEqual([
      ['seconds', 'integer', true],
      ['mode', 'select', false],
      ['verbose', 'checkbox', false],
      ['name', 'text', true],
      ['extra', 'json', false],
    ])
  })
  it('parses values and reports what does not parse', () => {
    const fields = fieldsOf(template)
    expect(paramsFrom(fields, { seconds: 'x', extra: '{', verbose: true, name: '' }).errors).toEqual({
      seconds: 'enter a number',
      extra: 'enter valid JSON',
    })
    expect(paramsFrom(fields, { seconds: '3', extra: '[1]', verbose: false, name: 'n' }).params).toEqual({
      seconds: 3,
      extra: [1],
      verbose: false,
      name: 'n',
    })
  })
  it('maps JSON Schema issues to fields', () => {
    expect(schemaErrors(template, { seconds: 0, name: 'x' })).toHaveProperty('seconds')
    expect(schemaErrors(template, { seconds: 2 })).toEqual({ name: 'required' })
    expect(schemaErrors(template, { seconds: 2, name: 'ok' })).toEqual({})
  })
})

describe('uniqueNames', () => {
  it('keeps ZIP entry names unique and gives links a .url file', () => {
    expect(
      uniqueNames([
        { name: 'out.txt', kind: 'file' },
        { name: 'out.txt', kind: 'text' },
        { name: 'docs', kind: 'link' },
        { name: 'README', kind: 'text' },
        { name: 'README', kind: 'text' },
      ]),
    ).toEqual(['out.txt', 'out (2).txt', 'docs.url', 'README', 'README (2)'])
  })
})
