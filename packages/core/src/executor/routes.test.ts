import { describe, expect, it } from 'vitest'
import { ListRunsInput, ListTemplatesInput } from '../contract'
import { queryToInput } from './requestInput'
import { matchRoute, ROUTES } from './routes'

describe('matchRoute', () => {
  it('prefers literal segments over parameters, whatever the method', () => {
    expect(matchRoute('POST', '/runs/cancel')).toMatchObject({ route: { id: 'cancelRuns' } })
    expect(matchRoute('GET', '/runs/cancel')).toEqual({ allowed: ['POST'] })
    expect(matchRoute('GET', '/runs/abc')).toMatchObject({ route: { id: 'getRun' }, params: { id: 'abc' } })
    expect(matchRoute('GET', '/templates/a%2Fb')).toMatchObject({ params: { name: 'a/b' } })
    expect(matchRoute('GET', '/templates/%E0%A4%A')).toBeNull()
    expect(matchRoute('DELETE', '/sessions')).toEqual({ allowed: ['POST', 'GET'] })
    expect(matchRoute('GET', '/nope')).toBeNull()
  })

  it('has unique operation ids and (method, path) pairs', () => {
    expect(new Set(ROUTES.map((r) => r.id)).size).toBe(ROUTES.length)
    expect(new Set(ROUTES.map((r) => `${r.method} ${r.path}`)).size).toBe(ROUTES.length)
  })
})

describe('queryToInput', () => {
  it('converts numbers, booleans and arrays only where the schema wants them', () => {
    const q = new URLSearchParams('limit=5&status=queued&status=running&afterSeq=x&kind=7')
    expect(queryToInput(q, ListRunsInput)).toEqual({
      limit: 5,
      status: ['queued', 'running'],
      afterSeq: 'x',
      kind: '7',
    })
    expect(queryToInput(new URLSearchParams('status=queued'), ListRunsInput)).toEqual({ status: 'queued' })
    expect(queryToInput(new URLSearchParams('latestOnly=true'), ListTemplatesInput)).toEqual({
      latestOnly: true,
    })
  })
})
