import type { Session } from '@ops-control-room/core'

/** What the GitHub integration records on a session it creates (`session.metadata.github`). */
interface GithubOrigin {
  repository: string
  sha: string
  ref?: string | null
  pr?: number | null
  fork?: boolean
  delivery?: string
  trigger?: string
  url?: string
}

function githubOf(session: Pick<Session, 'metadata'> | undefined): GithubOrigin | undefined {
  const g = (session?.metadata as { github?: Partial<GithubOrigin> } | undefined)?.github
  if (!g || typeof g.repository !== 'string' || typeof g.sha !== 'string') return undefined
  // Only owner/name and a hex sha become parts of a link.
  if (!/^[\w.-]+\/[\w.-]+$/.test(g.repository) || !/^[0-9a-f]{7,64}$/i.test(g.sha)) return undefined
  return g as GithubOrigin
}

/** The web origin of the GitHub the session came from (GitHub Enterprise too), from its recorded link. */
function originOf(g: GithubOrigin): string {
  try {
    const u = new URL(g.url ?? '')
    if (u.protocol === 'https:' || u.protocol === 'http:') return u.origin
  } catch {
    // no usable link recorded
  }
  return 'https://github.com'
}

export interface SessionSourceProps {
  session: Pick<Session, 'metadata'> | undefined
}

/**
 * Where a session came from, with links: for a session the GitHub integration created, the
 * repository, the pull request, the commit (short sha), the branch and the event that triggered it.
 * Renders nothing for other sessions.
 *
 * @example
 * <SessionSource session={session.data} />
 */
export function SessionSource({ session }: SessionSourceProps) {
  const g = githubOf(session)
  if (!g) return null
  const base = `${originOf(g)}/${g.repository}`
  return (
    <nav className="ocr-session-source" aria-label="Source">
      <a href={base} target="_blank" rel="noreferrer">
        {g.repository}
      </a>
      {g.pr ? (
        <>
          {' · '}
          <a href={`${base}/pull/${g.pr}`} target="_blank" rel="noreferrer">
            pull request #{g.pr}
          </a>
        </>
      ) : null}
      {' · '}
      <a href={`${base}/commit/${g.sha}`} target="_blank" rel="noreferrer">
        <code>{g.sha.slice(0, 7)}</code>
      </a>
      {g.ref ? (
        <>
          {' · '}
          <code>{g.ref.replace(/^refs\/heads\//, '')}</code>
        </>
      ) : null}
      {g.trigger ? ` · ${g.trigger}` : null}
      {g.fork ? ' · from a fork' : null}
    </nav>
  )
}
