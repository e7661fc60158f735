-- Ops Control Room: claims read only the kind queue index; the row rules cost one expression.
--
-- Measured under a real worker (`pnpm bench worker`): a worker registers every handler it has, and
-- most of its kinds usually have nothing queued. claim_runs' plan is generic, and with the kinds'
-- statistics it read the lane index (idx_runs_status_lane) and filtered on kind, so every claim
-- for a kind with no queued runs walked the lane's whole queue: 11,000 rows and ~4.5 ms per claim
-- behind 11,000 queued runs of another kind, the largest cost of a drain at concurrency 10.
--
-- The lane index goes. A claim with kinds reads the head of each (lane, kind) on idx_runs_kind_queue
-- (the only queue index left, so no plan can walk another kind's queue); a claim without kinds first
-- finds the kinds that have queued runs with a loose scan of the same index (one descent per kind),
-- then claims as with kinds. One index entry less per enqueued run.
--
-- ops.runs_invariants (the row's CHECK) tests every rule in one expression first and walks the rules
-- one by one only for a row that breaks one, which raises the same error as before.
--
-- Everything else of claim_runs (fenced leases 20261130001000, lifecycle on the row 20261130008000,
-- notifications only while watched 20261130008100) is unchanged.

drop index ops.idx_runs_status_lane;

create or replace function ops.claim_runs(p_worker_id text, p_lanes ops.lane_type[], p_limits integer[], p_kinds text[] default null)
returns setof ops.runs
language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
declare
  v_ids uuid[];
  v_kinds text[];
  -- Read here, so the lock it takes on ops.change_listeners is held from before the claim to commit.
  v_watched boolean := ops.changes_watched();
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
  v_kinds := p_kinds;
  if v_kinds is null then
    -- Without kinds: the kinds that have queued runs, one descent of the kind index each (a loose
    -- index scan), then the same claim as with kinds.
    v_kinds := array(
      with recursive k(kind) as (
        (select r.kind from ops.runs r where r.status = 'queued' order by r.kind limit 1)
        union all
        select (select r.kind from ops.runs r where r.status = 'queued' and r.kind > k.kind order by r.kind limit 1)
        from k where k.kind is not null
      )
      select k.kind from k where k.kind is not null);
  end if;
  -- The head of each (lane, kind) on the kind queue index, so queued runs of other kinds are never
  -- read; then the best `lim` of each lane across its kinds, in queue order. With several kinds a
  -- claim may lock up to `lim` runs per kind for the length of its transaction and leave the surplus
  -- queued.
  v_ids := array(
    select x.id
    from (
      select c.id, lanes.lim,
        pg_catalog.row_number() over (partition by lanes.ord order by c.priority desc, c.run_at, c.seq) as rn
      from unnest(p_lanes, p_limits) with ordinality lanes(lane, lim, ord)
      cross join (select distinct k.kind from unnest(v_kinds) k(kind) where k.kind is not null) kinds
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
  perform pg_catalog.set_config('ops.notified', 'on', true);
  -- The run:claimed event is the row (worker_id, claimed_at, attempt, lease); only its id is drawn.
  -- Status and events notifications go out only while someone watches (ops.watch_changes).
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
    from (select c.id, c.session_id, c.status, c.lane, (pg_catalog.row_number() over () - 1) / 50 as grp from claimed c where v_watched) x
    group by x.grp
  ),
  evnotes as (
    select pg_catalog.pg_notify('ops_run_events', '{"run_ids":[' || pg_catalog.string_agg('"' || x.id || '"', ',') || ']}')
    from (select c.id, (pg_catalog.row_number() over () - 1) / 150 as grp from claimed c where v_watched) x
    group by x.grp
  )
  select c.* from claimed c
  where (select pg_catalog.count(*) from changes) >= 0 and (select pg_catalog.count(*) from evnotes) >= 0
  order by c.priority desc, c.run_at, c.seq;
  perform pg_catalog.set_config('ops.notified', 'off', true);
end;
$$;

create or replace function ops.runs_invariants(p_kind text, p_priority integer, p_params jsonb, p_attempt integer, p_max_attempts integer, p_timeout_seconds integer, p_idempotency_key text, p_template_name text, p_template_version integer, p_progress real, p_progress_message text, p_error jsonb, p_result jsonb, p_status ops.run_status, p_worker_id text, p_heartbeat_at timestamp with time zone, p_claimed_at timestamp with time zone, p_finished_at timestamp with time zone)
returns boolean
language plpgsql immutable
as $$
begin
  -- Every rule at once first: one expression instead of one statement per rule on every write of a
  -- row. Only a row that fails it (or where a rule comes out null) goes through the rules one by one,
  -- which raise the error that names the broken rule, or pass as before.
  if pg_catalog.char_length(p_kind) <= 100 and p_kind ~ '^[a-z0-9][a-z0-9_.:-]*$'
    and p_priority between -1000 and 1000
    and pg_catalog.jsonb_typeof(p_params) = 'object'
    and pg_catalog.pg_column_size(p_params) <= 262144
    and p_attempt >= 0 and p_attempt <= p_max_attempts
    and p_max_attempts between 1 and 100
    and (p_timeout_seconds is null or p_timeout_seconds between 1 and 604800)
    and (p_idempotency_key is null or pg_catalog.char_length(p_idempotency_key) between 1 and 200)
    and (p_template_name is null) = (p_template_version is null)
    and (p_progress is null or (p_progress >= 0 and p_progress <= 1))
    and (p_progress_message is null or pg_catalog.char_length(p_progress_message) <= 500)
    and (p_error is null or (pg_catalog.jsonb_typeof(p_error) = 'object' and p_error ? 'type' and p_error ? 'message'))
    and (p_result is null or pg_catalog.pg_column_size(p_result) <= 1048576)
    and (p_status <> 'running' or (p_worker_id is not null and p_heartbeat_at is not null and p_claimed_at is not null))
    and (p_status <> 'queued' or p_worker_id is null)
    and (p_status in ('succeeded', 'failed', 'cancelled')) = (p_finished_at is not null)
    and (p_status <> 'failed' or p_error is not null)
  then
    return true;
  end if;
  if not (pg_catalog.char_length(p_kind) <= 100 and p_kind ~ '^[a-z0-9][a-z0-9_.:-]*$') then
    raise exception 'kind % must be 1 to 100 characters of a-z, 0-9, "_", ".", ":" or "-", starting with a letter or digit', pg_catalog.left(p_kind, 120)
      using errcode = 'check_violation', constraint = 'runs_kind_format';
  end if;
  if not (p_priority between -1000 and 1000) then
    raise exception 'priority % is outside -1000 to 1000', p_priority
      using errcode = 'check_violation', constraint = 'runs_priority_range';
  end if;
  if not (pg_catalog.jsonb_typeof(p_params) = 'object') then
    raise exception 'params must be a JSON object'
      using errcode = 'check_violation', constraint = 'runs_params_object';
  end if;
  if not (pg_catalog.pg_column_size(p_params) <= 262144) then
    raise exception 'params take % bytes; the limit is 262144', pg_catalog.pg_column_size(p_params)
      using errcode = 'check_violation', constraint = 'runs_params_size';
  end if;
  if not (p_attempt >= 0 and p_attempt <= p_max_attempts) then
    raise exception 'attempt % is outside 0 to max_attempts (%)', p_attempt, p_max_attempts
      using errcode = 'check_violation', constraint = 'runs_attempt_range';
  end if;
  if not (p_max_attempts between 1 and 100) then
    raise exception 'max_attempts % is outside 1 to 100', p_max_attempts
      using errcode = 'check_violation', constraint = 'runs_max_attempts_range';
  end if;
  if not (p_timeout_seconds is null or p_timeout_seconds between 1 and 604800) then
    raise exception 'timeout_seconds % is outside 1 to 604800', p_timeout_seconds
      using errcode = 'check_violation', constraint = 'runs_timeout_range';
  end if;
  if not (p_idempotency_key is null or pg_catalog.char_length(p_idempotency_key) between 1 and 200) then
    raise exception 'an idempotency key must be 1 to 200 characters'
      using errcode = 'check_violation', constraint = 'runs_idempotency_key_length';
  end if;
  if not ((p_template_name is null) = (p_template_version is null)) then
    raise exception 'template_name and template_version go together'
      using errcode = 'check_violation', constraint = 'runs_template_pair';
  end if;
  if not (p_progress is null or (p_progress >= 0 and p_progress <= 1)) then
    raise exception 'progress % is outside 0 to 1', p_progress
      using errcode = 'check_violation', constraint = 'runs_progress_range';
  end if;
  if not (p_progress_message is null or pg_catalog.char_length(p_progress_message) <= 500) then
    raise exception 'a progress message must be at most 500 characters'
      using errcode = 'check_violation', constraint = 'runs_progress_message_length';
  end if;
  if not (p_error is null or (pg_catalog.jsonb_typeof(p_error) = 'object' and p_error ? 'type' and p_error ? 'message')) then
    raise exception 'an error must be a JSON object with "type" and "message"'
      using errcode = 'check_violation', constraint = 'runs_error_shape';
  end if;
  if not (p_result is null or pg_catalog.pg_column_size(p_result) <= 1048576) then
    raise exception 'the result takes % bytes; the limit is 1048576', pg_catalog.pg_column_size(p_result)
      using errcode = 'check_violation', constraint = 'runs_result_size';
  end if;
  -- A running run always belongs to a worker and has a heartbeat; a queued one belongs to nobody.
  if not (p_status <> 'running' or (p_worker_id is not null and p_heartbeat_at is not null and p_claimed_at is not null)) then
    raise exception 'a running run needs a worker, a heartbeat and a claim time'
      using errcode = 'check_violation', constraint = 'runs_running_has_owner';
  end if;
  if not (p_status <> 'queued' or p_worker_id is null) then
    raise exception 'a queued run belongs to no worker'
      using errcode = 'check_violation', constraint = 'runs_queued_has_no_owner';
  end if;
  if not ((p_status in ('succeeded', 'failed', 'cancelled')) = (p_finished_at is not null)) then
    raise exception 'finished_at is set exactly when a run is succeeded, failed or cancelled'
      using errcode = 'check_violation', constraint = 'runs_terminal_has_finished_at';
  end if;
  if not (p_status <> 'failed' or p_error is not null) then
    raise exception 'a failed run has an error'
      using errcode = 'check_violation', constraint = 'runs_failed_has_error';
  end if;
  return true;
end;
$$;
