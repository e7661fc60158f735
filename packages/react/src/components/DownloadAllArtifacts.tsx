'use client'
import type { Artifact } from '@ops-control-room/core'
import { zipSync } from 'fflate'
import { useState } from 'react'
import { useArtifacts } from '../hooks/useArtifacts'
import { useOpsStore } from '../OpsProvider'
import { readArtifactBytes } from './artifactContent'

export interface DownloadAllArtifactsProps {
  runId: string
  /** The ZIP's file name. Default `run-<id>-artifacts.zip`. */
  fileName?: string
}

/** Unique names inside the archive: a second `out.txt` becomes `out (2).txt`. */
export function uniqueNames(artifacts: readonly Pick<Artifact, 'name' | 'kind'>[]): string[] {
  const seen = new Map<string, number>()
  return artifacts.map((a) => {
    const base = a.kind === 'link' ? `${a.name}.url` : a.name
    const n = (seen.get(base) ?? 0) + 1
    seen.set(base, n)
    if (n === 1) return base
    const dot = base.lastIndexOf('.')
    return dot > 0 ? `${base.slice(0, dot)} (${n})${base.slice(dot)}` : `${base} (${n})`
  })
}

/** Builds one ZIP of a run's artifacts in the browser (fflate) and downloads it. */
export function DownloadAllArtifacts({ runId, fileName }: DownloadAllArtifactsProps) {
  const ops = useOpsStore('DownloadAllArtifacts')
  const artifacts = useArtifacts(runId)
  const [state, setState] = useState<{ busy: boolean; message: string; error?: boolean }>({
    busy: false,
    message: '',
  })
  const list = artifacts.data ?? []
  const name = fileName ?? `run-${runId.slice(0, 8)}-artifacts.zip`

  const download = async () => {
    setState({ busy: true, message: `Preparing ${list.length} artifacts…` })
    try {
      const names = uniqueNames(list)
      const entries: Record<string, Uint8Array> = {}
      const bytes = await Promise.all(list.map((a) => readArtifactBytes(ops, a)))
      bytes.forEach((b, i) => {
        entries[names[i] as string] = b
      })
      // Synchronous: artifacts shown in a browser are small, and fflate's async mode needs workers.
      const archive = zipSync(entries, { level: 6 })
      const url = URL.createObjectURL(
        new Blob([archive as Uint8Array<ArrayBuffer>], { type: 'application/zip' }),
      )
      const a = document.createElement('a')
      a.href = url
      a.download = name
      document.body.append(a)
      a.click()
      a.remove()
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
      setState({ busy: false, message: `Downloaded ${name} (${list.length} files)` })
    } catch (err) {
      setState({
        busy: false,
        error: true,
        message: `Could not build the ZIP: ${err instanceof Error ? err.message : String(err)}`,
      })
    }
  }

  return (
    <div className="ocr-download-all">
      <button
        type="button"
        className="ocr-button"
        onClick={download}
        disabled={state.busy || list.length === 0}
      >
        {state.busy ? 'Preparing ZIP…' : `Download all (${list.length}) as ZIP`}
      </button>
      <span role="status" aria-live="polite" className={state.error ? 'ocr-error' : 'ocr-muted'}>
        {state.message}
      </span>
    </div>
  )
}
