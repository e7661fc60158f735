import type { Session } from '@ops-control-room/core/client'
import {
  EnqueueForm,
  FleetView,
  LaneDepthChart,
  RunDetails,
  type RunDetailsProps,
  SessionList,
  SpecKitForm,
  ThroughputChart,
  useTemplates,
} from '@ops-control-room/react'

/**
 * The parts of the app that are not on the first render's path (the sidebar's list and forms, the
 * charts, a run's details, the fleet): a chunk of their own, loaded once the board has its counts
 * or when opened, so the first load parses less JavaScript.
 */

/** The sidebar's session list and forms. */
export function SidebarTools({
  selectedId,
  currentSession,
  onSession,
}: {
  selectedId: string | undefined
  currentSession: Session | undefined
  onSession(id: string): void
}) {
  // The Spec Kit form, where the control room has a spec_kit_generate template (pnpm start does).
  const templates = useTemplates({ latestOnly: true })
  const specKit = templates.data?.some((t) => t.kind === 'spec_kit_generate') ?? false
  return (
    <>
      <SessionList selectedId={selectedId} onSelect={(s) => onSession(s.id)} />
      <EnqueueForm
        currentSession={currentSession}
        onEnqueued={({ session: s }) => {
          if (s) onSession(s.id)
          document.getElementById('runs')?.focus()
        }}
      />
      {specKit ? <SpecKitForm onEnqueued={({ session: s }) => s && onSession(s.id)} /> : null}
    </>
  )
}

/** Throughput and queue depth over time. */
export function Charts({ sessionId }: { sessionId: string | undefined }) {
  return (
    <>
      <ThroughputChart sessionId={sessionId} />
      <LaneDepthChart sessionId={sessionId} />
    </>
  )
}

export { FleetView }
export function Details(props: RunDetailsProps) {
  return <RunDetails {...props} />
}
