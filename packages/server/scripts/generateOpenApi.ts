import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OPENAPI_PATH, openApiYaml } from './openApiYaml'

const target = resolve(dirname(fileURLToPath(import.meta.url)), '../../..', OPENAPI_PATH)
mkdirSync(dirname(target), { recursive: true })
writeFileSync(target, openApiYaml())
console.log(`wrote ${OPENAPI_PATH}`)
