-- ops.queue_stats, redefined whole: a worker silent without having stopped counts as stale (against
-- worker health) for five minutes, not an hour. With one-id-per-process workers, a single crash
-- and restart kept a three-worker fleet below 80 % health for an hour.

create or replace function ops.queue_stats(p_window interval default interval '5 minutes')
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
  -- has not said it stopped; stale when it has been silent for 30 s to 5 minutes without having
  -- stopped. A crashed worker counts against health for those five minutes, not longer: a restarted
  -- process registers under a new id, and its runs have long been recovered.
  select pg_catalog.jsonb_build_object(
      'live', count(*) filter (where w.stopped_at is null and w.last_seen_at >= v_now - interval '30 seconds'),
      'stale', count(*) filter (where w.stopped_at is null and w.last_seen_at < v_now - interval '30 seconds'
        and w.last_seen_at >= v_now - interval '5 minutes'),
      'stopped_recently', count(*) filter (where w.stopped_at >= v_since))
  into v_workers
  from ops.workers w
  where w.last_seen_at >= v_now - interval '5 minutes' or w.stopped_at >= v_since;

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
