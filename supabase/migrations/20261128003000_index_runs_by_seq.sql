-- Ops Control Room: list runs newest first without sorting the table.
--
-- Runs are listed by enqueue order (`seq`); across all sessions (the Runboard's "all recent runs",
-- re-read on every change) that needs an index on seq. It replaces idx_runs_created, which no query
-- uses, so writes maintain as many indexes as before.

drop index if exists ops.idx_runs_created;
create index idx_runs_seq on ops.runs (seq);
