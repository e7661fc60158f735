-- Ops Control Room: an idle worker's claim is one statement (issue 15, pickup latency).
--
-- An idle worker woken by a NOTIFY claims one lane. ops.claim_runs ran two statements for it: the
-- ids of the runs to take (the head of each lane and kind, ranked across lanes by a window function),
-- then their update. Each statement inside a function pays its own executor start-up, snapshot and
-- cached-plan checks on every call, and on an idle worker's claim nothing of it is warm in the CPU's
-- caches. Measured by a claim after 5-15 ms of idleness (one run queued, 1 lane, 2 kinds, 280
-- interleaved samples each, round trip inside a transaction): ops.claim_runs 1.23-1.30 ms p50, the
-- same claim as one statement with no window function 0.87-0.89 ms, as two statements (ids, then the
-- update) 1.17 ms; graphile-worker's get_job 0.60-0.68 ms beside them.
--
-- A claim of one lane while nobody watches now takes the head of each kind on the kind queue index,
-- keeps the best `lim` in queue order and updates them in one statement. Several lanes, and any claim
-- while someone watches (its notifications), take the path as before. `pnpm bench sql` barely moves
-- (a one-run claim 1.31 -> 1.26 M instructions): the second statement's cost was cache misses, which
-- callgrind does not count. In the worker's pickup, timed hop by hop before and after in one sitting,
-- the claim's round trip did not move (1.09 and 1.11 ms): a claim right after a NOTIFY is not as
-- cold as the isolated measurement's.
--
-- The update finds the claimed runs by primary key (`id = any (array(...))`). Joined with the claimed
-- ids it became a hash join over the whole table once the table held 10,000 runs (2.8 ms a claim): a
-- generic plan guesses a tenth of the rows for a `limit` taken from a parameter.

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
  -- One lane while nobody watches (an idle worker's pickup, and a worker of one lane under load): the
  -- head of each kind on the kind queue index, the best `lim` of them in queue order, and their update,
  -- all in one statement. A statement inside this function pays its executor start-up, snapshot and
  -- plan checks on every call; an idle worker's claim paid them twice, and for the window function
  -- that only ranks several lanes.
  if not v_watched and pg_catalog.cardinality(p_lanes) = 1 then
    perform pg_catalog.set_config('ops.notified', 'on', true);
    return query
    with picked as (
      select c.id
      from (select distinct k.kind from unnest(v_kinds) k(kind) where k.kind is not null) kinds
      cross join lateral (
        select r.id, r.priority, r.run_at, r.seq from ops.runs r
        where r.worker_id is null and r.cancel_requested_at is null and r.status = 'queued' and r.kind = kinds.kind and r.lane = p_lanes[1] and r.run_at <= pg_catalog.now()
        order by r.priority desc, r.run_at, r.seq
        limit p_limits[1]
        for update skip locked
      ) c
      order by c.priority desc, c.run_at, c.seq
      limit p_limits[1]
    ),
    claimed as (
      update ops.runs r
      set status = 'running', worker_id = p_worker_id, attempt = r.attempt + 1, claimed_at = pg_catalog.now(),
        heartbeat_at = pg_catalog.now(), started_at = coalesce(r.started_at, pg_catalog.now()), updated_at = pg_catalog.now(),
        lease = pg_catalog.nextval('ops.run_lease_seq'), progress = null, progress_message = null,
        claimed_event_id = pg_catalog.nextval('ops.run_events_id_seq')
      -- By primary key, whatever the generic plan guesses for `limit` (a join with the claimed ids
      -- became a hash join over the whole table once the table held 100,000 runs).
      where r.id = any (array(select p.id from picked p))
      returning r.*
    )
    select c.* from claimed c
    order by c.priority desc, c.run_at, c.seq;
    perform pg_catalog.set_config('ops.notified', 'off', true);
    return;
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
