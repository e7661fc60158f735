-- Bulk actions over a filter in one transaction (issue 17): cancel or retry every run matching the
-- Runboard's filter, not only the loaded ones, all or nothing.
--
-- ops.matching_run_ids selects the matches (the same filter as the run listing and ops.runs count:
-- session, status, lanes, kind, worker, created range, text in kind/params/error/progress message),
-- newest first by seq, at most p_limit. Security invoker: it reads ops.runs under the caller's RLS,
-- so a deployment that narrows runs_read (say, to the caller's own runs) narrows bulk actions too.
-- Only the conditions given are put in the statement (dynamic SQL with parameters, never spliced
-- values): a catch-all `(p is null or col = p)` defeats the indexes once a plan goes generic.
--
-- ops.cancel_matching / ops.retry_matching pass those ids to ops.request_cancel / ops.retry_runs in
-- the same transaction, so the rules of a single cancel or retry apply unchanged (who may call them,
-- kind policies on retry, the run:* events), and a refusal of one run (a kind the role may not retry)
-- refuses the whole action: nothing is changed. Both lock in id order inside those functions.
-- Both are security invoker too: anon, which may not call request_cancel or retry_runs, may not
-- call these either. They return {seen, changed, capped}: seen = matches in a status the action
-- applies to (at most p_max), changed = those it changed (a run that finished meanwhile is seen,
-- not changed; told apart by updated_at = now(), which both functions set on what they change),
-- capped = more matched than p_max (run it again for the rest).
create function ops.matching_run_ids(p_filter jsonb, p_statuses ops.run_status[], p_limit integer)
returns uuid[]
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  v_filter jsonb := coalesce(p_filter, '{}'::jsonb);
  v_key text;
  v_statuses ops.run_status[];
  v_lanes ops.lane_type[];
  v_session uuid;
  v_kind text;
  v_worker text;
  v_pattern text;
  v_after timestamptz;
  v_before timestamptz;
  v_where text := 'r.status = any ($1)';
  v_ids uuid[];
begin
  if pg_catalog.jsonb_typeof(v_filter) <> 'object' then
    raise exception 'filter must be a JSON object' using errcode = 'OPVAL';
  end if;
  if p_limit is null or p_limit < 1 or p_limit > 10001 then
    raise exception 'limit must be between 1 and 10001' using errcode = 'OPVAL';
  end if;
  select k into v_key from pg_catalog.jsonb_object_keys(v_filter) k
  where k not in ('sessionId', 'status', 'lanes', 'kind', 'workerId', 'search', 'createdAfter', 'createdBefore')
  limit 1;
  if v_key is not null then
    raise exception 'unknown filter field %: use sessionId, status, lanes, kind, workerId, search, createdAfter or createdBefore',
      pg_catalog.left(v_key, 60) using errcode = 'OPVAL';
  end if;

  -- The statuses the action applies to, narrowed by the filter's own status (one or a list).
  v_statuses := p_statuses;
  if v_filter ? 'status' then
    if pg_catalog.jsonb_typeof(v_filter -> 'status') = 'string' then
      v_statuses := array(select s from pg_catalog.unnest(p_statuses) s
        where s = (v_filter ->> 'status')::ops.run_status);
    elsif pg_catalog.jsonb_typeof(v_filter -> 'status') = 'array' then
      v_statuses := array(select s from pg_catalog.unnest(p_statuses) s
        where s = any (array(select pg_catalog.jsonb_array_elements_text(v_filter -> 'status'))::ops.run_status[]));
    else
      raise exception 'status must be a status or a list of statuses' using errcode = 'OPVAL';
    end if;
  end if;
  if pg_catalog.cardinality(v_statuses) = 0 then
    return '{}';
  end if;

  if v_filter ? 'sessionId' then
    v_session := (v_filter ->> 'sessionId')::uuid;
    v_where := v_where || ' and r.session_id = $2';
  end if;
  if v_filter ? 'lanes' then
    if pg_catalog.jsonb_typeof(v_filter -> 'lanes') <> 'array' then
      raise exception 'lanes must be a list of lanes' using errcode = 'OPVAL';
    end if;
    v_lanes := array(select pg_catalog.jsonb_array_elements_text(v_filter -> 'lanes'))::ops.lane_type[];
    v_where := v_where || ' and r.lane = any ($3)';
  end if;
  if v_filter ? 'kind' then
    v_kind := v_filter ->> 'kind';
    v_where := v_where || ' and r.kind = $4';
  end if;
  if v_filter ? 'workerId' then
    v_worker := v_filter ->> 'workerId';
    v_where := v_where || ' and r.worker_id = $5';
  end if;
  if v_filter ? 'search' then
    v_pattern := pg_catalog.btrim(v_filter ->> 'search');
    if v_pattern is null or pg_catalog.char_length(v_pattern) not between 1 and 200 then
      raise exception 'search must be 1 to 200 characters' using errcode = 'OPVAL';
    end if;
    v_pattern := '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(v_pattern, '\', '\\'), '%', '\%'), '_', '\_') || '%';
    v_where := v_where || ' and (r.kind ilike $6 or r.params::text ilike $6 or r.error::text ilike $6'
      || ' or r.progress_message ilike $6)';
  end if;
  if v_filter ? 'createdAfter' then
    v_after := (v_filter ->> 'createdAfter')::timestamptz;
    v_where := v_where || ' and r.created_at >= $7';
  end if;
  if v_filter ? 'createdBefore' then
    v_before := (v_filter ->> 'createdBefore')::timestamptz;
    v_where := v_where || ' and r.created_at < $8';
  end if;

  execute 'select coalesce(array(select r.id from ops.runs r where ' || v_where
    || ' order by r.seq desc limit $9), ''{}'')'
  into v_ids
  using v_statuses, v_session, v_lanes, v_kind, v_worker, v_pattern, v_after, v_before, p_limit;
  return v_ids;
end;
$$;

comment on function ops.matching_run_ids(jsonb, ops.run_status[], integer) is
  'Ids of the runs matching a Runboard filter in one of p_statuses, newest first, at most p_limit. RLS applies (security invoker).';

create function ops.cancel_matching(p_filter jsonb, p_reason text default null, p_max integer default 10000)
returns jsonb
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_ids uuid[];
  v_capped boolean;
  v_changed integer;
begin
  if p_max is null or p_max < 1 or p_max > 10000 then
    raise exception 'max must be between 1 and 10000' using errcode = 'OPVAL';
  end if;
  v_ids := ops.matching_run_ids(p_filter, '{queued,running}', p_max + 1);
  v_capped := pg_catalog.cardinality(v_ids) > p_max;
  if v_capped then
    v_ids := v_ids[1:p_max];
  end if;
  select pg_catalog.count(*) filter (where c.updated_at = pg_catalog.now()) into v_changed
  from ops.request_cancel(v_ids, p_reason) c;
  return pg_catalog.jsonb_build_object(
    'seen', pg_catalog.cardinality(v_ids), 'changed', v_changed, 'capped', v_capped);
end;
$$;

comment on function ops.cancel_matching(jsonb, text, integer) is
  'Cancels every queued or running run matching a Runboard filter (at most p_max, newest first) through ops.request_cancel, in one transaction. Returns {seen, changed, capped}.';

create function ops.retry_matching(p_filter jsonb, p_max integer default 10000)
returns jsonb
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_ids uuid[];
  v_capped boolean;
  v_changed integer;
begin
  if p_max is null or p_max < 1 or p_max > 10000 then
    raise exception 'max must be between 1 and 10000' using errcode = 'OPVAL';
  end if;
  v_ids := ops.matching_run_ids(p_filter, '{failed,cancelled}', p_max + 1);
  v_capped := pg_catalog.cardinality(v_ids) > p_max;
  if v_capped then
    v_ids := v_ids[1:p_max];
  end if;
  -- ops.retry_runs refuses the whole array when the role may not retry one of its kinds.
  select pg_catalog.count(*) filter (where r.updated_at = pg_catalog.now()) into v_changed
  from ops.retry_runs(v_ids) r;
  return pg_catalog.jsonb_build_object(
    'seen', pg_catalog.cardinality(v_ids), 'changed', v_changed, 'capped', v_capped);
end;
$$;

comment on function ops.retry_matching(jsonb, integer) is
  'Retries every failed or cancelled run matching a Runboard filter (at most p_max, newest first) through ops.retry_runs, in one transaction: a kind the role may not retry refuses all. Returns {seen, changed, capped}.';

revoke execute on function ops.matching_run_ids(jsonb, ops.run_status[], integer) from public;
revoke execute on function ops.cancel_matching(jsonb, text, integer) from public;
revoke execute on function ops.retry_matching(jsonb, integer) from public;
grant execute on function ops.matching_run_ids(jsonb, ops.run_status[], integer) to authenticated, service_role;
grant execute on function ops.cancel_matching(jsonb, text, integer) to authenticated, service_role;
grant execute on function ops.retry_matching(jsonb, integer) to authenticated, service_role;
