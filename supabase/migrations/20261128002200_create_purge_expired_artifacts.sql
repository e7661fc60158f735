-- Retention: deletes artifacts whose expires_at has passed (90 days after creation by default) and
-- returns their storage paths, so the caller (the sweeper, through the executor API) deletes the
-- stored content after this commits. SKIP LOCKED: two sweepers never return the same artifact.
-- service_role only.

create function ops.purge_expired_artifacts(p_limit integer default 1000)
returns table (id uuid, run_id uuid, storage_path text)
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_limit is null or p_limit < 1 or p_limit > 10000 then
    raise exception 'limit must be between 1 and 10000' using errcode = 'OPVAL';
  end if;
  return query
  with doomed as (
    select a.id as doomed_id
    from ops.artifacts a
    where a.expires_at <= pg_catalog.now()
    order by a.expires_at
    limit p_limit
    for update skip locked
  )
  delete from ops.artifacts a
  using doomed d
  where a.id = d.doomed_id
  returning a.id, a.run_id, a.storage_path;
end;
$$;

revoke execute on function ops.purge_expired_artifacts(integer) from public, anon, authenticated;
grant execute on function ops.purge_expired_artifacts(integer) to service_role;
