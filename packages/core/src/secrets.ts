/**
 * Params must never hold secrets: they are stored in plain text, shown in the Runboard and read by
 * anyone allowed to read runs. These rules mirror `ops.find_secret` in the migrations, which enforces
 * them in the database for every writer; checking here too rejects bad input before any I/O.
 */

import { SECRET_VALUES } from './secretValues'

/**
 * Characters a key can hide behind: Cyrillic and Greek letters that look Latin, mapped to the Latin
 * letter they imitate (after NFKC, which already folds fullwidth and other compatibility forms).
 * `ops.find_secret` uses the same two strings in `translate()`.
 */
export const CONFUSABLES_FROM = 'аеорсухіјѕԁԛԝкмтнвгАВЕКМНОРСТУХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧοαερτυικνχ'
export const CONFUSABLES_TO = 'aeopcyxijsdqwkmthbrABEKMHOPCTYXIJSABEZHIKMNOPTYXoaeptuikvx'

// Invisible characters (soft hyphen, zero-width and direction marks, variation selectors, …).
// The class as a string: each escape is one character to remove (a lint reads U+034F as combining).
export const INVISIBLE_CLASS =
  '[\\u00AD\\u034F\\u061C\\u115F\\u1160\\u17B4\\u17B5\\u180B-\\u180E\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0]'
const INVISIBLE = new RegExp(INVISIBLE_CLASS, 'g')

const CONFUSABLE_MAP = new Map<string, string>(
  [...CONFUSABLES_FROM].map((ch, i) => [ch, CONFUSABLES_TO[i] as string]),
)

/**
 * A key as the secret check reads it: NFKC, invisible characters removed, look-alike letters mapped
 * to Latin, camelCase split, lower case, and every run of other characters one `_`. So `API-KEY`,
 * `x-api-key`, `dbPassword`, `ｐａｓｓｗｏｒｄ` and `pass\u200bword` all read as what they mean.
 */
export function normalizeKey(key: string): string {
  let k = key
  // Fast path: most keys are printable ASCII, which none of the steps below changes.
  if (/[^ -~]/.test(k)) {
    k = k.normalize('NFKC').replace(INVISIBLE, '')
    let mapped = ''
    for (const ch of k) mapped += CONFUSABLE_MAP.get(ch) ?? ch
    k = mapped
  }
  return k
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
}

// Whole words of a normalised key. `password` also with a plural or a number (`password1`,
// `passwords`); the others exactly, so `max_tokens` and `tokenizer` stay harmless.
const SECRET_KEY =
  /(^|_)(passwords?|password[0-9]+|passwd|passphrase|pwd|secrets?|token|credentials?|authorization|apikey|api_key|access_key|accesskey|private_key|privatekey)($|_)/

/** Whether a key names a credential (after `normalizeKey`). */
export function keyLooksSecret(key: string): boolean {
  return SECRET_KEY.test(normalizeKey(key))
}

/** Whether a string value has the shape of a credential. */
export function valueLooksSecret(value: string): boolean {
  return SECRET_VALUES.some((looksSecret) => looksSecret(value))
}

const SECRET_REF_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

/**
 * Whether `value` is a secret reference, `{ "$secret": "NAME" }`: the documented way to hand a
 * handler a credential. The reference is stored; the worker resolves NAME from its own environment
 * or vault (`ctx.secrets`), so the secret itself never enters params.
 */
export function isSecretRef(value: unknown): value is { $secret: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const keys = Object.keys(value)
  const name = (value as Record<string, unknown>).$secret
  return keys.length === 1 && keys[0] === '$secret' && typeof name === 'string' && SECRET_REF_NAME.test(name)
}

/**
 * The path (`params.db.password`, `params.hosts[2]`) of the first value in `value` that looks like a
 * credential, or undefined when there is none. A non-empty string is one when its value has a
 * credential's shape, or when it sits anywhere under a key that names one (`{ password: { value:
 * "…" } }` too). Secret references (`{ "$secret": "DB_PASSWORD" }`) are allowed anywhere.
 */
export function findSecret(value: unknown, root = 'params'): string | undefined {
  const walk = (v: unknown, path: string, underSecretKey: boolean): string | undefined => {
    if (typeof v === 'string') {
      if (underSecretKey && v !== '') return path
      return valueLooksSecret(v) ? path : undefined
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const found = walk(v[i], `${path}[${i}]`, underSecretKey)
        if (found) return found
      }
      return undefined
    }
    if (v !== null && typeof v === 'object' && !isSecretRef(v)) {
      for (const [k, child] of Object.entries(v)) {
        const found = walk(child, `${path}.${k}`, underSecretKey || keyLooksSecret(k))
        if (found) return found
      }
    }
    return undefined
  }
  return walk(value, root, false)
}
