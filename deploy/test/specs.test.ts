import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { Secret } from 'kubernetes-models/v1'
import { describe, expect, it } from 'vitest'
import { parse, parseAllDocuments } from 'yaml'
import { AppSpec } from './appPlatformSpec'

const deployDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const repoRoot = resolve(deployDir, '..')
const read = (path: string) => readFileSync(resolve(deployDir, path), 'utf8')
const envValue = (envs: { key?: string; name?: string; value?: string }[] | undefined, name: string) =>
  envs?.find((e) => (e.key ?? e.name) === name)?.value

describe('deploy/digitalocean/app.yaml', () => {
  const spec = AppSpec.parse(parse(read('digitalocean/app.yaml')))
  const worker = spec.workers?.[0]

  it('is a valid App Platform spec with one ops-worker component built from the worker Dockerfile', () => {
    expect(spec.workers).toHaveLength(1)
    expect(worker?.name).toBe('ops-worker')
    expect(existsSync(resolve(repoRoot, worker?.dockerfile_path ?? 'missing'))).toBe(true)
  })

  it('runs three to ten instances', () => {
    expect(worker?.autoscaling).toMatchObject({ min_instance_count: 3, max_instance_count: 10 })
  })

  it('keeps the key a secret and gives the worker everything it needs to start', () => {
    const envs = worker?.envs ?? []
    const key = envs.find((e) => e.key === 'SUPABASE_KEY')
    expect(key).toMatchObject({ type: 'SECRET', scope: 'RUN_TIME' })
    // Never a plain key in the repository: empty, or the EV[…] form App Platform returns.
    expect(key?.value === undefined || /^EV\[/.test(key.value)).toBe(true)
    expect(envValue(envs, 'SUPABASE_URL')).toMatch(/^https:\/\//)
    for (const e of envs)
      if (/KEY|SECRET|PASSWORD|TOKEN|DATABASE_URL/.test(e.key)) expect(e.type).toBe('SECRET')
  })

  it('checks liveness on /livez at the health port, and outlasts the worker shutdown on termination', () => {
    const envs = worker?.envs ?? []
    expect(worker?.liveness_health_check).toMatchObject({ http_path: '/livez' })
    expect(String(worker?.liveness_health_check?.port)).toBe(envValue(envs, 'OPS_HEALTH_PORT'))
    const shutdownS =
      (Number(envValue(envs, 'OPS_SHUTDOWN_TIMEOUT_MS')) + Number(envValue(envs, 'OPS_ABORT_GRACE_MS'))) /
      1000
    expect(worker?.termination?.grace_period_seconds).toBeGreaterThan(shutdownS)
  })

  it('is checked by a schema that refuses what App Platform would', () => {
    const bad = structuredClone(parse(read('digitalocean/app.yaml'))) as {
      workers: Record<string, unknown>[]
    }
    const w = bad.workers[0] as Record<string, unknown>
    expect(AppSpec.safeParse({ ...bad, workers: [{ ...w, instance_count: 3 }] }).success).toBe(false)
    expect(AppSpec.safeParse({ ...bad, workers: [{ ...w, autoscalling: {} }] }).success).toBe(false)
    expect(
      AppSpec.safeParse({ ...bad, workers: [{ ...w, instance_size_slug: 'apps-s-1vcpu-1gb' }] }).success,
    ).toBe(false)
    expect(
      AppSpec.safeParse({
        ...bad,
        workers: [{ ...w, envs: [{ key: 'SUPABASE_KEY', type: 'SECRETS' }] }],
      }).success,
    ).toBe(false)
  })
})

describe('deploy/kubernetes', () => {
  const doc = (file: string) => parse(read(`kubernetes/${file}`))
  const deployment = new Deployment(doc('deployment.yaml'))
  const pdb = new PodDisruptionBudget(doc('pdb.yaml'))
  const hpa = new HorizontalPodAutoscaler(doc('hpa.yaml'))
  const container = deployment.spec?.template.spec?.containers[0]
  const env = (name: string) => container?.env?.find((e) => e.name === name)?.value

  it('validates against the Kubernetes schemas', () => {
    deployment.validate()
    pdb.validate()
    hpa.validate()
    new Secret(doc('secret.example.yaml')).validate()
    const kustomization = doc('kustomization.yaml') as { resources: string[] }
    for (const r of kustomization.resources)
      expect(existsSync(resolve(deployDir, 'kubernetes', r))).toBe(true)
    expect(parseAllDocuments(read('kubernetes/deployment.yaml'))).toHaveLength(1)
  })

  it('refuses a manifest the API server would refuse', () => {
    const broken = doc('deployment.yaml') as { spec: { replicas: unknown } }
    broken.spec.replicas = 'three'
    expect(() => new Deployment(broken as never).validate()).toThrow()
  })

  it('runs three replicas, rolls without going below them, and spreads them', () => {
    expect(deployment.spec?.replicas).toBe(3)
    expect(deployment.spec?.strategy?.rollingUpdate).toMatchObject({ maxUnavailable: 0 })
    expect(deployment.spec?.template.spec?.topologySpreadConstraints).toHaveLength(1)
  })

  it('separates liveness (no database) from readiness (database), on the health port', () => {
    expect(container?.livenessProbe?.httpGet).toMatchObject({ path: '/livez', port: 'health' })
    expect(container?.readinessProbe?.httpGet).toMatchObject({ path: '/health', port: 'health' })
    expect(String(container?.ports?.find((p) => p.name === 'health')?.containerPort)).toBe(
      env('OPS_HEALTH_PORT'),
    )
  })

  it('gives the worker longer than its shutdown timeout plus abort grace before SIGKILL', () => {
    const shutdownS = (Number(env('OPS_SHUTDOWN_TIMEOUT_MS')) + Number(env('OPS_ABORT_GRACE_MS'))) / 1000
    expect(shutdownS).toBe(35)
    expect(deployment.spec?.template.spec?.terminationGracePeriodSeconds).toBeGreaterThan(shutdownS + 10)
  })

  it('names each pod as its worker, takes credentials from a secret, requests resources, runs as non-root', () => {
    expect(container?.env?.find((e) => e.name === 'WORKER_ID')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'metadata.name',
    )
    expect(container?.envFrom?.[0]?.secretRef?.name).toBe('ops-worker')
    expect(container?.env?.some((e) => /KEY|PASSWORD|DATABASE_URL/.test(e.name) && e.value)).toBe(false)
    expect(container?.resources?.requests).toMatchObject({
      cpu: expect.any(String),
      memory: expect.any(String),
    })
    expect(deployment.spec?.template.spec?.securityContext?.runAsNonRoot).toBe(true)
  })

  it('keeps two of three through voluntary disruptions, and scales 3 to 10 on CPU', () => {
    expect(pdb.spec?.minAvailable).toBe(2)
    expect(pdb.spec?.selector?.matchLabels).toEqual(deployment.spec?.selector.matchLabels)
    expect(hpa.spec).toMatchObject({
      minReplicas: 3,
      maxReplicas: 10,
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata?.name },
    })
  })
})

describe('supabase/functions/ops-executor/deno.json', () => {
  const denoJson = JSON.parse(
    readFileSync(resolve(repoRoot, 'supabase/functions/ops-executor/deno.json'), 'utf8'),
  ) as {
    imports: Record<string, string>
  }
  const pkg = (name: string) => {
    const manifest = JSON.parse(readFileSync(resolve(repoRoot, `packages/${name}/package.json`), 'utf8')) as {
      dependencies: Record<string, string>
      peerDependencies?: Record<string, string>
      devDependencies?: Record<string, string>
    }
    return { ...manifest, all: { ...manifest.devDependencies, ...manifest.dependencies } }
  }

  it('maps core to the bundle inside the function, and core’s own dependencies at core’s ranges', () => {
    expect(denoJson.imports['@ops-control-room/core']).toBe('./_vendor/core/index.js')
    expect(denoJson.imports['@ops-control-room/core/postgres']).toBe('./_vendor/core/postgres.js')
    const core = { ...pkg('core').dependencies, ...pkg('core').peerDependencies }
    for (const [name, range] of Object.entries(core))
      expect(denoJson.imports[name], name).toBe(`npm:${name}@${range}`)
    expect(denoJson.imports['@supabase/supabase-js']).toBe(
      `npm:@supabase/supabase-js@${pkg('server').all['@supabase/supabase-js']}`,
    )
    const ignored = readFileSync(resolve(repoRoot, '.gitignore'), 'utf8')
    expect(ignored).toContain('supabase/functions/ops-executor/_vendor/')
  })
})
