-- Ops Control Room: a run's routine lifecycle lives on its own row (issue 15).
--
-- Before, every transition wrote one ops.run_events row: enqueued, claimed and succeeded cost an event
-- insert (a heap tuple, two index entries, its WAL) per run and step. Now, as River keeps
-- attempted_at/attempted_by/finalized_at and Oban its lifecycle timestamps on the job row:
--
-- * enqueued, claimed and succeeded are recorded on ops.runs (created_at/created_by, claimed_at/
--   worker_id/lease/attempt, finished_at), and the id each of those events has in the history is
--   drawn from the events' own sequence and kept on the row (enqueued_event_id, claimed_event_id,
--   finished_event_id). So ids stay unique, ordered as they were, and stable: tailing with afterId
--   works as before.
-- * Event rows are written only for what is not routine: a failed attempt (run:retry_scheduled,
--   run:failed), a recovery (run:recovered, the lost lease), a release, a cancel request and its
--   outcome, a retry, and the handler's own lines. A row that ends an attempt records that attempt's
--   claim (claim_event_id, claimed_at, claimed_by, lease), and the run's row forgets it
--   (claimed_event_id = null), so earlier attempts stay readable after the row moves on.
-- * ops.run_history(run_id, after_id) merges both into the list ops.run_events gave before, event for
--   event (packages/core/test/historyEquivalence.test.ts replays the lifecycle on both schemas).
--
-- Runs enqueued before this migration keep their event rows and have no event ids on the row, so
-- their history is read back unchanged. Notifications are unchanged here.

alter table ops.runs
  add column enqueued_event_id bigint,
  add column claimed_event_id bigint,
  add column finished_event_id bigint;

alter table ops.run_events
  add column claim_event_id bigint,
  add column claimed_at timestamptz,
  add column claimed_by text,
  add column lease bigint;

-- The claims of ended attempts, found per run without reading the run's log lines.
create index idx_events_claims on ops.run_events (run_id, claim_event_id) where claim_event_id is not null;

create or replace function ops.enqueue_runs(p_session_id uuid, p_runs jsonb)
returns setof ops.runs
language plpgsql security definer set search_path = ''
as $$
declare
  v_ids uuid[];
  v_keys text[];
  v_missing text;
  v_forbidden text;
  v_conflict text;
  v_unchecked text;
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

  -- A template's params schema is JSON Schema, which only the TypeScript layer checks. The executor
  -- API validates params and then says so for its transaction (ops.template_params_checked); a caller
  -- that is not trusted and did not come through it (PostgREST, a direct call) may not enqueue from
  -- a template that has a schema: that path is closed rather than left unvalidated.
  if not ops.caller_is_trusted()
    and pg_catalog.current_setting('ops.template_params_checked', true) is distinct from 'on'
  then
    select e.value ->> 'template_name' into v_unchecked
    from pg_catalog.jsonb_array_elements(p_runs) e
    where e.value ? 'template_name'
      and (
        select t.params_schema from ops.run_templates t
        where t.name = e.value ->> 'template_name'
          and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
        order by t.version desc
        limit 1
      ) is not null
    limit 1;
    if v_unchecked is not null then
      raise exception 'template % has a params schema: enqueue it through the executor API or the client, which validate params', v_unchecked
        using errcode = 'OPVAL', detail = v_unchecked;
    end if;
  end if;

  v_forbidden := ops.forbidden_kind(array(
    select distinct coalesce(e.value ->> 'kind', (
      select t.kind from ops.run_templates t
      where t.name = e.value ->> 'template_name'
        and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
      order by t.version desc
      limit 1
    ))
    from pg_catalog.jsonb_array_elements(p_runs) e
  ));
  if v_forbidden is not null then
    raise exception 'role % may not enqueue runs of kind %: ask an operator for a kind policy (ops.set_kind_policy)',
      ops.caller_role(), v_forbidden
      using errcode = '42501', detail = v_forbidden;
  end if;

  -- The run:enqueued event is the row itself (created_at, created_by, kind, lane, template); only its
  -- id in the history is drawn here.
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
      idempotency_key, template_name, template_version, created_by, enqueued_event_id)
    select i.new_id, p_session_id,
      coalesce(i.v ->> 'kind', i.t_kind),
      coalesce((i.v ->> 'lane')::ops.lane_type, i.t_lane, 'A'),
      coalesce((i.v ->> 'priority')::integer, i.t_priority, 0),
      coalesce(i.t_params, '{}'::jsonb) || coalesce(i.v -> 'params', '{}'::jsonb),
      coalesce((i.v ->> 'run_at')::timestamptz, pg_catalog.now()),
      coalesce((i.v ->> 'max_attempts')::integer, i.t_max_attempts, 1),
      coalesce((i.v ->> 'timeout_seconds')::integer, i.t_timeout),
      i.v ->> 'idempotency_key',
      i.t_name, i.t_version, v_actor,
      pg_catalog.nextval('ops.run_events_id_seq')
    from input i
    order by i.ord
    on conflict (session_id, idempotency_key) where idempotency_key is not null do nothing
  )
  select pg_catalog.array_agg(i.new_id order by i.ord), pg_catalog.array_agg(i.v ->> 'idempotency_key' order by i.ord)
  into v_ids, v_keys
  from input i;

  -- A key already used in this session (earlier, or by another element of this batch) answers with
  -- that run, but only for the same request: resolved against the existing run's template version,
  -- the element must give the same run (run_at only when given). Otherwise 409, as Stripe does.
  select e.value ->> 'idempotency_key' into v_conflict
  from pg_catalog.jsonb_array_elements(p_runs) with ordinality e(value, ord)
  join ops.runs r on r.session_id = p_session_id and r.idempotency_key = e.value ->> 'idempotency_key'
  left join ops.run_templates t on t.name = r.template_name and t.version = r.template_version
  where r.id <> v_ids[e.ord::integer]
    and not (
      (e.value ->> 'template_name') is not distinct from r.template_name
      and (e.value ->> 'template_version' is null or (e.value ->> 'template_version')::integer = r.template_version)
      and coalesce(e.value ->> 'kind', t.kind) = r.kind
      and coalesce((e.value ->> 'lane')::ops.lane_type, t.lane, 'A') = r.lane
      and coalesce((e.value ->> 'priority')::integer, t.priority, 0) = r.priority
      and coalesce(t.default_params, '{}'::jsonb) || coalesce(e.value -> 'params', '{}'::jsonb) = r.params
      and coalesce((e.value ->> 'max_attempts')::integer, t.max_attempts, 1) = r.max_attempts
      and coalesce((e.value ->> 'timeout_seconds')::integer, t.timeout_seconds) is not distinct from r.timeout_seconds
      and (e.value ->> 'run_at' is null or (e.value ->> 'run_at')::timestamptz = r.run_at)
    )
  limit 1;
  if v_conflict is not null then
    raise exception 'idempotency key % was already used in this session for a different request', v_conflict
      using errcode = 'OPIDC', detail = v_conflict;
  end if;

  return query
  select r.*
  from unnest(v_ids, v_keys) with ordinality u(id, key, ord)
  cross join lateral (
    select x.* from ops.runs x where x.id = u.id
    union all
    select y.* from ops.runs y
    where u.key is not null and y.session_id = p_session_id and y.idempotency_key = u.key and y.id <> u.id
  ) r
  order by u.ord;
end;
$$;

create or replace function ops.claim_runs(p_worker_id text, p_lanes ops.lane_type[], p_limits integer[], p_kinds text[] default null)
returns setof ops.runs
language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
declare
  v_ids uuid[];
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
  if p_kinds is null then
    -- Every kind: the head of each lane on the queue index.
    v_ids := array(
      select c.id
      from unnest(p_lanes, p_limits) lanes(lane, lim)
      cross join lateral (
        select r.id from ops.runs r
        where r.status = 'queued' and r.lane = lanes.lane and r.run_at <= pg_catalog.now()
        order by r.priority desc, r.run_at, r.seq
        limit lanes.lim
        for update skip locked
      ) c
      where lanes.lim > 0);
  else
    -- Some kinds: the head of each (lane, kind) on the kind queue index, so queued runs of other
    -- kinds are never read; then the best `lim` of each lane across its kinds, in queue order. With
    -- several kinds a claim may lock up to `lim` runs per kind for the length of its transaction and
    -- leave the surplus queued.
    v_ids := array(
      select x.id
      from (
        select c.id, lanes.lim,
          pg_catalog.row_number() over (partition by lanes.ord order by c.priority desc, c.run_at, c.seq) as rn
        from unnest(p_lanes, p_limits) with ordinality lanes(lane, lim, ord)
        cross join (select distinct k.kind from unnest(p_kinds) k(kind) where k.kind is not null) kinds
        cross join lateral (
          select r.id, r.priority, r.run_at, r.seq from ops.runs r
          where r.status = 'queued' and r.kind = kinds.kind and r.lane = lanes.lane and r.run_at <= pg_catalog.now()
          order by r.priority desc, r.run_at, r.seq
          limit lanes.lim
          for update skip locked
        ) c
        where lanes.lim > 0
      ) x
      where x.rn <= x.lim);
  end if;
  perform pg_catalog.set_config('ops.notified', 'on', true);
  -- The run:claimed event is the row (worker_id, claimed_at, attempt, lease); only its id is drawn.
  return query
  with claimed as (
    update ops.runs r
    set status = 'running', worker_id = p_worker_id, attempt = r.attempt + 1, claimed_at = pg_catalog.now(),
      heartbeat_at = pg_catalog.now(), started_at = coalesce(r.started_at, pg_catalog.now()), updated_at = pg_catalog.now(),
      lease = pg_catalog.nextval('ops.run_lease_seq'), progress = null, progress_message = null,
      claimed_event_id = pg_catalog.nextval('ops.run_events_id_seq')
    where r.id = any (v_ids)
    returning r.*
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
  locked as (
    -- Lock the rows in id order first, as request_cancel and the other multi-row writers do. The
    -- UPDATE below is planned as a hash join probed by `input`, so on its own it locked the rows in
    -- the order of the settlement batch, and deadlocked with a concurrent request_cancel.
    select r.id from ops.runs r
    where r.id = any (array(select input.id from input)) and r.status = 'running'
    order by r.id
    for no key update
  ),
  done as (
    -- The run:succeeded event is the row (finished_at, attempt, claimed_at); only its id is drawn.
    update ops.runs r
    set status = 'succeeded', result = i.result, error = null, finished_at = pg_catalog.now(), updated_at = pg_catalog.now(),
      finished_event_id = pg_catalog.nextval('ops.run_events_id_seq')
    from input i
    where r.id = any (array(select locked.id from locked)) and r.id = i.id and r.status = 'running' and r.lease = i.lease
    returning r.*
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
      coalesce((raw.e ->> 'retry_delay_ms')::bigint, (least(pg_catalog.power(2, greatest(r.attempt - 1, 0)), 3600) * 1000)::bigint) as delay_ms,
      r.worker_id as old_worker, r.claimed_event_id as old_claim
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
      claimed_event_id = null,
      updated_at = pg_catalog.now()
    from input i
    where r.id = i.id
    returning r.*, i.retry as retried, i.delay_ms, i.old_worker, i.old_claim
  ),
  ev as (
    -- The row ends the attempt, so it keeps that attempt's claim.
    insert into ops.run_events (run_id, level, type, message, data, attempt, claim_event_id, claimed_at, claimed_by, lease)
    select upd.id,
      case when upd.retried then 'warn'::ops.event_level else 'error'::ops.event_level end,
      case when upd.retried then 'run:retry_scheduled' else 'run:failed' end,
      pg_catalog.left(upd.error ->> 'type' || ': ' || (upd.error ->> 'message'), 16000),
      pg_catalog.jsonb_build_object('attempt', upd.attempt, 'error', upd.error, 'lease', upd.lease::text)
        || case when upd.retried then pg_catalog.jsonb_build_object('retry_in_ms', upd.delay_ms) else '{}'::jsonb end,
      upd.attempt, upd.old_claim, upd.claimed_at, upd.old_worker, upd.lease
    from upd
  )
  select upd.id, upd.seq, upd.session_id, upd.kind, upd.lane, upd.priority, upd.params, upd.status, upd.attempt,
    upd.max_attempts, upd.timeout_seconds, upd.run_at, upd.idempotency_key, upd.template_name, upd.template_version,
    upd.worker_id, upd.claimed_at, upd.heartbeat_at, upd.started_at, upd.finished_at, upd.cancel_requested_at,
    upd.cancel_reason, upd.progress, upd.progress_message, upd.result, upd.error, upd.created_by, upd.created_at,
    upd.updated_at, upd.lease, upd.enqueued_event_id, upd.claimed_event_id, upd.finished_event_id
  from upd;
end;
$$;

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
      r.claimed_event_id as old_claim,
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
      claimed_event_id = null,
      updated_at = pg_catalog.now()
    from stuck s
    where r.id = s.id
    returning r.*, s.old_worker, s.old_heartbeat, s.old_lease, s.old_claim
  ),
  ev as (
    -- The lost lease ends the attempt; the row keeps that attempt's claim.
    insert into ops.run_events (run_id, level, type, message, data, attempt, claim_event_id, claimed_at, claimed_by, lease)
    select upd.id, case when upd.status = 'failed' then 'error'::ops.event_level else 'warn'::ops.event_level end,
      'run:recovered',
      'recovered from worker ' || upd.old_worker || ' (no heartbeat since ' || upd.old_heartbeat || '): ' || upd.status,
      pg_catalog.jsonb_build_object('worker_id', upd.old_worker, 'heartbeat_at', upd.old_heartbeat, 'outcome', upd.status,
        'attempt', upd.attempt, 'lease', upd.old_lease::text),
      upd.attempt, upd.old_claim, upd.claimed_at, upd.old_worker, upd.old_lease
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
    upd.updated_at, upd.lease, upd.enqueued_event_id, upd.claimed_event_id, upd.finished_event_id
  from upd;
end;
$$;

create or replace function ops.release_runs(p_worker_id text, p_run_ids uuid[], p_leases bigint[], p_reason text default 'worker stopping')
returns setof ops.runs
language plpgsql security definer set search_path = ''
as $$
begin
  if pg_catalog.cardinality(coalesce(p_run_ids, '{}')) <> pg_catalog.cardinality(coalesce(p_leases, '{}')) then
    raise exception 'run ids and leases must be arrays of the same length' using errcode = 'OPVAL';
  end if;
  return query
  with locked as (
    select r.id, r.worker_id as old_worker, r.claimed_event_id as old_claim from ops.runs r
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
      claimed_event_id = null,
      updated_at = pg_catalog.now()
    from locked l where r.id = l.id
    returning r.*, l.old_worker, l.old_claim
  ),
  ev as (
    -- The release ends the attempt; the row keeps that attempt's claim.
    insert into ops.run_events (run_id, level, type, message, data, attempt, claim_event_id, claimed_at, claimed_by, lease)
    select rel.id, 'info'::ops.event_level,
      case when rel.status = 'queued' then 'run:released' else 'run:cancelled' end,
      case when rel.status = 'queued' then 'handed back to the queue: ' || coalesce(p_reason, 'released') else 'cancelled while its worker stopped' end,
      pg_catalog.jsonb_build_object('worker_id', p_worker_id, 'lease', rel.lease::text),
      rel.attempt + case when rel.status = 'queued' then 1 else 0 end,
      rel.old_claim, rel.claimed_at, rel.old_worker, rel.lease
    from rel
  )
  select rel.id, rel.seq, rel.session_id, rel.kind, rel.lane, rel.priority, rel.params, rel.status, rel.attempt,
    rel.max_attempts, rel.timeout_seconds, rel.run_at, rel.idempotency_key, rel.template_name, rel.template_version,
    rel.worker_id, rel.claimed_at, rel.heartbeat_at, rel.started_at, rel.finished_at, rel.cancel_requested_at,
    rel.cancel_reason, rel.progress, rel.progress_message, rel.result, rel.error, rel.created_by, rel.created_at,
    rel.updated_at, rel.lease, rel.enqueued_event_id, rel.claimed_event_id, rel.finished_event_id
  from rel;
end;
$$;

create or replace function ops.ack_cancel(p_worker_id text, p_run_ids uuid[], p_leases bigint[], p_note text default null)
returns setof ops.runs
language plpgsql security definer set search_path = ''
as $$
begin
  if pg_catalog.cardinality(coalesce(p_run_ids, '{}')) <> pg_catalog.cardinality(coalesce(p_leases, '{}')) then
    raise exception 'run ids and leases must be arrays of the same length' using errcode = 'OPVAL';
  end if;
  return query
  with locked as (
    select r.id, r.claimed_event_id as old_claim from ops.runs r
    join unnest(p_run_ids, p_leases) u(id, lease) on u.id = r.id and u.lease = r.lease
    where r.status = 'running' and r.cancel_requested_at is not null
    order by r.id
    for no key update of r
  ),
  done as (
    update ops.runs r
    set status = 'cancelled', finished_at = pg_catalog.now(), claimed_event_id = null, updated_at = pg_catalog.now()
    from locked l where r.id = l.id
    returning r.*, l.old_claim
  ),
  ev as (
    -- The cancel ends the attempt; the row keeps that attempt's claim.
    insert into ops.run_events (run_id, level, type, message, data, attempt, claim_event_id, claimed_at, claimed_by, lease)
    select done.id, 'info', 'run:cancelled', coalesce(p_note, 'cancelled by worker ' || p_worker_id),
      pg_catalog.jsonb_build_object('worker_id', p_worker_id, 'attempt', done.attempt,
        'latency_ms', (extract(epoch from done.finished_at - done.cancel_requested_at) * 1000)::bigint),
      done.attempt, done.old_claim, done.claimed_at, done.worker_id, done.lease
    from done
  )
  select done.id, done.seq, done.session_id, done.kind, done.lane, done.priority, done.params, done.status, done.attempt,
    done.max_attempts, done.timeout_seconds, done.run_at, done.idempotency_key, done.template_name, done.template_version,
    done.worker_id, done.claimed_at, done.heartbeat_at, done.started_at, done.finished_at, done.cancel_requested_at,
    done.cancel_reason, done.progress, done.progress_message, done.result, done.error, done.created_by, done.created_at,
    done.updated_at, done.lease, done.enqueued_event_id, done.claimed_event_id, done.finished_event_id
  from done;
end;
$$;

-- A run's whole history, in the order and with the ids ops.run_events gave before this migration:
-- the event rows, the claims recorded by the rows that ended their attempts, and what the run's own
-- row holds (enqueued, the current attempt's claim, succeeded). Tail with p_after_id. A plain SQL
-- function without SET options, so the planner inlines it and pushes `order by id limit n` into
-- it. Security invoker: RLS and grants of ops.runs and ops.run_events decide what a caller reads.
create function ops.run_history(p_run_id uuid, p_after_id bigint default 0)
returns table (id bigint, run_id uuid, level ops.event_level, type text, message text, data jsonb,
  created_at timestamptz, attempt integer)
language sql stable
as $$
  select e.id, e.run_id, e.level, e.type, e.message, e.data, e.created_at, e.attempt
  from ops.run_events e
  where e.run_id = p_run_id and e.id > p_after_id
  union all
  select e.claim_event_id, e.run_id, 'info'::ops.event_level, 'run:claimed'::text, 'claimed by ' || e.claimed_by,
    pg_catalog.jsonb_build_object('worker_id', e.claimed_by, 'attempt', e.attempt, 'lease', e.lease::text),
    e.claimed_at, e.attempt
  from ops.run_events e
  where e.run_id = p_run_id and e.claim_event_id > p_after_id
  union all
  select x.id, r.id, 'info'::ops.event_level, x.type, x.message, x.data, x.at, x.attempt
  from ops.runs r
  cross join lateral (values
    (r.enqueued_event_id, 'run:enqueued'::text, 'enqueued in lane ' || r.lane::text,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('by', r.created_by, 'kind', r.kind,
        'template', r.template_name, 'template_version', r.template_version)),
      r.created_at, null::integer),
    (r.claimed_event_id, 'run:claimed'::text, 'claimed by ' || r.worker_id,
      pg_catalog.jsonb_build_object('worker_id', r.worker_id, 'attempt', r.attempt, 'lease', r.lease::text),
      r.claimed_at, r.attempt),
    (case when r.status = 'succeeded' then r.finished_event_id end, 'run:succeeded'::text, 'succeeded'::text,
      pg_catalog.jsonb_build_object('attempt', r.attempt,
        'duration_ms', (extract(epoch from r.finished_at - r.claimed_at) * 1000)::bigint),
      r.finished_at, r.attempt)
  ) x(id, type, message, data, at, attempt)
  where r.id = p_run_id and x.id > p_after_id
$$;

revoke execute on function ops.run_history(uuid, bigint) from public, anon;
grant execute on function ops.run_history(uuid, bigint) to authenticated, service_role;
