-- Ops Control Room: fenced leases.
--
-- A claim issues a lease: a number drawn from a sequence, unique per claim, never reused and never
-- decremented (unlike `attempt`, which a release gives back). Every worker-side write carries the
-- lease it holds — heartbeat, complete, fail, progress, ack-cancel, release, events, artifacts — and
-- is applied only while that lease is the run's current one and the run is running. A worker that
-- froze past the heartbeat timeout, or a stale execution of a run its own worker claimed again, can
-- therefore never settle, extend or write into an attempt that is no longer its own: its settlements
-- come back empty (the worker reads that as `lost`), its heartbeat lists it as `lost`, its events are
-- dropped and its artifacts are refused (OPLST).
--
-- Row locks: every function that locks several runs locks them in id order (an explicit ordered
-- `for no key update`, or a primary-key scan of `id = any(array)`, whose keys btree sorts), so two
-- writers of the same worker — a heartbeat and a settlement — can no longer deadlock.
--
-- Events and artifacts record the attempt they belong to (`attempt`), so earlier attempts stay
-- readable after the run moves on. A recovered run keeps its place in the queue (its `run_at`), and
-- the recovery marks its silent worker stopped.

create sequence ops.run_lease_seq as bigint;
grant usage, select on sequence ops.run_lease_seq to service_role;

alter table ops.runs add column lease bigint;
comment on column ops.runs.lease is
  'The lease of the current (or last) claim: unique per claim, never reused. Worker-side writes must carry it.';
alter table ops.run_events add column attempt integer;
comment on column ops.run_events.attempt is 'The attempt of the run this event belongs to (null: not tied to one).';
alter table ops.artifacts add column attempt integer;
comment on column ops.artifacts.attempt is 'The attempt of the run that produced this artifact.';

-- Claim ----------------------------------------------------------------------------------------------

create or replace function ops.claim_runs(p_worker_id text, p_lanes ops.lane_type[], p_limits integer[], p_kinds text[] default null)
returns setof ops.runs
language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
begin
  if p_worker_id is null or p_worker_id = '' then
    raise exception 'worker id is required' using errcode = 'OPVAL';
  end if;
  if p_lanes is null or p_limits is null or pg_catalog.cardinality(p_lanes) <> pg_catalog.cardinality(p_limits) then
    raise exception 'lanes and limits must be arrays of the same length' using errcode = 'OPVAL';
  end if;
  if pg_catalog.array_position(p_limits, null) is not null or 0 > any (p_limits) or 1000 < any (p_limits) then
    raise exception 'each lane limit must be between 0 and 1000' using errcode = 'OPVAL';
  end if;
  perform pg_catalog.set_config('ops.notified', 'on', true);
  return query
  with picked as (
    select c.id
    from unnest(p_lanes, p_limits) lanes(lane, lim)
    cross join lateral (
      select r.id from ops.runs r
      where r.status = 'queued' and r.lane = lanes.lane and r.run_at <= pg_catalog.now()
        and (p_kinds is null or r.kind = any (p_kinds))
      order by r.priority desc, r.run_at, r.seq
      limit lanes.lim
      for update skip locked
    ) c
    where lanes.lim > 0
  ),
  claimed as (
    update ops.runs r
    set status = 'running', worker_id = p_worker_id, attempt = r.attempt + 1, claimed_at = pg_catalog.now(),
      heartbeat_at = pg_catalog.now(), started_at = coalesce(r.started_at, pg_catalog.now()), updated_at = pg_catalog.now(),
      lease = pg_catalog.nextval('ops.run_lease_seq'), progress = null, progress_message = null
    where r.id = any (array(select picked.id from picked))
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data, attempt)
    select claimed.id, 'info', 'run:claimed', 'claimed by ' || p_worker_id,
      pg_catalog.jsonb_build_object('worker_id', p_worker_id, 'attempt', claimed.attempt, 'lease', claimed.lease::text),
      claimed.attempt
    from claimed
  ),
  changes as (
    select pg_catalog.pg_notify('ops_run_changes', '{"runs":[' || pg_catalog.string_agg('{"id":"' || x.id || '","session_id":"' || x.session_id
      || '","status":"' || x.status || '","lane":"' || x.lane || '"}', ',') || ']}')
    from (select c.id, c.session_id, c.status, c.lane, (pg_catalog.row_number() over () - 1) / 50 as grp from claimed c) x
    group by x.grp
  ),
  evnotes as (
    select pg_catalog.pg_notify('ops_run_events', '{"run_ids":[' || pg_catalog.string_agg('"' || x.id || '"', ',') || ']}')
    from (select c.id, (pg_catalog.row_number() over () - 1) / 150 as grp from claimed c) x
    group by x.grp
  )
  select c.* from claimed c
  where (select pg_catalog.count(*) from changes) >= 0 and (select pg_catalog.count(*) from evnotes) >= 0
  order by c.priority desc, c.run_at, c.seq;
  perform pg_catalog.set_config('ops.notified', 'off', true);
end;
$$;

-- Heartbeat --------------------------------------------------------------------------------------------

drop function ops.heartbeat(text, uuid[], jsonb);

create function ops.heartbeat(p_worker_id text, p_run_ids uuid[], p_leases bigint[], p_info jsonb default null)
returns table (run_id uuid, lease bigint, action text)
language plpgsql security definer set search_path = ''
as $$
begin
  if p_worker_id is null or p_worker_id = '' then
    raise exception 'worker id is required' using errcode = 'OPVAL';
  end if;
  if pg_catalog.cardinality(coalesce(p_run_ids, '{}')) <> pg_catalog.cardinality(coalesce(p_leases, '{}')) then
    raise exception 'run ids and leases must be arrays of the same length' using errcode = 'OPVAL';
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
  with input as (
    select u.id, u.lease from unnest(coalesce(p_run_ids, '{}'), coalesce(p_leases, '{}')) u(id, lease)
  ),
  locked as (
    -- In id order, like every other writer of several runs: no deadlock with a settlement.
    select r.id, r.cancel_requested_at
    from ops.runs r join input i on i.id = r.id and i.lease = r.lease
    where r.status = 'running'
    order by r.id
    for no key update of r
  ),
  beat as (
    update ops.runs r set heartbeat_at = pg_catalog.now()
    from locked l where r.id = l.id
    returning r.id, r.lease, l.cancel_requested_at
  )
  select b.id, b.lease, 'cancel'::text from beat b where b.cancel_requested_at is not null
  union all
  select i.id, i.lease, 'lost'::text from input i
  where not exists (select 1 from beat b where b.id = i.id and b.lease = i.lease);
end;
$$;

-- Settle -----------------------------------------------------------------------------------------------

create or replace function ops.complete_runs(p_worker_id text, p_results jsonb)
returns setof ops.runs
language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
begin
  if p_results is null or pg_catalog.jsonb_typeof(p_results) <> 'array' then
    raise exception 'results must be an array' using errcode = 'OPVAL';
  end if;
  perform pg_catalog.set_config('ops.notified', 'on', true);
  return query
  with input as (
    select (e ->> 'id')::uuid as id, (e ->> 'lease')::bigint as lease, e -> 'result' as result
    from pg_catalog.jsonb_array_elements(p_results) e
  ),
  done as (
    -- A primary-key scan of `id = any(array)` visits (and locks) the rows in id order: btree sorts
    -- the array's keys. The plan is pinned by test/hotPath.test.ts.
    update ops.runs r
    set status = 'succeeded', result = i.result, error = null, finished_at = pg_catalog.now(), updated_at = pg_catalog.now()
    from input i
    where r.id = any (array(select input.id from input)) and r.id = i.id and r.status = 'running' and r.lease = i.lease
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data, attempt)
    select d.id, 'info', 'run:succeeded', 'succeeded',
      pg_catalog.jsonb_build_object('attempt', d.attempt,
        'duration_ms', (extract(epoch from d.finished_at - d.claimed_at) * 1000)::bigint),
      d.attempt
    from done d
  ),
  changes as (
    select pg_catalog.pg_notify('ops_run_changes', '{"runs":[' || pg_catalog.string_agg('{"id":"' || x.id || '","session_id":"' || x.session_id
      || '","status":"' || x.status || '","lane":"' || x.lane || '"}', ',') || ']}')
    from (select c.id, c.session_id, c.status, c.lane, (pg_catalog.row_number() over () - 1) / 50 as grp from done c) x
    group by x.grp
  ),
  evnotes as (
    select pg_catalog.pg_notify('ops_run_events', '{"run_ids":[' || pg_catalog.string_agg('"' || x.id || '"', ',') || ']}')
    from (select c.id, (pg_catalog.row_number() over () - 1) / 150 as grp from done c) x
    group by x.grp
  )
  select d.* from done d
  where (select pg_catalog.count(*) from changes) >= 0 and (select pg_catalog.count(*) from evnotes) >= 0;
  perform pg_catalog.set_config('ops.notified', 'off', true);
end;
$$;

create or replace function ops.fail_runs(p_worker_id text, p_failures jsonb)
returns setof ops.runs
language plpgsql security definer set search_path = ''
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
  with raw as (
    select (e ->> 'id')::uuid as id, (e ->> 'lease')::bigint as lease, e
    from pg_catalog.jsonb_array_elements(p_failures) e
  ),
  input as (
    select r.id, raw.e -> 'error' as error,
      (coalesce((raw.e ->> 'retry')::boolean, true) and r.attempt < r.max_attempts and r.cancel_requested_at is null) as retry,
      coalesce((raw.e ->> 'retry_delay_ms')::bigint, (least(pg_catalog.power(2, greatest(r.attempt - 1, 0)), 3600) * 1000)::bigint) as delay_ms
    from raw
    join ops.runs r on r.id = raw.id and r.lease = raw.lease
    where r.status = 'running'
    order by r.id
    for no key update of r
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
    insert into ops.run_events (run_id, level, type, message, data, attempt)
    select upd.id,
      case when upd.retried then 'warn'::ops.event_level else 'error'::ops.event_level end,
      case when upd.retried then 'run:retry_scheduled' else 'run:failed' end,
      pg_catalog.left(upd.error ->> 'type' || ': ' || (upd.error ->> 'message'), 16000),
      pg_catalog.jsonb_build_object('attempt', upd.attempt, 'error', upd.error, 'lease', upd.lease::text)
        || case when upd.retried then pg_catalog.jsonb_build_object('retry_in_ms', upd.delay_ms) else '{}'::jsonb end,
      upd.attempt
    from upd
  )
  select upd.id, upd.seq, upd.session_id, upd.kind, upd.lane, upd.priority, upd.params, upd.status, upd.attempt,
    upd.max_attempts, upd.timeout_seconds, upd.run_at, upd.idempotency_key, upd.template_name, upd.template_version,
    upd.worker_id, upd.claimed_at, upd.heartbeat_at, upd.started_at, upd.finished_at, upd.cancel_requested_at,
    upd.cancel_reason, upd.progress, upd.progress_message, upd.result, upd.error, upd.created_by, upd.created_at,
    upd.updated_at, upd.lease
  from upd;
end;
$$;

drop function ops.ack_cancel(text, uuid[], text);

create function ops.ack_cancel(p_worker_id text, p_run_ids uuid[], p_leases bigint[], p_note text default null)
returns setof ops.runs
language plpgsql security definer set search_path = ''
as $$
begin
  if pg_catalog.cardinality(coalesce(p_run_ids, '{}')) <> pg_catalog.cardinality(coalesce(p_leases, '{}')) then
    raise exception 'run ids and leases must be arrays of the same length' using errcode = 'OPVAL';
  end if;
  return query
  with locked as (
    select r.id from ops.runs r
    join unnest(p_run_ids, p_leases) u(id, lease) on u.id = r.id and u.lease = r.lease
    where r.status = 'running' and r.cancel_requested_at is not null
    order by r.id
    for no key update of r
  ),
  done as (
    update ops.runs r
    set status = 'cancelled', finished_at = pg_catalog.now(), updated_at = pg_catalog.now()
    from locked l where r.id = l.id
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data, attempt)
    select done.id, 'info', 'run:cancelled', coalesce(p_note, 'cancelled by worker ' || p_worker_id),
      pg_catalog.jsonb_build_object('worker_id', p_worker_id, 'attempt', done.attempt,
        'latency_ms', (extract(epoch from done.finished_at - done.cancel_requested_at) * 1000)::bigint),
      done.attempt
    from done
  )
  select * from done;
end;
$$;

drop function ops.release_runs(text, uuid[], text);

create function ops.release_runs(p_worker_id text, p_run_ids uuid[], p_leases bigint[], p_reason text default 'worker stopping')
returns setof ops.runs
language plpgsql security definer set search_path = ''
as $$
begin
  if pg_catalog.cardinality(coalesce(p_run_ids, '{}')) <> pg_catalog.cardinality(coalesce(p_leases, '{}')) then
    raise exception 'run ids and leases must be arrays of the same length' using errcode = 'OPVAL';
  end if;
  return query
  with locked as (
    select r.id from ops.runs r
    join unnest(p_run_ids, p_leases) u(id, lease) on u.id = r.id and u.lease = r.lease
    where r.status = 'running'
    order by r.id
    for no key update of r
  ),
  rel as (
    -- A released run gives its attempt back; its lease is spent all the same (the next claim draws a
    -- new one), so `attempt` going down never reopens a stale writer's way in.
    update ops.runs r
    set status = case when r.cancel_requested_at is null then 'queued'::ops.run_status else 'cancelled'::ops.run_status end,
      worker_id = case when r.cancel_requested_at is null then null else r.worker_id end,
      attempt = case when r.cancel_requested_at is null then greatest(r.attempt - 1, 0) else r.attempt end,
      finished_at = case when r.cancel_requested_at is null then null else pg_catalog.now() end,
      updated_at = pg_catalog.now()
    from locked l where r.id = l.id
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data, attempt)
    select rel.id, 'info'::ops.event_level,
      case when rel.status = 'queued' then 'run:released' else 'run:cancelled' end,
      case when rel.status = 'queued' then 'handed back to the queue: ' || coalesce(p_reason, 'released') else 'cancelled while its worker stopped' end,
      pg_catalog.jsonb_build_object('worker_id', p_worker_id, 'lease', rel.lease::text),
      rel.attempt + case when rel.status = 'queued' then 1 else 0 end
    from rel
  )
  select * from rel;
end;
$$;

-- Progress, events, artifacts ----------------------------------------------------------------------------

create or replace function ops.update_progress(p_worker_id text, p_updates jsonb)
returns integer
language plpgsql security definer set search_path = ''
as $$
declare
  v_count integer;
begin
  with input as (
    select (e ->> 'id')::uuid as id, (e ->> 'lease')::bigint as lease, (e ->> 'progress')::real as progress, e ->> 'message' as message
    from pg_catalog.jsonb_array_elements(coalesce(p_updates, '[]'::jsonb)) e
  ),
  locked as (
    select r.id, i.progress, i.message from ops.runs r join input i on i.id = r.id and i.lease = r.lease
    where r.status = 'running'
    order by r.id
    for no key update of r
  )
  update ops.runs r
  set progress = l.progress, progress_message = l.message, updated_at = pg_catalog.now()
  from locked l
  where r.id = l.id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

-- Events with a lease are written only while it is the run's current one (a share lock holds the lease
-- still until the insert commits); events without one are an operator's notes (service_role only).
create or replace function ops.append_events(p_events jsonb)
returns integer
language plpgsql security definer set search_path = ''
as $$
declare
  v_count integer;
begin
  if p_events is null or pg_catalog.jsonb_typeof(p_events) <> 'array' then
    raise exception 'events must be an array' using errcode = 'OPVAL';
  end if;
  with input as (
    select x.ord, (e ->> 'run_id')::uuid as run_id, (e ->> 'lease')::bigint as lease, e
    from pg_catalog.jsonb_array_elements(p_events) with ordinality x(e, ord)
  ),
  held as (
    select r.id, r.lease, r.attempt from ops.runs r
    where r.id = any (array(select distinct input.run_id from input where input.lease is not null))
      and r.status = 'running'
    order by r.id
    for share of r
  )
  insert into ops.run_events (run_id, level, type, message, data, created_at, attempt)
  select i.run_id, coalesce((i.e ->> 'level')::ops.event_level, 'info'), coalesce(i.e ->> 'type', 'log'),
    coalesce(i.e ->> 'message', ''), i.e -> 'data', coalesce((i.e ->> 'at')::timestamptz, pg_catalog.now()), h.attempt
  from input i
  left join held h on h.id = i.run_id and h.lease = i.lease
  where i.lease is null or h.id is not null
  order by i.ord;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

create or replace function ops.create_artifacts(p_artifacts jsonb)
returns setof ops.artifacts
language plpgsql security definer set search_path = ''
as $$
declare
  v_lost text;
begin
  if p_artifacts is null or pg_catalog.jsonb_typeof(p_artifacts) <> 'array' then
    raise exception 'artifacts must be an array' using errcode = 'OPVAL';
  end if;
  -- An artifact that names a lease is recorded only while that lease is current; hold it still.
  perform 1 from ops.runs r
  where r.id = any (array(select distinct (a ->> 'run_id')::uuid from pg_catalog.jsonb_array_elements(p_artifacts) a
    where a ->> 'lease' is not null))
  order by r.id
  for share of r;
  select a ->> 'run_id' into v_lost
  from pg_catalog.jsonb_array_elements(p_artifacts) a
  where a ->> 'lease' is not null and not exists (
    select 1 from ops.runs r where r.id = (a ->> 'run_id')::uuid and r.status = 'running' and r.lease = (a ->> 'lease')::bigint)
  limit 1;
  if v_lost is not null then
    raise exception 'run % is no longer held by this lease (recovered, settled or claimed again)', v_lost
      using errcode = 'OPLST', detail = v_lost;
  end if;
  return query
  with ins as (
    insert into ops.artifacts (run_id, name, kind, content_type, size, sha256, storage_path, url, text_content, metadata, expires_at, attempt)
    select (a ->> 'run_id')::uuid, a ->> 'name', (a ->> 'kind')::ops.artifact_kind,
      coalesce(a ->> 'content_type', case a ->> 'kind' when 'text' then 'text/plain; charset=utf-8' when 'link' then 'text/uri-list' else 'application/octet-stream' end),
      coalesce((a ->> 'size')::bigint, case when a ->> 'kind' = 'text' then pg_catalog.octet_length(a ->> 'text') end),
      a ->> 'sha256', a ->> 'storage_path', a ->> 'url', a ->> 'text', coalesce(a -> 'metadata', '{}'::jsonb),
      coalesce((a ->> 'expires_at')::timestamptz, pg_catalog.now() + interval '90 days'),
      (select r.attempt from ops.runs r where r.id = (a ->> 'run_id')::uuid)
    from pg_catalog.jsonb_array_elements(p_artifacts) with ordinality x(a, ord)
    order by x.ord
    returning *
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data, attempt)
    select ins.run_id, 'info', 'artifact:created', 'artifact ' || ins.name || ' (' || ins.kind || ')',
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('artifact_id', ins.id, 'name', ins.name, 'kind', ins.kind, 'size', ins.size)),
      ins.attempt
    from ins
  )
  select * from ins;
end;
$$;

-- Recovery -------------------------------------------------------------------------------------------------

create or replace function ops.recover_stuck_runs(p_timeout_seconds integer default 30, p_limit integer default 1000)
returns setof ops.runs
language plpgsql security definer set search_path = ''
as $$
begin
  if p_timeout_seconds is null or p_timeout_seconds < 1 then
    raise exception 'timeout must be at least 1 second' using errcode = 'OPVAL';
  end if;
  return query
  with stuck as (
    select r.id, r.worker_id as old_worker, r.heartbeat_at as old_heartbeat, r.lease as old_lease,
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
    -- A recovered run keeps its run_at, so it goes back to its old place in the queue (priority, age).
    update ops.runs r
    set status = s.next_status,
      worker_id = case when s.next_status = 'queued' then null else r.worker_id end,
      finished_at = case when s.next_status = 'queued' then null else pg_catalog.now() end,
      progress = null, progress_message = null,
      error = case when s.next_status = 'cancelled' then r.error else pg_catalog.jsonb_build_object(
        'type', 'heartbeat_timeout',
        'message', 'worker ' || s.old_worker || ' sent no heartbeat for ' || p_timeout_seconds || ' s',
        'context', pg_catalog.jsonb_build_object('worker_id', s.old_worker, 'heartbeat_at', s.old_heartbeat,
          'timeout_seconds', p_timeout_seconds, 'attempt', r.attempt, 'max_attempts', r.max_attempts)) end,
      updated_at = pg_catalog.now()
    from stuck s
    where r.id = s.id
    returning r.*, s.old_worker, s.old_heartbeat, s.old_lease
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data, attempt)
    select upd.id, case when upd.status = 'failed' then 'error'::ops.event_level else 'warn'::ops.event_level end,
      'run:recovered',
      'recovered from worker ' || upd.old_worker || ' (no heartbeat since ' || upd.old_heartbeat || '): ' || upd.status,
      pg_catalog.jsonb_build_object('worker_id', upd.old_worker, 'heartbeat_at', upd.old_heartbeat, 'outcome', upd.status,
        'attempt', upd.attempt, 'lease', upd.old_lease::text),
      upd.attempt
    from upd
  ),
  dead as (
    -- The worker that went silent is marked stopped; a heartbeat of its own revives the row.
    update ops.workers w set stopped_at = pg_catalog.now()
    where w.id in (select distinct upd.old_worker from upd) and w.stopped_at is null
      and w.last_seen_at < pg_catalog.now() - pg_catalog.make_interval(secs => p_timeout_seconds)
  )
  select upd.id, upd.seq, upd.session_id, upd.kind, upd.lane, upd.priority, upd.params, upd.status, upd.attempt,
    upd.max_attempts, upd.timeout_seconds, upd.run_at, upd.idempotency_key, upd.template_name, upd.template_version,
    upd.worker_id, upd.claimed_at, upd.heartbeat_at, upd.started_at, upd.finished_at, upd.cancel_requested_at,
    upd.cancel_reason, upd.progress, upd.progress_message, upd.result, upd.error, upd.created_by, upd.created_at,
    upd.updated_at, upd.lease
  from upd;
end;
$$;

-- Cancels: lock in id order too, and tell the worker which lease the cancel is for. ------------------------

create or replace function ops.request_cancel(p_run_ids uuid[], p_reason text default null)
returns setof ops.runs
language plpgsql security definer set search_path = ''
as $$
declare
  v_actor uuid := ops.current_user_id();
begin
  if p_reason is not null and pg_catalog.char_length(p_reason) > 1000 then
    raise exception 'reason is longer than 1000 characters' using errcode = 'OPVAL';
  end if;
  return query
  with target as (
    select r.id, r.status, r.cancel_requested_at from ops.runs r where r.id = any (coalesce(p_run_ids, '{}'))
    order by r.id
    for no key update
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
    insert into ops.run_events (run_id, level, type, message, data, attempt)
    select n.id, 'info'::ops.event_level, 'run:cancelled', coalesce('cancelled: ' || p_reason, 'cancelled before it started'),
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('by', v_actor, 'reason', p_reason)), null::integer
    from now_cancelled n
    union all
    select f.id, 'info', 'run:cancel_requested', coalesce('cancel requested: ' || p_reason, 'cancel requested'),
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('by', v_actor, 'reason', p_reason, 'worker_id', f.worker_id,
        'lease', f.lease::text)), f.attempt
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

create or replace function ops.notify_runs_updated()
returns trigger
language plpgsql set search_path = ''
as $$
declare
  v_text text;
begin
  if pg_catalog.current_setting('ops.notified', true) = 'on' then
    return null;
  end if;
  for v_text in
    select distinct n.lane::text from new_rows n join old_rows o on o.id = n.id
    where n.status = 'queued' and o.status <> 'queued'
  loop
    perform pg_catalog.pg_notify('ops_runs_queued', v_text);
  end loop;
  for v_text in
    select pg_catalog.json_build_object('id', n.id, 'worker_id', n.worker_id, 'lease', n.lease::text)::text
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

-- New functions are executable by PUBLIC by default: take that back, then grant to the workers.
revoke execute on function ops.heartbeat(text, uuid[], bigint[], jsonb) from public, anon, authenticated;
revoke execute on function ops.ack_cancel(text, uuid[], bigint[], text) from public, anon, authenticated;
revoke execute on function ops.release_runs(text, uuid[], bigint[], text) from public, anon, authenticated;
grant execute on function ops.heartbeat(text, uuid[], bigint[], jsonb) to service_role;
grant execute on function ops.ack_cancel(text, uuid[], bigint[], text) to service_role;
grant execute on function ops.release_runs(text, uuid[], bigint[], text) to service_role;
