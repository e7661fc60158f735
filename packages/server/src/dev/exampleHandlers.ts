import { defineHandler, HandlerError, shellHandler } from '@ops-control-room/worker'
import { z } from 'zod'

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts (cancel, timeout, stop). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** `sleep`: waits `seconds`, reporting progress ten times a second. */
export const sleepHandler = defineHandler({
  kind: 'sleep',
  description: 'Sleeps for `seconds`, reporting progress; stops at once when cancelled.',
  input: z.object({ seconds: z.number().min(0).max(3600).default(5) }),
  async run(ctx) {
    const total = ctx.params.seconds * 1000
    const started = Date.now()
    ctx.log.info(`sleeping ${ctx.params.seconds}s`)
    while (Date.now() - started < total) {
      await sleep(Math.min(100, total - (Date.now() - started)), ctx.signal)
      ctx.progress(Math.min(1, (Date.now() - started) / total))
    }
    return { sleptMs: Date.now() - started }
  },
})

const DemoParams = z.object({
  steps: z.number().int().min(1).max(100).default(5),
  stepMs: z.number().int().min(0).max(60_000).default(800),
  /** Fail at the last step, to show a structured error. */
  fail: z.boolean().default(false),
})

/** A bar chart of step durations as SVG: an image artifact the Runboard shows inline. */
function chart(durations: number[]): string {
  const max = Math.max(1, ...durations)
  const w = 24
  const bars = durations
    .map((d, i) => {
      const h = Math.round((d / max) * 80)
      return `<rect x="${10 + i * (w + 6)}" y="${90 - h}" width="${w}" height="${h}" fill="#2563eb"/>`
    })
    .join('')
  const width = 20 + durations.length * (w + 6)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="100" viewBox="0 0 ${width} 100"><rect width="100%" height="100%" fill="#f6f7f9"/>${bars}</svg>`
}

/**
 * `demo`: a runbook step that shows everything the Runboard can: progress with messages, events at
 * every level, a markdown report (text artifact), a log file and an SVG chart (file artifacts), and
 * optionally a structured failure.
 */
export const demoHandler = defineHandler({
  kind: 'demo',
  description: 'Walks through steps with progress, events and artifacts; can fail on purpose.',
  input: DemoParams,
  async run(ctx) {
    const { steps, stepMs, fail } = ctx.params
    const lines: string[] = []
    const durations: number[] = []
    ctx.log.info(`starting ${steps} steps on lane ${ctx.run.lane}`, { steps, stepMs })
    for (let i = 1; i <= steps; i++) {
      const started = Date.now()
      ctx.log.debug(`step ${i}: preparing`)
      await sleep(stepMs, ctx.signal)
      const took = Date.now() - started
      durations.push(took)
      lines.push(`${new Date().toISOString()} step ${i}/${steps} done in ${took} ms`)
      ctx.progress(i / steps, `step ${i}/${steps}`)
      ctx.log.event('demo:step', `step ${i}/${steps} done`, { data: { step: i, ms: took } })
      if (i === Math.ceil(steps / 2)) ctx.log.warn('halfway: this is what a warning looks like')
    }
    if (fail) {
      ctx.log.error('the last step failed on purpose (params.fail)')
      throw new HandlerError({
        type: 'demo_failure',
        message: 'the demo was asked to fail',
        context: { steps, lane: ctx.run.lane },
        retry: false,
      })
    }
    const total = durations.reduce((a, b) => a + b, 0)
    await ctx.artifacts.text({
      name: 'report.md',
      contentType: 'text/markdown',
      text: [
        `# Demo run ${ctx.run.seq}`,
        '',
        `Ran **${steps} steps** on lane ${ctx.run.lane} in ${total} ms (worker \`${ctx.workerId}\`).`,
        '',
        '| step | ms |',
        '| ---: | ---: |',
        ...durations.map((d, i) => `| ${i + 1} | ${d} |`),
      ].join('\n'),
    })
    await ctx.artifacts.put({ name: 'output.log', contentType: 'text/plain', body: `${lines.join('\n')}\n` })
    await ctx.artifacts.put({ name: 'chart.svg', contentType: 'image/svg+xml', body: chart(durations) })
    return { steps, totalMs: total }
  },
})

/** The handlers of the dev control room's in-process worker. */
export const exampleHandlers = [shellHandler, sleepHandler, demoHandler] as const
