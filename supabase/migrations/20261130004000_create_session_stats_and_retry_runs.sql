-- The Runboard as an operations dashboard (issue 17): server-side aggregates and operator retries.
--
-- ops.session_stats: counts per lane and status, plus runs finished and failed within a window, for
-- one session (or every run). The Runboard reads this instead of counting the rows it happens to have
-- loaded, so its figures are true at any size. One pass over the session's entries of
-- idx_runs_session_stats (an index-only scan where the visibility map allows), grouped in SQL; the
-- answer is a few hundred bytes whatever the session's size.
--
-- The index costs one more index entry per status transition (status is already indexed by the
-- claim index's predicate, so these updates were not HOT before it either). Progress and heartbeat
-- updates do not touch its columns.
create index idx_runs_session_stats on ops.runs (session_id, lane, status) include (finished_at);

create function ops.session_stats(
  p_session_id uuid default null,
  p_window_seconds integer default 300,
  p_buckets integer default 0
)
returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  v_now timestamptz := pg_catalog.now();
  v_since timestamptz;
  v_groups jsonb;
  v_series jsonb := '[]'::jsonb;
  v_width double precision;
begin
  if p_window_seconds is null or p_window_seconds < 1 or p_window_seconds > 86400 then
    raise exception 'window_seconds must be between 1 and 86400' using errcode = 'OPVAL';
  end if;
  if p_buckets is null or p_buckets < 0 or p_buckets > 120 then
    raise exception 'buckets must be between 0 and 120' using errcode = 'OPVAL';
  end if;
  v_since := v_now - pg_catalog.make_interval(secs => p_window_seconds);
  -- Two statements rather than `(p_session_id is null or session_id = p_session_id)`: a catch-all
  -- predicate defeats the index once the plan goes generic.
  if p_session_id is null then
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(g.lane, g.status, g.n, g.fin, g.fail)), '[]')
    into v_groups
    from (
      select r.lane, r.status, pg_catalog.count(*) as n,
        pg_catalog.count(*) filter (where r.finished_at >= v_since) as fin,
        pg_catalog.count(*) filter (where r.status = 'failed' and r.finished_at >= v_since) as fail
      from ops.runs r group by r.lane, r.status
    ) g;
  else
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(g.lane, g.status, g.n, g.fin, g.fail)), '[]')
    into v_groups
    from (
      select r.lane, r.status, pg_catalog.count(*) as n,
        pg_catalog.count(*) filter (where r.finished_at >= v_since) as fin,
        pg_catalog.count(*) filter (where r.status = 'failed' and r.finished_at >= v_since) as fail
      from ops.runs r where r.session_id = p_session_id group by r.lane, r.status
    ) g;
  end if;
  if p_buckets > 0 then
    -- Finished and failed runs per time bucket, oldest first (for charts).
    v_width := p_window_seconds::double precision / p_buckets;
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(b.i, b.fin, b.fail) order by b.i), '[]')
    into v_series
    from (
      select least(p_buckets - 1, floor(extract(epoch from (r.finished_at - v_since)) / v_width)::int) as i,
        pg_catalog.count(*) as fin, pg_catalog.count(*) filter (where r.status = 'failed') as fail
      from ops.runs r
      where (p_session_id is null or r.session_id = p_session_id)
        and r.status in ('succeeded', 'failed', 'cancelled') and r.finished_at >= v_since
      group by 1
    ) b;
  end if;
  return pg_catalog.jsonb_build_object(
    'at', v_now, 'windowSeconds', p_window_seconds, 'groups', v_groups,
    'buckets', p_buckets, 'series', v_series);
end;
$$;

comment on function ops.session_stats(uuid, integer, integer) is
  'Counts per lane and status, and runs finished/failed in the last p_window_seconds (optionally per bucket), of one session or all runs. RLS applies (security invoker).';

-- ops.retry_runs: an operator's retry of failed or cancelled runs as a new attempt of the same run.
-- The run goes back to `queued` with no worker, its error, result, progress and cancel request
-- cleared; what the ended attempt left (status, error, cancel reason) is kept in a `run:retried`
-- event, so every attempt's error stays readable. `max_attempts` is raised by one when the run had
-- used them all, so the next claim stays within `attempt <= max_attempts`. Runs in any other status
-- (or at the 100-attempt ceiling) are returned unchanged. Unknown ids are left out.
-- Columns it sets: status, run_at, finished_at, error, result, worker_id, claimed_at, heartbeat_at,
-- progress, progress_message, cancel_requested_at, cancel_reason, max_attempts, updated_at. Lease
-- columns are the claim's to set and are left alone (a queued run has no current lease).
create function ops.retry_runs(p_run_ids uuid[], p_run_at timestamptz default null)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
declare
  v_actor uuid := ops.current_user_id();
begin
  if pg_catalog.cardinality(coalesce(p_run_ids, '{}')) > 10000 then
    raise exception 'retry at most 10000 runs at once' using errcode = 'OPVAL';
  end if;
  return query
  with target as (
    select r.id, r.status, r.attempt, r.max_attempts, r.error, r.cancel_reason, r.worker_id, r.finished_at
    from ops.runs r where r.id = any (coalesce(p_run_ids, '{}')) order by r.id for update
  ),
  retried as (
    update ops.runs r
    set status = 'queued', run_at = coalesce(p_run_at, pg_catalog.now()), finished_at = null, error = null,
      result = null, worker_id = null, claimed_at = null, heartbeat_at = null, progress = null,
      progress_message = null, cancel_requested_at = null, cancel_reason = null,
      max_attempts = greatest(t.max_attempts, t.attempt + 1), updated_at = pg_catalog.now()
    from target t
    where r.id = t.id and t.status in ('failed', 'cancelled') and t.attempt < 100
    returning r.*
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select t.id, 'info'::ops.event_level, 'run:retried',
      'retried after attempt ' || t.attempt || ' ' || t.status::text,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'by', v_actor, 'attempt', t.attempt, 'previous_status', t.status, 'error', t.error,
        'cancel_reason', t.cancel_reason, 'worker_id', t.worker_id, 'finished_at', t.finished_at,
        'run_at', p_run_at))
    from target t join retried x on x.id = t.id
  )
  select * from retried
  union all
  select r.* from ops.runs r join target t on t.id = r.id
  where t.id not in (select id from retried);
end;
$$;

comment on function ops.retry_runs(uuid[], timestamptz) is
  'Retries failed or cancelled runs as a new attempt of the same run (queued again, no worker); records a run:retried event with the ended attempt''s error.';

revoke execute on function ops.session_stats(uuid, integer, integer) from public;
revoke execute on function ops.retry_runs(uuid[], timestamptz) from public;
grant execute on function ops.session_stats(uuid, integer, integer) to anon, authenticated, service_role;
grant execute on function ops.retry_runs(uuid[], timestamptz) to authenticated, service_role;
