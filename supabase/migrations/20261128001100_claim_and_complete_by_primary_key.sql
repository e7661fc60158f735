-- Ops Control Room: claim_runs and complete_runs reach the rows they change through the primary key.
--
-- Inside plpgsql both statements are planned generically after a few calls. The generic plan cannot
-- see how many runs a claim asks for (`limit lanes.lim`) or how many results a completion carries, so
-- it estimated thousands of rows and joined them to ops.runs with a sequential scan: a claim of 10
-- runs read the whole table (≈30 ms at 50,000 queued runs, growing with the queue). Collecting the
-- ids first and updating `where id = any(ids)` keeps every call an index lookup whatever the table
-- size. Same signatures, same semantics, same events; only the plans change.

create or replace function ops.claim_runs(p_worker_id text, p_lanes ops.lane_type[], p_limits integer[], p_kinds text[] default null)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
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
  if exists (select 1 from unnest(p_limits) l where l is null or l < 0 or l > 1000) then
    raise exception 'each lane limit must be between 0 and 1000' using errcode = 'OPVAL';
  end if;

  -- Lock the candidates first (SKIP LOCKED: two claimers never get one run)…
  select pg_catalog.array_agg(c.id) into v_ids
  from unnest(p_lanes, p_limits) lanes(lane, lim)
  cross join lateral (
    select r.id from ops.runs r
    where r.status = 'queued' and r.lane = lanes.lane and r.run_at <= pg_catalog.now()
      and (p_kinds is null or r.kind = any (p_kinds))
    order by r.priority desc, r.run_at, r.seq
    limit lanes.lim
    for update skip locked
  ) c
  where lanes.lim > 0;

  if v_ids is null then
    return;
  end if;

  -- …then change exactly those rows, found by primary key.
  return query
  with claimed as (
    update ops.runs r
    set status = 'running', worker_id = p_worker_id, attempt = r.attempt + 1, claimed_at = pg_catalog.now(),
      heartbeat_at = pg_catalog.now(), started_at = coalesce(r.started_at, pg_catalog.now()), updated_at = pg_catalog.now()
    where r.id = any (v_ids)
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

create or replace function ops.complete_runs(p_worker_id text, p_results jsonb)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
declare
  v_ids uuid[];
begin
  if p_results is null or pg_catalog.jsonb_typeof(p_results) <> 'array' then
    raise exception 'results must be an array' using errcode = 'OPVAL';
  end if;
  select pg_catalog.array_agg((e ->> 'id')::uuid) into v_ids from pg_catalog.jsonb_array_elements(p_results) e;
  return query
  with input as (
    select (e ->> 'id')::uuid as id, e -> 'result' as result from pg_catalog.jsonb_array_elements(p_results) e
  ),
  done as (
    update ops.runs r
    set status = 'succeeded', result = i.result, error = null, finished_at = pg_catalog.now(), updated_at = pg_catalog.now()
    from input i
    where r.id = any (v_ids) and r.id = i.id and r.status = 'running' and r.worker_id = p_worker_id
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
