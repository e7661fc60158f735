-- The secret check, broadened and made one with its TypeScript twin (core/src/secrets.ts and
-- secretValues.ts). Both are tested against one table of cases, packages/core/test/fixtures/secrets.json,
-- and must give the same verdict on each.
--
-- * Keys are normalised before matching: NFKC, invisible characters removed, Cyrillic and Greek
--   look-alikes mapped to Latin, camelCase split, lower case, other characters to `_`. So `API-KEY`,
--   `x-api-key`, `privatekey`, `passphrase`, `pwd`, `password1`, `pass<U+200B>word` and `pаssword`
--   (Cyrillic а) all count.
-- * Under a key that names a credential, every non-empty string counts, however deep
--   (`{"password": {"value": "…"}}`), except a secret reference `{"$secret": "NAME"}`: the documented
--   way to give a handler a credential, resolved on the worker.
-- * More value shapes: AWS secret access keys, GitLab tokens, Slack webhooks, PGP private key blocks,
--   URLs with an empty user (`redis://:pw@host`), `password=` in DSNs and query strings, credential
--   query parameters, HTTP Basic values, `sk-…` and `AIza…` keys.
-- * Session metadata is checked too (ops.create_session).

create function ops.normalize_key(p_key text) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select pg_catalog.regexp_replace(
    pg_catalog.lower(pg_catalog.regexp_replace(
      case when p_key ~ '[^ -~]' then
        pg_catalog.translate(
          pg_catalog.regexp_replace(pg_catalog.normalize(p_key, 'NFKC'), '[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0]', '', 'g'),
          'аеорсухіјѕԁԛԝкмтнвгАВЕКМНОРСТУХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧοαερτυικνχ',
          'aeopcyxijsdqwkmthbrABEKMHOPCTYXIJSABEZHIKMNOPTYXoaeptuikvx')
      else p_key end,
      '([a-z0-9])([A-Z])', '\1_\2', 'g')),
    '[^a-z0-9]+', '_', 'g')
$$;

create function ops.key_looks_secret(p_key text) returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  select ops.normalize_key(p_key)
    ~ '(^|_)(passwords?|password[0-9]+|passwd|passphrase|pwd|secrets?|token|credentials?|authorization|apikey|api_key|access_key|accesskey|private_key|privatekey)($|_)'
$$;

create function ops.value_looks_secret(v text) returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  select v ~* '^bearer\s+\S{8,}'
    or v ~ 'eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.'
    or v ~ '(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})'
    or v ~ '[sr]k_(live|test)_[A-Za-z0-9]{10,}'
    or v ~ '(AKIA|ASIA)[0-9A-Z]{16}'
    or v ~ 'xox[baprs]-[A-Za-z0-9-]{10,}'
    or v ~ '-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----'
    or v ~* '[a-z][a-z0-9+.-]{0,31}://[^/\s:@]{0,255}:[^/\s@]{1,255}@'
    or v ~ 'glpat-[A-Za-z0-9_-]{20,}'
    or v ~ 'hooks\.slack\.com/services/[A-Za-z0-9/]{20,}'
    or v ~ 'AIza[0-9A-Za-z_-]{35}'
    or v ~ '(^|[^A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}'
    or v ~* '(^|[^A-Za-z0-9_])(password|passwd|pwd)[ \t]*=[ \t]*[^ \t\r\n&#]'
    or v ~* '[?&](access_token|refresh_token|id_token|token|client_secret|secret|api_key|apikey|sig|signature|x-amz-signature|x-goog-signature)=[^&# \t\r\n]'
    or (v ~* '^basic[ \t\n\r\f\v]' and coalesce((
      select pg_catalog.length(t.tok) >= 8 and pg_catalog.length(t.tok) % 4 = 0
        and t.tok ~ '^[A-Za-z0-9+/]+={0,2}$'
        and (t.tok ~ '[0-9+/=]' or (t.tok ~ '[a-z]' and pg_catalog.substr(t.tok, 2) ~ '[A-Z]'))
      from (select pg_catalog.regexp_replace(pg_catalog.substr(v, 6), '^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$', '', 'g') as tok) t
    ), false))
    or (v ~ '[A-Za-z0-9/+]{40}' and exists (
      select 1 from pg_catalog.regexp_split_to_table(v, '[^A-Za-z0-9/+]+') x
      where pg_catalog.length(x) = 40 and x ~ '[A-Z]' and x ~ '[a-z]' and x ~ '[0-9]'
    ))
$$;

-- `{"$secret": "NAME"}`: a reference to a secret the worker resolves, never a secret itself.
create function ops.is_secret_ref(v jsonb) returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  select pg_catalog.jsonb_typeof(v) = 'object'
    and v ? '$secret'
    and (select pg_catalog.count(*) from pg_catalog.jsonb_object_keys(v)) = 1
    and pg_catalog.jsonb_typeof(v -> '$secret') = 'string'
    and (v ->> '$secret') ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'
$$;

create or replace function ops.find_secret(p jsonb, p_root text default 'params') returns text
language sql immutable parallel safe
set search_path = ''
as $$
  with recursive walk(path, secret_key, value) as (
    select p_root, false, p
    union all
    select c.path, c.secret_key, c.value
    from walk w
    cross join lateral (
      select w.path || '.' || o.key as path, w.secret_key or ops.key_looks_secret(o.key) as secret_key, o.value
      from pg_catalog.jsonb_each(
        case when pg_catalog.jsonb_typeof(w.value) = 'object' and not ops.is_secret_ref(w.value)
          then w.value else '{}'::jsonb end) o
      union all
      select w.path || '[' || (a.ord - 1) || ']', w.secret_key, a.value
      from pg_catalog.jsonb_array_elements(case when pg_catalog.jsonb_typeof(w.value) = 'array' then w.value else '[]'::jsonb end)
        with ordinality a(value, ord)
    ) c
  )
  select path from walk
  where pg_catalog.jsonb_typeof(value) = 'string'
    and ((secret_key and (value #>> '{}') <> '') or ops.value_looks_secret(value #>> '{}'))
  limit 1
$$;

-- create_session, redefined whole: session metadata is checked like params.
create or replace function ops.create_session(p_name text, p_description text default null, p_metadata jsonb default '{}'::jsonb)
returns ops.sessions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session ops.sessions;
  v_path text := ops.find_secret(coalesce(p_metadata, '{}'::jsonb), 'metadata');
begin
  if v_path is not null then
    raise exception 'the value at % looks like a secret; pass secrets through the worker''s environment or a vault, never in metadata', v_path
      using errcode = 'OPSEC', detail = v_path;
  end if;
  insert into ops.sessions (name, description, metadata, created_by)
  values (p_name, p_description, coalesce(p_metadata, '{}'::jsonb), ops.current_user_id())
  returning * into v_session;
  return v_session;
end;
$$;

revoke execute on function ops.normalize_key(text), ops.key_looks_secret(text), ops.value_looks_secret(text),
  ops.is_secret_ref(jsonb) from public;
grant execute on function ops.normalize_key(text), ops.key_looks_secret(text), ops.value_looks_secret(text),
  ops.is_secret_ref(jsonb) to anon, authenticated, service_role;
