-- Ops Control Room: a completion is a HOT update (issue 15, WAL per run).
--
-- A claim and a completion each wrote a new version of the run's row into every index of ops.runs:
-- the status was in the queue index's predicate and in idx_runs_session_stats, the running runs had
-- idx_runs_running and the finished ones idx_runs_finished. pg_walinspect counted ten index entries
-- (733 B) of the 1,385 B that a claim and a completion wrote per run.
--
-- Now no index of ops.runs holds a column that a completion writes (status, result, error,
-- finished_at, updated_at, finished_event_id), so PostgreSQL keeps the new version on the row's page
-- with no index entry (a HOT update):
--   * The queue index's predicate is `worker_id is null and cancel_requested_at is null`. A claim sets
--     the worker and a cancel sets its request; neither changes at completion. The row's rules gain
--     one: a run is queued exactly when it has no worker and no cancel request, so the predicate and
--     the status cannot drift apart (every writer already kept it; the check makes a new one keep it).
--   * idx_runs_running, idx_runs_finished and idx_runs_session_stats are dropped. The sweep
--     (recover_stuck_runs), the finished-runs window of queue_stats, retention and session_stats read
--     the table instead. session_stats took as long with its index as without (300,000 runs: 77 ms
--     and 76 ms, the index was not index-only in practice); the sweep went from 0.8 ms to 35 ms at
--     300,000 runs (150 ms at 1,000,000), once per sweep interval (4 s) for the whole fleet.
--
-- The claim still writes entries (primary key, idx_runs_seq, idx_runs_session): its row leaves the
-- queue. Measured with pg_walinspect (2,000 runs, claims of 10, no full-page images): claim and
-- completion 1,385 -> 806 B per run, the enqueue 601 -> 512 B.

create or replace function ops.runs_invariants(r ops.runs)
returns boolean
language plpgsql immutable
as $$
begin
  -- Every rule at once first: one expression instead of one statement per rule on every write of a
  -- row. Only a row that fails it (or where a rule comes out null) goes through the rules one by one,
  -- which raise the error that names the broken rule, or pass as before.
  if pg_catalog.char_length(r.kind) <= 100 and r.kind ~ '^[a-z0-9][a-z0-9_.:-]*$'
    and r.priority between -1000 and 1000
    and pg_catalog.jsonb_typeof(r.params) = 'object'
    and pg_catalog.pg_column_size(r.params) <= 262144
    and r.attempt >= 0 and r.attempt <= r.max_attempts
    and r.max_attempts between 1 and 100
    and (r.timeout_seconds is null or r.timeout_seconds between 1 and 604800)
    and (r.idempotency_key is null or pg_catalog.char_length(r.idempotency_key) between 1 and 200)
    and (r.template_name is null) = (r.template_version is null)
    and (r.progress is null or (r.progress >= 0 and r.progress <= 1))
    and (r.progress_message is null or pg_catalog.char_length(r.progress_message) <= 500)
    and (r.error is null or (pg_catalog.jsonb_typeof(r.error) = 'object' and r.error ? 'type' and r.error ? 'message'))
    and (r.result is null or pg_catalog.pg_column_size(r.result) <= 1048576)
    and (r.status <> 'running' or (r.worker_id is not null and r.heartbeat_at is not null and r.claimed_at is not null))
    and (r.status <> 'queued' or r.worker_id is null)
    and (r.status = 'queued') = (r.worker_id is null and r.cancel_requested_at is null)
    and (r.status in ('succeeded', 'failed', 'cancelled')) = (r.finished_at is not null)
    and (r.status <> 'failed' or r.error is not null)
  then
    return true;
  end if;
  if not (pg_catalog.char_length(r.kind) <= 100 and r.kind ~ '^[a-z0-9][a-z0-9_.:-]*$') then
    raise exception 'kind % must be 1 to 100 characters of a-z, 0-9, "_", ".", ":" or "-", starting with a letter or digit', pg_catalog.left(r.kind, 120)
      using errcode = 'check_violation', constraint = 'runs_kind_format';
  end if;
  if not (r.priority between -1000 and 1000) then
    raise exception 'priority % is outside -1000 to 1000', r.priority
      using errcode = 'check_violation', constraint = 'runs_priority_range';
  end if;
  if not (pg_catalog.jsonb_typeof(r.params) = 'object') then
    raise exception 'params must be a JSON object'
      using errcode = 'check_violation', constraint = 'runs_params_object';
  end if;
  if not (pg_catalog.pg_column_size(r.params) <= 262144) then
    raise exception 'params take % bytes; the limit is 262144', pg_catalog.pg_column_size(r.params)
      using errcode = 'check_violation', constraint = 'runs_params_size';
  end if;
  if not (r.attempt >= 0 and r.attempt <= r.max_attempts) then
    raise exception 'attempt % is outside 0 to max_attempts (%)', r.attempt, r.max_attempts
      using errcode = 'check_violation', constraint = 'runs_attempt_range';
  end if;
  if not (r.max_attempts between 1 and 100) then
    raise exception 'max_attempts % is outside 1 to 100', r.max_attempts
      using errcode = 'check_violation', constraint = 'runs_max_attempts_range';
  end if;
  if not (r.timeout_seconds is null or r.timeout_seconds between 1 and 604800) then
    raise exception 'timeout_seconds % is outside 1 to 604800', r.timeout_seconds
      using errcode = 'check_violation', constraint = 'runs_timeout_range';
  end if;
  if not (r.idempotency_key is null or pg_catalog.char_length(r.idempotency_key) between 1 and 200) then
    raise exception 'an idempotency key must be 1 to 200 characters'
      using errcode = 'check_violation', constraint = 'runs_idempotency_key_length';
  end if;
  if not ((r.template_name is null) = (r.template_version is null)) then
    raise exception 'template_name and template_version go together'
      using errcode = 'check_violation', constraint = 'runs_template_pair';
  end if;
  if not (r.progress is null or (r.progress >= 0 and r.progress <= 1)) then
    raise exception 'progress % is outside 0 to 1', r.progress
      using errcode = 'check_violation', constraint = 'runs_progress_range';
  end if;
  if not (r.progress_message is null or pg_catalog.char_length(r.progress_message) <= 500) then
    raise exception 'a progress message must be at most 500 characters'
      using errcode = 'check_violation', constraint = 'runs_progress_message_length';
  end if;
  if not (r.error is null or (pg_catalog.jsonb_typeof(r.error) = 'object' and r.error ? 'type' and r.error ? 'message')) then
    raise exception 'an error must be a JSON object with "type" and "message"'
      using errcode = 'check_violation', constraint = 'runs_error_shape';
  end if;
  if not (r.result is null or pg_catalog.pg_column_size(r.result) <= 1048576) then
    raise exception 'the result takes % bytes; the limit is 1048576', pg_catalog.pg_column_size(r.result)
      using errcode = 'check_violation', constraint = 'runs_result_size';
  end if;
  -- A running run always belongs to a worker and has a heartbeat; a queued one belongs to nobody.
  if not (r.status <> 'running' or (r.worker_id is not null and r.heartbeat_at is not null and r.claimed_at is not null)) then
    raise exception 'a running run needs a worker, a heartbeat and a claim time'
      using errcode = 'check_violation', constraint = 'runs_running_has_owner';
  end if;
  if not (r.status <> 'queued' or r.worker_id is null) then
    raise exception 'a queued run belongs to no worker'
      using errcode = 'check_violation', constraint = 'runs_queued_has_no_owner';
  end if;
  if not ((r.status in ('succeeded', 'failed', 'cancelled')) = (r.finished_at is not null)) then
    raise exception 'finished_at is set exactly when a run is succeeded, failed or cancelled'
      using errcode = 'check_violation', constraint = 'runs_terminal_has_finished_at';
  end if;
  if not (r.status <> 'failed' or r.error is not null) then
    raise exception 'a failed run has an error'
      using errcode = 'check_violation', constraint = 'runs_failed_has_error';
  end if;
  if not ((r.status = 'queued') = (r.worker_id is null and r.cancel_requested_at is null)) then
    raise exception 'a run is queued exactly when it has no worker and no cancel request (status %)', r.status
      using errcode = 'check_violation', constraint = 'runs_queue_membership';
  end if;
  return true;
end;
$$;

-- The queue index, with a predicate a completion does not touch. Old rows that break the new rule
-- (only a direct write could make one) stay readable; the claim's status filter skips them.
drop index ops.idx_runs_kind_queue;
create index idx_runs_kind_queue on ops.runs (kind, lane, priority desc, run_at, seq)
  where worker_id is null and cancel_requested_at is null;
drop index ops.idx_runs_running;
drop index ops.idx_runs_finished;
drop index ops.idx_runs_session_stats;
-- A completion is HOT only if the row's page has room for the new version. A claim's new versions
-- fill fresh pages up to the fillfactor, so with 10 % free (fillfactor 90, for heartbeats) only a few
-- of the runs a big claim put on a page could complete there. Measured with 2,000 runs claimed 80
-- at a time: fillfactor 90 -> 1,598 B of WAL per run, 80 -> 1,515, 70 -> 1,437, 60 -> 1,347,
-- 50 -> 1,345; the table after the drain was no bigger at 60 (928 KB) than at 90 (1,064 KB), because
-- fewer updates move a row to another page. New pages of queued runs hold fewer rows until they run.
alter table ops.runs set (fillfactor = 60);

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
        (select r.kind from ops.runs r where r.worker_id is null and r.cancel_requested_at is null and r.status = 'queued' order by r.kind limit 1)
        union all
        select (select r.kind from ops.runs r where r.worker_id is null and r.cancel_requested_at is null and r.status = 'queued' and r.kind > k.kind order by r.kind limit 1)
        from k where k.kind is not null
      )
      select k.kind from k where k.kind is not null);
  end if;
  -- The head of each (lane, kind) on the kind queue index (its predicate is `worker_id is null and
  -- cancel_requested_at is null`, which the row's rules make true exactly of queued runs; the status
  -- test stays as a filter), so queued runs of other kinds are never read; then the best `lim` of
  -- each lane across its kinds, in queue order. With several kinds a claim may lock up to `lim` runs
  -- per kind for the length of its transaction and leave the surplus queued.
  v_ids := array(
    select x.id
    from (
      select c.id, lanes.lim,
        pg_catalog.row_number() over (partition by lanes.ord order by c.priority desc, c.run_at, c.seq) as rn
      from unnest(p_lanes, p_limits) with ordinality lanes(lane, lim, ord)
      cross join (select distinct k.kind from unnest(v_kinds) k(kind) where k.kind is not null) kinds
      cross join lateral (
        select r.id, r.priority, r.run_at, r.seq from ops.runs r
        where r.worker_id is null and r.cancel_requested_at is null and r.status = 'queued' and r.kind = kinds.kind and r.lane = lanes.lane and r.run_at <= pg_catalog.now()
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
  if not v_watched then
    -- Nobody watches (the usual case under load): the update alone, without the notification steps,
    -- whose plan nodes are built on every call even when they send nothing.
    return query
    with claimed as (
      update ops.runs r
      set status = 'running', worker_id = p_worker_id, attempt = r.attempt + 1, claimed_at = pg_catalog.now(),
        heartbeat_at = pg_catalog.now(), started_at = coalesce(r.started_at, pg_catalog.now()), updated_at = pg_catalog.now(),
        lease = pg_catalog.nextval('ops.run_lease_seq'), progress = null, progress_message = null,
        claimed_event_id = pg_catalog.nextval('ops.run_events_id_seq')
      where r.id = any (v_ids)
      returning r.*
    )
    select c.* from claimed c
    order by c.priority desc, c.run_at, c.seq;
  else
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
  end if;
  perform pg_catalog.set_config('ops.notified', 'off', true);
end;
$$;

create or replace function ops.recover_stuck_runs(p_timeout_seconds integer DEFAULT 30, p_limit integer DEFAULT 1000)
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
    -- No index holds the running runs any more (a completion would then change an indexed column and
    -- could not be a HOT update): the sweep reads the table. Measured in the migration's header.
    where r.status = 'running'
      and r.heartbeat_at < pg_catalog.now() - pg_catalog.make_interval(secs => p_timeout_seconds)
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
