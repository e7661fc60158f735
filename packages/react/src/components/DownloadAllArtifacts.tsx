'use client'
import type { Artifact } from '@ops-control-room/core'
import { Zip, ZipDeflate } from 'fflate'
import { useState } from 'react'
import { useArtifacts } from '../hooks/useArtifacts'
import { useOpsStore } from '../OpsProvider'
import { readArtifactBytes } from './artifactContent'

export interface DownloadAllArtifactsProps {
  runId: string
  /** The ZIP's file name. Default `run-<id>-artifacts.zip`. */
  fileName?: string
}

/**
 * A name safe as one ZIP entry: no directories (`/`, `\\`), no `..` or leading dots, no control
 * characters, never empty. An unzip tool must not be led outside its folder by a name.
 */
export function safeEntryName(name: string): string {
  let out = ''
  for (const ch of name) {
    const c = ch.codePointAt(0) as number
    out += c < 32 || c === 127 || ch === '/' || ch === '\\' ? '_' : ch
  }
  out = out.replace(/^[.\s]+/, '').trim()
  return out === '' ? 'artifact' : out
}

/**
 * Unique, safe names inside the archive: a second `out.txt` becomes `out (2).txt` (or the next
 * number not taken), links get a `.url` file. Kept in a Map and a Set: a name such as `__proto__`
 * is a name like any other.
 */
export function uniqueNames(artifacts: readonly Pick<Artifact, 'name' | 'kind'>[]): string[] {
  const taken = new Set<string>()
  const counts = new Map<string, number>()
  return artifacts.map((a) => {
    const base = safeEntryName(a.kind === 'link' ? `${a.name}.url` : a.name)
    let n = counts.get(base) ?? 0
    let candidate = base
    while (taken.has(candidate)) {
      n++
      const dot = base.lastIndexOf('.')
      candidate = dot > 0 ? `${base.slice(0, dot)} (${n + 1})${base.slice(dot)}` : `${base} (${n + 1})`
    }
    counts.set(base, n)
    taken.add(candidate)
    return candidate
  })
}

/** The archive's entries, built in a Map (no object key can touch a prototype). */
export function zipEntries(
  names: readonly string[],
  contents: readonly Uint8Array[],
): Map<string, Uint8Array> {
  const entries = new Map<string, Uint8Array>()
  names.forEach((name, i) => {
    entries.set(name, contents[i] as Uint8Array)
  })
  return entries
}

/**
 * A ZIP of `entries`, file by file through fflate's streaming `Zip`: its `zipSync` takes an object
 * keyed by name and copies it into another object, where an entry named `__proto__` became a
 * prototype (and thousands of junk entries). Synchronous: artifacts shown in a browser are small.
 */
export function buildZip(entries: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const chunks: Uint8Array[] = []
  let failure: Error | null = null
  const zip = new Zip((err, chunk) => {
    if (err) failure = err
    else chunks.push(chunk)
  })
  for (const [name, content] of entries) {
    const file = new ZipDeflate(name, { level: 6 })
    zip.add(file)
    file.push(content, true)
  }
  zip.end()
  if (failure) throw failure
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0))
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
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
      const bytes = await Promise.all(list.map((a) => readArtifactBytes(ops, a)))
      const archive = buildZip(zipEntries(names, bytes))
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
