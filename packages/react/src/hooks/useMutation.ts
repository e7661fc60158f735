'use client'
import { useCallback, useEffect, useRef, useState } from 'react'

/** The state of a mutation hook: the call, whether it is pending, and its last result or error. */
export interface MutationResult<Args extends unknown[], T> {
  /** Performs the mutation; rejects with the typed `OpsError` on failure (also kept in `error`). */
  mutate(...args: Args): Promise<T>
  isPending: boolean
  error: Error | undefined
  data: T | undefined
  reset(): void
}

interface State<T> {
  pending: number
  error: Error | undefined
  data: T | undefined
}

/** Local state of one component's calls: mutations belong to the caller, not to a shared cache. */
export function useMutation<Args extends unknown[], T>(
  fn: (...args: Args) => Promise<T>,
): MutationResult<Args, T> {
  const [state, setState] = useState<State<T>>({ pending: 0, error: undefined, data: undefined })
  const mounted = useRef(true)
  useEffect(() => {
    mounted.current = true
    return () => {
      mounted.current = false
    }
  }, [])
  const fnRef = useRef(fn)
  fnRef.current = fn
  const mutate = useCallback(async (...args: Args) => {
    setState((s) => ({ ...s, pending: s.pending + 1, error: undefined }))
    try {
      const data = await fnRef.current(...args)
      if (mounted.current) setState((s) => ({ pending: s.pending - 1, error: undefined, data }))
      return data
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      if (mounted.current) setState((s) => ({ ...s, pending: s.pending - 1, error }))
      throw error
    }
  }, [])
  const reset = useCallback(() => setState({ pending: 0, error: undefined, data: undefined }), [])
  return { mutate, isPending: state.pending > 0, error: state.error, data: state.data, reset }
}
