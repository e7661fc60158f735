import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AlertEvent,
  createAlertNotifier,
  DEFAULT_ALERT_RULES,
  emailChannel,
  pagerDutyChannel,
  slackChannel,
} from '../src/alertNotifier'
import { startTestServer, type TestServer } from './helpers'

/** A local HTTP receiver that records JSON bodies and answers `status`. */
async function receiver(status = 200): Promise<{ url: string; bodies: unknown[]; server: Server }> {
  const bodies: unknown[] = []
  const server = createServer((req: IncomingMessage, res) => {
    let text = ''
    req.on('data', (d) => {
      text += String(d)
    })
    req.on('end', () => {
      bodies.push(JSON.parse(text))
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"status":"success"}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies, server }
}

/** A real SMTP server (smtp-server) that keeps every message it receives. */
async function smtpReceiver(): Promise<{
  port: number
  mails: { from: string; to: string[]; data: string }[]
  server: SMTPServer
}> {
  const mails: { from: string; to: string[]; data: string }[] = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let data = ''
      stream.on('data', (d) => {
        data += String(d)
      })
      stream.on('end', () => {
        mails.push({
          from: String(session.envelope.mailFrom ? session.envelope.mailFrom.address : ''),
          to: session.envelope.rcptTo.map((r) => r.address),
          data,
        })
        callback()
      })
    },
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { port: (server.server.address() as AddressInfo).port, mails, server }
}

let t: TestServer
let slack: Awaited<ReturnType<typeof receiver>>
let pd: Awaited<ReturnType<typeof receiver>>
let broken: Awaited<ReturnType<typeof receiver>>
let smtp: Awaited<ReturnType<typeof smtpReceiver>>
beforeAll(async () => {
  t = await startTestServer()
  ;[slack, pd, broken, smtp] = await Promise.all([receiver(), receiver(202), receiver(500), smtpReceiver()])
})
afterAll(async () => {
  for (const r of [slack, pd, broken]) {
    r.server.closeAllConnections()
    await new Promise((done) => r.server.close(done))
  }
  await new Promise<void>((done) => smtp.server.close(() => done()))
  await t.teardown()
})

describe('the built-in alert notifier', () => {
  it('sends the error-rate alert once to Slack, PagerDuty and email, deduplicates, then resolves it', async () => {
    const service = t.client('service_role')
    const errors: string[] = []
    const notifier = createAlertNotifier({
      // The live path: GET /stats on the executor API, as a service-role client.
      stats: () => service.stats(),
      channels: [
        slackChannel({ webhookUrl: slack.url }),
        pagerDutyChannel({ routingKey: 'routing-key-1', url: pd.url }),
        emailChannel({
          host: '127.0.0.1',
          port: smtp.port,
          from: 'ops@example.com',
          to: ['oncall@example.com'],
        }),
        // A channel that fails does not stop the others.
        slackChannel({ webhookUrl: broken.url }),
      ],
      rules: DEFAULT_ALERT_RULES.map((r) => ({ ...r, forMs: 0 })),
      onError: (_err, context) => errors.push(context),
    })

    // 20 runs finish in the window, 4 of them failed: 20 %.
    const session = await service.sessions.create({ name: 'alerts' })
    await service.runs.enqueue({
      sessionId: session.id,
      runs: Array.from({ length: 100 }, () => ({ kind: 'job' })),
    })
    const claimed = await service.worker.claim({ workerId: 'alert-w', lanes: { A: 100 }, kinds: ['job'] })
    expect(claimed).toHaveLength(100)
    await service.worker.fail({
      workerId: 'alert-w',
      failures: claimed.slice(0, 4).map((r) => ({
        id: r.id,
        lease: r.lease as string,
        error: { type: 'boom', message: 'no' },
        retry: false,
      })),
    })
    await service.worker.complete({
      workerId: 'alert-w',
      results: claimed.slice(4, 20).map((r) => ({ id: r.id, lease: r.lease as string })),
    })

    const fired = await notifier.evaluate()
    expect(fired.map((e: AlertEvent) => [e.status, e.alert])).toEqual([['firing', 'OpsErrorRateHigh']])
    expect(fired[0]?.value).toBe(0.2)
    expect(slack.bodies).toEqual([
      { text: expect.stringContaining('FIRING *OpsErrorRateHigh* (page): 20 %') },
    ])
    expect(pd.bodies).toEqual([
      {
        routing_key: 'routing-key-1',
        event_action: 'trigger',
        dedup_key: 'ops-control-room:OpsErrorRateHigh',
        payload: expect.objectContaining({
          severity: 'critical',
          source: 'ops-control-room',
          summary: expect.stringContaining('20 %'),
        }),
      },
    ])
    expect(smtp.mails).toHaveLength(1)
    expect(smtp.mails[0]).toMatchObject({ from: 'ops@example.com', to: ['oncall@example.com'] })
    expect(smtp.mails[0]?.data).toMatch(/Subject: \[FIRING\] OpsErrorRateHigh: 20 % of runs failed/)
    expect(errors).toEqual(['slack: firing OpsErrorRateHigh'])

    // Still firing: nothing new is sent.
    expect(await notifier.evaluate()).toEqual([])
    expect([slack.bodies.length, pd.bodies.length, smtp.mails.length]).toEqual([1, 1, 1])

    // 80 more succeed: 4 of 100, below 5 %. One resolve each, with the same dedup key.
    await service.worker.complete({
      workerId: 'alert-w',
      results: claimed.slice(20).map((r) => ({ id: r.id, lease: r.lease as string })),
    })
    const resolved = await notifier.evaluate()
    expect(resolved.map((e) => [e.status, e.alert])).toEqual([['resolved', 'OpsErrorRateHigh']])
    expect(slack.bodies[1]).toEqual({ text: expect.stringContaining('RESOLVED') })
    expect(pd.bodies[1]).toEqual({
      routing_key: 'routing-key-1',
      event_action: 'resolve',
      dedup_key: 'ops-control-room:OpsErrorRateHigh',
    })
    expect(smtp.mails[1]?.data).toMatch(/Subject: \[RESOLVED\] OpsErrorRateHigh/)
    expect(await notifier.evaluate()).toEqual([])
    expect([slack.bodies.length, pd.bodies.length, smtp.mails.length]).toEqual([2, 2, 2])
  })

  it('waits `forMs` before firing, and neither fires nor resolves when the stats cannot be read', async () => {
    let health = 0.5
    let fail = false
    const sent: AlertEvent[] = []
    const errors: string[] = []
    const stats = async () => {
      if (fail) throw new Error('database down')
      return {
        ...(await t.client('service_role').stats()),
        workers: { live: 1, stale: 1, stoppedRecently: 0, health },
      }
    }
    const rule = DEFAULT_ALERT_RULES.find((r) => r.name === 'OpsWorkerHealthLow')
    const notifier = createAlertNotifier({
      stats,
      channels: [{ name: 'memory', send: async (e) => void sent.push(e) }],
      rules: [{ ...rule!, forMs: 60_000 }],
      onError: (_e, context) => errors.push(context),
    })
    expect(await notifier.evaluate()).toEqual([])
    const immediate = createAlertNotifier({
      stats,
      channels: [{ name: 'memory', send: async (e) => void sent.push(e) }],
      rules: [{ ...rule!, forMs: 0 }],
      onError: (_e, context) => errors.push(context),
    })
    expect((await immediate.evaluate()).map((e) => e.status)).toEqual(['firing'])
    fail = true
    expect(await immediate.evaluate()).toEqual([])
    fail = false
    health = 1
    expect((await immediate.evaluate()).map((e) => e.status)).toEqual(['resolved'])
    expect(sent.map((e) => `${e.status} ${e.alert}`)).toEqual([
      'firing OpsWorkerHealthLow',
      'resolved OpsWorkerHealthLow',
    ])
    expect(errors).toEqual(['reading ops.queue_stats'])
    await notifier.stop()
    await immediate.stop()
  })
})
