import type { RunTemplate } from '@ops-control-room/core'
import { Unzip, UnzipInflate } from 'fflate'
import { describe, expect, it } from 'vitest'
import { buildZip, uniqueNames, zipEntries } from './DownloadAllArtifacts'
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
  it('maps JSON Schema issues to fields', async () => {
    expect(await schemaErrors(template, { seconds: 0, name: 'x' })).toHaveProperty('seconds')
    expect(await schemaErrors(template, { seconds: 2 })).toEqual({ name: 'required' })
    expect(await schemaErrors(template, { seconds: 2, name: 'ok' })).toEqual({})
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

  it('sanitises names (no directories, no .., no control characters) and keeps them unique', () => {
    expect(
      uniqueNames([
        { name: '../../etc/passwd', kind: 'file' },
        { name: '/abs', kind: 'file' },
        { name: '..', kind: 'file' },
        { name: 'a\r\nb.txt', kind: 'text' },
        { name: 'out (2).txt', kind: 'text' },
        { name: 'out.txt', kind: 'text' },
        { name: 'out.txt', kind: 'text' },
      ]),
    ).toEqual(['_.._etc_passwd', '_abs', 'artifact', 'a__b.txt', 'out (2).txt', 'out.txt', 'out (3).txt'])
  })

  it('a name such as __proto__ is an entry like any other: the ZIP holds every artifact under its name', () => {
    const names = uniqueNames([
      { name: '__proto__', kind: 'file' },
      { name: 'constructor', kind: 'file' },
      { name: 'x.txt', kind: 'file' },
    ])
    const archive = buildZip(
      zipEntries(
        names,
        [1, 2, 3].map((n) => new Uint8Array([n])),
      ),
    )
    // Read back with the streaming reader, which keeps names as strings (not object keys).
    const read = new Map<string, number[]>()
    const unzip = new Unzip((file) => {
      const parts: number[] = []
      file.ondata = (err, data, final) => {
        if (err) throw err
        parts.push(...data)
        if (final) read.set(file.name, parts)
      }
      file.start()
    })
    unzip.register(UnzipInflate)
    unzip.push(archive, true)
    expect([...read.entries()].sort()).toEqual([
      ['__proto__', [1]],
      ['constructor', [2]],
      ['x.txt', [3]],
    ])
  })
})
