-- The GitHub integration (@ops-control-room/github): webhook deliveries, the sessions they created,
-- the check run of each reported run, and an outbox of report obligations.
--
-- The outbox is written by a trigger on ops.runs, so the obligation to report a run's state to GitHub
-- is committed in the same transaction as the transition itself, whichever path made it (a worker's
-- complete/fail, a cancel of a queued run, the sweeper's recovery, a last failed attempt). The WHEN
-- clause only compares the row's own columns, so runs of other kinds pay no function call.

create table ops.github_deliveries (
  delivery_id text primary key,
  event text not null,
  action text,
  repository text,
  -- enqueued | ignored | rerun | superseding (what the delivery did); a redelivery finds this row.
  outcome text not null,
  session_id uuid references ops.sessions (id) on delete set null,
  received_at timestamptz not null default now(),
  constraint github_deliveries_id_length check (char_length(delivery_id) between 1 and 200),
  constraint github_deliveries_event_length check (char_length(event) between 1 and 100)
);

create index idx_github_deliveries_received_at on ops.github_deliveries (received_at);

-- One session per (repository, commit) for automatic triggers; a rerequested check suite gets a key
-- of its own, so a person's "re-run" runs again while GitHub's duplicate events do not.
create table ops.github_sessions (
  key text primary key,
  session_id uuid not null references ops.sessions (id) on delete cascade,
  repository text not null,
  head_sha text not null,
  pr_number integer,
  created_at timestamptz not null default now(),
  constraint github_sessions_key_length check (char_length(key) between 1 and 400),
  constraint github_sessions_sha_format check (head_sha ~ '^[0-9a-f]{40}$')
);

-- Superseding looks up the other commits of a pull request.
create index idx_github_sessions_pr on ops.github_sessions (repository, pr_number) where pr_number is not null;
create index idx_github_sessions_session on ops.github_sessions (session_id);

-- What GitHub knows of a run: its check run (null when reported through commit statuses) and the
-- last status reported, so no state is reported twice.
create table ops.github_check_runs (
  run_id uuid primary key references ops.runs (id) on delete cascade,
  check_run_id bigint,
  reported_status ops.run_status,
  updated_at timestamptz not null default now()
);

create index idx_github_check_runs_check_run on ops.github_check_runs (check_run_id) where check_run_id is not null;

create table ops.github_outbox (
  id bigint generated always as identity primary key,
  run_id uuid not null references ops.runs (id) on delete cascade,
  status ops.run_status not null,
  created_at timestamptz not null default now(),
  available_at timestamptz not null default now(),
  attempts integer not null default 0,
  delivered_at timestamptz,
  last_error text,
  constraint github_outbox_last_error_length check (last_error is null or char_length(last_error) <= 2000)
);

create index idx_github_outbox_pending on ops.github_outbox (available_at, id) where delivered_at is null;
create index idx_github_outbox_run on ops.github_outbox (run_id, id);

create function ops.github_outbox_enqueue() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into ops.github_outbox (run_id, status) values (new.id, new.status);
  perform pg_catalog.pg_notify('ops_github_outbox', '');
  return null;
end
$$;

create trigger runs_github_outbox_insert
  after insert on ops.runs
  for each row
  when (new.kind = 'github_step' or new.kind = 'github_pipeline')
  execute function ops.github_outbox_enqueue();

create trigger runs_github_outbox_update
  after update of status on ops.runs
  for each row
  when ((new.kind = 'github_step' or new.kind = 'github_pipeline') and old.status is distinct from new.status)
  execute function ops.github_outbox_enqueue();

alter table ops.github_deliveries enable row level security;
alter table ops.github_sessions enable row level security;
alter table ops.github_check_runs enable row level security;
alter table ops.github_outbox enable row level security;

revoke all on ops.github_deliveries, ops.github_sessions, ops.github_check_runs, ops.github_outbox
  from public, anon, authenticated;
grant all on ops.github_deliveries, ops.github_sessions, ops.github_check_runs, ops.github_outbox to service_role;
revoke execute on function ops.github_outbox_enqueue() from public, anon, authenticated;
