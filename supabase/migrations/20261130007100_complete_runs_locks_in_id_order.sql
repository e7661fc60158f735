-- Ops Control Room: complete_runs locks its runs in id order (issue 15).
--
-- Found while measuring the hot path: the deadlock test (packages/worker/test/deadlocks.test.ts) failed
-- in full-suite runs with request_cancel ↔ complete_runs in the server log. The generic plan of
-- complete_runs' UPDATE is a hash join probed by the settlement batch over a bitmap scan of
-- runs_pkey, so it locked rows in batch order, not in id order as migration 20261130001000 intends.
-- The function is otherwise unchanged.

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
    update ops.runs r
    set status = 'succeeded', result = i.result, error = null, finished_at = pg_catalog.now(), updated_at = pg_catalog.now()
    from input i
    where r.id = any (array(select locked.id from locked)) and r.id = i.id and r.status = 'running' and r.lease = i.lease
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
