import type { QueueStats } from '@ops-control-room/core'
import { createTransport } from 'nodemailer'

/** One alert's state change, as every channel receives it. */
export interface AlertEvent {
  /** `firing` once when the rule starts to hold (after `forMs`), `resolved` once when it stops. */
  status: 'firing' | 'resolved'
  alert: string
  severity: 'page' | 'ticket'
  summary: string
  /** The measured value that was compared with the threshold. */
  value: number
  /** Stable across firing and resolved: PagerDuty's dedup_key. */
  dedupKey: string
  at: string
}

/** A condition on the queue stats (and the API's recent p95 latency, when known). */
export interface AlertRule {
  name: string
  severity: 'page' | 'ticket'
  /** How long the condition must hold before the alert fires. Default 0. */
  forMs?: number
  check(input: { stats: QueueStats; apiP95Seconds: number | undefined }): {
    firing: boolean
    value: number
    summary: string
  }
}

/** Where alerts go: Slack, PagerDuty, email, or your own. */
export interface AlertChannel {
  readonly name: string
  send(event: AlertEvent): Promise<void>
}

const pct = (x: number) => `${Math.round(x * 1000) / 10} %`

/**
 * The plan's alerts, as `deploy/prometheus/alerts.yml` has them: worker health < 80 %, error rate
 * > 5 %, stuck-run recovery > 60 s, API p95 > 200 ms, throughput < 50 runs/min while runs wait.
 */
export const DEFAULT_ALERT_RULES: readonly AlertRule[] = [
  {
    name: 'OpsWorkerHealthLow',
    severity: 'page',
    forMs: 120_000,
    check: ({ stats }) => ({
      firing: stats.workers.health < 0.8,
      value: stats.workers.health,
      summary: `${pct(stats.workers.health)} of workers are healthy (${stats.workers.live} live, ${stats.workers.stale} silent)`,
    }),
  },
  {
    name: 'OpsErrorRateHigh',
    severity: 'page',
    forMs: 300_000,
    check: ({ stats }) => ({
      // One failure out of one run is not a trend: at least one run a minute must finish.
      firing: stats.errorRate > 0.05 && (stats.succeeded + stats.failed) * 60 >= stats.windowSeconds,
      value: stats.errorRate,
      summary: `${pct(stats.errorRate)} of runs failed in the last ${stats.windowSeconds} s (${stats.failed} of ${stats.succeeded + stats.failed})`,
    }),
  },
  {
    name: 'OpsStuckRunRecoverySlow',
    severity: 'ticket',
    check: ({ stats }) => ({
      firing: stats.recovery.maxSeconds > 60,
      value: stats.recovery.maxSeconds,
      summary: `a stuck run took ${Math.round(stats.recovery.maxSeconds)} s to recover (above 60 s)`,
    }),
  },
  {
    name: 'OpsApiLatencyHigh',
    severity: 'ticket',
    forMs: 300_000,
    check: ({ apiP95Seconds }) => ({
      firing: apiP95Seconds !== undefined && apiP95Seconds > 0.2,
      value: apiP95Seconds ?? 0,
      summary: `executor API p95 latency is ${Math.round((apiP95Seconds ?? 0) * 1000)} ms (above 200 ms)`,
    }),
  },
  {
    name: 'OpsThroughputLow',
    severity: 'ticket',
    forMs: 600_000,
    check: ({ stats }) => {
      const perMinute = ((stats.succeeded + stats.failed) * 60) / stats.windowSeconds
      return {
        firing: perMinute < 50 && stats.queued > 0,
        value: perMinute,
        summary: `${Math.round(perMinute * 10) / 10} runs/min finish while ${stats.queued} are queued (below 50)`,
      }
    },
  },
]

/** Options of {@link createAlertNotifier}. */
export interface AlertNotifierOptions {
  /** Reads the queue stats (the server passes its metrics' cached reader). */
  stats: () => Promise<QueueStats>
  /** The API's recent p95 latency in seconds, if known. */
  apiP95Seconds?: () => number | undefined
  channels: readonly AlertChannel[]
  /** Default DEFAULT_ALERT_RULES. */
  rules?: readonly AlertRule[]
  /** Called when a channel or the stats fail; the notifier carries on. */
  onError?: (error: unknown, context: string) => void
  /** Prefix of dedup keys. Default `ops-control-room`. */
  source?: string
}

/** Evaluates the rules and notifies each state change once. */
export interface AlertNotifier {
  /** One evaluation: returns the events it sent (an alert that stays firing sends nothing). */
  evaluate(): Promise<AlertEvent[]>
  /** Evaluates every `intervalMs` until stopped. */
  start(intervalMs?: number): void
  stop(): Promise<void>
}

/**
 * A notifier for deployments without Prometheus: the same alerts, sent to Slack, PagerDuty or email.
 * Deduplicated: an alert is sent once when it fires and once when it resolves, however often it is
 * evaluated in between (PagerDuty also gets a stable dedup_key, so a restart does not open a second
 * incident).
 *
 * @example
 * const notifier = createAlertNotifier({
 *   stats: () => server.metrics.stats(),
 *   channels: [slackChannel({ webhookUrl: process.env.OPS_ALERT_SLACK_WEBHOOK! })],
 * })
 * notifier.start(30_000)
 */
export function createAlertNotifier(options: AlertNotifierOptions): AlertNotifier {
  const rules = options.rules ?? DEFAULT_ALERT_RULES
  const onError = options.onError ?? ((err, context) => console.error(`[ops-alerts] ${context}:`, err))
  const source = options.source ?? 'ops-control-room'
  const state = new Map<string, { pendingSince?: number; firing: boolean }>()
  let timer: ReturnType<typeof setInterval> | undefined
  let running: Promise<AlertEvent[]> | undefined

  async function notify(event: AlertEvent) {
    await Promise.all(
      options.channels.map((c) =>
        c.send(event).catch((err) => onError(err, `${c.name}: ${event.status} ${event.alert}`)),
      ),
    )
  }

  async function evaluateOnce(): Promise<AlertEvent[]> {
    let stats: QueueStats
    try {
      stats = await options.stats()
    } catch (err) {
      // Without stats nothing is known: no alert fires or resolves on a guess.
      onError(err, 'reading ops.queue_stats')
      return []
    }
    const apiP95Seconds = options.apiP95Seconds?.()
    const now = Date.now()
    const events: AlertEvent[] = []
    for (const rule of rules) {
      const result = rule.check({ stats, apiP95Seconds })
      const s = state.get(rule.name) ?? { firing: false }
      let status: AlertEvent['status'] | undefined
      if (result.firing) {
        s.pendingSince ??= now
        if (!s.firing && now - s.pendingSince >= (rule.forMs ?? 0)) {
          s.firing = true
          status = 'firing'
        }
      } else {
        s.pendingSince = undefined
        if (s.firing) {
          s.firing = false
          status = 'resolved'
        }
      }
      state.set(rule.name, s)
      if (status) {
        events.push({
          status,
          alert: rule.name,
          severity: rule.severity,
          summary: result.summary,
          value: result.value,
          dedupKey: `${source}:${rule.name}`,
          at: new Date(now).toISOString(),
        })
      }
    }
    for (const event of events) await notify(event)
    return events
  }

  return {
    evaluate() {
      // Evaluations never overlap: a slow channel delays the next one instead of doubling a message.
      const next = (running ?? Promise.resolve([])).then(evaluateOnce, evaluateOnce)
      running = next
      return next
    },
    start(intervalMs = 30_000) {
      if (timer) return
      timer = setInterval(() => void this.evaluate(), intervalMs)
      timer.unref?.()
    },
    async stop() {
      if (timer) clearInterval(timer)
      timer = undefined
      await running?.catch(() => {})
    },
  }
}

/** POSTs JSON with a time limit; a non-2xx answer is an error. */
async function postJson(
  url: string,
  body: unknown,
  timeoutMs: number,
  fetchImpl: typeof fetch,
): Promise<void> {
  const response = await fetchImpl(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  })
  if (!response.ok) {
    const text = await response.text().catch(() => '')
    throw new Error(`${url} answered ${response.status}: ${text.slice(0, 200)}`)
  }
  await response.body?.cancel()
}

/** Slack incoming webhook. */
export function slackChannel(options: {
  webhookUrl: string
  timeoutMs?: number
  fetch?: typeof fetch
}): AlertChannel {
  return {
    name: 'slack',
    send: (e) =>
      postJson(
        options.webhookUrl,
        {
          text: `${e.status === 'firing' ? ':rotating_light: FIRING' : ':white_check_mark: RESOLVED'} *${e.alert}* (${e.severity}): ${e.summary}`,
        },
        options.timeoutMs ?? 10_000,
        options.fetch ?? fetch,
      ),
  }
}

/** PagerDuty Events API v2: `trigger` when firing, `resolve` with the same dedup_key. */
export function pagerDutyChannel(options: {
  routingKey: string
  /** Default https://events.pagerduty.com/v2/enqueue. */
  url?: string
  timeoutMs?: number
  fetch?: typeof fetch
}): AlertChannel {
  const url = options.url ?? 'https://events.pagerduty.com/v2/enqueue'
  return {
    name: 'pagerduty',
    send: (e) =>
      postJson(
        url,
        e.status === 'firing'
          ? {
              routing_key: options.routingKey,
              event_action: 'trigger',
              dedup_key: e.dedupKey,
              payload: {
                summary: `${e.alert}: ${e.summary}`,
                source: 'ops-control-room',
                severity: e.severity === 'page' ? 'critical' : 'warning',
                timestamp: e.at,
                custom_details: { value: e.value },
              },
            }
          : { routing_key: options.routingKey, event_action: 'resolve', dedup_key: e.dedupKey },
        options.timeoutMs ?? 10_000,
        options.fetch ?? fetch,
      ),
  }
}

/** Email over SMTP (nodemailer). */
export function emailChannel(options: {
  host: string
  port?: number
  /** TLS from the first byte (port 465); otherwise STARTTLS when offered. */
  secure?: boolean
  user?: string
  password?: string
  from: string
  to: string | string[]
  timeoutMs?: number
  /** Accept a self-signed certificate (tests, private relays). */
  allowSelfSigned?: boolean
}): AlertChannel {
  const timeout = options.timeoutMs ?? 10_000
  const transport = createTransport({
    host: options.host,
    port: options.port ?? 587,
    secure: options.secure ?? false,
    auth: options.user ? { user: options.user, pass: options.password ?? '' } : undefined,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    tls: options.allowSelfSigned ? { rejectUnauthorized: false } : undefined,
  })
  return {
    name: 'email',
    async send(e) {
      await transport.sendMail({
        from: options.from,
        to: options.to,
        subject: `[${e.status.toUpperCase()}] ${e.alert}: ${e.summary}`,
        text: `${e.alert} is ${e.status} (${e.severity}) at ${e.at}.\n\n${e.summary}\nvalue: ${e.value}\n\nRunbook: docs/runbooks/ops-control-room/incident-response.md#${e.alert.toLowerCase()}\n`,
      })
    },
  }
}

/**
 * Channels from the environment: OPS_ALERT_SLACK_WEBHOOK, OPS_ALERT_PAGERDUTY_ROUTING_KEY,
 * OPS_ALERT_SMTP_HOST (+ _PORT, _USER, _PASSWORD, _SECURE, OPS_ALERT_EMAIL_FROM, OPS_ALERT_EMAIL_TO).
 * Throws a TypeError naming what is missing.
 */
export function alertChannelsFromEnv(env: Record<string, string | undefined>): AlertChannel[] {
  const channels: AlertChannel[] = []
  if (env.OPS_ALERT_SLACK_WEBHOOK) channels.push(slackChannel({ webhookUrl: env.OPS_ALERT_SLACK_WEBHOOK }))
  if (env.OPS_ALERT_PAGERDUTY_ROUTING_KEY) {
    channels.push(
      pagerDutyChannel({ routingKey: env.OPS_ALERT_PAGERDUTY_ROUTING_KEY, url: env.OPS_ALERT_PAGERDUTY_URL }),
    )
  }
  if (env.OPS_ALERT_SMTP_HOST) {
    if (!env.OPS_ALERT_EMAIL_FROM || !env.OPS_ALERT_EMAIL_TO) {
      throw new TypeError('OPS_ALERT_SMTP_HOST needs OPS_ALERT_EMAIL_FROM and OPS_ALERT_EMAIL_TO')
    }
    channels.push(
      emailChannel({
        host: env.OPS_ALERT_SMTP_HOST,
        port: env.OPS_ALERT_SMTP_PORT ? Number(env.OPS_ALERT_SMTP_PORT) : undefined,
        secure: env.OPS_ALERT_SMTP_SECURE === 'true',
        user: env.OPS_ALERT_SMTP_USER,
        password: env.OPS_ALERT_SMTP_PASSWORD,
        from: env.OPS_ALERT_EMAIL_FROM,
        to: env.OPS_ALERT_EMAIL_TO.split(',').map((s) => s.trim()),
      }),
    )
  }
  return channels
}
