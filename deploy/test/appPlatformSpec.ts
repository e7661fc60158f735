import { z } from 'zod'

// The App Platform app spec, for the fields deploy/digitalocean/app.yaml uses, after DigitalOcean's
// reference (docs.digitalocean.com/products/app-platform/reference/app-spec/) and its generated
// API types (AppSpec, AppWorkerSpec, AppAutoscalingSpec, HealthCheckSpec, AppVariableDefinition,
// AppAlertSpec). Objects are strict: a misspelt key fails here instead of being ignored there.

const int = (min: number, max: number) => z.number().int().min(min).max(max)

const VariableDefinition = z.strictObject({
  key: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
  value: z.string().optional(),
  scope: z.enum(['UNSET', 'RUN_TIME', 'BUILD_TIME', 'RUN_AND_BUILD_TIME']).optional(),
  type: z.enum(['GENERAL', 'SECRET']).optional(),
})

const AlertSpec = z.strictObject({
  rule: z.enum([
    'CPU_UTILIZATION',
    'MEM_UTILIZATION',
    'RESTART_COUNT',
    'DEPLOYMENT_FAILED',
    'DEPLOYMENT_LIVE',
    'DEPLOYMENT_STARTED',
    'DEPLOYMENT_CANCELED',
    'DOMAIN_FAILED',
    'DOMAIN_LIVE',
    'AUTOSCALE_FAILED',
  ]),
  disabled: z.boolean().optional(),
  operator: z.enum(['GREATER_THAN', 'LESS_THAN']).optional(),
  value: z.number().optional(),
  window: z.enum(['FIVE_MINUTES', 'TEN_MINUTES', 'THIRTY_MINUTES', 'ONE_HOUR']).optional(),
})

const GitHubSource = z.strictObject({
  repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/),
  branch: z.string().min(1),
  deploy_on_push: z.boolean().optional(),
})

const ImageSource = z.strictObject({
  registry_type: z.enum(['DOCKER_HUB', 'DOCR', 'GHCR']),
  registry: z.string().optional(),
  repository: z.string(),
  tag: z.string().optional(),
  digest: z.string().optional(),
  deploy_on_push: z.strictObject({ enabled: z.boolean() }).optional(),
})

const HealthCheck = z.strictObject({
  initial_delay_seconds: int(0, 3600).optional(),
  period_seconds: int(1, 300).optional(),
  timeout_seconds: int(1, 120).optional(),
  success_threshold: int(1, 1).optional(),
  failure_threshold: int(1, 50).optional(),
  http_path: z.string().startsWith('/').optional(),
  port: int(1, 65535).optional(),
})

const Autoscaling = z
  .strictObject({
    min_instance_count: int(1, 250),
    max_instance_count: int(1, 250),
    metrics: z.strictObject({ cpu: z.strictObject({ percent: int(1, 100) }) }).optional(),
  })
  .refine((a) => a.min_instance_count <= a.max_instance_count, 'min_instance_count above max_instance_count')

export const WorkerSpec = z
  .strictObject({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/),
    github: GitHubSource.optional(),
    image: ImageSource.optional(),
    dockerfile_path: z.string().optional(),
    build_command: z.string().optional(),
    run_command: z.string().optional(),
    source_dir: z.string().optional(),
    environment_slug: z.string().optional(),
    envs: z.array(VariableDefinition).optional(),
    instance_size_slug: z.string().optional(),
    instance_count: int(1, 250).optional(),
    autoscaling: Autoscaling.optional(),
    alerts: z.array(AlertSpec).optional(),
    termination: z.strictObject({ grace_period_seconds: int(1, 600) }).optional(),
    liveness_health_check: HealthCheck.optional(),
  })
  .refine((w) => Boolean(w.github) !== Boolean(w.image), 'a worker has one source: github or image')
  .refine((w) => !(w.autoscaling && w.instance_count), 'instance_count and autoscaling are exclusive')
  .refine(
    (w) => !w.autoscaling || /^apps-d-/.test(w.instance_size_slug ?? ''),
    'autoscaling needs a dedicated-CPU instance size (apps-d-…)',
  )

export const AppSpec = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,30}[a-z0-9]$/),
  region: z.string().optional(),
  envs: z.array(VariableDefinition).optional(),
  alerts: z.array(AlertSpec).optional(),
  features: z.array(z.string()).optional(),
  workers: z.array(WorkerSpec).optional(),
})
export type AppSpec = z.infer<typeof AppSpec>
