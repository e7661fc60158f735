-- Stuck-run recovery and retention must not depend on a worker being alive. Where pg_cron can be
-- installed (Supabase; any PostgreSQL with pg_cron in shared_preload_libraries, in the database
-- named by cron.database_name), schedule them; elsewhere this migration does nothing, and a
-- scheduler of your own calls the same statements (docs/runbooks/ops-control-room/).
--
--   ops-recover-stuck-runs  every 30 s (every minute on pg_cron < 1.5): runs whose worker has been
--                           silent for `ops.heartbeat_timeout_seconds` (default 30) go back to the
--                           queue or fail.
--   ops-purge-retention     daily at 03:17: finished runs and silent workers older than
--                           `ops.retention_days` (default 90).
--
-- Re-running it (or scheduling by hand) updates the jobs in place: pg_cron keys them by name.

do $migration$
declare
  v_recover constant text :=
    'select count(*) from ops.recover_stuck_runs(coalesce(nullif(pg_catalog.current_setting(''ops.heartbeat_timeout_seconds'', true), '''')::integer, 30))';
  v_purge constant text := 'select ops.purge_retention()';
begin
  if not exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not available: schedule ops.recover_stuck_runs and ops.purge_retention yourself';
    return;
  end if;
  begin
    create extension if not exists pg_cron;
  exception when others then
    -- Not preloaded, or another database is cron.database_name.
    raise notice 'pg_cron could not be installed here (%): schedule ops.recover_stuck_runs and ops.purge_retention yourself', sqlerrm;
    return;
  end;
  begin
    perform cron.schedule('ops-recover-stuck-runs', '30 seconds', v_recover);
  exception when invalid_parameter_value or invalid_text_representation or data_exception then
    -- pg_cron before 1.5 knows no seconds.
    perform cron.schedule('ops-recover-stuck-runs', '* * * * *', v_recover);
  end;
  perform cron.schedule('ops-purge-retention', '17 3 * * *', v_purge);
end;
$migration$;
