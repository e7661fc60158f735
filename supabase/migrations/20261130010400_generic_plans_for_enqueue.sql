-- Enqueue without the work that binds nobody, and without a custom plan per call.
--
-- enqueue_runs had no plan_cache_mode: its statements take a jsonb argument, so the plan cache kept
-- building a custom plan for each call (BuildCachedPlan and copying the query trees were half of an
-- enqueue's instructions). Like claim_runs and complete_runs it now always takes the generic plans.
-- A trusted caller (service role, the schema owner, a superuser: a worker, a server holding the
-- service role) skips the kind-policy and template-schema checks, which ops.forbidden_kind and the
-- caller_is_trusted test skipped for it anyway; callers the executor API signs in keep their own role
-- and every check. An enqueue that names no template skips the template lookups. caller_is_trusted
-- reads the caller's role once instead of three times.
--
-- `pnpm bench sql`, "enqueue 1 run": 3.44 M -> 1.63 M instructions.

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
    )
    select pg_catalog.array_agg(i.new_id order by i.ord), pg_catalog.array_agg(i.v ->> 'idempotency_key' order by i.ord)
    into v_ids, v_keys
    from input i;
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

create or replace function ops.caller_is_trusted()
returns boolean
language sql
stable
set search_path = ''
as $$
  select r.role = 'service_role'
    or exists (select 1 from pg_catalog.pg_roles p where p.rolname = r.role and p.rolsuper)
    or r.role = (select n.nspowner::pg_catalog.regrole::text from pg_catalog.pg_namespace n where n.nspname = 'ops')
  from (select ops.caller_role() as role) r
$$;
