import type { SpecDocument } from './params'
import type { SpecKitDocuments, SpecKitGenerator, SpecKitGeneratorInput } from './types'

const ensureNewline = (text: string) => (text.endsWith('\n') ? text : `${text}\n`)

/** The summary as a paragraph, or a sentence saying none was given. */
const summaryOr = (summary: string, fallback: string) => (summary.trim() === '' ? fallback : summary.trim())

/** The summary's first sentence (for one-line goals). */
const firstSentence = (summary: string) => {
  const s = summary.trim().split(/\n\s*\n/)[0] ?? ''
  const m = /^(.+?[.!?])(\s|$)/s.exec(s)
  return (m?.[1] ?? s).replace(/\s+/g, ' ')
}

function constitution({ feature, title, summary }: SpecKitGeneratorInput): string {
  return `# Constitution: ${title}

The principles every change to **${feature}** is held to. When a plan or a task conflicts with
them, the constitution wins and the plan changes.

## Purpose

${summaryOr(summary, `${title}.`)}

## Principles

1. **Correct before fast.** Behaviour is specified in the PRD and proved by tests before it is optimised.
2. **Small, reviewable changes.** Each task in \`tasks.md\` lands as its own change with its tests.
3. **Typed errors, no silent failure.** Bad input gets a clear error naming what to fix; nothing is
   lost or half-written.
4. **Documented guarantees.** What is and is not guaranteed (delivery, ordering, crash, cancel) is
   written down where users look.

## Quality gates

- Every change passes lint, type checks and the test suite in CI.
- Every user-visible change is described in the changelog.
- This bundle (\`spec/${feature}/\`) keeps exactly its four documents; \`spec-kit check\` enforces it.

## Governance

Changes to this constitution are made by pull request and need the approval of the feature's owners.
`
}

function prd({ feature, title, summary }: SpecKitGeneratorInput): string {
  const goal = summary.trim() === '' ? title : firstSentence(summary)
  return `# PRD: ${title}

## Summary

${summaryOr(summary, `${title}.`)}

## Problem

What users cannot do today without **${feature}**, and what it costs them.

## Goals

- ${goal}
- Users can adopt it without reading the source.

## Non-goals

- Anything not needed for the goals above; list it here when a reviewer asks.

## Users and scenarios

| Who | Scenario | Outcome |
| --- | --- | --- |
| A user of ${title} | uses the feature for the first time | succeeds from the documentation alone |

## Requirements

1. The feature does what the summary says, under concurrent use.
2. Bad input is refused with a typed error; nothing is half-written.
3. Its behaviour under crash and cancel is specified and tested.

## Success metrics

- Adoption: the feature is used in production by its first team.
- Quality: no regressions reported against its requirements.
`
}

function plan({ feature, title, summary }: SpecKitGeneratorInput): string {
  return `# Plan: ${title}

## Overview

${summaryOr(summary, `${title}.`)}

## Architecture

Where **${feature}** lives, the components it adds or changes, and the data that flows between them.

## Milestones

### M1: Foundation

The smallest end-to-end slice that proves the design, with its tests.

### M2: Complete

Every requirement of the PRD, documented.

### M3: Hardened

Crash, cancel and hostile-input behaviour tested; performance measured.

## Risks

| Risk | Mitigation |
| --- | --- |
| The design does not scale | measure at M1 with a benchmark |
| Scope grows | hold to the PRD's non-goals |

## Testing

Unit tests beside the code; integration tests against the real dependencies.
`
}

function tasks({ feature, title }: SpecKitGeneratorInput): string {
  return `# Tasks: ${title}

Each task is one reviewable change. Check it off when it is merged.

## M1: Foundation

- [ ] T1: Create the skeleton of \`${feature}\` with a passing test.
- [ ] T2: Implement the first end-to-end slice.

## M2: Complete

- [ ] T3: Implement the remaining requirements of the PRD.
- [ ] T4: Document the feature for users.

## M3: Hardened

- [ ] T5: Test crash, cancel and hostile input.
- [ ] T6: Add a benchmark and record its figures.
`
}

const renderers: Record<SpecDocument, (input: SpecKitGeneratorInput) => string> = {
  constitution,
  prd,
  plan,
  tasks,
}

/**
 * The default generator: keeps every document the enqueuer wrote and renders the others from the
 * feature, title and summary as structured markdown (the sections a Spec Kit bundle has).
 *
 * @example
 * const docs = await defaultGenerator.generate(
 *   { feature: 'billing-export', title: 'Billing export', summary: 'Export invoices as CSV.', given: {} },
 *   { signal: AbortSignal.timeout(1000) },
 * )
 * docs.prd.startsWith('# PRD: Billing export') // true
 */
export const defaultGenerator: SpecKitGenerator = {
  generate(input, { signal }) {
    signal.throwIfAborted()
    const out = {} as SpecKitDocuments
    for (const doc of Object.keys(renderers) as SpecDocument[]) {
      const given = input.given[doc]
      out[doc] = given !== undefined && given.trim() !== '' ? ensureNewline(given) : renderers[doc](input)
    }
    return out
  },
}
