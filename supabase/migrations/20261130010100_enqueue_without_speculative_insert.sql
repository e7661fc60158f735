-- Ops Control Room: cheaper enqueues (issue 15).
--
-- enqueue_runs inserts with ON CONFLICT only when an element names an idempotency key: a speculative
-- insert logs a confirmation record per row (48 bytes of WAL per run, measured with pg_walinspect)
-- and a conflict check that a batch without keys never needs. Everything else of enqueue_runs
-- (kind policies, templates and their params check, the row's lifecycle ids, 20261130008000) is
-- unchanged.
--
-- guard_params skips the secret scan for empty params: ops.find_secret is a SQL function with its own
-- search_path, so it is never inlined, and its call cost ~0.09 ms per row even for `{}`.

create or replace function ops.enqueue_runs(p_session_id uuid, p_runs jsonb)
returns setof ops.runs
language plpgsql security definer set search_path = ''
as $$
declare
  v_ids uuid[];
  v_keys text[];
  v_missing text;
  v_forbidden text;
  v_conflict text;
  v_unchecked text;
  v_actor uuid := ops.current_user_id();
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

  select e.value ->> 'template_name' || coalesce('@' || (e.value ->> 'template_version'), '') into v_missing
  from pg_catalog.jsonb_array_elements(p_runs) e
  where e.value ? 'template_name'
    and not exists (
      select 1 from ops.run_templates t
      where t.name = e.value ->> 'template_name'
        and (e.value ->> 'template_version' is null or t.version = (e.value ->> 'template_version')::integer)
    )
  limit 1;
  if v_missing is not null then
    raise exception 'template % does not exist', v_missing using errcode = 'OPNTF';
  end if;

  -- A template's params schema is JSON Schema, which only the TypeScript layer checks. The executor
  -- API validates params and then says so for its transaction (ops.template_params_checked); a caller
  -- that is not trusted and did not come through it (PostgREST, a direct call) may not enqueue from
  -- a template that has a schema: that path is closed rather than left unvalidated.
  if not ops.caller_is_trusted()
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
$$;

create or replace function ops.guard_params()
returns trigger
language plpgsql set search_path = ''
as $$
declare
  v_path text;
begin
  -- Nothing to scan in an empty object (most runs have no params).
  if tg_table_name = 'run_templates' then
    if new.default_params <> '{}'::jsonb then
      v_path := ops.find_secret(new.default_params, 'default_params');
    end if;
  elsif new.params <> '{}'::jsonb then
    v_path := ops.find_secret(new.params, 'params');
  end if;
  if v_path is not null then
    raise exception 'the value at % looks like a secret; pass secrets through the worker''s environment or a vault, never in params', v_path
      using errcode = 'OPSEC', detail = v_path;
  end if;
  return new;
end;
$$;
