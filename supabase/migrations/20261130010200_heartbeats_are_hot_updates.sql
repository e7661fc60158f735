-- Ops Control Room: a heartbeat is a HOT update of each run it names (issue 15, "cheaper liveness").
--
-- ops.heartbeat writes one column, heartbeat_at, of each running run its worker holds. That column
-- was the key of idx_runs_heartbeat, so every beat was a non-HOT update: a new tuple plus a new entry
-- in every index of ops.runs (measured with pg_walinspect: 56 KB of WAL for one beat of a worker that
-- holds 100 runs, against 320 B for the worker's own row). The sweep's index now covers the running
-- runs by claim time instead, so no index of ops.runs holds heartbeat_at and a beat can stay on the
-- row's page without touching any index. Recovery is unchanged: recover_stuck_runs still finds
-- running runs whose heartbeat_at is older than the timeout, now by reading the running runs (as
-- many as the fleet has slots busy) from this index; it is redefined only to name the index's
-- predicate.
--
-- ops.runs keeps 10 % of each new page free (fillfactor 90), so a beat finds room on its row's page.
-- A per-worker lease (only the worker's row beats) was measured too and writes less still; it was
-- not taken, because a per-run beat also tells each execution at once that its lease is gone
-- (the `lost` answer) and keeps recovery per run.

drop index ops.idx_runs_heartbeat;
-- `claimed_at is not null` is true of every running run (the row's rules), and no settlement query
-- says it: so this index serves the sweep, which does say it, and can never replace the primary key
-- in the plan of a completion or a heartbeat (a partial index on `status = 'running'` alone would: the
-- generic plan of `id = any(…) and status = 'running'` read every running run of the fleet).
create index idx_runs_running on ops.runs (claimed_at) where status = 'running' and claimed_at is not null;
alter table ops.runs set (fillfactor = 90);

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
    -- `claimed_at is not null` holds for every running run; saying it lets the plan use idx_runs_running.
    where r.status = 'running' and r.claimed_at is not null
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
