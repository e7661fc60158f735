import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { createServerMetrics } from '../../packages/server/src/serverMetrics'

const deployDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const PROMTOOL = '/usr/bin/promtool'

/** Metric names the server exports (from its registry, not from a list kept by hand). */
async function exportedMetricNames(): Promise<Set<string>> {
  const sql = postgres('postgres://unused@127.0.0.1:1/unused', { max: 1 })
  const metrics = createServerMetrics({ sql })
  const names = new Set<string>()
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name)
    if (m.type === ('histogram' as never))
      for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`)
  }
  await sql.end()
  return names
}
const metricNamesIn = (expr: string) => new Set(expr.match(/\bops_[a-z_]+\b/g) ?? [])

describe('deploy/prometheus/alerts.yml', () => {
  const rules = (
    parse(readFileSync(resolve(deployDir, 'prometheus/alerts.yml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string; annotations: { runbook: string } }[] }[]
    }
  ).groups.flatMap((g) => g.rules)

  it("has the plan's alerts", () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'OpsWorkerHealthLow',
      'OpsErrorRateHigh',
      'OpsStuckRunRecoverySlow',
      'OpsApiLatencyHigh',
      'OpsThroughputLow',
      'OpsStatsUnavailable',
    ])
  })

  it('uses only metrics the server exports, and each runbook section exists', async () => {
    const exported = await exportedMetricNames()
    const runbook = readFileSync(
      resolve(deployDir, '../docs/runbooks/ops-control-room/incident-response.md'),
      'utf8',
    )
    for (const rule of rules) {
      for (const name of metricNamesIn(rule.expr)) expect(exported, `${rule.alert}: ${name}`).toContain(name)
      const anchor = rule.annotations.runbook.split('#')[1]
      expect(runbook.toLowerCase()).toContain(`## ${String(anchor).toLowerCase()}`)
    }
  })

  it.skipIf(!existsSync(PROMTOOL))(
    'passes promtool check rules, and fires and resolves in promtool test rules',
    () => {
      const cwd = resolve(deployDir, 'prometheus')
      expect(execFileSync(PROMTOOL, ['check', 'rules', 'alerts.yml'], { cwd, encoding: 'utf8' })).toMatch(
        /SUCCESS: 6 rules/,
      )
      expect(execFileSync(PROMTOOL, ['test', 'rules', 'alerts.test.yml'], { cwd, encoding: 'utf8' })).toMatch(
        /SUCCESS/,
      )
    },
  )
})

describe('deploy/grafana/ops-control-room.json', () => {
  const dashboard = JSON.parse(readFileSync(resolve(deployDir, 'grafana/ops-control-room.json'), 'utf8')) as {
    uid: string
    title: string
    schemaVersion: number
    panels: { id: number; type: string; title: string; targets: { expr: string }[]; gridPos: object }[]
  }

  it('is a dashboard Grafana can import: uid, title, unique panel ids, a Prometheus query in each panel', () => {
    expect(dashboard).toMatchObject({ uid: 'ops-control-room', title: 'Ops Control Room' })
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36)
    const ids = dashboard.panels.map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const p of dashboard.panels) {
      expect(['stat', 'timeseries']).toContain(p.type)
      expect(p.targets.length).toBeGreaterThan(0)
      expect(p.gridPos).toBeDefined()
    }
  })

  it('queries only metrics the server exports, and every one of them', async () => {
    const exported = await exportedMetricNames()
    const used = new Set(
      dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...metricNamesIn(t.expr)])),
    )
    for (const name of used) expect(exported, name).toContain(name)
    const gauges = [...exported].filter(
      (n) => !/_(bucket|sum|count)$/.test(n) && n !== 'ops_api_request_duration_seconds',
    )
    for (const name of gauges)
      if (name !== 'ops_stats_window_seconds' && name !== 'ops_stats_up') expect(used, name).toContain(name)
  })

  it.skipIf(!existsSync(PROMTOOL))(
    'has queries that parse as PromQL (as recording rules for promtool)',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'ops-grafana-'))
      try {
        const rules = dashboard.panels.flatMap((p) =>
          p.targets.map((t, i) => ({ record: `panel_${p.id}_${i}`, expr: t.expr })),
        )
        writeFileSync(join(dir, 'rules.yml'), JSON.stringify({ groups: [{ name: 'dashboard', rules }] }))
        expect(
          execFileSync(PROMTOOL, ['check', 'rules', 'rules.yml'], { cwd: dir, encoding: 'utf8' }),
        ).toMatch(new RegExp(`SUCCESS: ${rules.length} rules`))
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})
