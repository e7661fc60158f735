import { SessionSource } from '@ops-control-room/react'
import { render, screen } from '@testing-library/react'
import { describe, expect, it } from 'vitest'

describe('SessionSource', () => {
  it('links a GitHub session to its repository, pull request and commit', () => {
    const metadata = {
      github: {
        repository: 'acme/api',
        sha: '0123456789abcdef0123456789abcdef01234567',
        ref: 'refs/heads/feature/x',
        pr: 42,
        trigger: 'pull_request',
        url: 'https://github.example.com/acme/api/pull/42',
      },
    }
    render(<SessionSource session={{ metadata }} />)
    const region = screen.getByLabelText('Source')
    const links = [...region.querySelectorAll('a')].map((a) => [a.textContent, a.getAttribute('href')])
    expect(links).toEqual([
      ['acme/api', 'https://github.example.com/acme/api'],
      ['pull request #42', 'https://github.example.com/acme/api/pull/42'],
      ['0123456', 'https://github.example.com/acme/api/commit/0123456789abcdef0123456789abcdef01234567'],
    ])
    expect(region.textContent).toContain('feature/x')
  })

  it('renders nothing for other sessions, and never builds a link from a value that is not a repository or sha', () => {
    const { container } = render(
      <>
        <SessionSource session={{ metadata: {} }} />
        <SessionSource
          session={{ metadata: { github: { repository: 'javascript:alert(1)//x', sha: 'abc1234' } } }}
        />
        <SessionSource session={{ metadata: { github: { repository: 'a/b', sha: 'not a sha' } } }} />
      </>,
    )
    expect(container.innerHTML).toBe('')
  })
})
