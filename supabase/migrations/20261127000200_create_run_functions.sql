-- Ops Control Room: every state transition of a run is one function here.
--
-- Errors raised on purpose carry SQLSTATEs of our own class `OP` so that clients map them to typed
-- errors without reading messages:
--   OPVAL validation · OPNTF not found · OPCON conflict · OPSEC secret in params
--
-- The functions are SECURITY DEFINER with an empty search_path: callers hold no write privilege on
-- the tables, so these functions are the only way to change state, and EXECUTE grants (next
-- migration) decide who may call which. Every transition writes one ops.run_events row.

-- The caller's user id from the PostgREST-style JWT claims, or null.
create function ops.current_user_id() returns uuid
language plpgsql stable
set search_path = ''
as $$
declare
  v_sub text;
begin
  v_sub := nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub';
  if v_sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    return v_sub::uuid;
  end if;
  return null;
exception when others then
  return null;
end;
$$;

-- The JSON path (`params.db.password`, `params.hosts[2]`) of the first value in `p` that looks like a
-- credential, or null. Keys are matched as whole words (`api_key`, `apiKey`, `db_password`; not
-- `max_tokens`) and only flag non-empty strings; values are matched by the shape of well-known
-- credentials. The TypeScript contract applies the same rules before any I/O.
create function ops.find_secret(p jsonb, p_root text default 'params') returns text
language sql immutable parallel safe
set search_path = ''
as $$
  with recursive walk(path, key, value) as (
    select p_root, null::text, p
    union all
    select c.path, c.key, c.value
    from walk w
    cross join lateral (
      select w.path || '.' || o.key as path, o.key, o.value
      from pg_catalog.jsonb_each(case when pg_catalog.jsonb_typeof(w.value) = 'object' then w.value else '{}'::jsonb end) o
      union all
      select w.path || '[' || (a.ord - 1) || ']', w.key, a.value
      from pg_catalog.jsonb_array_elements(case when pg_catalog.jsonb_typeof(w.value) = 'array' then w.value else '[]'::jsonb end)
        with ordinality a(value, ord)
    ) c
  )
  select path from walk
  where pg_catalog.jsonb_typeof(value) = 'string'
    and (
      (
        key is not null
        and (value #>> '{}') <> ''
        and pg_catalog.lower(pg_catalog.regexp_replace(key, '([a-z0-9])([A-Z])', '\1_\2', 'g'))
          ~ '(^|[_. -])(password|passwd|secret|token|credentials?|authorization|apikey|api_key|access_key|private_key)($|[_. -])'
      )
      or (value #>> '{}') ~* '^bearer\s+\S{8,}'
      or (value #>> '{}') ~ 'eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.'
      or (value #>> '{}') ~ '(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})'
      or (value #>> '{}') ~ '[sr]k_(live|test)_[A-Za-z0-9]{10,}'
      or (value #>> '{}') ~ '(AKIA|ASIA)[0-9A-Z]{16}'
      or (value #>> '{}') ~ 'xox[baprs]-[A-Za-z0-9-]{10,}'
      or (value #>> '{}') ~ '-----BEGIN [A-Z ]*PRIVATE KEY-----'
      or (value #>> '{}') ~* '[a-z][a-z0-9+.-]{0,31}://[^/\s:@]{1,255}:[^/\s@]{1,255}@'
    )
  limit 1
$$;

create function ops.guard_params() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_path text;
begin
  if tg_table_name = 'run_templates' then
    v_path := ops.find_secret(new.default_params, 'default_params');
  else
    v_path := ops.find_secret(new.params, 'params');
  end if;
  if v_path is not null then
    raise exception 'the value at % looks like a secret; pass secrets through the worker''s environment or a vault, never in params', v_path
      using errcode = 'OPSEC', detail = v_path;
  end if;
  return new;
end;
$$;

create trigger runs_guard_params before insert or update of params on ops.runs
  for each row execute function ops.guard_params();
create trigger run_templates_guard_params before insert or update of default_params on ops.run_templates
  for each row execute function ops.guard_params();

create function ops.forbid_template_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'template %@% is immutable: create a new version instead', old.name, old.version
    using errcode = 'OPCON';
end;
$$;
create trigger run_templates_immutable before update on ops.run_templates
  for each row execute function ops.forbid_template_update();

-- Sessions -----------------------------------------------------------------------------------------

create function ops.create_session(p_name text, p_description text default null, p_metadata jsonb default '{}'::jsonb)
returns ops.sessions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session ops.sessions;
begin
  insert into ops.sessions (name, description, metadata, created_by)
  values (p_name, p_description, coalesce(p_metadata, '{}'::jsonb), ops.current_user_id())
  returning * into v_session;
  return v_session;
end;
$$;

-- Templates ----------------------------------------------------------------------------------------

-- Creates the next version of a template (1 for a new name). Versions are immutable.
create function ops.create_template(p_template jsonb)
returns ops.run_templates
language plpgsql security definer
set search_path = ''
as $$
declare
  v_template ops.run_templates;
  v_name text := p_template ->> 'name';
begin
  if v_name is null then
    raise exception 'template name is required' using errcode = 'OPVAL';
  end if;
  -- Serialise version allocation per name; two creators get consecutive versions, never a conflict.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('ops.run_templates:' || v_name));
  insert into ops.run_templates (name, version, kind, lane, priority, description, default_params, params_schema,
    max_attempts, timeout_seconds, created_by)
  select v_name,
    coalesce((select max(t.version) from ops.run_templates t where t.name = v_name), 0) + 1,
    p_template ->> 'kind',
    coalesce((p_template ->> 'lane')::ops.lane_type, 'A'),
    coalesce((p_template ->> 'priority')::integer, 0),
    p_template ->> 'description',
    coalesce(p_template -> 'default_params', '{}'::jsonb),
    p_template -> 'params_schema',
    coalesce((p_template ->> 'max_attempts')::integer, 1),
    (p_template ->> 'timeout_seconds')::integer,
    ops.current_user_id()
  returning * into v_template;
  return v_template;
end;
$$;

-- Runs: enqueue ------------------------------------------------------------------------------------

-- Enqueues many runs into one session in one statement. Each element of p_runs may carry: kind,
-- lane, priority, params, run_at, max_attempts, timeout_seconds, idempotency_key, template_name,
-- template_version. A template supplies defaults (kind, lane, priority, attempts, timeout) and its
-- default_params are merged under the given params. An element whose idempotency_key already exists
-- creates nothing and returns the existing run. Returns one run per element, in input order.
create function ops.enqueue_runs(p_session_id uuid, p_runs jsonb)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
declare
  v_ids uuid[];
  v_keys text[];
  v_missing text;
  v_actor uuid := ops.current_user_id();
begin
  if p_runs is null or pg_catalog.jsonb_typeof(p_runs) <> 'array' or pg_catalog.jsonb_array_length(p_runs) = 0 then
    raise exception 'runs must be a non-empty array' using errcode = 'OPVAL';
  end if;
  if pg_catalog.jsonb_array_length(p_runs) > 10000 then
    raise exception 'at most 10000 runs per enqueue (got %)', pg_catalog.jsonb_array_length(p_runs) using errcode = 'OPVAL';
  end if;
  perform 1 from ops.sessions s where s.id = p_session_id;
  if not found then
    raise exception 'session % does not exist', p_session_id using errcode = 'OPNTF';
  end if;

  select e.value ->> 'template_name' || coalesce('@' || (e.value ->> 'template_version'), '') into v_missing
  from pg_catalog.jsonb_array_elements(p_runs) e
  where e.value ? 'template_name'
    and not exists (
      select 1 from ops.run_templates t
      where t.name = e.value ->> 'template_name'
        and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
    )
  limit 1;
  if v_missing is not null then
    raise exception 'template % does not exist', v_missing using errcode = 'OPNTF';
  end if;

  with input as materialized (
    select e.ord, e.value as v, pg_catalog.gen_random_uuid() as new_id,
      t.kind as t_kind, t.lane as t_lane, t.priority as t_priority, t.default_params as t_params,
      t.max_attempts as t_max_attempts, t.timeout_seconds as t_timeout, t.name as t_name, t.version as t_version
    from pg_catalog.jsonb_array_elements(p_runs) with ordinality e(value, ord)
    left join lateral (
      select * from ops.run_templates t
      where t.name = e.value ->> 'template_name'
        and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
      order by t.version desc
      limit 1
    ) t on true
  ),
  ins as (
    insert into ops.runs (id, session_id, kind, lane, priority, params, run_at, max_attempts, timeout_seconds,
      idempotency_key, template_name, template_version, created_by)
    select i.new_id, p_session_id,
      coalesce(i.v ->> 'kind', i.t_kind),
      coalesce((i.v ->> 'lane')::ops.lane_type, i.t_lane, 'A'),
      coalesce((i.v ->> 'priority')::integer, i.t_priority, 0),
      coalesce(i.t_params, '{}'::jsonb) || coalesce(i.v -> 'params', '{}'::jsonb),
      coalesce((i.v ->> 'run_at')::timestamptz, pg_catalog.now()),
      coalesce((i.v ->> 'max_attempts')::integer, i.t_max_attempts, 1),
      coalesce((i.v ->> 'timeout_seconds')::integer, i.t_timeout),
      i.v ->> 'idempotency_key',
      i.t_name, i.t_version, v_actor
    from input i
    order by i.ord
    on conflict (idempotency_key) where idempotency_key is not null do nothing
    returning id, kind, lane, template_name, template_version
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select ins.id, 'info', 'run:enqueued', 'enqueued in lane ' || ins.lane,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('by', v_actor, 'kind', ins.kind,
        'template', ins.template_name, 'template_version', ins.template_version))
    from ins
  )
  select pg_catalog.array_agg(i.new_id order by i.ord), pg_catalog.array_agg(i.v ->> 'idempotency_key' order by i.ord)
  into v_ids, v_keys
  from input i;

  return query
  select r.*
  from unnest(v_ids, v_keys) with ordinality u(id, key, ord)
  cross join lateral (
    select x.* from ops.runs x where x.id = u.id
    union all
    select y.* from ops.runs y where u.key is not null and y.idempotency_key = u.key and y.id <> u.id
  ) r
  order by u.ord;
end;
$$;

-- Runs: the worker's side --------------------------------------------------------------------------

-- Atomically claims up to p_limits[i] queued, due runs of lane p_lanes[i] (and of the given kinds, if
-- any) for one worker, in priority order then age. SKIP LOCKED: two claimers never get one run.
create function ops.claim_runs(p_worker_id text, p_lanes ops.lane_type[], p_limits integer[], p_kinds text[] default null)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_worker_id is null or p_worker_id = '' then
    raise exception 'worker id is required' using errcode = 'OPVAL';
  end if;
  if p_lanes is null or p_limits is null or pg_catalog.cardinality(p_lanes) <> pg_catalog.cardinality(p_limits) then
    raise exception 'lanes and limits must be arrays of the same length' using errcode = 'OPVAL';
  end if;
  if exists (select 1 from unnest(p_limits) l where l is null or l < 0 or l > 1000) then
    raise exception 'each lane limit must be between 0 and 1000' using errcode = 'OPVAL';
  end if;

  return query
  with lanes as (
    select l.lane, l.lim from unnest(p_lanes, p_limits) l(lane, lim) where l.lim > 0
  ),
  candidates as (
    select c.id
    from lanes
    cross join lateral (
      select r.id from ops.runs r
      where r.status = 'queued' and r.lane = lanes.lane and r.run_at <= pg_catalog.now()
        and (p_kinds is null or r.kind = any (p_kinds))
      order by r.priority desc, r.run_at, r.seq
      limit lanes.lim
      for update skip locked
    ) c
  ),
  claimed as (
    update ops.runs r
    set status = 'running', worker_id = p_worker_id, attempt = r.attempt + 1, claimed_at = pg_catalog.now(),
      heartbeat_at = pg_catalog.now(), started_at = coalesce(r.started_at, pg_catalog.now()), updated_at = pg_catalog.now()
    from candidates c
    where r.id = c.id
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select claimed.id, 'info', 'run:claimed', 'claimed by ' || p_worker_id,
      pg_catalog.jsonb_build_object('worker_id', p_worker_id, 'attempt', claimed.attempt)
    from claimed
  )
  select * from claimed
  order by claimed.priority desc, claimed.run_at, claimed.seq;
end;
$$;

-- One round trip for all of a worker's in-flight runs: refreshes their heartbeats and the worker's
-- row, and answers which runs must stop: 'cancel' (a cancel was requested) or 'lost' (the run is no
-- longer this worker's: recovered, released or finished elsewhere).
create function ops.heartbeat(p_worker_id text, p_run_ids uuid[], p_info jsonb default null)
returns table (run_id uuid, action text)
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_worker_id is null or p_worker_id = '' then
    raise exception 'worker id is required' using errcode = 'OPVAL';
  end if;
  insert into ops.workers as w (id, host, pid, lanes, kinds, concurrency, version, metadata)
  values (
    p_worker_id,
    p_info ->> 'host',
    (p_info ->> 'pid')::integer,
    coalesce((select pg_catalog.array_agg(x::ops.lane_type) from pg_catalog.jsonb_array_elements_text(p_info -> 'lanes') x), '{}'),
    coalesce((select pg_catalog.array_agg(x) from pg_catalog.jsonb_array_elements_text(p_info -> 'kinds') x), '{}'),
    coalesce(p_info -> 'concurrency', '{}'::jsonb),
    p_info ->> 'version',
    coalesce(p_info -> 'metadata', '{}'::jsonb)
  )
  on conflict (id) do update set
    last_seen_at = pg_catalog.now(),
    stopped_at = case when p_info ->> 'stopping' = 'true' then pg_catalog.now() else null end,
    host = coalesce(excluded.host, w.host),
    pid = coalesce(excluded.pid, w.pid),
    lanes = case when p_info ? 'lanes' then excluded.lanes else w.lanes end,
    kinds = case when p_info ? 'kinds' then excluded.kinds else w.kinds end,
    concurrency = case when p_info ? 'concurrency' then excluded.concurrency else w.concurrency end,
    version = coalesce(excluded.version, w.version),
    metadata = case when p_info ? 'metadata' then excluded.metadata else w.metadata end;

  return query
  with beat as (
    update ops.runs r set heartbeat_at = pg_catalog.now()
    where r.id = any (coalesce(p_run_ids, '{}')) and r.status = 'running' and r.worker_id = p_worker_id
    returning r.id, r.cancel_requested_at
  )
  select b.id, 'cancel'::text from beat b where b.cancel_requested_at is not null
  union all
  select u.id, 'lost'::text from unnest(coalesce(p_run_ids, '{}')) u(id)
  where not exists (select 1 from beat b where b.id = u.id);
end;
$$;

-- Marks runs succeeded. Each element of p_results: { id, result }. Only runs that are running under
-- this worker change; the others are left alone and not returned.
create function ops.complete_runs(p_worker_id text, p_results jsonb)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_results is null or pg_catalog.jsonb_typeof(p_results) <> 'array' then
    raise exception 'results must be an array' using errcode = 'OPVAL';
  end if;
  return query
  with input as (
    select (e ->> 'id')::uuid as id, e -> 'result' as result from pg_catalog.jsonb_array_elements(p_results) e
  ),
  done as (
    update ops.runs r
    set status = 'succeeded', result = i.result, error = null, finished_at = pg_catalog.now(), updated_at = pg_catalog.now()
    from input i
    where r.id = i.id and r.status = 'running' and r.worker_id = p_worker_id
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select done.id, 'info', 'run:succeeded', 'succeeded',
      pg_catalog.jsonb_build_object('attempt', done.attempt,
        'duration_ms', (extract(epoch from done.finished_at - done.claimed_at) * 1000)::bigint)
    from done
  )
  select * from done;
end;
$$;

-- Fails runs with a structured error { type, message, stack?, context? }. Each element of
-- p_failures: { id, error, retry? (default true), retry_delay_ms? }. A run with attempts left, whose
-- cancel was not requested, and whose failure is retryable goes back to the queue after an
-- exponential backoff (1 s, 2 s, 4 s … capped at 1 h) unless retry_delay_ms says otherwise.
create function ops.fail_runs(p_worker_id text, p_failures jsonb)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_failures is null or pg_catalog.jsonb_typeof(p_failures) <> 'array' then
    raise exception 'failures must be an array' using errcode = 'OPVAL';
  end if;
  if exists (
    select 1 from pg_catalog.jsonb_array_elements(p_failures) e
    where pg_catalog.jsonb_typeof(e -> 'error') is distinct from 'object'
      or pg_catalog.jsonb_typeof(e -> 'error' -> 'type') is distinct from 'string'
      or pg_catalog.jsonb_typeof(e -> 'error' -> 'message') is distinct from 'string'
  ) then
    raise exception 'each failure needs an error object with string type and message' using errcode = 'OPVAL';
  end if;

  return query
  with input as (
    select r.id, e -> 'error' as error,
      (coalesce((e ->> 'retry')::boolean, true) and r.attempt < r.max_attempts and r.cancel_requested_at is null) as retry,
      coalesce((e ->> 'retry_delay_ms')::bigint, (least(pg_catalog.power(2, greatest(r.attempt - 1, 0)), 3600) * 1000)::bigint) as delay_ms
    from pg_catalog.jsonb_array_elements(p_failures) e
    join ops.runs r on r.id = (e ->> 'id')::uuid
    where r.status = 'running' and r.worker_id = p_worker_id
    for update of r
  ),
  upd as (
    update ops.runs r
    set status = case when i.retry then 'queued'::ops.run_status else 'failed'::ops.run_status end,
      worker_id = case when i.retry then null else r.worker_id end,
      run_at = case when i.retry then pg_catalog.now() + pg_catalog.make_interval(secs => i.delay_ms / 1000.0) else r.run_at end,
      finished_at = case when i.retry then null else pg_catalog.now() end,
      error = i.error,
      updated_at = pg_catalog.now()
    from input i
    where r.id = i.id
    returning r.*, i.retry as retried, i.delay_ms
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select upd.id,
      case when upd.retried then 'warn'::ops.event_level else 'error'::ops.event_level end,
      case when upd.retried then 'run:retry_scheduled' else 'run:failed' end,
      pg_catalog.left(upd.error ->> 'type' || ': ' || (upd.error ->> 'message'), 16000),
      pg_catalog.jsonb_build_object('attempt', upd.attempt, 'error', upd.error)
        || case when upd.retried then pg_catalog.jsonb_build_object('retry_in_ms', upd.delay_ms) else '{}'::jsonb end
    from upd
  )
  select upd.id, upd.seq, upd.session_id, upd.kind, upd.lane, upd.priority, upd.params, upd.status, upd.attempt,
    upd.max_attempts, upd.timeout_seconds, upd.run_at, upd.idempotency_key, upd.template_name, upd.template_version,
    upd.worker_id, upd.claimed_at, upd.heartbeat_at, upd.started_at, upd.finished_at, upd.cancel_requested_at,
    upd.cancel_reason, upd.progress, upd.progress_message, upd.result, upd.error, upd.created_by, upd.created_at,
    upd.updated_at
  from upd;
end;
$$;

-- Requests cancellation. A queued run is cancelled at once; a running run is flagged, its worker is
-- told (NOTIFY ops_cancel, and at its next heartbeat) and acknowledges with ack_cancel. Finished runs
-- are returned unchanged. Unknown ids are not returned.
create function ops.request_cancel(p_run_ids uuid[], p_reason text default null)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
declare
  v_actor uuid := ops.current_user_id();
begin
  if p_reason is not null and pg_catalog.char_length(p_reason) > 1000 then
    raise exception 'reason is longer than 1000 characters' using errcode = 'OPVAL';
  end if;
  return query
  with target as (
    select r.id, r.status, r.cancel_requested_at from ops.runs r where r.id = any (coalesce(p_run_ids, '{}')) for update
  ),
  now_cancelled as (
    update ops.runs r
    set status = 'cancelled', finished_at = pg_catalog.now(), cancel_requested_at = pg_catalog.now(),
      cancel_reason = p_reason, updated_at = pg_catalog.now()
    from target t where r.id = t.id and t.status = 'queued'
    returning r.*
  ),
  flagged as (
    update ops.runs r
    set cancel_requested_at = pg_catalog.now(), cancel_reason = p_reason, updated_at = pg_catalog.now()
    from target t where r.id = t.id and t.status = 'running' and t.cancel_requested_at is null
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select n.id, 'info'::ops.event_level, 'run:cancelled', coalesce('cancelled: ' || p_reason, 'cancelled before it started'),
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('by', v_actor, 'reason', p_reason))
    from now_cancelled n
    union all
    select f.id, 'info', 'run:cancel_requested', coalesce('cancel requested: ' || p_reason, 'cancel requested'),
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('by', v_actor, 'reason', p_reason, 'worker_id', f.worker_id))
    from flagged f
  )
  select * from now_cancelled
  union all
  select * from flagged
  union all
  select r.* from ops.runs r join target t on t.id = r.id
  where t.id not in (select id from now_cancelled union all select id from flagged);
end;
$$;

-- The worker acknowledges cancel requests: its running runs whose cancel was requested end cancelled.
create function ops.ack_cancel(p_worker_id text, p_run_ids uuid[], p_note text default null)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
begin
  return query
  with done as (
    update ops.runs r
    set status = 'cancelled', finished_at = pg_catalog.now(), updated_at = pg_catalog.now()
    where r.id = any (coalesce(p_run_ids, '{}')) and r.status = 'running' and r.worker_id = p_worker_id
      and r.cancel_requested_at is not null
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select done.id, 'info', 'run:cancelled', coalesce(p_note, 'cancelled by worker ' || p_worker_id),
      pg_catalog.jsonb_build_object('worker_id', p_worker_id, 'attempt', done.attempt,
        'latency_ms', (extract(epoch from done.finished_at - done.cancel_requested_at) * 1000)::bigint)
    from done
  )
  select * from done;
end;
$$;

-- Hands running runs back to the queue without burning an attempt (a worker's graceful stop).
-- A run whose cancel was requested meanwhile ends cancelled instead.
create function ops.release_runs(p_worker_id text, p_run_ids uuid[], p_reason text default 'worker stopping')
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
begin
  return query
  with rel as (
    update ops.runs r
    set status = case when r.cancel_requested_at is null then 'queued'::ops.run_status else 'cancelled'::ops.run_status end,
      worker_id = case when r.cancel_requested_at is null then null else r.worker_id end,
      attempt = case when r.cancel_requested_at is null then greatest(r.attempt - 1, 0) else r.attempt end,
      finished_at = case when r.cancel_requested_at is null then null else pg_catalog.now() end,
      run_at = case when r.cancel_requested_at is null then pg_catalog.now() else r.run_at end,
      updated_at = pg_catalog.now()
    where r.id = any (coalesce(p_run_ids, '{}')) and r.status = 'running' and r.worker_id = p_worker_id
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select rel.id, 'info'::ops.event_level,
      case when rel.status = 'queued' then 'run:released' else 'run:cancelled' end,
      case when rel.status = 'queued' then 'handed back to the queue: ' || coalesce(p_reason, 'released') else 'cancelled while its worker stopped' end,
      pg_catalog.jsonb_build_object('worker_id', p_worker_id)
    from rel
  )
  select * from rel;
end;
$$;

-- Recovers runs whose heartbeat is older than p_timeout_seconds: requeued while attempts remain,
-- cancelled if a cancel was pending, otherwise failed with error type 'heartbeat_timeout'.
create function ops.recover_stuck_runs(p_timeout_seconds integer default 30, p_limit integer default 1000)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_timeout_seconds is null or p_timeout_seconds < 1 then
    raise exception 'timeout must be at least 1 second' using errcode = 'OPVAL';
  end if;
  return query
  with stuck as (
    select r.id, r.worker_id as old_worker, r.heartbeat_at as old_heartbeat,
      case
        when r.cancel_requested_at is not null then 'cancelled'::ops.run_status
        when r.attempt < r.max_attempts then 'queued'::ops.run_status
        else 'failed'::ops.run_status
      end as next_status
    from ops.runs r
    where r.status = 'running' and r.heartbeat_at < pg_catalog.now() - pg_catalog.make_interval(secs => p_timeout_seconds)
    order by r.heartbeat_at
    limit greatest(p_limit, 1)
    for update skip locked
  ),
  upd as (
    update ops.runs r
    set status = s.next_status,
      worker_id = case when s.next_status = 'queued' then null else r.worker_id end,
      run_at = case when s.next_status = 'queued' then pg_catalog.now() else r.run_at end,
      finished_at = case when s.next_status = 'queued' then null else pg_catalog.now() end,
      error = case when s.next_status = 'cancelled' then r.error else pg_catalog.jsonb_build_object(
        'type', 'heartbeat_timeout',
        'message', 'worker ' || s.old_worker || ' sent no heartbeat for ' || p_timeout_seconds || ' s',
        'context', pg_catalog.jsonb_build_object('worker_id', s.old_worker, 'heartbeat_at', s.old_heartbeat,
          'timeout_seconds', p_timeout_seconds, 'attempt', r.attempt, 'max_attempts', r.max_attempts)) end,
      updated_at = pg_catalog.now()
    from stuck s
    where r.id = s.id
    returning r.*, s.old_worker, s.old_heartbeat
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select upd.id, case when upd.status = 'failed' then 'error'::ops.event_level else 'warn'::ops.event_level end,
      'run:recovered',
      'recovered from worker ' || upd.old_worker || ' (no heartbeat since ' || upd.old_heartbeat || '): ' || upd.status,
      pg_catalog.jsonb_build_object('worker_id', upd.old_worker, 'heartbeat_at', upd.old_heartbeat, 'outcome', upd.status,
        'attempt', upd.attempt)
    from upd
  )
  select upd.id, upd.seq, upd.session_id, upd.kind, upd.lane, upd.priority, upd.params, upd.status, upd.attempt,
    upd.max_attempts, upd.timeout_seconds, upd.run_at, upd.idempotency_key, upd.template_name, upd.template_version,
    upd.worker_id, upd.claimed_at, upd.heartbeat_at, upd.started_at, upd.finished_at, upd.cancel_requested_at,
    upd.cancel_reason, upd.progress, upd.progress_message, upd.result, upd.error, upd.created_by, upd.created_at,
    upd.updated_at
  from upd;
end;
$$;

-- Progress of running runs: each element { id, progress (0..1), message? }. Returns how many changed.
create function ops.update_progress(p_worker_id text, p_updates jsonb)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  update ops.runs r
  set progress = (e ->> 'progress')::real, progress_message = e ->> 'message', updated_at = pg_catalog.now()
  from pg_catalog.jsonb_array_elements(coalesce(p_updates, '[]'::jsonb)) e
  where r.id = (e ->> 'id')::uuid and r.status = 'running' and r.worker_id = p_worker_id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

-- Events and artifacts -----------------------------------------------------------------------------

-- Appends many events in one statement. Each element: { run_id, level?, type?, message, data?, at? }.
create function ops.append_events(p_events jsonb)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  if p_events is null or pg_catalog.jsonb_typeof(p_events) <> 'array' then
    raise exception 'events must be an array' using errcode = 'OPVAL';
  end if;
  insert into ops.run_events (run_id, level, type, message, data, created_at)
  select (e ->> 'run_id')::uuid, coalesce((e ->> 'level')::ops.event_level, 'info'), coalesce(e ->> 'type', 'log'),
    coalesce(e ->> 'message', ''), e -> 'data', coalesce((e ->> 'at')::timestamptz, pg_catalog.now())
  from pg_catalog.jsonb_array_elements(p_events) with ordinality x(e, ord)
  order by x.ord;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

-- Records artifacts (content already stored, or a link, or inline text). Each element: { run_id,
-- name, kind, content_type?, size?, sha256?, storage_path?, url?, text?, metadata?, expires_at? }.
create function ops.create_artifacts(p_artifacts jsonb)
returns setof ops.artifacts
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_artifacts is null or pg_catalog.jsonb_typeof(p_artifacts) <> 'array' then
    raise exception 'artifacts must be an array' using errcode = 'OPVAL';
  end if;
  return query
  with ins as (
    insert into ops.artifacts (run_id, name, kind, content_type, size, sha256, storage_path, url, text_content, metadata, expires_at)
    select (a ->> 'run_id')::uuid, a ->> 'name', (a ->> 'kind')::ops.artifact_kind,
      coalesce(a ->> 'content_type', case a ->> 'kind' when 'text' then 'text/plain; charset=utf-8' when 'link' then 'text/uri-list' else 'application/octet-stream' end),
      coalesce((a ->> 'size')::bigint, case when a ->> 'kind' = 'text' then pg_catalog.octet_length(a ->> 'text') end),
      a ->> 'sha256', a ->> 'storage_path', a ->> 'url', a ->> 'text', coalesce(a -> 'metadata', '{}'::jsonb),
      coalesce((a ->> 'expires_at')::timestamptz, pg_catalog.now() + interval '90 days')
    from pg_catalog.jsonb_array_elements(p_artifacts) with ordinality x(a, ord)
    order by x.ord
    returning *
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select ins.run_id, 'info', 'artifact:created', 'artifact ' || ins.name || ' (' || ins.kind || ')',
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('artifact_id', ins.id, 'name', ins.name, 'kind', ins.kind, 'size', ins.size))
    from ins
  )
  select * from ins;
end;
$$;

-- Notifications: small payloads, one per statement (chunked), so batch operations stay cheap -------
--   ops_runs_queued  payload: the lane ('A'..'D') that got claimable work
--   ops_cancel       payload: {"id": run id, "worker_id": …} for a running run whose cancel was requested
--   ops_run_changes  payload: {"runs": [{"id","session_id","status","lane"}…]} for status/progress/cancel changes
--   ops_run_events   payload: {"run_ids": […]} for new events

create function ops.notify_runs_inserted() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_text text;
begin
  for v_text in select distinct n.lane::text from new_rows n where n.status = 'queued' loop
    perform pg_catalog.pg_notify('ops_runs_queued', v_text);
  end loop;
  for v_text in
    select pg_catalog.json_build_object('runs', pg_catalog.json_agg(pg_catalog.json_build_object(
      'id', x.id, 'session_id', x.session_id, 'status', x.status, 'lane', x.lane)))::text
    from (select n.*, (pg_catalog.row_number() over () - 1) / 50 as grp from new_rows n) x
    group by x.grp
  loop
    perform pg_catalog.pg_notify('ops_run_changes', v_text);
  end loop;
  return null;
end;
$$;

create function ops.notify_runs_updated() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_text text;
begin
  for v_text in
    select distinct n.lane::text from new_rows n join old_rows o on o.id = n.id
    where n.status = 'queued' and o.status <> 'queued'
  loop
    perform pg_catalog.pg_notify('ops_runs_queued', v_text);
  end loop;
  for v_text in
    select pg_catalog.json_build_object('id', n.id, 'worker_id', n.worker_id)::text
    from new_rows n join old_rows o on o.id = n.id
    where n.status = 'running' and n.cancel_requested_at is not null and o.cancel_requested_at is null
  loop
    perform pg_catalog.pg_notify('ops_cancel', v_text);
  end loop;
  for v_text in
    select pg_catalog.json_build_object('runs', pg_catalog.json_agg(pg_catalog.json_build_object(
      'id', x.id, 'session_id', x.session_id, 'status', x.status, 'lane', x.lane)))::text
    from (
      select n.id, n.session_id, n.status, n.lane, (pg_catalog.row_number() over () - 1) / 50 as grp
      from new_rows n join old_rows o on o.id = n.id
      where n.status is distinct from o.status or n.progress is distinct from o.progress
        or n.progress_message is distinct from o.progress_message
        or n.cancel_requested_at is distinct from o.cancel_requested_at
    ) x
    group by x.grp
  loop
    perform pg_catalog.pg_notify('ops_run_changes', v_text);
  end loop;
  return null;
end;
$$;

create function ops.notify_events_inserted() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_text text;
begin
  for v_text in
    select pg_catalog.json_build_object('run_ids', pg_catalog.json_agg(x.run_id))::text
    from (select d.run_id, (pg_catalog.row_number() over () - 1) / 150 as grp from (select distinct n.run_id from new_rows n) d) x
    group by x.grp
  loop
    perform pg_catalog.pg_notify('ops_run_events', v_text);
  end loop;
  return null;
end;
$$;

create trigger runs_notify_insert after insert on ops.runs
  referencing new table as new_rows
  for each statement execute function ops.notify_runs_inserted();
create trigger runs_notify_update after update on ops.runs
  referencing old table as old_rows new table as new_rows
  for each statement execute function ops.notify_runs_updated();
create trigger run_events_notify_insert after insert on ops.run_events
  referencing new table as new_rows
  for each statement execute function ops.notify_events_inserted();
