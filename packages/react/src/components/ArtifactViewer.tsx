'use client'
import type { Artifact } from '@ops-control-room/core'
import { useEffect, useState } from 'react'
import { useOpsStore } from '../OpsProvider'
import { isJson, isMarkdown, isTextual, prettyJson, readPrefix } from './artifactContent'
import { formatBytes } from './format'
import { Markdown } from './Markdown'
import { ScrollablePre } from './ScrollablePre'

export interface ArtifactViewerProps {
  artifact: Artifact
  /** Largest file shown inline, in bytes; of a larger text file, this much is previewed. Default 1 MiB. */
  maxInlineBytes?: number
}

type Loaded = { url: string | null; text?: string; error?: string; previewBytes?: number }

/**
 * Shows one artifact: text (markdown rendered safely), images, and a download link for files.
 */
export function ArtifactViewer({ artifact, maxInlineBytes = 1024 * 1024 }: ArtifactViewerProps) {
  const ops = useOpsStore('ArtifactViewer')
  const [loaded, setLoaded] = useState<Loaded | null>(null)
  const inlineText = artifact.kind === 'file' && isTextual(artifact)
  const preview = (artifact.size ?? 0) > maxInlineBytes

  useEffect(() => {
    let alive = true
    setLoaded(null)
    if (artifact.kind === 'text') {
      setLoaded({ url: null, text: artifact.text ?? '' })
      return
    }
    ;(async () => {
      const url = await ops.artifactUrl(artifact)
      if (!alive) return
      if (!url || !inlineText) return setLoaded({ url })
      const response = await fetch(url)
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      if (preview) {
        // Too large to show whole: the first part, and the download stops there.
        const { text, bytes } = await readPrefix(response, maxInlineBytes)
        if (alive) setLoaded({ url, text, previewBytes: bytes })
        return
      }
      const text = await response.text()
      if (alive) setLoaded({ url, text })
    })().catch((err: unknown) => {
      if (alive) setLoaded({ url: null, error: err instanceof Error ? err.message : String(err) })
    })
    return () => {
      alive = false
    }
  }, [ops, artifact, inlineText, preview, maxInlineBytes])

  const url = loaded?.url ?? null
  const textUrl = artifact.kind === 'text' ? textDataUrl(artifact) : null
  const isImage = artifact.kind === 'file' && artifact.contentType.startsWith('image/')
  return (
    <figure className="ocr-artifact" data-artifact-id={artifact.id} aria-busy={loaded === null}>
      <figcaption className="ocr-artifact__head">
        <strong>{artifact.name}</strong>{' '}
        <span className="ocr-muted">
          {artifact.contentType} {formatBytes(artifact.size)}
        </span>{' '}
        {artifact.kind === 'link' && artifact.url ? (
          <a href={artifact.url} target="_blank" rel="noreferrer noopener">
            Open link
          </a>
        ) : url || textUrl ? (
          <a href={(url ?? textUrl) as string} download={artifact.name} className="ocr-button">
            Download<span className="ocr-sr-only"> {artifact.name}</span>
          </a>
        ) : null}
      </figcaption>
      {loaded?.error ? (
        <p role="alert" className="ocr-error">
          Could not load {artifact.name}: {loaded.error}
        </p>
      ) : null}
      {loaded === null && artifact.kind !== 'link' ? <p className="ocr-muted">Loading…</p> : null}
      {isImage && url ? <img className="ocr-artifact__image" src={url} alt={artifact.name} /> : null}
      {loaded?.text !== undefined ? (
        isMarkdown(artifact) ? (
          <Markdown source={loaded.text} />
        ) : isJson(artifact) && loaded.previewBytes === undefined ? (
          <details open className="ocr-artifact__json">
            <summary>JSON</summary>
            <ScrollablePre className="ocr-artifact__text" label="Content">
              {prettyJson(loaded.text)}
            </ScrollablePre>
          </details>
        ) : (
          <ScrollablePre className="ocr-artifact__text" label="Content">
            {loaded.text}
          </ScrollablePre>
        )
      ) : null}
      {loaded?.previewBytes !== undefined ? (
        <p className="ocr-hint" data-preview="true">
          Showing the first {formatBytes(loaded.previewBytes)} of {formatBytes(artifact.size)}: the whole file
          is too large to show here. Download it for the rest.
        </p>
      ) : null}
    </figure>
  )
}

function textDataUrl(artifact: Artifact): string {
  return `data:${artifact.contentType || 'text/plain'};charset=utf-8,${encodeURIComponent(artifact.text ?? '')}`
}
