-- Ops Control Room: artifact content kept in PostgreSQL, for deployments without object storage.
-- Content is split into chunks (1 MiB by default) so that writing and reading stream with flat memory
-- and no single value nears PostgreSQL's 1 GB field limit. ops.artifacts.storage_path points here
-- (storage_path = artifact_content.path); the chunks of one path are written before its row exists.

create table ops.artifact_content (
  path text not null,
  chunk integer not null,
  data bytea not null,
  created_at timestamptz not null default now(),
  primary key (path, chunk),
  constraint artifact_content_path_length check (char_length(path) between 1 and 1024),
  constraint artifact_content_chunk_positive check (chunk >= 0),
  constraint artifact_content_chunk_size check (octet_length(data) <= 16777216)
);
comment on table ops.artifact_content is 'Bytes of file artifacts stored by the PostgreSQL artifact store, in ordered chunks.';

alter table ops.artifact_content enable row level security;
revoke all on ops.artifact_content from anon, authenticated;
grant all on ops.artifact_content to service_role;
create policy artifact_content_service on ops.artifact_content for all to service_role using (true) with check (true);
