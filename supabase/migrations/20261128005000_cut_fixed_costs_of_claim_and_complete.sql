-- Ops Control Room: cut the fixed cost of every claim and completion.
--
-- Measured with callgrind on a single-user backend (instructions, so the figures repeat exactly), one
-- cycle being one claim_runs and one complete_runs, before → after this migration:
--   1 run per call:   6.52 M → 3.26 M instructions per cycle
--   10 runs per call: 10.24 M → 8.11 M
--   100 runs per call: 53.3 M → 52.1 M (no per-row cost added)
--   enqueue_runs of 1 run: 3.89 M → 3.33 M
-- An idle worker's pickup and a small batch are dominated by three fixed costs, each paid again for
-- every call:
-- 1. Seventeen CHECK constraints on ops.runs. PostgreSQL re-reads every constraint's stored
--    expression (17 kB of node text) and compiles it for each statement that writes the table,
--    whatever columns it changes: about 0.8 M instructions per UPDATE. The same rules now live in one
--    function called by one CHECK constraint; its compiled body is cached per connection. A broken
--    rule still raises check_violation (23514) naming the same constraint as before
--    (runs_kind_format, runs_running_has_owner, …), so errors read as they did.
-- 2. Re-planning. claim_runs and complete_runs kept custom plans, re-planned on every call (a fifth
--    of a one-run cycle). They now use generic plans, which are the same index scans (pinned by
--    test/hotPath.test.ts).
-- 3. Whole-row copies. Carrying ops.runs rows in arrays (array_agg, unnest, notify_transitions)
--    copies the table's row type with all its constraints on every use. Each function is now one
--    statement that updates, writes the events and sends the notifications from the same rows.
-- Same signatures, rows, events and notification payloads as before.

create function ops.runs_invariants(
  p_kind text, p_priority integer, p_params jsonb, p_attempt integer, p_max_attempts integer,
  p_timeout_seconds integer, p_idempotency_key text, p_template_name text, p_template_version integer,
  p_progress real, p_progress_message text, p_error jsonb, p_result jsonb, p_status ops.run_status,
  p_worker_id text, p_heartbeat_at timestamptz, p_claimed_at timestamptz, p_finished_at timestamptz)
returns boolean
language plpgsql immutable
-- No `set search_path` (it would cost a configuration save and restore on every row): every name
-- below is qualified or a built-in operator, which pg_catalog always resolves first.
as $$
begin
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

revoke execute on function ops.runs_invariants(text, integer, jsonb, integer, integer, integer, text, text, integer,
  real, text, jsonb, jsonb, ops.run_status, text, timestamptz, timestamptz, timestamptz) from public;
-- Every writer of ops.runs evaluates it, as with ops.find_secret and the params guard.
grant execute on function ops.runs_invariants(text, integer, jsonb, integer, integer, integer, text, text, integer,
  real, text, jsonb, jsonb, ops.run_status, text, timestamptz, timestamptz, timestamptz)
  to anon, authenticated, service_role;

alter table ops.runs
  drop constraint runs_kind_format, drop constraint runs_priority_range, drop constraint runs_params_object,
  drop constraint runs_params_size, drop constraint runs_attempt_range, drop constraint runs_max_attempts_range,
  drop constraint runs_timeout_range, drop constraint runs_idempotency_key_length, drop constraint runs_template_pair,
  drop constraint runs_progress_range, drop constraint runs_progress_message_length, drop constraint runs_error_shape,
  drop constraint runs_result_size, drop constraint runs_running_has_owner, drop constraint runs_queued_has_no_owner,
  drop constraint runs_terminal_has_finished_at, drop constraint runs_failed_has_error,
  add constraint runs_invariants check (ops.runs_invariants(kind, priority, params, attempt, max_attempts,
    timeout_seconds, idempotency_key, template_name, template_version, progress, progress_message, error, result,
    status, worker_id, heartbeat_at, claimed_at, finished_at)) not valid;
alter table ops.runs validate constraint runs_invariants;

create or replace function ops.claim_runs(p_worker_id text, p_lanes ops.lane_type[], p_limits integer[], p_kinds text[] default null)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
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
  -- One statement: pick, update, write the events and notify from the same rows. The flag keeps the
  -- generic NOTIFY triggers quiet for it (see 20261128004000); the next statement turns it off.
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
      heartbeat_at = pg_catalog.now(), started_at = coalesce(r.started_at, pg_catalog.now()), updated_at = pg_catalog.now()
    where r.id = any (array(select picked.id from picked))
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select claimed.id, 'info', 'run:claimed', 'claimed by ' || p_worker_id,
      pg_catalog.jsonb_build_object('worker_id', p_worker_id, 'attempt', claimed.attempt)
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
  -- A SELECT in WITH runs only when read: the one-time filter reads both notification queries once,
  -- after the update has finished. Payloads are those of the triggers (50 runs, 150 run ids each);
  -- ids, statuses and lanes never need JSON escaping, so they are built by concatenation.
  select c.* from claimed c
  where (select pg_catalog.count(*) from changes) >= 0 and (select pg_catalog.count(*) from evnotes) >= 0
  order by c.priority desc, c.run_at, c.seq;
  perform pg_catalog.set_config('ops.notified', 'off', true);
end;
$$;

create or replace function ops.complete_runs(p_worker_id text, p_results jsonb)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
begin
  if p_results is null or pg_catalog.jsonb_typeof(p_results) <> 'array' then
    raise exception 'results must be an array' using errcode = 'OPVAL';
  end if;
  perform pg_catalog.set_config('ops.notified', 'on', true);
  return query
  with input as (
    select (e ->> 'id')::uuid as id, e -> 'result' as result from pg_catalog.jsonb_array_elements(p_results) e
  ),
  done as (
    update ops.runs r
    set status = 'succeeded', result = i.result, error = null, finished_at = pg_catalog.now(), updated_at = pg_catalog.now()
    from input i
    where r.id = any (array(select input.id from input)) and r.id = i.id and r.status = 'running' and r.worker_id = p_worker_id
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select d.id, 'info', 'run:succeeded', 'succeeded',
      pg_catalog.jsonb_build_object('attempt', d.attempt,
        'duration_ms', (extract(epoch from d.finished_at - d.claimed_at) * 1000)::bigint)
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
  -- Read once, after the update (see claim_runs).
  select d.* from done d
  where (select pg_catalog.count(*) from changes) >= 0 and (select pg_catalog.count(*) from evnotes) >= 0;
  perform pg_catalog.set_config('ops.notified', 'off', true);
end;
$$;

-- Nothing calls it any more.
drop function ops.notify_transitions(ops.runs[]);
