'use client'
import type { RunTemplate } from '@ops-control-room/core'
import { useMemo } from 'react'
import { useOpsStore } from '../OpsProvider'
import type { QueryResult } from '../types'
import { useQueryStore } from './useQueryStore'

export interface UseTemplatesOptions {
  name?: string
  /** Only the latest version of each name. Default true. */
  latestOnly?: boolean
}

/** Run templates. Templates are immutable versions; call `refetch` after creating one elsewhere. */
export function useTemplates(options: UseTemplatesOptions = {}): QueryResult<RunTemplate[]> {
  const ops = useOpsStore('useTemplates')
  const { name, latestOnly = true } = options
  const store = useMemo(
    () =>
      ops.query<RunTemplate[]>(['templates', name, latestOnly], () => ({
        fetch: () => ops.client.templates.list({ ...(name ? { name } : {}), latestOnly }),
      })),
    [ops, name, latestOnly],
  )
  return useQueryStore(store)
}
