import type { Artifact } from '@ops-control-room/core'
import type { OpsStore } from '../store/opsStore'

/** Whether an artifact's content is text that can be shown inline. */
export function isTextual(artifact: Pick<Artifact, 'contentType' | 'name' | 'kind'>): boolean {
  if (artifact.kind === 'text') return true
  const t = artifact.contentType.toLowerCase()
  // An SVG is shown as an image, not as its XML source too.
  if (t.startsWith('image/') || /\.svg$/i.test(artifact.name)) return false
  return (
    t.startsWith('text/') ||
    t.includes('json') ||
    t.includes('xml') ||
    t.includes('yaml') ||
    /\.(md|markdown|txt|log|json|ya?ml|csv|diff|patch)$/i.test(artifact.name)
  )
}

/** Whether an artifact is markdown. */
export function isMarkdown(artifact: Pick<Artifact, 'contentType' | 'name'>): boolean {
  return /markdown/i.test(artifact.contentType) || /\.(md|markdown)$/i.test(artifact.name)
}

/** Reads an artifact's bytes: text artifacts from the row, files through their download URL. */
export async function readArtifactBytes(ops: OpsStore, artifact: Artifact): Promise<Uint8Array> {
  if (artifact.kind === 'text') return new TextEncoder().encode(artifact.text ?? '')
  if (artifact.kind === 'link') {
    // An internet shortcut: opens the link when extracted from a ZIP.
    return new TextEncoder().encode(`[InternetShortcut]\r\nURL=${artifact.url ?? ''}\r\n`)
  }
  const url = await ops.artifactUrl(artifact)
  if (!url) throw new Error(`no download URL for artifact ${artifact.name}`)
  const response = await fetch(url)
  if (!response.ok) throw new Error(`download of ${artifact.name} failed: HTTP ${response.status}`)
  return new Uint8Array(await response.arrayBuffer())
}

/** Whether an artifact is JSON (shown pretty-printed). */
export function isJson(artifact: Pick<Artifact, 'contentType' | 'name'>): boolean {
  return /json/i.test(artifact.contentType) || /\.json$/i.test(artifact.name)
}

/** Pretty-prints JSON text; returns it unchanged when it does not parse. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}

/** Reads at most `limit` bytes of a response body, then stops the download. */
export async function readPrefix(
  response: Response,
  limit: number,
): Promise<{ text: string; bytes: number }> {
  if (!response.body) return { text: '', bytes: 0 }
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let bytes = 0
  while (bytes < limit) {
    const { value, done } = await reader.read()
    if (done) break
    chunks.push(value)
    bytes += value.byteLength
  }
  await reader.cancel().catch(() => {})
  const all = new Uint8Array(Math.min(bytes, limit))
  let offset = 0
  for (const c of chunks) {
    const part = c.subarray(0, Math.min(c.byteLength, all.byteLength - offset))
    all.set(part, offset)
    offset += part.byteLength
    if (offset >= all.byteLength) break
  }
  // A cut in the middle of a UTF-8 sequence decodes to one replacement character at the end.
  return { text: new TextDecoder().decode(all), bytes: all.byteLength }
}
