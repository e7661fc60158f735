-- The row's rules are one CHECK over the whole row: ops.runs_invariants(runs).
--
-- PostgreSQL rebuilds a CHECK's expression from its stored text for every statement that writes the
-- table. With eighteen columns passed one by one, reading that text back was a tenth of a one-run
-- claim (`pnpm bench sql`: stringToNode and ExecConstraints). A whole-row argument is one node. The
-- rules, their order and the errors they raise (SQLSTATE 23514 naming the broken rule) are unchanged.

create function ops.runs_invariants(r ops.runs)
returns boolean
language plpgsql immutable
as $$
begin
  -- Every rule at once first: one expression instead of one statement per rule on every write of a
  -- row. Only a row that fails it (or where a rule comes out null) goes through the rules one by one,
  -- which raise the error that names the broken rule, or pass as before.
  if pg_catalog.char_length(r.kind) <= 100 and r.kind ~ '^[a-z0-9][a-z0-9_.:-]*$'
    and r.priority between -1000 and 1000
    and pg_catalog.jsonb_typeof(r.params) = 'object'
    and pg_catalog.pg_column_size(r.params) <= 262144
    and r.attempt >= 0 and r.attempt <= r.max_attempts
    and r.max_attempts between 1 and 100
    and (r.timeout_seconds is null or r.timeout_seconds between 1 and 604800)
    and (r.idempotency_key is null or pg_catalog.char_length(r.idempotency_key) between 1 and 200)
    and (r.template_name is null) = (r.template_version is null)
    and (r.progress is null or (r.progress >= 0 and r.progress <= 1))
    and (r.progress_message is null or pg_catalog.char_length(r.progress_message) <= 500)
    and (r.error is null or (pg_catalog.jsonb_typeof(r.error) = 'object' and r.error ? 'type' and r.error ? 'message'))
    and (r.result is null or pg_catalog.pg_column_size(r.result) <= 1048576)
    and (r.status <> 'running' or (r.worker_id is not null and r.heartbeat_at is not null and r.claimed_at is not null))
    and (r.status <> 'queued' or r.worker_id is null)
    and (r.status in ('succeeded', 'failed', 'cancelled')) = (r.finished_at is not null)
    and (r.status <> 'failed' or r.error is not null)
  then
    return true;
  end if;
  if not (pg_catalog.char_length(r.kind) <= 100 and r.kind ~ '^[a-z0-9][a-z0-9_.:-]*$') then
    raise exception 'kind % must be 1 to 100 characters of a-z, 0-9, "_", ".", ":" or "-", starting with a letter or digit', pg_catalog.left(r.kind, 120)
      using errcode = 'check_violation', constraint = 'runs_kind_format';
  end if;
  if not (r.priority between -1000 and 1000) then
    raise exception 'priority % is outside -1000 to 1000', r.priority
      using errcode = 'check_violation', constraint = 'runs_priority_range';
  end if;
  if not (pg_catalog.jsonb_typeof(r.params) = 'object') then
    raise exception 'params must be a JSON object'
      using errcode = 'check_violation', constraint = 'runs_params_object';
  end if;
  if not (pg_catalog.pg_column_size(r.params) <= 262144) then
    raise exception 'params take % bytes; the limit is 262144', pg_catalog.pg_column_size(r.params)
      using errcode = 'check_violation', constraint = 'runs_params_size';
  end if;
  if not (r.attempt >= 0 and r.attempt <= r.max_attempts) then
    raise exception 'attempt % is outside 0 to max_attempts (%)', r.attempt, r.max_attempts
      using errcode = 'check_violation', constraint = 'runs_attempt_range';
  end if;
  if not (r.max_attempts between 1 and 100) then
    raise exception 'max_attempts % is outside 1 to 100', r.max_attempts
      using errcode = 'check_violation', constraint = 'runs_max_attempts_range';
  end if;
  if not (r.timeout_seconds is null or r.timeout_seconds between 1 and 604800) then
    raise exception 'timeout_seconds % is outside 1 to 604800', r.timeout_seconds
      using errcode = 'check_violation', constraint = 'runs_timeout_range';
  end if;
  if not (r.idempotency_key is null or pg_catalog.char_length(r.idempotency_key) between 1 and 200) then
    raise exception 'an idempotency key must be 1 to 200 characters'
      using errcode = 'check_violation', constraint = 'runs_idempotency_key_length';
  end if;
  if not ((r.template_name is null) = (r.template_version is null)) then
    raise exception 'template_name and template_version go together'
      using errcode = 'check_violation', constraint = 'runs_template_pair';
  end if;
  if not (r.progress is null or (r.progress >= 0 and r.progress <= 1)) then
    raise exception 'progress % is outside 0 to 1', r.progress
      using errcode = 'check_violation', constraint = 'runs_progress_range';
  end if;
  if not (r.progress_message is null or pg_catalog.char_length(r.progress_message) <= 500) then
    raise exception 'a progress message must be at most 500 characters'
      using errcode = 'check_violation', constraint = 'runs_progress_message_length';
  end if;
  if not (r.error is null or (pg_catalog.jsonb_typeof(r.error) = 'object' and r.error ? 'type' and r.error ? 'message')) then
    raise exception 'an error must be a JSON object with "type" and "message"'
      using errcode = 'check_violation', constraint = 'runs_error_shape';
  end if;
  if not (r.result is null or pg_catalog.pg_column_size(r.result) <= 1048576) then
    raise exception 'the result takes % bytes; the limit is 1048576', pg_catalog.pg_column_size(r.result)
      using errcode = 'check_violation', constraint = 'runs_result_size';
  end if;
  -- A running run always belongs to a worker and has a heartbeat; a queued one belongs to nobody.
  if not (r.status <> 'running' or (r.worker_id is not null and r.heartbeat_at is not null and r.claimed_at is not null)) then
    raise exception 'a running run needs a worker, a heartbeat and a claim time'
      using errcode = 'check_violation', constraint = 'runs_running_has_owner';
  end if;
  if not (r.status <> 'queued' or r.worker_id is null) then
    raise exception 'a queued run belongs to no worker'
      using errcode = 'check_violation', constraint = 'runs_queued_has_no_owner';
  end if;
  if not ((r.status in ('succeeded', 'failed', 'cancelled')) = (r.finished_at is not null)) then
    raise exception 'finished_at is set exactly when a run is succeeded, failed or cancelled'
      using errcode = 'check_violation', constraint = 'runs_terminal_has_finished_at';
  end if;
  if not (r.status <> 'failed' or r.error is not null) then
    raise exception 'a failed run has an error'
      using errcode = 'check_violation', constraint = 'runs_failed_has_error';
  end if;
  return true;
end;
$$;

revoke execute on function ops.runs_invariants(ops.runs) from public;
-- Every writer of ops.runs evaluates it, as with ops.find_secret and the params guard.
grant execute on function ops.runs_invariants(ops.runs) to anon, authenticated, service_role;

alter table ops.runs
  drop constraint runs_invariants,
  add constraint runs_invariants check (ops.runs_invariants(runs)) not valid;
alter table ops.runs validate constraint runs_invariants;

drop function ops.runs_invariants(text, integer, jsonb, integer, integer, integer, text, text, integer,
  real, text, jsonb, jsonb, ops.run_status, text, timestamptz, timestamptz, timestamptz);
