import { describe, expect, it } from 'vitest'
import { BranchName, FeatureSlug, SpecKitParams } from './params'
import { specKitTemplate } from './specKitTemplate'

describe('FeatureSlug', () => {
  it.each(['a', 'billing-export', 'v2', 'x'.repeat(64)])('admits %s', (v) => {
    expect(FeatureSlug.safeParse(v).success).toBe(true)
  })
  it.each([
    '',
    '.',
    '..',
    '../x',
    'a/../b',
    '/etc',
    'a/b',
    'a\\b',
    '.git',
    'a.b',
    '-a',
    'a-',
    'a--b',
    'A',
    'a b',
    'a\nb',
    'x'.repeat(65),
    'é',
  ])('refuses %j', (v) => {
    expect(FeatureSlug.safeParse(v).success).toBe(false)
  })
})

describe('BranchName', () => {
  it.each(['main', 'spec-kit/billing', 'release/1.2', 'a_b'])('admits %s', (v) => {
    expect(BranchName.safeParse(v).success).toBe(true)
  })
  it.each(['', '-x', 'a..b', 'a//b', 'a/', 'a.', 'a.lock', 'a/.b', 'a@{1}', 'a b', 'a~1', 'a^', 'a:b', '/a'])(
    'refuses %j',
    (v) => {
      expect(BranchName.safeParse(v).success).toBe(false)
    },
  )
})

describe('SpecKitParams', () => {
  it('applies defaults and refuses unknown keys (a URL cannot sneak in as a repository)', () => {
    expect(SpecKitParams.parse({ feature: 'a', title: ' T ' })).toEqual({
      feature: 'a',
      title: 'T',
      summary: '',
      push: true,
      openPullRequest: false,
    })
    expect(SpecKitParams.safeParse({ feature: 'a', title: 'T', url: 'file:///etc' }).success).toBe(false)
    expect(
      SpecKitParams.safeParse({ feature: 'a', title: 'T', repo: 'https://evil.example/x.git' }).success,
    ).toBe(false)
    expect(SpecKitParams.safeParse({ feature: 'a', title: 'T', prd: 'x'.repeat(262_145) }).success).toBe(
      false,
    )
  })

  it('has a template whose JSON Schema says the same', () => {
    const schema = specKitTemplate().paramsSchema as {
      required: string[]
      additionalProperties: boolean
      properties: Record<string, { pattern?: string; maxLength?: number }>
    }
    expect(schema.required.sort()).toEqual(['feature', 'title'])
    expect(schema.additionalProperties).toBe(false)
    expect(new RegExp(schema.properties.feature?.pattern as string).test('billing-export')).toBe(true)
    expect(new RegExp(schema.properties.feature?.pattern as string).test('../x')).toBe(false)
    expect(schema.properties.feature?.maxLength).toBe(64)
  })
})
