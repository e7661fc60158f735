-- Ops Control Room: a new run is handed straight to a worker that waits for it (issue 15, pickup).
--
-- An idle worker's pickup was: the enqueue commits and NOTIFYs the lane, the worker wakes, claims
-- (ops.claim_runs: a round trip and a commit of its own), then starts the run. Timed hop by hop, the
-- claim was most of the gap to graphile-worker: its round trip took 1.06 ms against get_job's 0.75,
-- because ops.runs carries more (the row's rules, the notification and GitHub outbox triggers). No
-- change inside the claim moved it. This takes the claim off the pickup instead:
--
-- * A worker whose lane came back empty says it waits (ops.wait_for_runs): its lanes, kinds, free
--   slots, for a few seconds at a time (it refreshes while it waits; a dead worker stops refreshing).
--   The registrations live in ops.run_waiters, an unlogged table: they are worth nothing after a
--   crash, and they cost no WAL. Each call answers the runs handed to the worker since its last one,
--   so a worker hands back a run whose NOTIFY it never heard (its listening connection dropped).
-- * ops.enqueue_runs, given one run that is due now, without an idempotency key, while such a worker
--   waits and no run of that worker's kinds is queued in the lane, writes the row already claimed by
--   that worker (status, worker, attempt, lease and claim time, as a claim writes them) and NOTIFYs
--   it with the row on the wake-up channel. The worker starts it without a claim.
-- * Everything else is as before: batches, keyed enqueues, future runs and rows too big for a
--   NOTIFY are queued and wake the lane. A handed run whose worker died gets no heartbeat and is
--   recovered like any claimed run of a dead worker.
--
-- Measured on a scratch script before building it (enqueue call to the run's row in the worker's
-- hands, 220 interleaved samples each, 5-15 ms apart): enqueue + NOTIFY + claim 2.79 ms p50,
-- graphile-worker's add_job + get_job 2.65 ms, the row handed in the NOTIFY 1.40 ms.

create unlogged table ops.run_waiters (
  worker_id text not null,
  lane ops.lane_type not null,
  kinds text[] not null,
  slots integer not null check (slots between 0 and 1000),
  expires_at timestamptz not null,
  -- The session that said it last: a worker that dies closes its sessions, and a wait whose session is
  -- gone is not handed anything (a worker cut off by the network keeps it until TCP gives up).
  pid integer not null,
  -- The runs handed to the worker in this lane since it last said it waits, and their leases: the
  -- next ops.wait_for_runs answers them, so a worker can hand back a run whose NOTIFY it never heard.
  handed_ids uuid[] not null default '{}',
  handed_leases bigint[] not null default '{}',
  primary key (worker_id, lane)
);
alter table ops.run_waiters enable row level security;
create policy run_waiters_service on ops.run_waiters for all to service_role using (true) with check (true);
revoke all on ops.run_waiters from anon, authenticated;
grant select, insert, update, delete on ops.run_waiters to service_role;

-- A worker waits for runs of `p_kinds` in each lane of `p_lanes` with the free slots in `p_slots`
-- (0: it waits no more in that lane), for `p_ttl_ms`. Answers the runs handed to it since it last
-- said so (with their leases), in every lane: a run among them whose NOTIFY the worker never heard
-- (its connection dropped) is one it should hand back.
create function ops.wait_for_runs(p_worker_id text, p_lanes ops.lane_type[], p_slots integer[], p_kinds text[], p_ttl_ms integer)
returns table (run_id uuid, lease bigint)
language plpgsql security definer set search_path = ''
as $$
declare
  v_ids uuid[];
  v_leases bigint[];
begin
  if p_worker_id is null or p_worker_id = '' or pg_catalog.char_length(p_worker_id) > 200 then
    raise exception 'worker id must be 1 to 200 characters' using errcode = 'OPVAL';
  end if;
  if p_lanes is null or p_slots is null or pg_catalog.cardinality(p_lanes) <> pg_catalog.cardinality(p_slots)
    or pg_catalog.array_position(p_lanes, null) is not null
    or pg_catalog.cardinality(p_lanes) <> (select pg_catalog.count(distinct l) from unnest(p_lanes) l) then
    raise exception 'lanes and slots must be arrays of the same length, each lane once' using errcode = 'OPVAL';
  end if;
  if pg_catalog.array_position(p_slots, null) is not null or 0 > any (p_slots) or 1000 < any (p_slots) then
    raise exception 'each lane''s slots must be between 0 and 1000' using errcode = 'OPVAL';
  end if;
  if p_kinds is null or pg_catalog.cardinality(p_kinds) not between 1 and 1000 or pg_catalog.array_position(p_kinds, null) is not null then
    raise exception 'kinds must be a list of 1 to 1000 kinds' using errcode = 'OPVAL';
  end if;
  if p_ttl_ms is null or p_ttl_ms not between 100 and 600000 then
    raise exception 'ttl must be between 100 and 600000 ms' using errcode = 'OPVAL';
  end if;
  -- Registrations of workers that stopped refreshing a minute ago (gone without saying so).
  delete from ops.run_waiters w where w.expires_at < pg_catalog.now() - interval '1 minute';
  -- What was handed to this worker since its last call, read under the rows' locks (an enqueue that
  -- hands it a run holds them until it commits).
  select coalesce(pg_catalog.array_agg(h.id), '{}'), coalesce(pg_catalog.array_agg(h.lease), '{}')
  into v_ids, v_leases
  from (select w.handed_ids, w.handed_leases from ops.run_waiters w where w.worker_id = p_worker_id for update) w
  cross join lateral unnest(w.handed_ids, w.handed_leases) h(id, lease);
  delete from ops.run_waiters w
  where w.worker_id = p_worker_id
    and w.lane not in (select u.lane from unnest(p_lanes, p_slots) u(lane, slots) where u.slots > 0);
  insert into ops.run_waiters as w (worker_id, lane, kinds, slots, expires_at, pid)
  select p_worker_id, u.lane, p_kinds, u.slots, pg_catalog.now() + p_ttl_ms * interval '1 millisecond',
    pg_catalog.pg_backend_pid()
  from unnest(p_lanes, p_slots) u(lane, slots)
  where u.slots > 0
  on conflict (worker_id, lane) do update set kinds = excluded.kinds, slots = excluded.slots,
    expires_at = excluded.expires_at, pid = excluded.pid, handed_ids = '{}', handed_leases = '{}';
  return query select u.id, u.lease from unnest(v_ids, v_leases) u(id, lease);
end;
$$;
revoke execute on function ops.wait_for_runs(text, ops.lane_type[], integer[], text[], integer) from public, anon, authenticated;
grant execute on function ops.wait_for_runs(text, ops.lane_type[], integer[], text[], integer) to service_role;

CREATE OR REPLACE FUNCTION ops.enqueue_runs(p_session_id uuid, p_runs jsonb)
 RETURNS SETOF ops.runs
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_ids uuid[];
  v_keys text[];
  v_missing text;
  v_forbidden text;
  v_conflict text;
  v_unchecked text;
  v_actor uuid := ops.current_user_id();
  -- Read once: a service-role or owner caller (a worker, the executor API after its own checks) skips
  -- the checks that only bind callers who are not trusted.
  v_trusted boolean := ops.caller_is_trusted();
  -- Most enqueues name no template: the template lookups are skipped for them.
  v_templates boolean := p_runs @? '$[*].template_name';
  -- A run handed to a waiting worker (ops.wait_for_runs): that worker, the lane it waits in, the lease
  -- and the history ids of its enqueued and claimed events.
  v_waiter text;
  v_lane ops.lane_type;
  v_lease bigint;
  v_enqueued_event bigint;
  v_claimed_event bigint;
begin
  if p_runs is null or pg_catalog.jsonb_typeof(p_runs) <> 'array' or pg_catalog.jsonb_array_length(p_runs) = 0 then
    raise exception 'runs must be a non-empty array' using errcode = 'OPVAL';
  end if;
  if pg_catalog.jsonb_array_length(p_runs) > 10000 then
    raise exception 'at most 10000 runs per enqueue (got %)', pg_catalog.jsonb_array_length(p_runs) using errcode = 'OPVAL';
  end if;
  perform 1 from ops.sessions s where s.id = p_session_id;
  if not found then
    raise exception 'session % does not exist', p_session_id using errcode = 'OPNTF';
  end if;

  if v_templates then
    select e.value ->> 'template_name' || coalesce('@' || (e.value ->> 'template_version'), '') into v_missing
    from pg_catalog.jsonb_array_elements(p_runs) e
    where e.value ? 'template_name'
      and not exists (
        select 1 from ops.run_templates t
        where t.name = e.value ->> 'template_name'
          and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
      )
    limit 1;
  end if;
  if v_missing is not null then
    raise exception 'template % does not exist', v_missing using errcode = 'OPNTF';
  end if;

  -- A template's params schema is JSON Schema, which only the TypeScript layer checks. The executor
  -- API validates params and then says so for its transaction (ops.template_params_checked); a caller
  -- that is not trusted and did not come through it (PostgREST, a direct call) may not enqueue from
  -- a template that has a schema: that path is closed rather than left unvalidated.
  if not v_trusted and v_templates
    and pg_catalog.current_setting('ops.template_params_checked', true) is distinct from 'on'
  then
    select e.value ->> 'template_name' into v_unchecked
    from pg_catalog.jsonb_array_elements(p_runs) e
    where e.value ? 'template_name'
      and (
        select t.params_schema from ops.run_templates t
        where t.name = e.value ->> 'template_name'
          and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
        order by t.version desc
        limit 1
      ) is not null
    limit 1;
    if v_unchecked is not null then
      raise exception 'template % has a params schema: enqueue it through the executor API or the client, which validate params', v_unchecked
        using errcode = 'OPVAL', detail = v_unchecked;
    end if;
  end if;

  -- A trusted caller passes every kind policy (ops.forbidden_kind answers null for it at once).
  if not v_trusted then
    v_forbidden := ops.forbidden_kind(array(
      select distinct coalesce(e.value ->> 'kind', (
        select t.kind from ops.run_templates t
        where t.name = e.value ->> 'template_name'
          and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
        order by t.version desc
        limit 1
      ))
      from pg_catalog.jsonb_array_elements(p_runs) e
    ));
  end if;
  if v_forbidden is not null then
    raise exception 'role % may not enqueue runs of kind %: ask an operator for a kind policy (ops.set_kind_policy)',
      ops.caller_role(), v_forbidden
      using errcode = '42501', detail = v_forbidden;
  end if;

  -- One run, due now, without an idempotency key, while a worker waits for its lane and kind: it is
  -- handed to that worker here. The row is written already claimed (as ops.claim_runs would claim it),
  -- and the worker hears it in the NOTIFY, with the row: the claim's round trip is saved from the
  -- pickup. Only when no run of that worker's kinds waits queued in the lane, so a handed run never
  -- overtakes a queued one; only for a row that fits in a NOTIFY (8000 bytes) with room to spare.
  if pg_catalog.jsonb_array_length(p_runs) = 1
    and not p_runs @? '$[*].idempotency_key'
    and exists (select 1 from ops.run_waiters)
  then
    select w.worker_id, x.lane into v_waiter, v_lane
    from (
      select coalesce(e.v ->> 'kind', t.kind) as kind, coalesce((e.v ->> 'lane')::ops.lane_type, t.lane, 'A') as lane,
        coalesce((e.v ->> 'run_at')::timestamptz, pg_catalog.now()) as run_at,
        pg_catalog.octet_length(e.v::text) + coalesce(pg_catalog.octet_length(t.default_params::text), 0) as size
      from (select p_runs -> 0) e(v)
      left join lateral (
        select t.kind, t.lane, t.default_params from ops.run_templates t
        where v_templates and t.name = e.v ->> 'template_name'
          and (e.v ->> 'template_version' is null or t.version = (e.v ->> 'template_version')::integer)
        order by t.version desc
        limit 1
      ) t on true
    ) x
    join ops.run_waiters w on w.lane = x.lane and x.kind = any (w.kinds)
    where x.run_at <= pg_catalog.now() and x.size <= 6000
      and w.slots > 0 and w.expires_at > pg_catalog.now()
      and exists (select 1 from pg_catalog.pg_stat_get_activity(w.pid))
      and not exists (
        select 1 from ops.runs r
        where r.worker_id is null and r.cancel_requested_at is null and r.status = 'queued'
          and r.kind = any (w.kinds) and r.lane = x.lane and r.run_at <= pg_catalog.now()
      )
    -- The worker that said it waits most recently: a worker that died stops refreshing (and its
    -- sessions end: a wait whose session is gone is skipped).
    order by w.expires_at desc
    limit 1
    for update of w skip locked;
    if v_waiter is not null then
      v_lease := pg_catalog.nextval('ops.run_lease_seq');
      v_enqueued_event := pg_catalog.nextval('ops.run_events_id_seq');
      v_claimed_event := pg_catalog.nextval('ops.run_events_id_seq');
    end if;
  end if;

  -- No element names an idempotency key (the common case): a plain insert. A speculative insert
  -- (ON CONFLICT) writes a confirmation record to the WAL for every row, and there is nothing for it
  -- to find here.
  if not p_runs @? '$[*].idempotency_key' then
    -- The run:enqueued event is the row itself (created_at, created_by, kind, lane, template); only its
    -- id in the history is drawn here.
    with input as materialized (
      select e.ord, e.value as v, pg_catalog.gen_random_uuid() as new_id,
        t.kind as t_kind, t.lane as t_lane, t.priority as t_priority, t.default_params as t_params,
        t.max_attempts as t_max_attempts, t.timeout_seconds as t_timeout, t.name as t_name, t.version as t_version
      from pg_catalog.jsonb_array_elements(p_runs) with ordinality e(value, ord)
      left join lateral (
        select * from ops.run_templates t
        where t.name = e.value ->> 'template_name'
          and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
        order by t.version desc
        limit 1
      ) t on true
    ),
    ins as (
      insert into ops.runs (id, session_id, kind, lane, priority, params, run_at, max_attempts, timeout_seconds,
        idempotency_key, template_name, template_version, created_by, enqueued_event_id,
        status, worker_id, attempt, claimed_at, heartbeat_at, started_at, lease, claimed_event_id)
      select i.new_id, p_session_id,
        coalesce(i.v ->> 'kind', i.t_kind),
        coalesce((i.v ->> 'lane')::ops.lane_type, i.t_lane, 'A'),
        coalesce((i.v ->> 'priority')::integer, i.t_priority, 0),
        coalesce(i.t_params, '{}'::jsonb) || coalesce(i.v -> 'params', '{}'::jsonb),
        coalesce((i.v ->> 'run_at')::timestamptz, pg_catalog.now()),
        coalesce((i.v ->> 'max_attempts')::integer, i.t_max_attempts, 1),
        coalesce((i.v ->> 'timeout_seconds')::integer, i.t_timeout),
        i.v ->> 'idempotency_key',
        i.t_name, i.t_version, v_actor,
        coalesce(v_enqueued_event, pg_catalog.nextval('ops.run_events_id_seq')),
        -- Handed to a waiting worker: claimed by it, as ops.claim_runs claims.
        case when v_waiter is null then 'queued'::ops.run_status else 'running'::ops.run_status end,
        v_waiter,
        case when v_waiter is null then 0 else 1 end,
        case when v_waiter is null then null else pg_catalog.now() end,
        case when v_waiter is null then null else pg_catalog.now() end,
        case when v_waiter is null then null else pg_catalog.now() end,
        v_lease, v_claimed_event
      from input i
      order by i.ord
    )
    select pg_catalog.array_agg(i.new_id order by i.ord), pg_catalog.array_agg(i.v ->> 'idempotency_key' order by i.ord)
    into v_ids, v_keys
    from input i;
    if v_waiter is not null then
      update ops.run_waiters w
      set slots = w.slots - 1, handed_ids = w.handed_ids || v_ids[1], handed_leases = w.handed_leases || v_lease
      where w.worker_id = v_waiter and w.lane = v_lane;
      -- On the wake-up channel, which every worker hears: the one named takes the run (the columns in
      -- the order of the client's RUN_COLUMNS), the others see no lane to wake.
      perform pg_catalog.pg_notify('ops_runs_queued', (
        select pg_catalog.json_build_object('handoff', r.worker_id, 'run', pg_catalog.json_build_array(
          r.id, r.seq, r.session_id, r.kind, r.lane, r.priority, r.params, r.status, r.attempt, r.max_attempts,
          r.timeout_seconds, r.run_at, r.idempotency_key, r.template_name, r.template_version, r.worker_id,
          r.claimed_at, r.heartbeat_at, r.started_at, r.finished_at, r.cancel_requested_at, r.cancel_reason,
          r.progress, r.progress_message, r.result, r.error, r.created_by, r.created_at, r.updated_at,
          r.lease::text))::text
        from ops.runs r where r.id = v_ids[1]));
    end if;
  else
    -- The run:enqueued event is the row itself (created_at, created_by, kind, lane, template); only its
    -- id in the history is drawn here.
    with input as materialized (
      select e.ord, e.value as v, pg_catalog.gen_random_uuid() as new_id,
        t.kind as t_kind, t.lane as t_lane, t.priority as t_priority, t.default_params as t_params,
        t.max_attempts as t_max_attempts, t.timeout_seconds as t_timeout, t.name as t_name, t.version as t_version
      from pg_catalog.jsonb_array_elements(p_runs) with ordinality e(value, ord)
      left join lateral (
        select * from ops.run_templates t
        where t.name = e.value ->> 'template_name'
          and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
        order by t.version desc
        limit 1
      ) t on true
    ),
    ins as (
      insert into ops.runs (id, session_id, kind, lane, priority, params, run_at, max_attempts, timeout_seconds,
        idempotency_key, template_name, template_version, created_by, enqueued_event_id)
      select i.new_id, p_session_id,
        coalesce(i.v ->> 'kind', i.t_kind),
        coalesce((i.v ->> 'lane')::ops.lane_type, i.t_lane, 'A'),
        coalesce((i.v ->> 'priority')::integer, i.t_priority, 0),
        coalesce(i.t_params, '{}'::jsonb) || coalesce(i.v -> 'params', '{}'::jsonb),
        coalesce((i.v ->> 'run_at')::timestamptz, pg_catalog.now()),
        coalesce((i.v ->> 'max_attempts')::integer, i.t_max_attempts, 1),
        coalesce((i.v ->> 'timeout_seconds')::integer, i.t_timeout),
        i.v ->> 'idempotency_key',
        i.t_name, i.t_version, v_actor,
        pg_catalog.nextval('ops.run_events_id_seq')
      from input i
      order by i.ord
      on conflict (session_id, idempotency_key) where idempotency_key is not null do nothing
    )
    select pg_catalog.array_agg(i.new_id order by i.ord), pg_catalog.array_agg(i.v ->> 'idempotency_key' order by i.ord)
    into v_ids, v_keys
    from input i;

    -- A key already used in this session (earlier, or by another element of this batch) answers with
    -- that run, but only for the same request: resolved against the existing run's template version,
    -- the element must give the same run (run_at only when given). Otherwise 409, as Stripe does.
    select e.value ->> 'idempotency_key' into v_conflict
    from pg_catalog.jsonb_array_elements(p_runs) with ordinality e(value, ord)
    join ops.runs r on r.session_id = p_session_id and r.idempotency_key = e.value ->> 'idempotency_key'
    left join ops.run_templates t on t.name = r.template_name and t.version = r.template_version
    where r.id <> v_ids[e.ord::integer]
      and not (
        (e.value ->> 'template_name') is not distinct from r.template_name
        and (e.value ->> 'template_version' is null or (e.value ->> 'template_version')::integer = r.template_version)
        and coalesce(e.value ->> 'kind', t.kind) = r.kind
        and coalesce((e.value ->> 'lane')::ops.lane_type, t.lane, 'A') = r.lane
        and coalesce((e.value ->> 'priority')::integer, t.priority, 0) = r.priority
        and coalesce(t.default_params, '{}'::jsonb) || coalesce(e.value -> 'params', '{}'::jsonb) = r.params
        and coalesce((e.value ->> 'max_attempts')::integer, t.max_attempts, 1) = r.max_attempts
        and coalesce((e.value ->> 'timeout_seconds')::integer, t.timeout_seconds) is not distinct from r.timeout_seconds
        and (e.value ->> 'run_at' is null or (e.value ->> 'run_at')::timestamptz = r.run_at)
      )
    limit 1;
    if v_conflict is not null then
      raise exception 'idempotency key % was already used in this session for a different request', v_conflict
        using errcode = 'OPIDC', detail = v_conflict;
    end if;
  end if;

  return query
  select r.*
  from unnest(v_ids, v_keys) with ordinality u(id, key, ord)
  cross join lateral (
    select x.* from ops.runs x where x.id = u.id
    union all
    select y.* from ops.runs y
    where u.key is not null and y.session_id = p_session_id and y.idempotency_key = u.key and y.id <> u.id
  ) r
  order by u.ord;
end;
$function$;
