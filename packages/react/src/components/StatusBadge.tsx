'use client'
import type { RunStatus } from '@ops-control-room/core'

/** A run's status as a coloured badge (colour is never the only cue: the word is always shown). */
export function StatusBadge({ status, cancelling }: { status: RunStatus; cancelling?: boolean }) {
  return (
    <span className="ocr-status" data-status={status}>
      {cancelling && status === 'running' ? 'cancelling' : status}
    </span>
  )
}
