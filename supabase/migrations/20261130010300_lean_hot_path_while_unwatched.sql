-- Ops Control Room: claim_runs and complete_runs skip their notification steps while nobody watches
-- (issue 15).
--
-- Since 20261130008100 the two functions notify only while a watcher is registered, but the
-- notification CTEs stayed in the one statement and PostgreSQL builds every node of a plan on each
-- call, executed or not. With nobody watching (workers never watch) each function now runs the
-- update alone; with a watcher, the same statement as before. Nothing else changes: locks, leases,
-- lifecycle ids and notifications are those of 20261130010000 (claim_runs) and 20261130008100
-- (complete_runs).

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

create or replace function ops.complete_runs(p_worker_id text, p_results jsonb)
returns setof ops.runs
language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
declare
  -- Read first, so the lock it takes on ops.change_listeners is held from here to commit.
  v_watched boolean := ops.changes_watched();
begin
  if p_results is null or pg_catalog.jsonb_typeof(p_results) <> 'array' then
    raise exception 'results must be an array' using errcode = 'OPVAL';
  end if;
  perform pg_catalog.set_config('ops.notified', 'on', true);
  -- Status and events notifications go out only while someone watches (ops.watch_changes).
  if not v_watched then
    -- Nobody watches: the update alone, without the notification steps.
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
    )
    select d.* from done d;
  else
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
      from (select c.id, c.session_id, c.status, c.lane, (pg_catalog.row_number() over () - 1) / 50 as grp from done c where v_watched) x
      group by x.grp
    ),
    evnotes as (
      select pg_catalog.pg_notify('ops_run_events', '{"run_ids":[' || pg_catalog.string_agg('"' || x.id || '"', ',') || ']}')
      from (select c.id, (pg_catalog.row_number() over () - 1) / 150 as grp from done c where v_watched) x
      group by x.grp
    )
    select d.* from done d
    where (select pg_catalog.count(*) from changes) >= 0 and (select pg_catalog.count(*) from evnotes) >= 0;
  end if;
  perform pg_catalog.set_config('ops.notified', 'off', true);
end;
$$;
