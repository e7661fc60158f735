import { z } from 'zod'
import { STATUS_OF } from './respond'
import { ErrorBody, ROUTES, type RouteDef } from './routes'

type Json = Record<string, unknown>

const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): Json => {
  const out = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Json
  delete out.$schema
  return out
}

const ERROR_RESPONSES: Record<string, { description: string; codes: string[] }> = {
  '400': {
    description: 'The input does not fit the contract (details.issues lists where and why).',
    codes: ['validation', 'secret_in_params'],
  },
  '401': { description: 'No token, or a forged or expired one.', codes: ['unauthorized'] },
  '403': {
    description: "The token's role may not do this (the database's grants and RLS decide).",
    codes: ['forbidden'],
  },
  '404': { description: 'No such route or row.', codes: ['not_found'] },
  '409': {
    description:
      'A conflict (an immutable row, a concurrent update, an idempotency key reused for another request).',
    codes: ['conflict', 'idempotency_conflict'],
  },
  '408': { description: 'The body did not arrive in time.', codes: ['timeout'] },
  '413': { description: 'The body is over the limit.', codes: ['payload_too_large'] },
  '429': {
    description: 'Too many requests or streams (see the Retry-After header).',
    codes: ['rate_limited'],
  },
}

function operation(route: RouteDef): Json {
  const parameters: Json[] = []
  for (const [param] of Object.entries(route.pathParams ?? {})) {
    parameters.push({
      name: param,
      in: 'path',
      required: true,
      schema: param === 'id' ? { type: 'string', format: 'uuid' } : { type: 'string' },
    })
  }
  if (route.source === 'query' && route.input) {
    const schema = schemaOf(route.input, 'input')
    const props = (schema.properties ?? {}) as Record<string, Json>
    const required = new Set((schema.required as string[] | undefined) ?? [])
    const fromPath = new Set(Object.values(route.pathParams ?? {}))
    for (const [name, prop] of Object.entries(props)) {
      if (fromPath.has(name)) continue
      parameters.push({
        name,
        in: 'query',
        required: required.has(name) && !('default' in prop),
        schema: prop,
      })
    }
  }
  if (route.id === 'changes') {
    parameters.push({
      name: 'Last-Event-ID',
      in: 'header',
      required: false,
      description: 'Resume after this event id.',
      schema: { type: 'string' },
    })
  }
  const op: Json = {
    operationId: route.id,
    summary: route.summary,
    tags: [route.tag],
    description: `Roles allowed by the database: ${route.roles.join(', ')}.`,
    ...(route.id === 'health' ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
  }
  if (route.source === 'body' && route.input) {
    op.requestBody = {
      required: true,
      content: { 'application/json': { schema: schemaOf(route.input, 'input') } },
    }
  }
  const responses: Json = {
    [String(route.status)]: {
      description: route.id === 'changes' ? 'A stream of `change` events (data: a Change as JSON).' : 'OK',
      content:
        route.id === 'changes'
          ? { 'text/event-stream': { schema: { type: 'string' } } }
          : { 'application/json': { schema: schemaOf(route.response, 'output') } },
    },
  }
  if (route.id === 'health') {
    responses['503'] = {
      description: 'The database is down.',
      content: { 'application/json': { schema: schemaOf(route.response, 'output') } },
    }
  } else {
    for (const status of ['400', '401', '403', '404', '409', '413']) {
      if (status === '413' && route.source !== 'body') continue
      responses[status] = { $ref: `#/components/responses/E${status}` }
    }
  }
  op.responses = responses
  return op
}

/**
 * The executor API as an OpenAPI 3.0 document, generated from the route table and the zod contract
 * (`docs/api/ops-executor.yaml` is this, serialised; a test fails when the file is stale).
 */
export function buildOpenApiDocument(options: { version?: string } = {}): Json {
  const paths: Record<string, Json> = {}
  for (const route of ROUTES) {
    const item = paths[route.path] ?? {}
    paths[route.path] = item
    item[route.method.toLowerCase()] = operation(route)
  }
  const errorSchema = schemaOf(ErrorBody, 'output')
  const responses: Json = {}
  for (const [status, { description, codes }] of Object.entries(ERROR_RESPONSES)) {
    responses[`E${status}`] = {
      description: `${description} Codes: ${codes.join(', ')}.`,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    }
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Ops Control Room executor API',
      version: options.version ?? '0.1.0',
      description: [
        'One API for workers, services and browsers without a database connection: the Supabase Edge',
        'Function `ops-executor` and the self-hosted server serve it alike. Every request carries a',
        'Supabase-style JWT (`role`: anon, authenticated or service_role) and runs in one transaction as',
        'that database role with `request.jwt.claims` set, so the grants and RLS policies decide; a',
        'failed request writes nothing. Every error has the shape `{ error: { code, message, details } }`.',
        `Status by code: ${Object.entries(STATUS_OF)
          .map(([c, s]) => `${c} ${s}`)
          .join(', ')}.`,
      ].join(' '),
    },
    servers: [
      { url: '/functions/v1/ops-executor', description: 'Supabase Edge Function' },
      { url: '/', description: 'Self-hosted server (@ops-control-room/server)' },
    ],
    security: [{ bearerAuth: [] }],
    tags: [
      'meta',
      'sessions',
      'runs',
      'events',
      'artifacts',
      'templates',
      'workers',
      'worker',
      'changes',
    ].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Error: errorSchema },
      responses,
    },
  }
}
