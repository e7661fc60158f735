import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunboardServer, startRunboardServer } from './serveRunboard'

let dir: string
let server: RunboardServer
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runboard-static-'))
  await mkdir(join(dir, 'app', 'assets'), { recursive: true })
  await writeFile(join(dir, 'app', 'index.html'), '<!doctype html><title>Runboard</title>')
  await writeFile(join(dir, 'app', 'assets', 'index-abc.js'), 'console.log(1)')
  await writeFile(join(dir, 'secret.txt'), 'outside the app folder')
  server = await startRunboardServer({ port: 0, host: '127.0.0.1', appDir: join(dir, 'app') })
})
afterAll(async () => {
  await server.close()
  await rm(dir, { recursive: true, force: true })
})

describe('startRunboardServer', () => {
  it('serves the app, its config, and hands every other path to the API listener', async () => {
    expect((await fetch(`${server.url}/ops-config.json`)).status).toBe(503)
    expect((await fetch(`${server.url}/runs`)).status).toBe(503)
    server.setConfig({ apiUrl: server.url, token: 't', mode: 'dev' })
    server.setApi((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`api ${req.method} ${req.url}`)
    })
    const page = await fetch(`${server.url}/`)
    expect(page.headers.get('content-type')).toMatch(/text\/html/)
    expect(page.headers.get('cache-control')).toBe('no-cache')
    expect(await page.text()).toContain('<title>Runboard</title>')
    const asset = await fetch(`${server.url}/assets/index-abc.js`)
    expect(asset.headers.get('cache-control')).toMatch(/immutable/)
    expect(asset.headers.get('content-type')).toMatch(/javascript/)
    expect(await (await fetch(`${server.url}/ops-config.json`)).json()).toEqual({
      apiUrl: server.url,
      token: 't',
      mode: 'dev',
    })
    expect(await (await fetch(`${server.url}/runs?limit=5`)).text()).toBe('api GET /runs?limit=5')
    expect(await (await fetch(`${server.url}/sessions`, { method: 'POST', body: '{}' })).text()).toBe(
      'api POST /sessions',
    )
  })

  it('never serves a file outside the app folder', async () => {
    for (const path of ['/..%2Fsecret.txt', '/%2e%2e/secret.txt', '/assets/..%2F..%2Fsecret.txt']) {
      const response = await fetch(`${server.url}${path}`)
      expect(await response.text()).not.toContain('outside the app folder')
    }
  })

  it('serves the dev config (a service_role token) only to loopback requests that name a loopback host', async () => {
    server.setConfig({ apiUrl: server.url, token: 't', mode: 'dev' })
    const { request } = await import('node:http')
    const get = (host: string) =>
      new Promise<number>((resolveGet, reject) => {
        const req = request(
          { host: '127.0.0.1', port: server.port, path: '/ops-config.json', headers: { host } },
          (res) => {
            res.resume()
            resolveGet(res.statusCode ?? 0)
          },
        )
        req.on('error', reject)
        req.end()
      })
    expect(await get(`localhost:${server.port}`)).toBe(200)
    expect(await get(`127.0.0.1:${server.port}`)).toBe(200)
    // DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1.
    expect(await get(`evil.example:${server.port}`)).toBe(403)
    expect(await get('evil.example')).toBe(403)
  })
})
