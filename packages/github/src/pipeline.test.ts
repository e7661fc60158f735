import { describe, expect, it } from 'vitest'
import { DEFAULT_INSTALL, defaultPipeline, parsePipeline } from './pipeline'

describe('pipeline file', () => {
  it('applies defaults and keeps the steps in order', () => {
    const p = parsePipeline(
      'install: npm ci\nsteps:\n  - name: lint\n    command: npm run lint\n  - name: e2e\n    command: make e2e\n    lane: D\n    timeout: 60\n    env: [NPM_TOKEN]\n',
    )
    expect(p).toEqual({
      version: 1,
      install: 'npm ci',
      steps: [
        { name: 'lint', command: 'npm run lint', lane: 'B', timeout: 900, env: [] },
        { name: 'e2e', command: 'make e2e', lane: 'D', timeout: 60, env: ['NPM_TOKEN'] },
      ],
    })
  })

  it('says what is wrong, with paths', () => {
    expect(() =>
      parsePipeline('steps:\n  - name: a\n    command: x\n  - name: a\n    command: y\n    shell: bash\n'),
    ).toThrow(
      /steps\.1\.name: duplicate step name "a"[\s\S]*steps\.1: Unrecognized key: "shell"|steps\.1: Unrecognized key: "shell"[\s\S]*steps\.1\.name: duplicate/,
    )
    expect(() => parsePipeline('steps: [')).toThrow(/not valid YAML/)
    expect(() => parsePipeline('steps:\n  - name: pipeline\n    command: x\n')).toThrow(
      /steps\.0\.name: "pipeline"/,
    )
    expect(() => parsePipeline('steps: []')).toThrow(/steps: Too small/)
    expect(() => parsePipeline('')).toThrow(/\(file\)/)
    expect(() => parsePipeline('steps:\n  - name: x\n    command: y\n    env: ["A-B"]\n')).toThrow(
      /steps\.0\.env\.0/,
    )
  })

  it('defaults to the lint, test and build scripts of package.json', () => {
    const p = defaultPipeline(JSON.stringify({ scripts: { build: 'tsc', test: 'vitest', start: 'node .' } }))
    expect(p?.steps.map((s) => [s.name, s.command])).toEqual([
      ['test', 'npm run test'],
      ['build', 'npm run build'],
    ])
    expect(p?.install).toBe(DEFAULT_INSTALL)
    expect(defaultPipeline(JSON.stringify({ scripts: { start: 'x' } }))).toBeUndefined()
    expect(defaultPipeline(undefined)).toBeUndefined()
    expect(() => defaultPipeline('{')).toThrow(/package.json is not valid JSON/)
  })
})
