-- Supabase Realtime (postgres_changes) delivers changes of tables in the `supabase_realtime`
-- publication. supabaseBackend().subscribe listens to ops.runs there; REPLICA IDENTITY FULL makes
-- UPDATE and DELETE messages carry the whole old row, which Realtime needs to check RLS on them and
-- which lets a subscriber see what changed. Conditional: a plain PostgreSQL without the publication
-- (and a publication FOR ALL TABLES, which already has the table) is left alone.

alter table ops.runs replica identity full;

do $$
begin
  if exists (select 1 from pg_catalog.pg_publication where pubname = 'supabase_realtime' and not puballtables)
     and not exists (
       select 1 from pg_catalog.pg_publication_tables
       where pubname = 'supabase_realtime' and schemaname = 'ops' and tablename = 'runs'
     ) then
    alter publication supabase_realtime add table ops.runs;
  end if;
end
$$;
