-- The Runboard's metrics panel reads ops.queue_stats as the signed-in user. It only aggregates what
-- `authenticated` may already read (runs and workers are readable to it under RLS), so it is granted
-- like those reads; anon still is not.
grant execute on function ops.queue_stats(interval) to authenticated;
