-- Queue depth and throughput history of a session (issue 17), for the Runboard's charts: they show
-- the last window on open instead of only what happened since the page was opened.
--
-- The database keeps no depth samples; depth is rebuilt from the runs' own timestamps. Each run is
-- a few +1/-1 steps of "queued" in its lane: +1 at created_at, -1 when its first attempt started
-- (started_at) or, never started, when it finished (cancelled while queued); a run queued again
-- now after it had started (retried, recovered, released) gets +1 at updated_at, the time it went
-- back. Depth at a time t is the sum of the steps up to t: one pass over the runs, grouped per lane
-- and bucket, then a running sum per lane. Throughput: runs finished (and failed) per bucket.
--
-- Approximations, stated: a run that went back to the queue and was claimed again since shows only
-- its first wait (its later waits are not kept anywhere); scheduled runs count as queued from
-- created_at, as the live counts (status = 'queued') do. So the last bucket equals the live queued
-- count, and the chart extends live without a jump.
--
-- Bounded: a window of 60 s to 24 h, 1 to 240 buckets. Each run's steps are bucket numbers, and runs
-- with the same ones are grouped before the steps are expanded. Only runs that are
-- queued now or changed within the window are read (a run whose last change is older contributes nothing: every step it
-- has is at or before updated_at, and it is not queued now). Security invoker: RLS applies.
create function ops.lane_history(
  p_session_id uuid default null,
  p_window_seconds integer default 900,
  p_buckets integer default 60
)
returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  v_now timestamptz := pg_catalog.now();
  v_since timestamptz;
  v_width double precision;
  v_queued jsonb;
  v_done jsonb;
begin
  if p_window_seconds is null or p_window_seconds < 60 or p_window_seconds > 86400 then
    raise exception 'window_seconds must be between 60 and 86400' using errcode = 'OPVAL';
  end if;
  if p_buckets is null or p_buckets < 1 or p_buckets > 240 then
    raise exception 'buckets must be between 1 and 240' using errcode = 'OPVAL';
  end if;
  v_since := v_now - pg_catalog.make_interval(secs => p_window_seconds);
  v_width := p_window_seconds::double precision / p_buckets;

  -- One statement, built with the session condition only when given (a catch-all
  -- `(p is null or session_id = p)` defeats the index once a plan goes generic); values are
  -- parameters. steps: the +1/-1 steps per lane and bucket, bucket -1 holding every step up to the
  -- window's start (the depth then); depth at the end of a bucket is the running sum up to it.
  execute '
    with moments as (
      -- The steps of each run as bucket numbers (null: no such step), runs with the same ones counted
      -- once: the steps below expand at most lanes x buckets^4 groups, and usually far fewer than runs.
      select r.lane,
        case when t.q is null then null when t.q <= $2 then -1
          else least($4 - 1, floor(pg_catalog.date_part(''epoch'', t.q - $2) / $3)::integer) end as iq,
        case when t.l is null then null when t.l <= $2 then -1
          else least($4 - 1, floor(pg_catalog.date_part(''epoch'', t.l - $2) / $3)::integer) end as il,
        case when t.rq is null then null when t.rq <= $2 then -1
          else least($4 - 1, floor(pg_catalog.date_part(''epoch'', t.rq - $2) / $3)::integer) end as ir,
        case when t.f is null then null when t.f <= $2 then -1
          else least($4 - 1, floor(pg_catalog.date_part(''epoch'', t.f - $2) / $3)::integer) end as ifin,
        r.status = ''failed'' as failed,
        pg_catalog.count(*) as n
      from ops.runs r
      cross join lateral (select
        r.created_at,
        case when r.started_at is not null then r.started_at
          when r.status <> ''queued'' then coalesce(r.finished_at, r.updated_at) end,
        case when r.status = ''queued'' and r.started_at is not null then r.updated_at end,
        case when r.status in (''succeeded'', ''failed'', ''cancelled'') then r.finished_at end
      ) t(q, l, rq, f)
      where ' || case when p_session_id is null then '' else 'r.session_id = $1 and ' end || '
        (r.status = ''queued'' or r.updated_at > $2)
      group by 1, 2, 3, 4, 5, 6
    ),
    steps as materialized (
      select m.lane, e.i, pg_catalog.sum(e.dq * m.n) as dq, pg_catalog.sum(e.fin * m.n) as fin,
        pg_catalog.sum(e.fail * m.n) as fail
      from moments m
      cross join lateral (values
        (m.iq, 1, 0, 0),
        (m.il, -1, 0, 0),
        (m.ir, 1, 0, 0),
        (m.ifin, 0, 1, case when m.failed then 1 else 0 end)
      ) e(i, dq, fin, fail)
      where e.i is not null
      group by 1, 2
    ),
    depth as (
      select l.lane, pg_catalog.jsonb_agg(greatest(0, c.depth) order by c.i) as series
      from pg_catalog.unnest(pg_catalog.enum_range(null::ops.lane_type)) l(lane)
      cross join lateral (
        select b.i, pg_catalog.sum(coalesce(st.dq, 0)) over (order by b.i) as depth
        from pg_catalog.generate_series(-1, $4 - 1) b(i)
        left join steps st on st.lane = l.lane and st.i = b.i
      ) c
      where c.i >= 0
      group by l.lane
    ),
    done as (
      select b.i, coalesce(pg_catalog.sum(st.fin), 0) as fin, coalesce(pg_catalog.sum(st.fail), 0) as fail
      from pg_catalog.generate_series(0, $4 - 1) b(i)
      left join steps st on st.i = b.i
      group by b.i
    )
    select (select pg_catalog.jsonb_object_agg(d.lane, d.series) from depth d),
      (select pg_catalog.jsonb_build_object(
        ''finished'', pg_catalog.jsonb_agg(x.fin order by x.i),
        ''failed'', pg_catalog.jsonb_agg(x.fail order by x.i)) from done x)'
  into v_queued, v_done
  using p_session_id, v_since, v_width, p_buckets;

  return pg_catalog.jsonb_build_object(
    'at', v_now, 'windowSeconds', p_window_seconds, 'buckets', p_buckets,
    'queued', v_queued, 'finished', v_done -> 'finished', 'failed', v_done -> 'failed');
end;
$$;

comment on function ops.lane_history(uuid, integer, integer) is
  'Queued runs per lane at the end of each bucket of the last p_window_seconds, and runs finished/failed per bucket, of one session or all runs, rebuilt from the runs'' timestamps (a re-queued run shows only its first and current wait). RLS applies (security invoker).';

revoke execute on function ops.lane_history(uuid, integer, integer) from public;
grant execute on function ops.lane_history(uuid, integer, integer) to anon, authenticated, service_role;
