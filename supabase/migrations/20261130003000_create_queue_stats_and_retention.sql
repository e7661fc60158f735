-- Monitoring and retention.
--
-- ops.queue_stats(window): one jsonb document with what an operator (and the plan's alerts) watch:
-- queued/running per lane and kind, the oldest queued run's age, runs finished in the window and
-- the error rate, stuck-run recoveries and how long they took, and the fleet's workers. Read by the
-- server's /metrics, the executor API (GET /stats) and the client (`ops.stats()`).
--
-- Retention: finished runs (with their events), and worker rows that stopped or went silent, are
-- kept for `ops.retention_days` days (a setting: `alter database postgres set ops.retention_days =
-- '30'`; default 90, like artifacts) and purged in batches. A run that still has artifacts is kept
-- until the artifact sweeper (which also deletes their stored content) has removed them.

-- Finished runs by finish time: the window of queue_stats and the retention purge read this instead
-- of the whole table. Queued and running runs are not in it (claims pay nothing for it).
create index idx_runs_finished on ops.runs (finished_at) where finished_at is not null;
-- Recoveries are rare: their own small index, so queue_stats never scans the events.
create index idx_events_recovered on ops.run_events (created_at) where type = 'run:recovered';

-- How long to keep finished runs and silent workers: the `ops.retention_days` setting, else 90 days.
create function ops.retention_interval()
returns interval
language plpgsql stable
set search_path = ''
as $$
declare
  v_text text := nullif(pg_catalog.current_setting('ops.retention_days', true), '');
  v_days integer;
begin
  if v_text is null then
    return pg_catalog.make_interval(days => 90);
  end if;
  if v_text !~ '^\s*\d{1,5}\s*$' or v_text::integer < 1 then
    raise exception 'ops.retention_days must be a whole number of days, at least 1 (got %)', v_text
      using errcode = 'OPVAL';
  end if;
  v_days := v_text::integer;
  return pg_catalog.make_interval(days => v_days);
end;
$$;

create function ops.queue_stats(p_window interval default interval '5 minutes')
returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_now timestamptz := pg_catalog.now();
  v_since timestamptz;
  v_queues jsonb;
  v_finished jsonb;
  v_recovery jsonb;
  v_workers jsonb;
  v_succeeded bigint;
  v_failed bigint;
begin
  if p_window is null or p_window < interval '1 second' or p_window > interval '7 days' then
    raise exception 'window must be between 1 second and 7 days' using errcode = 'OPVAL';
  end if;
  v_since := v_now - p_window;

  -- Queued (the partial index of queued runs) and running (of running runs), per lane and kind.
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
      'lane', q.lane, 'kind', q.kind, 'queued', q.queued, 'running', q.running,
      'oldest_queued_seconds', q.oldest) order by q.lane, q.kind), '[]'::jsonb)
  into v_queues
  from (
    select r.lane, r.kind,
      count(*) filter (where r.status = 'queued') as queued,
      count(*) filter (where r.status = 'running') as running,
      round(extract(epoch from v_now - min(r.run_at) filter (where r.status = 'queued' and r.run_at <= v_now))::numeric, 3)
        as oldest
    from ops.runs r
    where r.status in ('queued', 'running')
    group by r.lane, r.kind
  ) q;

  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
      'lane', f.lane, 'kind', f.kind, 'succeeded', f.succeeded, 'failed', f.failed, 'cancelled', f.cancelled)
      order by f.lane, f.kind), '[]'::jsonb),
    coalesce(sum(f.succeeded), 0), coalesce(sum(f.failed), 0)
  into v_finished, v_succeeded, v_failed
  from (
    select r.lane, r.kind,
      count(*) filter (where r.status = 'succeeded') as succeeded,
      count(*) filter (where r.status = 'failed') as failed,
      count(*) filter (where r.status = 'cancelled') as cancelled
    from ops.runs r
    where r.finished_at >= v_since and r.finished_at is not null
    group by r.lane, r.kind
  ) f;

  -- A recovery's time: from the run's last heartbeat to the sweep that took it back.
  select pg_catalog.jsonb_build_object(
      'count', count(*),
      'max_seconds', round(coalesce(max(s.secs), 0)::numeric, 3),
      'avg_seconds', round(coalesce(avg(s.secs), 0)::numeric, 3))
  into v_recovery
  from (
    select extract(epoch from e.created_at - (e.data ->> 'heartbeat_at')::timestamptz) as secs
    from ops.run_events e
    where e.type = 'run:recovered' and e.created_at >= v_since
  ) s;

  -- A worker is live when it sent a heartbeat in the last 30 s (the default heartbeat timeout) and
  -- has not said it stopped; stale when it is silent longer without having stopped.
  select pg_catalog.jsonb_build_object(
      'live', count(*) filter (where w.stopped_at is null and w.last_seen_at >= v_now - interval '30 seconds'),
      'stale', count(*) filter (where w.stopped_at is null and w.last_seen_at < v_now - interval '30 seconds'
        and w.last_seen_at >= v_now - interval '1 hour'),
      'stopped_recently', count(*) filter (where w.stopped_at >= v_since))
  into v_workers
  from ops.workers w
  where w.last_seen_at >= v_now - interval '1 hour' or w.stopped_at >= v_since;

  return pg_catalog.jsonb_build_object(
    'at', v_now,
    'window_seconds', extract(epoch from p_window)::integer,
    'queues', v_queues,
    'queued', (select coalesce(sum((x ->> 'queued')::bigint), 0) from pg_catalog.jsonb_array_elements(v_queues) x),
    'running', (select coalesce(sum((x ->> 'running')::bigint), 0) from pg_catalog.jsonb_array_elements(v_queues) x),
    'oldest_queued_seconds',
      (select coalesce(max((x ->> 'oldest_queued_seconds')::numeric), 0) from pg_catalog.jsonb_array_elements(v_queues) x),
    'finished', v_finished,
    'succeeded', v_succeeded,
    'failed', v_failed,
    'error_rate', case when v_succeeded + v_failed = 0 then 0
      else round(v_failed::numeric / (v_succeeded + v_failed), 4) end,
    'recovery', v_recovery,
    'workers', v_workers || pg_catalog.jsonb_build_object('health',
      case when (v_workers ->> 'live')::bigint + (v_workers ->> 'stale')::bigint = 0 then 1
      else round((v_workers ->> 'live')::numeric
        / ((v_workers ->> 'live')::bigint + (v_workers ->> 'stale')::bigint), 4) end)
  );
end;
$$;

-- Deletes up to p_limit finished runs (and, by cascade, their events) that finished before the
-- retention interval and have no artifacts left. Returns how many it deleted: call it until 0.
create function ops.purge_old_runs(p_older_than interval default null, p_limit integer default 1000)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_keep interval := coalesce(p_older_than, ops.retention_interval());
  v_count integer;
begin
  if p_limit is null or p_limit < 1 or p_limit > 10000 then
    raise exception 'limit must be between 1 and 10000' using errcode = 'OPVAL';
  end if;
  if v_keep < interval '1 hour' then
    raise exception 'runs are kept at least an hour (got %)', v_keep using errcode = 'OPVAL';
  end if;
  with doomed as (
    select r.id
    from ops.runs r
    where r.finished_at is not null and r.finished_at < pg_catalog.now() - v_keep
      and r.status in ('succeeded', 'failed', 'cancelled')
      and not exists (select 1 from ops.artifacts a where a.run_id = r.id)
    order by r.finished_at
    limit p_limit
    for update skip locked
  )
  delete from ops.runs r using doomed d where r.id = d.id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

-- Deletes up to p_limit worker rows that stopped, or were last seen, before the retention interval.
create function ops.purge_old_workers(p_older_than interval default null, p_limit integer default 1000)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_keep interval := coalesce(p_older_than, ops.retention_interval());
  v_count integer;
begin
  if p_limit is null or p_limit < 1 or p_limit > 10000 then
    raise exception 'limit must be between 1 and 10000' using errcode = 'OPVAL';
  end if;
  if v_keep < interval '1 hour' then
    raise exception 'workers are kept at least an hour (got %)', v_keep using errcode = 'OPVAL';
  end if;
  with doomed as (
    select w.id
    from ops.workers w
    where w.last_seen_at < pg_catalog.now() - v_keep
    order by w.last_seen_at
    limit p_limit
    for update skip locked
  )
  delete from ops.workers w using doomed d where w.id = d.id;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;

-- One call for a scheduler: purges runs and workers in batches of p_batch until nothing is left or
-- p_max_batches batches ran (so one call stays short), and reports what it did.
create function ops.purge_retention(p_batch integer default 1000, p_max_batches integer default 100)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_runs integer := 0;
  v_workers integer := 0;
  v_n integer;
  v_i integer := 0;
begin
  if p_max_batches is null or p_max_batches < 1 or p_max_batches > 10000 then
    raise exception 'max batches must be between 1 and 10000' using errcode = 'OPVAL';
  end if;
  loop
    v_n := ops.purge_old_runs(null, p_batch);
    v_runs := v_runs + v_n;
    v_i := v_i + 1;
    exit when v_n < p_batch or v_i >= p_max_batches;
  end loop;
  v_i := 0;
  loop
    v_n := ops.purge_old_workers(null, p_batch);
    v_workers := v_workers + v_n;
    v_i := v_i + 1;
    exit when v_n < p_batch or v_i >= p_max_batches;
  end loop;
  return pg_catalog.jsonb_build_object('runs', v_runs, 'workers', v_workers);
end;
$$;

revoke execute on function ops.retention_interval() from public, anon, authenticated;
revoke execute on function ops.queue_stats(interval) from public, anon, authenticated;
revoke execute on function ops.purge_old_runs(interval, integer) from public, anon, authenticated;
revoke execute on function ops.purge_old_workers(interval, integer) from public, anon, authenticated;
revoke execute on function ops.purge_retention(integer, integer) from public, anon, authenticated;
grant execute on function ops.retention_interval() to service_role;
grant execute on function ops.queue_stats(interval) to service_role;
grant execute on function ops.purge_old_runs(interval, integer) to service_role;
grant execute on function ops.purge_old_workers(interval, integer) to service_role;
grant execute on function ops.purge_retention(integer, integer) to service_role;
