import { mkdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
export const appRoot = resolve(here, '..')
/** CI keeps test-results/ in its log; each screenshot's path is printed too. */
export const screenshotsDir = resolve(appRoot, '../../test-results/screenshots')

/** Debian's Chromium (installed by .ci/run), headless, with nothing phoning home. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}

/** Builds the Runboard app from the current sources (so the test never runs a stale build). */
export async function buildApp(): Promise<string> {
  const { build } = await import('vite')
  await build({ root: appRoot, configFile: join(appRoot, 'vite.config.ts'), logLevel: 'warn' })
  return join(appRoot, 'dist')
}

export async function screenshotPath(name: string): Promise<string> {
  await mkdir(screenshotsDir, { recursive: true })
  return join(screenshotsDir, `${name}.png`)
}
