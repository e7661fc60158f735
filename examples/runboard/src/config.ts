/** How the app reaches the executor API. */
export interface AppConfig {
  apiUrl: string
  token: string
  mode: string
}

/**
 * `ops-control-room dev` serves `/ops-config.json` with a dev token (local use only). Elsewhere,
 * build with VITE_OPS_API_URL and VITE_OPS_TOKEN, or put the app behind your own auth and serve a
 * config with a user's token.
 */
export async function loadConfig(): Promise<AppConfig> {
  const envUrl = import.meta.env.VITE_OPS_API_URL as string | undefined
  const envToken = import.meta.env.VITE_OPS_TOKEN as string | undefined
  if (envUrl && envToken) return { apiUrl: envUrl, token: envToken, mode: 'env' }
  const response = await fetch('/ops-config.json', { cache: 'no-store' })
  if (!response.ok) {
    throw new Error(
      `no API configuration (GET /ops-config.json answered ${response.status}): start the app with \`pnpm start\`, or build it with VITE_OPS_API_URL and VITE_OPS_TOKEN`,
    )
  }
  return (await response.json()) as AppConfig
}
