'use client'
import { micromark } from 'micromark'
import { gfm, gfmHtml } from 'micromark-extension-gfm'
import { useMemo } from 'react'

/**
 * Markdown (CommonMark + GFM tables, task lists, strikethrough, autolinks) rendered safely:
 * micromark's defaults escape raw HTML and drop dangerous URL protocols (javascript:, data: in
 * links), so untrusted artifact text cannot inject script or markup.
 */
export function Markdown({ source }: { source: string }) {
  const html = useMemo(
    () => micromark(source, { extensions: [gfm()], htmlExtensions: [gfmHtml()] }),
    [source],
  )
  // biome-ignore lint/security/noDangerouslySetInnerHtml: micromark output with HTML disallowed
  return <div className="ocr-markdown" dangerouslySetInnerHTML={{ __html: html }} />
}
