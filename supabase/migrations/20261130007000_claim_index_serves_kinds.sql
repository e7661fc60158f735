-- Ops Control Room: the claim index serves kinds (issue 15).
--
-- A worker that serves only some kinds (`p_kinds`) used to walk the lane's queue index from its head
-- and filter on kind, so a pool for `spec_kit_generate` behind 100,000 queued `lint` runs read all
-- 100,000 on every claim. A second partial index leads with the kind, and claim_runs reads the head
-- of each (lane, kind) from it when kinds are given; without kinds it reads the lane index as before.
-- The plan of each branch is pinned by packages/core/test/hotPath.test.ts; everything else of the
-- fenced-leases claim (20261130001000) is unchanged.
--
-- The index costs one more index entry per enqueued run; a claim's update leaves it (the claimed row
-- is no longer queued), as it leaves idx_runs_status_lane.

create index idx_runs_kind_queue on ops.runs (kind, lane, priority desc, run_at, seq) where status = 'queued';

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
  return query
  with claimed as (
    update ops.runs r
    set status = 'running', worker_id = p_worker_id, attempt = r.attempt + 1, claimed_at = pg_catalog.now(),
      heartbeat_at = pg_catalog.now(), started_at = coalesce(r.started_at, pg_catalog.now()), updated_at = pg_catalog.now(),
      lease = pg_catalog.nextval('ops.run_lease_seq'), progress = null, progress_message = null
    where r.id = any (v_ids)
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
