-- Ops Control Room: who may do what. Reads go through RLS policies; writes only through the
-- state-transition functions, whose EXECUTE grants decide the caller's role:
--   anon           read sessions and runs
--   authenticated  read everything; create sessions, enqueue runs, request cancels
--   service_role   the workers' role: everything, including claim, heartbeat, complete and recover

grant usage on schema ops to anon, authenticated, service_role;

alter table ops.sessions enable row level security;
alter table ops.runs enable row level security;
alter table ops.run_events enable row level security;
alter table ops.artifacts enable row level security;
alter table ops.run_templates enable row level security;
alter table ops.workers enable row level security;

revoke all on all tables in schema ops from anon, authenticated;
grant select on ops.sessions, ops.runs to anon;
grant select on all tables in schema ops to authenticated;
grant all on all tables in schema ops to service_role;
grant usage, select on all sequences in schema ops to service_role;

create policy sessions_read on ops.sessions for select to anon, authenticated using (true);
create policy runs_read on ops.runs for select to anon, authenticated using (true);
create policy run_events_read on ops.run_events for select to authenticated using (true);
create policy artifacts_read on ops.artifacts for select to authenticated using (true);
create policy run_templates_read on ops.run_templates for select to authenticated using (true);
create policy workers_read on ops.workers for select to authenticated using (true);
-- service_role bypasses RLS on Supabase; these keep it working where it does not.
create policy sessions_service on ops.sessions for all to service_role using (true) with check (true);
create policy runs_service on ops.runs for all to service_role using (true) with check (true);
create policy run_events_service on ops.run_events for all to service_role using (true) with check (true);
create policy artifacts_service on ops.artifacts for all to service_role using (true) with check (true);
create policy run_templates_service on ops.run_templates for all to service_role using (true) with check (true);
create policy workers_service on ops.workers for all to service_role using (true) with check (true);

-- Functions are executable by PUBLIC by default: take that back, then grant by role.
revoke execute on all functions in schema ops from public, anon, authenticated;

grant execute on function ops.current_user_id() to anon, authenticated, service_role;
grant execute on function ops.find_secret(jsonb, text) to anon, authenticated, service_role;

grant execute on function ops.create_session(text, text, jsonb) to authenticated, service_role;
grant execute on function ops.enqueue_runs(uuid, jsonb) to authenticated, service_role;
grant execute on function ops.request_cancel(uuid[], text) to authenticated, service_role;

grant execute on function ops.create_template(jsonb) to service_role;
grant execute on function ops.claim_runs(text, ops.lane_type[], integer[], text[]) to service_role;
grant execute on function ops.heartbeat(text, uuid[], jsonb) to service_role;
grant execute on function ops.complete_runs(text, jsonb) to service_role;
grant execute on function ops.fail_runs(text, jsonb) to service_role;
grant execute on function ops.ack_cancel(text, uuid[], text) to service_role;
grant execute on function ops.release_runs(text, uuid[], text) to service_role;
grant execute on function ops.recover_stuck_runs(integer, integer) to service_role;
grant execute on function ops.update_progress(text, jsonb) to service_role;
grant execute on function ops.append_events(jsonb) to service_role;
grant execute on function ops.create_artifacts(jsonb) to service_role;
