'use client'
import {
  LANES,
  type Lane,
  MAX_ENQUEUE_BATCH,
  type Run,
  type RunSpec,
  type Session,
} from '@ops-control-room/core/client'
import { type FormEvent, useEffect, useId, useMemo, useState } from 'react'
import { useCreateSession } from '../hooks/useCreateSession'
import { useEnqueueRuns } from '../hooks/useEnqueueRuns'
import { useTemplates } from '../hooks/useTemplates'
import { fieldsOf, initialValue, type ParamField, paramsFrom, schemaErrors } from './paramsSchema'

export interface EnqueueFormProps {
  /** Enqueue into this session; without it, the form creates a new session per submit. */
  sessionId?: string
  /** Offer to add the runs to this session (or to a new one); chosen by default. */
  currentSession?: Pick<Session, 'id' | 'name'>
  /** Called after the runs are enqueued. */
  onEnqueued?: (result: { session: Session | null; runs: Run[] }) => void
  /** Most copies one submit may enqueue. Default 10,000 (one enqueue call). */
  maxCopies?: number
}

type LaneChoice = 'template' | 'spread' | Lane

/**
 * Enqueues runs from a template: a field per property of its params schema, checked against that
 * schema before anything is sent. "Spread over lanes A–D" deals the copies round-robin over lanes.
 */
export function EnqueueForm({
  sessionId,
  currentSession,
  onEnqueued,
  maxCopies = MAX_ENQUEUE_BATCH,
}: EnqueueFormProps) {
  const templates = useTemplates({ latestOnly: true })
  const createSession = useCreateSession()
  const enqueue = useEnqueueRuns()
  const id = useId()
  const [templateName, setTemplateName] = useState('')
  const template = templates.data?.find((t) => t.name === templateName) ?? templates.data?.[0]
  const fields = useMemo(() => (template ? fieldsOf(template) : []), [template])
  const [values, setValues] = useState<Record<string, string | boolean>>({})
  const [sessionName, setSessionName] = useState('')
  const [copies, setCopies] = useState('4')
  const [lane, setLane] = useState<LaneChoice>('spread')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [status, setStatus] = useState('')
  const [target, setTarget] = useState<'current' | 'new'>('current')
  const [options, setOptions] = useState({ priority: '', maxAttempts: '', timeoutSeconds: '', runAt: '' })
  const intoCurrent = !sessionId && currentSession !== undefined && target === 'current'

  // A new template: start from its defaults.
  useEffect(() => {
    if (!template) return
    setValues(Object.fromEntries(fields.map((f) => [f.name, initialValue(f, template)])))
    setErrors({})
  }, [template, fields])

  const busy = createSession.isPending || enqueue.isPending

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    if (!template) return
    const { params, errors: parseErrors } = paramsFrom(fields, values)
    const n = Number(copies)
    const all: Record<string, string> = {
      ...parseErrors,
      ...(Object.keys(parseErrors).length ? {} : await schemaErrors(template, params)),
    }
    if (!Number.isInteger(n) || n < 1 || n > maxCopies)
      all.__copies = `enter a whole number from 1 to ${maxCopies}`
    const spec: Partial<RunSpec> = {}
    const whole = (key: 'priority' | 'maxAttempts' | 'timeoutSeconds', min: number, max: number) => {
      const raw = options[key].trim()
      if (!raw) return
      const v = Number(raw)
      if (!Number.isInteger(v) || v < min || v > max)
        all[`__${key}`] = `enter a whole number from ${min} to ${max}`
      else spec[key] = v
    }
    whole('priority', -1000, 1000)
    whole('maxAttempts', 1, 100)
    whole('timeoutSeconds', 1, 604_800)
    if (options.runAt) {
      const t = Date.parse(options.runAt)
      if (Number.isNaN(t)) all.__runAt = 'enter a date and time'
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
        sessionId || intoCurrent
          ? null
          : await createSession.mutate({
              name: sessionName.trim() || `${template.name} ${new Date().toLocaleTimeString()}`,
            })
      const into = sessionId ?? (intoCurrent ? currentSession?.id : undefined) ?? (session as Session).id
      const runs = await enqueue.mutate({
        sessionId: into,
        runs: Array.from({ length: n }, (_, i) => ({
          template: { name: template.name, version: template.version },
          params,
          ...spec,
          ...(lane === 'template' ? {} : { lane: lane === 'spread' ? LANES[i % LANES.length] : lane }),
        })),
      })
      setStatus(
        `Enqueued ${runs.length} run${runs.length === 1 ? '' : 's'}${session ? ` in ${session.name}` : intoCurrent ? ` in ${currentSession?.name}` : ''}.`,
      )
      onEnqueued?.({ session, runs })
    } catch (err) {
      setStatus(`Could not enqueue: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  const fid = (name: string) => `${id}-${name}`
  return (
    <form className="ocr-form" aria-labelledby={`${id}-title`} onSubmit={submit} noValidate>
      <h2 id={`${id}-title`}>Enqueue runs</h2>
      {templates.status === 'error' ? (
        <p role="alert" className="ocr-error">
          Could not load templates: {templates.error?.message}
        </p>
      ) : null}
      {templates.data && templates.data.length === 0 ? (
        <p className="ocr-muted">No templates yet: create one with client.templates.create().</p>
      ) : null}
      <div className="ocr-field">
        <label htmlFor={fid('template')}>Template</label>
        <select
          id={fid('template')}
          value={template?.name ?? ''}
          onChange={(e) => setTemplateName(e.target.value)}
          disabled={!templates.data?.length}
        >
          {templates.data?.map((t) => (
            <option key={t.id} value={t.name}>
              {t.name}@{t.version} ({t.kind})
            </option>
          ))}
        </select>
        {template?.description ? <p className="ocr-hint">{template.description}</p> : null}
      </div>
      {!sessionId && currentSession ? (
        <div className="ocr-field">
          <label htmlFor={fid('target')}>Add to</label>
          <select
            id={fid('target')}
            value={target}
            onChange={(e) => setTarget(e.target.value as 'current' | 'new')}
          >
            <option value="current">{currentSession.name} (this session)</option>
            <option value="new">A new session</option>
          </select>
        </div>
      ) : null}
      {sessionId || intoCurrent ? null : (
        <div className="ocr-field">
          <label htmlFor={fid('session')}>Session name</label>
          <input
            id={fid('session')}
            value={sessionName}
            placeholder={template ? `${template.name} …` : ''}
            onChange={(e) => setSessionName(e.target.value)}
          />
        </div>
      )}
      {template && fields.length > 0 ? (
        <fieldset className="ocr-fieldset">
          <legend>Params</legend>
          {fields.map((f) => (
            <ParamInput
              key={`${template.id}-${f.name}`}
              id={fid(`p-${f.name}`)}
              field={f}
              value={values[f.name] ?? (f.control === 'checkbox' ? false : '')}
              error={errors[f.name]}
              onChange={(v) => setValues((prev) => ({ ...prev, [f.name]: v }))}
            />
          ))}
        </fieldset>
      ) : null}
      {errors[''] ? (
        <p className="ocr-error" role="alert">
          {errors['']}
        </p>
      ) : null}
      <div className="ocr-form__row">
        <div className="ocr-field">
          <label htmlFor={fid('copies')}>Runs</label>
          <input
            id={fid('copies')}
            type="number"
            min={1}
            max={maxCopies}
            value={copies}
            aria-invalid={errors.__copies ? true : undefined}
            aria-describedby={errors.__copies ? fid('copies-error') : undefined}
            onChange={(e) => setCopies(e.target.value)}
          />
          {errors.__copies ? (
            <p id={fid('copies-error')} className="ocr-error">
              {errors.__copies}
            </p>
          ) : null}
        </div>
        <div className="ocr-field">
          <label htmlFor={fid('lane')}>Lane</label>
          <select id={fid('lane')} value={lane} onChange={(e) => setLane(e.target.value as LaneChoice)}>
            <option value="spread">Spread over lanes A–D</option>
            <option value="template">Template's lane{template ? ` (${template.lane})` : ''}</option>
            {LANES.map((l) => (
              <option key={l} value={l}>
                Lane {l}
              </option>
            ))}
          </select>
        </div>
      </div>
      <details className="ocr-form__more">
        <summary>Priority, attempts, timeout, schedule</summary>
        <div className="ocr-form__row">
          {(
            [
              ['priority', 'Priority', '-1000 to 1000', 'number'],
              ['maxAttempts', 'Max attempts', '1 to 100', 'number'],
              ['timeoutSeconds', 'Timeout (s)', 'seconds', 'number'],
              ['runAt', 'Not before', '', 'datetime-local'],
            ] as const
          ).map(([key, label, placeholder, type]) => (
            <div className="ocr-field" key={key}>
              <label htmlFor={fid(key)}>{label}</label>
              <input
                id={fid(key)}
                type={type}
                placeholder={placeholder || undefined}
                value={options[key]}
                aria-invalid={errors[`__${key}`] ? true : undefined}
                aria-describedby={errors[`__${key}`] ? fid(`${key}-error`) : undefined}
                onChange={(e) => setOptions((o) => ({ ...o, [key]: e.target.value }))}
              />
              {errors[`__${key}`] ? (
                <p id={fid(`${key}-error`)} className="ocr-error">
                  {errors[`__${key}`]}
                </p>
              ) : null}
            </div>
          ))}
        </div>
      </details>
      <button type="submit" className="ocr-button ocr-button--primary" disabled={!template || busy}>
        {busy ? 'Enqueueing…' : 'Enqueue'}
      </button>
      <p role="status" aria-live="polite" className="ocr-form__status">
        {status}
      </p>
    </form>
  )
}

function ParamInput({
  id,
  field,
  value,
  error,
  onChange,
}: {
  id: string
  field: ParamField
  value: string | boolean
  error: string | undefined
  onChange: (value: string | boolean) => void
}) {
  const describedBy = [field.description ? `${id}-hint` : '', error ? `${id}-error` : '']
    .filter(Boolean)
    .join(' ')
  const common = {
    id,
    name: field.name,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy || undefined,
    'aria-required': field.required || undefined,
  }
  return (
    <div className="ocr-field" data-param={field.name}>
      <label htmlFor={id}>
        {field.label}
        {field.required ? <span aria-hidden="true"> *</span> : null}
      </label>
      {field.control === 'checkbox' ? (
        <input
          {...common}
          type="checkbox"
          checked={value === true}
          onChange={(e) => onChange(e.target.checked)}
        />
      ) : field.control === 'select' ? (
        <select {...common} value={String(value)} onChange={(e) => onChange(e.target.value)}>
          {field.required ? null : <option value="">—</option>}
          {field.options?.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      ) : field.control === 'json' ? (
        <textarea {...common} rows={3} value={String(value)} onChange={(e) => onChange(e.target.value)} />
      ) : (
        <input
          {...common}
          type={field.control === 'text' ? 'text' : 'number'}
          step={field.control === 'integer' ? 1 : 'any'}
          value={String(value)}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
      {field.description ? (
        <p id={`${id}-hint`} className="ocr-hint">
          {field.description}
        </p>
      ) : null}
      {error ? (
        <p id={`${id}-error`} className="ocr-error">
          {error}
        </p>
      ) : null}
    </div>
  )
}
