-- Ops Control Room: the `ops` schema — types, tables, invariants and indexes.
-- State transitions live in functions (next migration); tables only hold state and its invariants.

create schema if not exists ops;
comment on schema ops is 'Ops Control Room: sessions, runs, events, artifacts, templates, workers.';


create type ops.lane_type as enum ('A', 'B', 'C', 'D');
create type ops.run_status as enum ('queued', 'running', 'succeeded', 'failed', 'cancelled');
create type ops.event_level as enum ('debug', 'info', 'warn', 'error');
create type ops.artifact_kind as enum ('file', 'link', 'text');

create table ops.sessions (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  description text,
  metadata jsonb not null default '{}'::jsonb,
  created_by uuid,
  created_at timestamptz not null default now(),
  constraint sessions_name_length check (char_length(name) between 1 and 200),
  constraint sessions_description_length check (description is null or char_length(description) <= 10000),
  constraint sessions_metadata_object check (jsonb_typeof(metadata) = 'object'),
  constraint sessions_metadata_size check (pg_column_size(metadata) <= 65536)
);
create index idx_sessions_created on ops.sessions (created_at desc, id);

create table ops.run_templates (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  version integer not null,
  kind text not null,
  lane ops.lane_type not null default 'A',
  priority integer not null default 0,
  description text,
  default_params jsonb not null default '{}'::jsonb,
  params_schema jsonb,
  max_attempts integer not null default 1,
  timeout_seconds integer,
  created_by uuid,
  created_at timestamptz not null default now(),
  constraint run_templates_name_version unique (name, version),
  constraint run_templates_name_format check (name ~ '^[a-z0-9][a-z0-9_.:-]{0,99}$'),
  constraint run_templates_version_positive check (version >= 1),
  constraint run_templates_kind_format check (kind ~ '^[a-z0-9][a-z0-9_.:-]{0,99}$'),
  constraint run_templates_priority_range check (priority between -1000 and 1000),
  constraint run_templates_default_params_object check (jsonb_typeof(default_params) = 'object'),
  constraint run_templates_params_schema_object check (params_schema is null or jsonb_typeof(params_schema) = 'object'),
  constraint run_templates_max_attempts_range check (max_attempts between 1 and 100),
  constraint run_templates_timeout_range check (timeout_seconds is null or timeout_seconds between 1 and 604800)
);

create table ops.runs (
  id uuid primary key default gen_random_uuid(),
  -- Total order of enqueueing: the tie-breaker of "priority, then age" for runs enqueued together.
  seq bigint generated always as identity,
  session_id uuid not null references ops.sessions (id) on delete cascade,
  kind text not null,
  lane ops.lane_type not null default 'A',
  priority integer not null default 0,
  params jsonb not null default '{}'::jsonb,
  status ops.run_status not null default 'queued',
  attempt integer not null default 0,
  max_attempts integer not null default 1,
  timeout_seconds integer,
  run_at timestamptz not null default now(),
  idempotency_key text,
  template_name text,
  template_version integer,
  worker_id text,
  claimed_at timestamptz,
  heartbeat_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  cancel_requested_at timestamptz,
  cancel_reason text,
  progress real,
  progress_message text,
  result jsonb,
  error jsonb,
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint runs_kind_format check (kind ~ '^[a-z0-9][a-z0-9_.:-]{0,99}$'),
  constraint runs_priority_range check (priority between -1000 and 1000),
  constraint runs_params_object check (jsonb_typeof(params) = 'object'),
  constraint runs_params_size check (pg_column_size(params) <= 262144),
  constraint runs_attempt_range check (attempt >= 0 and attempt <= max_attempts),
  constraint runs_max_attempts_range check (max_attempts between 1 and 100),
  constraint runs_timeout_range check (timeout_seconds is null or timeout_seconds between 1 and 604800),
  constraint runs_idempotency_key_length check (idempotency_key is null or char_length(idempotency_key) between 1 and 200),
  constraint runs_template_pair check ((template_name is null) = (template_version is null)),
  constraint runs_progress_range check (progress is null or (progress >= 0 and progress <= 1)),
  constraint runs_progress_message_length check (progress_message is null or char_length(progress_message) <= 500),
  constraint runs_error_shape check (
    error is null or (jsonb_typeof(error) = 'object' and error ? 'type' and error ? 'message')
  ),
  constraint runs_result_size check (result is null or pg_column_size(result) <= 1048576),
  -- A running run always belongs to a worker and has a heartbeat; a queued one belongs to nobody.
  constraint runs_running_has_owner check (
    status <> 'running' or (worker_id is not null and heartbeat_at is not null and claimed_at is not null)
  ),
  constraint runs_queued_has_no_owner check (status <> 'queued' or worker_id is null),
  constraint runs_terminal_has_finished_at check (
    (status in ('succeeded', 'failed', 'cancelled')) = (finished_at is not null)
  ),
  constraint runs_failed_has_error check (status <> 'failed' or error is not null)
);

-- Claiming: one range scan per lane in (priority desc, run_at, seq) order over queued runs only.
create index idx_runs_status_lane on ops.runs (lane, priority desc, run_at, seq) where status = 'queued';
-- Stuck-run detection scans only running runs by heartbeat age.
create index idx_runs_heartbeat on ops.runs (heartbeat_at) where status = 'running';
create index idx_runs_session on ops.runs (session_id, seq);
create index idx_runs_created on ops.runs (created_at desc, seq desc);
create unique index idx_runs_idempotency_key on ops.runs (idempotency_key) where idempotency_key is not null;

create table ops.run_events (
  id bigint generated always as identity primary key,
  run_id uuid not null references ops.runs (id) on delete cascade,
  level ops.event_level not null default 'info',
  type text not null default 'log',
  message text not null,
  data jsonb,
  created_at timestamptz not null default now(),
  constraint run_events_type_format check (type ~ '^[a-z0-9][a-z0-9_.:-]{0,99}$'),
  constraint run_events_message_length check (char_length(message) <= 16384),
  constraint run_events_data_size check (data is null or pg_column_size(data) <= 65536)
);
create index idx_events_run on ops.run_events (run_id, id);

create table ops.artifacts (
  id uuid primary key default gen_random_uuid(),
  run_id uuid not null references ops.runs (id) on delete cascade,
  name text not null,
  kind ops.artifact_kind not null,
  content_type text not null default 'application/octet-stream',
  size bigint,
  sha256 text,
  storage_path text,
  url text,
  text_content text,
  metadata jsonb not null default '{}'::jsonb,
  expires_at timestamptz not null default (now() + interval '90 days'),
  created_at timestamptz not null default now(),
  constraint artifacts_name_format check (char_length(name) between 1 and 255 and name !~ '[/\\]' and name not in ('.', '..')),
  constraint artifacts_content_type_length check (char_length(content_type) between 1 and 255),
  constraint artifacts_size_positive check (size is null or size >= 0),
  constraint artifacts_sha256_format check (sha256 is null or sha256 ~ '^[0-9a-f]{64}$'),
  constraint artifacts_metadata_object check (jsonb_typeof(metadata) = 'object'),
  constraint artifacts_text_size check (text_content is null or octet_length(text_content) <= 1048576),
  constraint artifacts_kind_payload check (
    case kind
      when 'file' then storage_path is not null and size is not null and sha256 is not null
      when 'link' then url is not null and url ~ '^https?://'
      when 'text' then text_content is not null
    end
  )
);
create index idx_artifacts_run on ops.artifacts (run_id, created_at);
create index idx_artifacts_expires on ops.artifacts (expires_at);

create table ops.workers (
  id text primary key,
  host text,
  pid integer,
  lanes ops.lane_type[] not null default '{}',
  kinds text[] not null default '{}',
  concurrency jsonb not null default '{}'::jsonb,
  version text,
  metadata jsonb not null default '{}'::jsonb,
  started_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  stopped_at timestamptz,
  constraint workers_id_length check (char_length(id) between 1 and 200)
);
create index idx_workers_last_seen on ops.workers (last_seen_at desc);
