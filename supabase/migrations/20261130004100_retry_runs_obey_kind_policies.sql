-- Ops Control Room: a retry is an enqueue of the same run again, so it obeys the same rule as
-- ops.enqueue_runs — the caller must be allowed to enqueue the run's kind (ops.forbidden_kind, see
-- 20261130002000/2300) — and, like every other writer of several runs, it locks them in id order
-- with `for no key update`. The retry event records the attempt it ends.

create or replace function ops.retry_runs(p_run_ids uuid[], p_run_at timestamptz default null)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
declare
  v_actor uuid := ops.current_user_id();
  v_forbidden text;
begin
  if pg_catalog.cardinality(coalesce(p_run_ids, '{}')) > 10000 then
    raise exception 'retry at most 10000 runs at once' using errcode = 'OPVAL';
  end if;
  v_forbidden := ops.forbidden_kind(array(
    select distinct r.kind from ops.runs r where r.id = any (coalesce(p_run_ids, '{}'))));
  if v_forbidden is not null then
    raise exception 'role % may not retry runs of kind %: ask an operator for a kind policy (ops.set_kind_policy)',
      ops.caller_role(), v_forbidden
      using errcode = '42501';
  end if;
  return query
  with target as (
    select r.id, r.status, r.attempt, r.max_attempts, r.error, r.cancel_reason, r.worker_id, r.finished_at
    from ops.runs r where r.id = any (coalesce(p_run_ids, '{}')) order by r.id for no key update
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
    insert into ops.run_events (run_id, level, type, message, data, attempt)
    select t.id, 'info'::ops.event_level, 'run:retried',
      'retried after attempt ' || t.attempt || ' ' || t.status::text,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'by', v_actor, 'attempt', t.attempt, 'previous_status', t.status, 'error', t.error,
        'cancel_reason', t.cancel_reason, 'worker_id', t.worker_id, 'finished_at', t.finished_at,
        'run_at', p_run_at)),
      t.attempt
    from target t join retried x on x.id = t.id
  )
  select * from retried
  union all
  select r.* from ops.runs r join target t on t.id = r.id
  where t.id not in (select id from retried);
end;
$$;
