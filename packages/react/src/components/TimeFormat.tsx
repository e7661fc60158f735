'use client'
import { createContext, type ReactNode, useContext } from 'react'

const UtcContext = createContext(false)

/** Shows every exact time below it in UTC (hover titles of relative times, log times). */
export function TimeFormatProvider({ utc, children }: { utc: boolean; children: ReactNode }) {
  return <UtcContext.Provider value={utc}>{children}</UtcContext.Provider>
}

/** Whether exact times are shown in UTC (see `TimeFormatProvider`). */
export function useUtc(): boolean {
  return useContext(UtcContext)
}

/** An exact time with its zone: local ("11/30/2026, 7:05:03 AM GMT+1") or UTC ("2026-11-30 06:05:03 UTC"). */
export function formatExact(iso: string, utc: boolean): string {
  const d = new Date(iso)
  return utc
    ? d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')
    : d.toLocaleString(undefined, { timeZoneName: 'short' })
}
