import type { Artifact } from '@ops-control-room/core'
import type { OpsStore } from '../store/opsStore'

/** Whether an artifact's content is text that can be shown inline. */
export function isTextual(artifact: Pick<Artifact, 'contentType' | 'name' | 'kind'>): boolean {
  if (artifact.kind === 'text') return true
  const t = artifact.contentType.toLowerCase()
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
