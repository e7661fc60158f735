'use client'
import type { Artifact, Lane, Run, Session } from '@ops-control-room/core'
import { zipSync } from 'fflate'
import { type FormEvent, type ReactNode, useId, useState } from 'react'
import { useArtifacts } from '../hooks/useArtifacts'
import { useCreateSession } from '../hooks/useCreateSession'
import { useEnqueueRuns } from '../hooks/useEnqueueRuns'
import { useRun } from '../hooks/useRun'
import { useOpsStore } from '../OpsProvider'
import { ArtifactViewer } from './ArtifactViewer'
import { readArtifactBytes } from './artifactContent'

const DOCUMENTS = [
  ['constitution', 'Constitution'],
  ['prd', 'PRD'],
  ['plan', 'Plan'],
  ['tasks', 'Tasks'],
] as const
const BUNDLE_FILES = DOCUMENTS.map(([d]) => `${d}.md`)
/** The handler's slug rule, checked before sending (the worker checks again). */
const FEATURE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/

export interface SpecKitFormProps {
  /** Enqueue into this session; without it, each submit creates a session named after the feature. */
  sessionId?: string
  /** The handler's kind. Default `spec_kit_generate`. */
  kind?: string
  /** The lane of the run. Default `C`. */
  lane?: Lane
  /** Names of the repositories the worker is configured with (its `repos` option); a select when given. */
  repos?: readonly string[]
  /** Attempts of the run (the handler is idempotent, so retries are safe). Default 3. */
  maxAttempts?: number
  /** Called once the run is enqueued. */
  onEnqueued?: (result: { session: Session | null; run: Run }) => void
}

/** What the form sends, apart from empty optional fields. */
interface Values {
  feature: string
  title: string
  summary: string
  constitution: string
  prd: string
  plan: string
  tasks: string
  repo: string
  branch: string
  baseBranch: string
  commitMessage: string
  push: boolean
  openPullRequest: boolean
}

const EMPTY: Values = {
  feature: '',
  title: '',
  summary: '',
  constitution: '',
  prd: '',
  plan: '',
  tasks: '',
  repo: '',
  branch: '',
  baseBranch: '',
  commitMessage: '',
  push: true,
  openPullRequest: false,
}

/** The result a `spec_kit_generate` run returns (the fields this form shows). */
interface SpecKitRunResult {
  sha: string
  branch: string
  remote: string
  committed: boolean
  commitUrl?: string
  pullRequestUrl?: string
  files: { path: string; sha256: string }[]
}

function validate(v: Values): Record<string, string> {
  const errors: Record<string, string> = {}
  if (!FEATURE.test(v.feature) || v.feature.length > 64)
    errors.feature = 'lowercase letters, digits and single hyphens, at most 64 (e.g. billing-export)'
  if (!v.title.trim()) errors.title = 'give the feature a title'
  else if (v.title.trim().length > 200) errors.title = 'at most 200 characters'
  if (v.summary.length > 20_000) errors.summary = 'at most 20,000 characters'
  if (v.openPullRequest && !v.push) errors.openPullRequest = 'a pull request needs the branch pushed'
  return errors
}

/**
 * A form for `spec_kit_generate`: the feature, its title and summary, the four documents as optional
 * markdown (the worker's generator writes the ones left empty), and where to commit. After the run
 * it shows the commit (linked when the repository has a web URL), the four files rendered, and a
 * ZIP of exactly those four files.
 *
 * @example
 * <OpsProvider client={client}>
 *   <SpecKitForm repos={['default']} />
 * </OpsProvider>
 */
export function SpecKitForm({
  sessionId,
  kind = 'spec_kit_generate',
  lane = 'C',
  repos,
  maxAttempts = 3,
  onEnqueued,
}: SpecKitFormProps) {
  const createSession = useCreateSession()
  const enqueue = useEnqueueRuns()
  const id = useId()
  const [values, setValues] = useState<Values>(EMPTY)
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [status, setStatus] = useState('')
  const [runId, setRunId] = useState<string | undefined>()
  const busy = createSession.isPending || enqueue.isPending
  const set = <K extends keyof Values>(key: K, value: Values[K]) =>
    setValues((prev) => ({ ...prev, [key]: value }))
  const fid = (name: string) => `${id}-${name}`

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const found = validate(values)
    setErrors(found)
    if (Object.keys(found).length > 0) {
      setStatus('Fix the highlighted fields.')
      return
    }
    const params: Record<string, unknown> = {
      feature: values.feature,
      title: values.title.trim(),
      summary: values.summary,
      push: values.push,
      openPullRequest: values.openPullRequest,
    }
    for (const key of [
      'constitution',
      'prd',
      'plan',
      'tasks',
      'repo',
      'branch',
      'baseBranch',
      'commitMessage',
    ] as const) {
      if (values[key].trim() !== '') params[key] = values[key]
    }
    setStatus('Enqueueing…')
    try {
      const session = sessionId ? null : await createSession.mutate({ name: `spec-kit ${values.feature}` })
      const [run] = await enqueue.mutate({
        sessionId: sessionId ?? (session as Session).id,
        runs: [{ kind, lane, params, maxAttempts }],
      })
      if (!run) throw new Error('no run was enqueued')
      setRunId(run.id)
      setStatus(`Enqueued run ${run.id.slice(0, 8)} for spec/${values.feature}/.`)
      onEnqueued?.({ session, run })
    } catch (err) {
      setStatus(`Could not enqueue: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  const field = (name: keyof Values, label: string, input: ReactNode, hint?: string) => (
    <div className="ocr-field" data-param={name} key={name}>
      <label htmlFor={fid(name)}>{label}</label>
      {input}
      {hint ? (
        <p id={fid(`${name}-hint`)} className="ocr-hint">
          {hint}
        </p>
      ) : null}
      {errors[name] ? (
        <p id={fid(`${name}-error`)} className="ocr-error">
          {errors[name]}
        </p>
      ) : null}
    </div>
  )
  const described = (name: keyof Values, hint: boolean) =>
    [hint ? fid(`${name}-hint`) : '', errors[name] ? fid(`${name}-error`) : ''].filter(Boolean).join(' ') ||
    undefined
  const text = (
    name: 'feature' | 'title' | 'repo' | 'branch' | 'baseBranch' | 'commitMessage',
    hint = false,
  ) => (
    <input
      id={fid(name)}
      name={name}
      value={values[name]}
      aria-invalid={errors[name] ? true : undefined}
      aria-describedby={described(name, hint)}
      onChange={(e) => set(name, e.target.value)}
    />
  )

  return (
    <section className="ocr-spec-kit" aria-labelledby={fid('title-h')}>
      <form className="ocr-form" aria-labelledby={fid('title-h')} onSubmit={submit} noValidate>
        <h2 id={fid('title-h')}>Generate a Spec Kit bundle</h2>
        {field(
          'feature',
          'Feature',
          text('feature', true),
          'The directory name: files go to spec/<feature>/ (lowercase, digits, hyphens).',
        )}
        {field('title', 'Title', text('title'))}
        {field(
          'summary',
          'Summary',
          <textarea
            id={fid('summary')}
            name="summary"
            rows={4}
            value={values.summary}
            aria-invalid={errors.summary ? true : undefined}
            onChange={(e) => set('summary', e.target.value)}
          />,
        )}
        <fieldset className="ocr-fieldset">
          <legend>Documents (markdown; left empty, the generator writes them)</legend>
          {DOCUMENTS.map(([name, label]) =>
            field(
              name,
              label,
              <textarea
                id={fid(name)}
                name={name}
                rows={3}
                value={values[name]}
                onChange={(e) => set(name, e.target.value)}
              />,
            ),
          )}
        </fieldset>
        <fieldset className="ocr-fieldset">
          <legend>Repository</legend>
          {repos && repos.length > 0
            ? field(
                'repo',
                'Repository',
                <select
                  id={fid('repo')}
                  name="repo"
                  value={values.repo}
                  onChange={(e) => set('repo', e.target.value)}
                >
                  <option value="">default</option>
                  {repos
                    .filter((r) => r !== 'default')
                    .map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                </select>,
              )
            : null}
          {field('branch', 'Branch', text('branch', true), 'Default spec-kit/<feature>.')}
          {field(
            'baseBranch',
            'Base branch',
            text('baseBranch', true),
            "A new branch starts here; default the remote's default branch.",
          )}
          {field(
            'commitMessage',
            'Commit message',
            text('commitMessage', true),
            'The feature and run id are always added.',
          )}
          <div className="ocr-field" data-param="push">
            <label>
              <input
                type="checkbox"
                name="push"
                checked={values.push}
                onChange={(e) => set('push', e.target.checked)}
              />{' '}
              Push the branch
            </label>
          </div>
          <div className="ocr-field" data-param="openPullRequest">
            <label>
              <input
                type="checkbox"
                name="openPullRequest"
                checked={values.openPullRequest}
                aria-invalid={errors.openPullRequest ? true : undefined}
                onChange={(e) => set('openPullRequest', e.target.checked)}
              />{' '}
              Open a pull request
            </label>
            {errors.openPullRequest ? <p className="ocr-error">{errors.openPullRequest}</p> : null}
          </div>
        </fieldset>
        <button type="submit" className="ocr-button ocr-button--primary" disabled={busy}>
          {busy ? 'Enqueueing…' : 'Generate'}
        </button>
        <p role="status" aria-live="polite" className="ocr-form__status">
          {status}
        </p>
      </form>
      {runId ? <SpecKitRunOutcome runId={runId} /> : null}
    </section>
  )
}

/** The outcome of one `spec_kit_generate` run: status, commit, the four files and their ZIP. */
function SpecKitRunOutcome({ runId }: { runId: string }) {
  const run = useRun(runId)
  const artifacts = useArtifacts(runId)
  const r = run.data
  const result = r?.status === 'succeeded' ? (r.result as SpecKitRunResult | null) : null
  const files = (artifacts.data ?? []).filter((a) => a.kind === 'file' && BUNDLE_FILES.includes(a.name))
  // One artifact per name: a retried run may have uploaded a file twice; the newest wins.
  const latest = BUNDLE_FILES.map((name) => files.filter((a) => a.name === name).at(-1)).filter(
    (a): a is Artifact => a !== undefined,
  )
  return (
    <section
      className="ocr-spec-kit__outcome"
      aria-label="Spec Kit run"
      data-run-id={runId}
      data-status={r?.status}
    >
      <p>
        Run <code>{runId.slice(0, 8)}</code>: <strong>{r?.status ?? 'loading'}</strong>
        {r?.progressMessage && r.status === 'running' ? ` (${r.progressMessage})` : ''}
      </p>
      {r?.status === 'failed' && r.error ? (
        <p role="alert" className="ocr-error">
          {r.error.type}: {r.error.message}
        </p>
      ) : null}
      {result ? (
        <p className="ocr-spec-kit__commit">
          {result.committed ? 'Committed' : 'Unchanged at'}{' '}
          {result.commitUrl ? (
            <a href={result.commitUrl} target="_blank" rel="noreferrer noopener" data-sha={result.sha}>
              <code>{result.sha.slice(0, 12)}</code>
            </a>
          ) : (
            <code data-sha={result.sha}>{result.sha.slice(0, 12)}</code>
          )}{' '}
          on <code>{result.branch}</code> of <code>{result.remote}</code>
          {result.pullRequestUrl ? (
            <>
              {' · '}
              <a href={result.pullRequestUrl} target="_blank" rel="noreferrer noopener">
                pull request
              </a>
            </>
          ) : null}
        </p>
      ) : null}
      {result && latest.length === 4 ? (
        <DownloadBundle artifacts={latest} name={`spec-${runId.slice(0, 8)}.zip`} />
      ) : null}
      {result
        ? latest.map((a) => (
            <div key={a.id} className="ocr-spec-kit__preview">
              <ArtifactViewer artifact={a} />
            </div>
          ))
        : null}
    </section>
  )
}

/** A ZIP of exactly the bundle's files, built in the browser. */
function DownloadBundle({ artifacts, name }: { artifacts: Artifact[]; name: string }) {
  const ops = useOpsStore('SpecKitForm')
  const [message, setMessage] = useState('')
  const download = async () => {
    try {
      const entries: Record<string, Uint8Array> = {}
      const bytes = await Promise.all(artifacts.map((a) => readArtifactBytes(ops, a)))
      artifacts.forEach((a, i) => {
        entries[a.name] = bytes[i] as Uint8Array
      })
      const archive = zipSync(entries, { level: 6 })
      const url = URL.createObjectURL(
        new Blob([archive as Uint8Array<ArrayBuffer>], { type: 'application/zip' }),
      )
      const link = document.createElement('a')
      link.href = url
      link.download = name
      document.body.append(link)
      link.click()
      link.remove()
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
      setMessage(`Downloaded ${name} (${artifacts.length} files)`)
    } catch (err) {
      setMessage(`Could not build the ZIP: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  return (
    <div className="ocr-download-all">
      <button type="button" className="ocr-button" onClick={download}>
        Download all (4) as ZIP
      </button>
      <span role="status" aria-live="polite" className="ocr-muted">
        {message}
      </span>
    </div>
  )
}
