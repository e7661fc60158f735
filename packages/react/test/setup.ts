import { cleanup } from '@testing-library/react'
import { afterEach, beforeEach } from 'vitest'

// Data arrives from a real database through an external store, outside any act() scope; React's
// act() warnings would flag every such update. waitFor() is how these tests wait instead.
beforeEach(() => {
  ;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false
})
afterEach(() => cleanup())
