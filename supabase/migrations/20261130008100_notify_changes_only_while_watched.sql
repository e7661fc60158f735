-- Ops Control Room: no status or events notification while nobody watches (issue 15).
--
-- Workers listen to ops_runs_queued (their wake-up on enqueue) and ops_cancel, never to
-- ops_run_changes or ops_run_events. Yet claim_runs and complete_runs sent both on every call, and a
-- notifying commit takes PostgreSQL's cluster-wide notify lock through its WAL flush, which
-- serialises the settle path of every worker. Now whoever wants those changes says so:
--
-- * ops.watch_changes(id, seconds) registers a watcher in ops.change_listeners for `seconds` (the
--   postgres backend does it while it has a `run` or `events` subscriber, refreshing every 20 s of
--   a 60 s expiry, and removes it when the last one leaves). A crashed watcher expires by itself.
-- * ops.changes_watched() is what claim_runs, complete_runs and the triggers on ops.runs and
--   ops.run_events ask before sending ops_run_changes or ops_run_events. Queued and cancel
--   notifications are sent as before.
-- * No change is lost around a registration: the question takes ACCESS SHARE on ops.change_listeners
--   until commit, and the first registration of a watcher takes ACCESS EXCLUSIVE (waiting at most
--   200 ms), so it commits only after every transaction that decided not to notify has committed.
--   The backend's subscribe resolves after that commit.

create table ops.change_listeners (
  id uuid primary key,
  expires_at timestamptz not null
);
alter table ops.change_listeners enable row level security;
create policy change_listeners_service on ops.change_listeners for all to service_role using (true) with check (true);
revoke all on ops.change_listeners from anon, authenticated;
grant select, insert, update, delete on ops.change_listeners to service_role;

create function ops.changes_watched()
returns boolean
language sql stable security definer set search_path = ''
as $$
  select exists (select 1 from ops.change_listeners l where l.expires_at > pg_catalog.now())
$$;

create function ops.watch_changes(p_id uuid, p_seconds integer default 60)
returns boolean
language plpgsql security definer set search_path = ''
as $$
begin
  if p_id is null or p_seconds is null or p_seconds < 0 or p_seconds > 3600 then
    raise exception 'a watcher needs an id and 0 to 3600 seconds' using errcode = 'OPVAL';
  end if;
  if p_seconds = 0 then
    delete from ops.change_listeners l where l.id = p_id;
    return false;
  end if;
  if not exists (select 1 from ops.change_listeners l where l.id = p_id and l.expires_at > pg_catalog.now()) then
    -- A new watcher: wait for the transactions that already decided nobody watches (they hold ACCESS
    -- SHARE until they commit), so that every change after this commit is announced.
    begin
      perform pg_catalog.set_config('lock_timeout', '200ms', true);
      lock table ops.change_listeners in access exclusive mode;
    exception when lock_not_available then
      null; -- a writer held on for longer: register anyway; only its own change may go unannounced
    end;
  end if;
  delete from ops.change_listeners l where l.expires_at < pg_catalog.now() - interval '1 minute';
  if (select pg_catalog.count(*) from ops.change_listeners) >= 1000 then
    raise exception 'too many change watchers (1000)' using errcode = 'OPVAL';
  end if;
  insert into ops.change_listeners as l (id, expires_at)
  values (p_id, pg_catalog.now() + pg_catalog.make_interval(secs => p_seconds))
  on conflict (id) do update set expires_at = excluded.expires_at;
  return true;
end;
$$;

-- Anyone whose write fires a notifying trigger asks changes_watched(); only a service may register.
revoke execute on function ops.changes_watched() from public;
grant execute on function ops.changes_watched() to anon, authenticated, service_role;
revoke execute on function ops.watch_changes(uuid, integer) from public, anon, authenticated;
grant execute on function ops.watch_changes(uuid, integer) to service_role;

create or replace function ops.claim_runs(p_worker_id text, p_lanes ops.lane_type[], p_limits integer[], p_kinds text[] default null)
returns setof ops.runs
language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
declare
  v_ids uuid[];
  -- Read here, so the lock it takes on ops.change_listeners is held from before the claim to commit.
  v_watched boolean := ops.changes_watched();
begin
  if p_worker_id is null or p_worker_id = '' then
    raise exception 'worker id is required' using errcode = 'OPVAL';
  end if;
  if p_lanes is null or p_limits is null or pg_catalog.cardinality(p_lanes) <> pg_catalog.cardinality(p_limits) then
    raise exception 'lanes and limits must be arrays of the same length' using errcode = 'OPVAL';
  end if;
  if pg_catalog.array_position(p_limits, null) is not null or 0 > any (p_limits) or 1000 < any (p_limits) then
    raise exception 'each lane limit must be between 0 and 1000' using errcode = 'OPVAL';
  end if;
  if p_kinds is null then
    -- Every kind: the head of each lane on the queue index.
    v_ids := array(
      select c.id
      from unnest(p_lanes, p_limits) lanes(lane, lim)
      cross join lateral (
        select r.id from ops.runs r
        where r.status = 'queued' and r.lane = lanes.lane and r.run_at <= pg_catalog.now()
        order by r.priority desc, r.run_at, r.seq
        limit lanes.lim
        for update skip locked
      ) c
      where lanes.lim > 0);
  else
    -- Some kinds: the head of each (lane, kind) on the kind queue index, so queued runs of other
    -- kinds are never read; then the best `lim` of each lane across its kinds, in queue order. With
    -- several kinds a claim may lock up to `lim` runs per kind for the length of its transaction and
    -- leave the surplus queued.
    v_ids := array(
      select x.id
      from (
        select c.id, lanes.lim,
          pg_catalog.row_number() over (partition by lanes.ord order by c.priority desc, c.run_at, c.seq) as rn
        from unnest(p_lanes, p_limits) with ordinality lanes(lane, lim, ord)
        cross join (select distinct k.kind from unnest(p_kinds) k(kind) where k.kind is not null) kinds
        cross join lateral (
          select r.id, r.priority, r.run_at, r.seq from ops.runs r
          where r.status = 'queued' and r.kind = kinds.kind and r.lane = lanes.lane and r.run_at <= pg_catalog.now()
          order by r.priority desc, r.run_at, r.seq
          limit lanes.lim
          for update skip locked
        ) c
        where lanes.lim > 0
      ) x
      where x.rn <= x.lim);
  end if;
  perform pg_catalog.set_config('ops.notified', 'on', true);
  -- The run:claimed event is the row (worker_id, claimed_at, attempt, lease); only its id is drawn.
  -- Status and events notifications go out only while someone watches (ops.watch_changes).
  return query
  with claimed as (
    update ops.runs r
    set status = 'running', worker_id = p_worker_id, attempt = r.attempt + 1, claimed_at = pg_catalog.now(),
      heartbeat_at = pg_catalog.now(), started_at = coalesce(r.started_at, pg_catalog.now()), updated_at = pg_catalog.now(),
      lease = pg_catalog.nextval('ops.run_lease_seq'), progress = null, progress_message = null,
      claimed_event_id = pg_catalog.nextval('ops.run_events_id_seq')
    where r.id = any (v_ids)
    returning r.*
  ),
  changes as (
    select pg_catalog.pg_notify('ops_run_changes', '{"runs":[' || pg_catalog.string_agg('{"id":"' || x.id || '","session_id":"' || x.session_id
      || '","status":"' || x.status || '","lane":"' || x.lane || '"}', ',') || ']}')
    from (select c.id, c.session_id, c.status, c.lane, (pg_catalog.row_number() over () - 1) / 50 as grp from claimed c where v_watched) x
    group by x.grp
  ),
  evnotes as (
    select pg_catalog.pg_notify('ops_run_events', '{"run_ids":[' || pg_catalog.string_agg('"' || x.id || '"', ',') || ']}')
    from (select c.id, (pg_catalog.row_number() over () - 1) / 150 as grp from claimed c where v_watched) x
    group by x.grp
  )
  select c.* from claimed c
  where (select pg_catalog.count(*) from changes) >= 0 and (select pg_catalog.count(*) from evnotes) >= 0
  order by c.priority desc, c.run_at, c.seq;
  perform pg_catalog.set_config('ops.notified', 'off', true);
end;
$$;

create or replace function ops.complete_runs(p_worker_id text, p_results jsonb)
returns setof ops.runs
language plpgsql security definer set search_path = '' set plan_cache_mode = force_generic_plan
as $$
declare
  -- Read first, so the lock it takes on ops.change_listeners is held from here to commit.
  v_watched boolean := ops.changes_watched();
begin
  if p_results is null or pg_catalog.jsonb_typeof(p_results) <> 'array' then
    raise exception 'results must be an array' using errcode = 'OPVAL';
  end if;
  perform pg_catalog.set_config('ops.notified', 'on', true);
  -- Status and events notifications go out only while someone watches (ops.watch_changes).
  return query
  with input as (
    select (e ->> 'id')::uuid as id, (e ->> 'lease')::bigint as lease, e -> 'result' as result
    from pg_catalog.jsonb_array_elements(p_results) e
  ),
  locked as (
    -- Lock the rows in id order first, as request_cancel and the other multi-row writers do. The
    -- UPDATE below is planned as a hash join probed by `input`, so on its own it locked the rows in
    -- the order of the settlement batch, and deadlocked with a concurrent request_cancel.
    select r.id from ops.runs r
    where r.id = any (array(select input.id from input)) and r.status = 'running'
    order by r.id
    for no key update
  ),
  done as (
    -- The run:succeeded event is the row (finished_at, attempt, claimed_at); only its id is drawn.
    update ops.runs r
    set status = 'succeeded', result = i.result, error = null, finished_at = pg_catalog.now(), updated_at = pg_catalog.now(),
      finished_event_id = pg_catalog.nextval('ops.run_events_id_seq')
    from input i
    where r.id = any (array(select locked.id from locked)) and r.id = i.id and r.status = 'running' and r.lease = i.lease
    returning r.*
  ),
  changes as (
    select pg_catalog.pg_notify('ops_run_changes', '{"runs":[' || pg_catalog.string_agg('{"id":"' || x.id || '","session_id":"' || x.session_id
      || '","status":"' || x.status || '","lane":"' || x.lane || '"}', ',') || ']}')
    from (select c.id, c.session_id, c.status, c.lane, (pg_catalog.row_number() over () - 1) / 50 as grp from done c where v_watched) x
    group by x.grp
  ),
  evnotes as (
    select pg_catalog.pg_notify('ops_run_events', '{"run_ids":[' || pg_catalog.string_agg('"' || x.id || '"', ',') || ']}')
    from (select c.id, (pg_catalog.row_number() over () - 1) / 150 as grp from done c where v_watched) x
    group by x.grp
  )
  select d.* from done d
  where (select pg_catalog.count(*) from changes) >= 0 and (select pg_catalog.count(*) from evnotes) >= 0;
  perform pg_catalog.set_config('ops.notified', 'off', true);
end;
$$;

create or replace function ops.notify_events_inserted()
returns trigger
language plpgsql set search_path = ''
as $$
declare
  v_text text;
begin
  if pg_catalog.current_setting('ops.notified', true) = 'on' or not ops.changes_watched() then
    return null;
  end if;
  for v_text in
    select pg_catalog.json_build_object('run_ids', pg_catalog.json_agg(x.run_id))::text
    from (select d.run_id, (pg_catalog.row_number() over () - 1) / 150 as grp from (select distinct n.run_id from new_rows n) d) x
    group by x.grp
  loop
    perform pg_catalog.pg_notify('ops_run_events', v_text);
  end loop;
  return null;
end;
$$;

create or replace function ops.notify_runs_inserted()
returns trigger
language plpgsql set search_path = ''
as $$
declare
  v_text text;
begin
  for v_text in select distinct n.lane::text from new_rows n where n.status = 'queued' loop
    perform pg_catalog.pg_notify('ops_runs_queued', v_text);
  end loop;
  if not ops.changes_watched() then
    return null;
  end if;
  for v_text in
    select pg_catalog.json_build_object('runs', pg_catalog.json_agg(pg_catalog.json_build_object(
      'id', x.id, 'session_id', x.session_id, 'status', x.status, 'lane', x.lane)))::text
    from (select n.*, (pg_catalog.row_number() over () - 1) / 50 as grp from new_rows n) x
    group by x.grp
  loop
    perform pg_catalog.pg_notify('ops_run_changes', v_text);
  end loop;
  -- A run enqueued by enqueue_runs has a run:enqueued event in its history (on the row): announced
  -- as the event row used to be.
  for v_text in
    select pg_catalog.json_build_object('run_ids', pg_catalog.json_agg(x.id))::text
    from (select n.id, (pg_catalog.row_number() over () - 1) / 150 as grp from new_rows n where n.enqueued_event_id is not null) x
    group by x.grp
  loop
    perform pg_catalog.pg_notify('ops_run_events', v_text);
  end loop;
  return null;
end;
$$;

create or replace function ops.notify_runs_updated()
returns trigger
language plpgsql set search_path = ''
as $$
declare
  v_text text;
begin
  if pg_catalog.current_setting('ops.notified', true) = 'on' then
    return null;
  end if;
  for v_text in
    select distinct n.lane::text from new_rows n join old_rows o on o.id = n.id
    where n.status = 'queued' and o.status <> 'queued'
  loop
    perform pg_catalog.pg_notify('ops_runs_queued', v_text);
  end loop;
  for v_text in
    select pg_catalog.json_build_object('id', n.id, 'worker_id', n.worker_id, 'lease', n.lease::text)::text
    from new_rows n join old_rows o on o.id = n.id
    where n.status = 'running' and n.cancel_requested_at is not null and o.cancel_requested_at is null
  loop
    perform pg_catalog.pg_notify('ops_cancel', v_text);
  end loop;
  if not ops.changes_watched() then
    return null;
  end if;
  for v_text in
    select pg_catalog.json_build_object('runs', pg_catalog.json_agg(pg_catalog.json_build_object(
      'id', x.id, 'session_id', x.session_id, 'status', x.status, 'lane', x.lane)))::text
    from (
      select n.id, n.session_id, n.status, n.lane, (pg_catalog.row_number() over () - 1) / 50 as grp
      from new_rows n join old_rows o on o.id = n.id
      where n.status is distinct from o.status or n.progress is distinct from o.progress
        or n.progress_message is distinct from o.progress_message
        or n.cancel_requested_at is distinct from o.cancel_requested_at
    ) x
    group by x.grp
  loop
    perform pg_catalog.pg_notify('ops_run_changes', v_text);
  end loop;
  return null;
end;
$$;
