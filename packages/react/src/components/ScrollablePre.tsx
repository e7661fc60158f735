import type { ReactNode } from 'react'

/**
 * Preformatted text that may scroll (JSON, stacks, logs): focusable, so keyboard users can scroll
 * it (axe: scrollable-region-focusable); `label` is its tooltip.
 */
export function ScrollablePre({
  label,
  className,
  children,
}: {
  label: string
  className: string
  children: ReactNode
}) {
  return (
    <pre
      className={className}
      // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
      tabIndex={0}
      title={label}
    >
      {children}
    </pre>
  )
}
