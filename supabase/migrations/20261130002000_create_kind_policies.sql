-- Who may run what: a per-kind enqueue policy, enforced in ops.enqueue_runs so that every path that
-- creates runs (the client, the executor API, PostgREST, a direct SQL call) obeys it.
--
-- Rules:
--   * service_role, a superuser and the owner of the ops schema (a direct connection, the workers,
--     migrations) may enqueue every kind.
--   * Any other role (authenticated, or a custom role) may enqueue a kind only when a row of
--     ops.kind_policies for that kind (or for '*', every kind) names its role, and, when the row says
--     so, the caller's user id (`sub`) is in user_ids and its JWT claims contain `claims`.
--   * A kind nobody allowed is therefore service_role-only: a new handler such as `shell` is never
--     reachable by signed-in users until an operator says so.
-- Claims come from `request.jwt.claims`, which PostgREST and the executor set from a verified token;
-- a role that can run arbitrary SQL could set them itself, so never give such a role a login.

create table ops.kind_policies (
  kind text primary key,
  roles text[] not null,
  user_ids uuid[],
  claims jsonb,
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint kind_policies_kind_format check (kind = '*' or kind ~ '^[a-z0-9][a-z0-9_.:-]{0,99}$'),
  constraint kind_policies_roles_nonempty check (cardinality(roles) between 1 and 20),
  constraint kind_policies_user_ids_size check (user_ids is null or cardinality(user_ids) <= 10000),
  constraint kind_policies_claims_object check (claims is null or jsonb_typeof(claims) = 'object'),
  constraint kind_policies_description_length check (description is null or char_length(description) <= 1000)
);
comment on table ops.kind_policies is
  'Which roles (and optionally which users or JWT claims) may enqueue which kinds; a kind without a row is service_role-only.';

alter table ops.kind_policies enable row level security;
revoke all on ops.kind_policies from public, anon, authenticated;
grant all on ops.kind_policies to service_role;
create policy kind_policies_service on ops.kind_policies for all to service_role using (true) with check (true);

-- The role a request runs as: the `SET ROLE` of PostgREST or the executor when there is one, else the
-- login role. SECURITY DEFINER changes current_user, not the `role` setting, so this works inside one.
create function ops.caller_role() returns text
language sql stable
set search_path = ''
as $$
  select case
    when coalesce(pg_catalog.current_setting('role', true), 'none') in ('none', '') then session_user::text
    else pg_catalog.current_setting('role', true)
  end
$$;

-- The first of p_kinds that the calling role may not enqueue, or null when it may enqueue them all.
create function ops.forbidden_kind(p_kinds text[]) returns text
language plpgsql stable
set search_path = ''
as $$
declare
  v_role text := ops.caller_role();
  v_claims jsonb;
  v_user uuid;
  v_kind text;
begin
  if v_role = 'service_role'
    or exists (select 1 from pg_catalog.pg_roles r where r.rolname = v_role and r.rolsuper)
    or v_role = (select n.nspowner::pg_catalog.regrole::text from pg_catalog.pg_namespace n where n.nspname = 'ops')
  then
    return null;
  end if;
  begin
    v_claims := coalesce(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb);
  exception when others then
    v_claims := '{}'::jsonb;
  end;
  v_user := ops.current_user_id();
  select k into v_kind
  from pg_catalog.unnest(p_kinds) k
  where not exists (
    select 1 from ops.kind_policies p
    where (p.kind = k or p.kind = '*')
      and v_role = any (p.roles)
      and (p.user_ids is null or v_user = any (p.user_ids))
      and (p.claims is null or v_claims @> p.claims)
  )
  limit 1;
  return v_kind;
end;
$$;

-- Creates or replaces the policy of one kind. p: { kind, roles, user_ids?, claims?, description? }.
create function ops.set_kind_policy(p jsonb)
returns ops.kind_policies
language plpgsql security definer
set search_path = ''
as $$
declare
  v_row ops.kind_policies;
begin
  if p is null or pg_catalog.jsonb_typeof(p) <> 'object' or p ->> 'kind' is null then
    raise exception 'a kind policy needs a kind' using errcode = 'OPVAL';
  end if;
  if pg_catalog.jsonb_typeof(p -> 'roles') is distinct from 'array' then
    raise exception 'a kind policy needs roles (an array of role names)' using errcode = 'OPVAL';
  end if;
  insert into ops.kind_policies (kind, roles, user_ids, claims, description)
  values (
    p ->> 'kind',
    array(select pg_catalog.jsonb_array_elements_text(p -> 'roles')),
    case when pg_catalog.jsonb_typeof(p -> 'user_ids') = 'array'
      then array(select pg_catalog.jsonb_array_elements_text(p -> 'user_ids'))::uuid[] end,
    case when pg_catalog.jsonb_typeof(p -> 'claims') = 'null' then null else p -> 'claims' end,
    p ->> 'description'
  )
  on conflict (kind) do update set
    roles = excluded.roles, user_ids = excluded.user_ids, claims = excluded.claims,
    description = excluded.description, updated_at = pg_catalog.now()
  returning * into v_row;
  return v_row;
end;
$$;

-- Removes the policy of one kind (it becomes service_role-only). Returns whether there was one.
create function ops.delete_kind_policy(p_kind text)
returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  delete from ops.kind_policies where kind = p_kind;
  return found;
end;
$$;

-- enqueue_runs, redefined whole: as before, plus the kind policy (checked once per distinct kind,
-- after templates have supplied theirs, before anything is written).
create or replace function ops.enqueue_runs(p_session_id uuid, p_runs jsonb)
returns setof ops.runs
language plpgsql security definer
set search_path = ''
as $$
declare
  v_ids uuid[];
  v_keys text[];
  v_missing text;
  v_forbidden text;
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
      idempotency_key, template_name, template_version, created_by)
    select i.new_id, p_session_id,
      coalesce(i.v ->> 'kind', i.t_kind),
      coalesce((i.v ->> 'lane')::ops.lane_type, i.t_lane, 'A'),
      coalesce((i.v ->> 'priority')::integer, i.t_priority, 0),
      coalesce(i.t_params, '{}'::jsonb) || coalesce(i.v -> 'params', '{}'::jsonb),
      coalesce((i.v ->> 'run_at')::timestamptz, pg_catalog.now()),
      coalesce((i.v ->> 'max_attempts')::integer, i.t_max_attempts, 1),
      coalesce((i.v ->> 'timeout_seconds')::integer, i.t_timeout),
      i.v ->> 'idempotency_key',
      i.t_name, i.t_version, v_actor
    from input i
    order by i.ord
    on conflict (idempotency_key) where idempotency_key is not null do nothing
    returning id, kind, lane, template_name, template_version
  ),
  ev as (
    insert into ops.run_events (run_id, level, type, message, data)
    select ins.id, 'info', 'run:enqueued', 'enqueued in lane ' || ins.lane,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('by', v_actor, 'kind', ins.kind,
        'template', ins.template_name, 'template_version', ins.template_version))
    from ins
  )
  select pg_catalog.array_agg(i.new_id order by i.ord), pg_catalog.array_agg(i.v ->> 'idempotency_key' order by i.ord)
  into v_ids, v_keys
  from input i;

  return query
  select r.*
  from unnest(v_ids, v_keys) with ordinality u(id, key, ord)
  cross join lateral (
    select x.* from ops.runs x where x.id = u.id
    union all
    select y.* from ops.runs y where u.key is not null and y.idempotency_key = u.key and y.id <> u.id
  ) r
  order by u.ord;
end;
$$;

-- Internal helpers of enqueue_runs (which runs as the owner): nobody calls them directly.
revoke execute on function ops.caller_role(), ops.forbidden_kind(text[]) from public, anon, authenticated;
revoke execute on function ops.set_kind_policy(jsonb), ops.delete_kind_policy(text) from public, anon, authenticated;
grant execute on function ops.set_kind_policy(jsonb), ops.delete_kind_policy(text) to service_role;
