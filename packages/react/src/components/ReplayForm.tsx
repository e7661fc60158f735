'use client'
import { LANES, type Lane, type Run, type RunSpec, type Session } from '@ops-control-room/core/client'
import { type FormEvent, type ReactNode, useId, useState } from 'react'
import { useCreateSession } from '../hooks/useCreateSession'
import { useEnqueueRuns } from '../hooks/useEnqueueRuns'

export interface ReplayFormProps {
  /** The run to replay: its kind, lane, priority, params, attempts, timeout and template fill the form. */
  run: Run
  /** Also offer this session (when it is not the run's own). */
  currentSession?: Pick<Session, 'id' | 'name'>
  /** Called with the new run (and the new session, when one was created). */
  onEnqueued?: (result: { run: Run; session: Session | null }) => void
  /** Shows a Cancel button. */
  onCancel?: () => void
}

type Target = 'run' | 'current' | 'new'

/**
 * Replays a run as a new run (Trigger.dev's "replay"): the form starts from the run's kind, lane,
 * priority, params, max attempts, timeout and template version, everything editable, and enqueues
 * one new run into the run's session, the current one or a new one. The original run is left as it
 * is (to run the same run again, use Retry).
 */
export function ReplayForm({ run, currentSession, onEnqueued, onCancel }: ReplayFormProps) {
  const id = useId()
  const fid = (name: string) => `${id}-${name}`
  const enqueue = useEnqueueRuns()
  const createSession = useCreateSession()
  const [kind, setKind] = useState(run.kind)
  const [lane, setLane] = useState<Lane>(run.lane)
  const [params, setParams] = useState(() => JSON.stringify(run.params, null, 2))
  const [options, setOptions] = useState({
    priority: String(run.priority),
    maxAttempts: String(run.maxAttempts),
    timeoutSeconds: run.timeoutSeconds === null ? '' : String(run.timeoutSeconds),
    runAt: '',
  })
  const [target, setTarget] = useState<Target>('run')
  const [sessionName, setSessionName] = useState('')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [status, setStatus] = useState('')
  const busy = enqueue.isPending || createSession.isPending
  const template =
    run.templateName !== null && run.templateVersion !== null
      ? { name: run.templateName, version: run.templateVersion }
      : null
  const otherSession = currentSession && currentSession.id !== run.sessionId ? currentSession : undefined

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const all: Record<string, string> = {}
    const spec: RunSpec = { lane }
    if (template) spec.template = template
    else if (!kind.trim()) all.kind = 'enter a kind'
    else spec.kind = kind.trim()
    try {
      const parsed: unknown = JSON.parse(params)
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
        all.params = 'params must be a JSON object'
      else spec.params = parsed as Record<string, unknown>
    } catch (err) {
      all.params = `not JSON: ${err instanceof Error ? err.message : String(err)}`
    }
    const whole = (key: 'priority' | 'maxAttempts' | 'timeoutSeconds', min: number, max: number) => {
      const raw = options[key].trim()
      if (!raw) return
      const v = Number(raw)
      if (!Number.isInteger(v) || v < min || v > max) all[key] = `enter a whole number from ${min} to ${max}`
      else spec[key] = v
    }
    whole('priority', -1000, 1000)
    whole('maxAttempts', 1, 100)
    whole('timeoutSeconds', 1, 604_800)
    if (options.runAt) {
      const t = Date.parse(options.runAt)
      if (Number.isNaN(t)) all.runAt = 'enter a date and time'
      else spec.runAt = new Date(t).toISOString()
    }
    setErrors(all)
    if (Object.keys(all).length > 0) {
      setStatus('Fix the highlighted fields.')
      return
    }
    setStatus('Enqueueing…')
    try {
      const session =
        target === 'new'
          ? await createSession.mutate({ name: sessionName.trim() || `replay of ${run.kind} #${run.seq}` })
          : null
      const sessionId =
        session?.id ?? (target === 'current' && otherSession ? otherSession.id : run.sessionId)
      const [created] = await enqueue.mutate({ sessionId, runs: [spec] })
      setStatus(`Enqueued run #${created?.seq}.`)
      if (created) onEnqueued?.({ run: created, session })
    } catch (err) {
      setStatus(`Could not enqueue: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  const field = (key: string, label: string, input: ReactNode) => (
    <div className="ocr-field" key={key}>
      <label htmlFor={fid(key)}>{label}</label>
      {input}
      {errors[key] ? (
        <p id={fid(`${key}-error`)} className="ocr-error">
          {errors[key]}
        </p>
      ) : null}
    </div>
  )
  const invalid = (key: string) => ({
    'aria-invalid': errors[key] ? true : undefined,
    'aria-describedby': errors[key] ? fid(`${key}-error`) : undefined,
  })

  return (
    <form className="ocr-form ocr-replay" aria-labelledby={fid('title')} onSubmit={submit} noValidate>
      <h3 id={fid('title')}>
        Replay {run.kind} <span className="ocr-muted">#{run.seq}</span> as a new run
      </h3>
      {template ? (
        <p className="ocr-hint">
          From template {template.name}@{template.version}
        </p>
      ) : null}
      {field(
        'target',
        'Into',
        <select id={fid('target')} value={target} onChange={(e) => setTarget(e.target.value as Target)}>
          <option value="run">The run's session</option>
          {otherSession ? <option value="current">{otherSession.name} (this session)</option> : null}
          <option value="new">A new session</option>
        </select>,
      )}
      {target === 'new'
        ? field(
            'session',
            'Session name',
            <input
              id={fid('session')}
              value={sessionName}
              onChange={(e) => setSessionName(e.target.value)}
            />,
          )
        : null}
      <div className="ocr-form__row">
        {field(
          'kind',
          'Kind',
          <input
            id={fid('kind')}
            value={kind}
            readOnly={template !== null}
            onChange={(e) => setKind(e.target.value)}
            {...invalid('kind')}
          />,
        )}
        {field(
          'lane',
          'Lane',
          <select id={fid('lane')} value={lane} onChange={(e) => setLane(e.target.value as Lane)}>
            {LANES.map((l) => (
              <option key={l} value={l}>
                Lane {l}
              </option>
            ))}
          </select>,
        )}
      </div>
      {field(
        'params',
        'Params (JSON)',
        <textarea
          id={fid('params')}
          rows={Math.min(12, params.split('\n').length + 1)}
          value={params}
          spellCheck={false}
          onChange={(e) => setParams(e.target.value)}
          {...invalid('params')}
        />,
      )}
      <div className="ocr-form__row">
        {(
          [
            ['priority', 'Priority', 'number'],
            ['maxAttempts', 'Max attempts', 'number'],
            ['timeoutSeconds', 'Timeout (s)', 'number'],
            ['runAt', 'Not before', 'datetime-local'],
          ] as const
        ).map(([key, label, type]) =>
          field(
            key,
            label,
            <input
              id={fid(key)}
              type={type}
              value={options[key]}
              onChange={(e) => setOptions((o) => ({ ...o, [key]: e.target.value }))}
              {...invalid(key)}
            />,
          ),
        )}
      </div>
      <div className="ocr-form__row">
        <button type="submit" className="ocr-button ocr-button--primary" disabled={busy}>
          {busy ? 'Enqueueing…' : 'Enqueue replay'}
        </button>
        {onCancel ? (
          <button type="button" className="ocr-button" onClick={onCancel}>
            Cancel<span className="ocr-sr-only"> replay</span>
          </button>
        ) : null}
      </div>
      <p role="status" aria-live="polite" className="ocr-form__status">
        {status}
      </p>
    </form>
  )
}
