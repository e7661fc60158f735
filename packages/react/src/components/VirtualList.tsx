'use client'
import { type ReactNode, useEffect, useRef, useState } from 'react'

export interface VirtualListProps<T> {
  items: readonly T[]
  /** Every row's height in px (rows are clipped to it). */
  itemHeight: number
  /** Most height the list takes before it scrolls, in px. */
  maxHeight: number
  getKey(item: T): string
  renderItem(item: T, index: number): ReactNode
  /** Called when the last rows come into view (load the next page). */
  onEndReached?(): void
  /** Accessible name of the scrollable region. */
  label: string
  /** Rows rendered beyond the visible ones on each side. Default 4. */
  overscan?: number
  /** Total items, when more exist than are loaded (announced to screen readers). */
  setSize?: number
  /** Rendered after the rows (a loading or "load more" line). */
  footer?: ReactNode
}

/**
 * A list that renders only the rows in view (plus `overscan`), however many items it has: a lane of
 * 100,000 runs costs the DOM what a lane of twenty does. Fixed row height keeps it exact and cheap.
 * The scroll container is focusable, so keyboard users can scroll it.
 */
export function VirtualList<T>({
  items,
  itemHeight,
  maxHeight,
  getKey,
  renderItem,
  onEndReached,
  label,
  overscan = 4,
  setSize,
  footer,
}: VirtualListProps<T>) {
  const ref = useRef<HTMLElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const frame = useRef(0)
  const viewport = Math.min(maxHeight, items.length * itemHeight)
  const start = Math.max(0, Math.floor(scrollTop / itemHeight) - overscan)
  const end = Math.min(items.length, Math.ceil((scrollTop + maxHeight) / itemHeight) + overscan)
  const nearEnd = end >= items.length - overscan

  useEffect(() => {
    if (nearEnd && items.length > 0) onEndReached?.()
  }, [nearEnd, items.length, onEndReached])
  useEffect(() => () => cancelAnimationFrame(frame.current), [])

  const onScroll = () => {
    cancelAnimationFrame(frame.current)
    frame.current = requestAnimationFrame(() => setScrollTop(ref.current?.scrollTop ?? 0))
  }

  const rows: ReactNode[] = []
  for (let i = start; i < end; i++) {
    const item = items[i] as T
    rows.push(
      <li
        key={getKey(item)}
        className="ocr-vlist__row"
        style={{ top: i * itemHeight, height: itemHeight }}
        aria-setsize={setSize ?? items.length}
        aria-posinset={i + 1}
      >
        {renderItem(item, i)}
      </li>,
    )
  }
  return (
    <section
      ref={ref}
      className="ocr-vlist"
      style={{ maxHeight, height: footer ? undefined : viewport }}
      // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard (WCAG 2.1.1)
      tabIndex={0}
      aria-label={label}
      onScroll={onScroll}
    >
      <ul className="ocr-vlist__rows" style={{ height: items.length * itemHeight }}>
        {rows}
      </ul>
      {footer}
    </section>
  )
}
