-- The SQL secret check, faster and with the same verdicts (packages/core/test/fixtures/secrets.json
-- holds both layers to them). ops.find_secret runs on every enqueue; measured on a loaded 2-core
-- machine it cost ~0.5 ms for six ordinary params and ~2.3 ms for a 10 KiB text, most of it in ~20
-- regular expressions per string (more than PostgreSQL's cache of 32 compiled expressions holds
-- alongside the callers' own) and four per key.
--
-- * value_looks_secret: one prefilter expression that every rule implies; only values that pass it
--   meet the rules.
-- * key_looks_secret: printable-ASCII keys without a secret word's stem are settled at once.
-- * find_secret: the rules written out in it rather than called (a function with SET search_path
--   is never inlined, and three calls per key and value cost more than the checks); params without a
--   string (the common `{}`) return at once.

create or replace function ops.key_looks_secret(p_key text) returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  -- A printable-ASCII key can only normalise to a secret word if it holds one of these stems
  -- (case-insensitively): most keys are settled by this one expression, without the four of
  -- normalize_key. Other keys (look-alikes, invisible characters) always take the full path.
  select case when p_key ~ '^[ -~]*$'
      and p_key !~* '(pass|pwd|secret|token|credential|authorization|api|access|private)'
    then false
    else ops.normalize_key(p_key)
      ~ '(^|_)(passwords?|password[0-9]+|passwd|passphrase|pwd|secrets?|token|credentials?|authorization|apikey|api_key|access_key|accesskey|private_key|privatekey)($|_)'
  end
$$;

create or replace function ops.value_looks_secret(v text) returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  -- Every rule below needs one of these (case-insensitively, a superset of each rule), so one pass of
  -- one expression settles most values; CASE keeps the rules from running when it fails.
  select case when v !~* '(bearer|eyj|gh[pousr]_|github_pat_|k_(live|test)_|akia|asia|xox|-----begin|://|glpat-|hooks\.slack\.com|aiza|sk-|basic|=|[a-z0-9/+]{40})'
    then false
    else (
    v ~* '^bearer\s+\S{8,}'
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
    )
  end
$$;

create or replace function ops.find_secret(p jsonb, p_root text default 'params') returns text
language sql immutable parallel safe
set search_path = ''
as $$
  -- The rules of ops.key_looks_secret, ops.is_secret_ref and ops.value_looks_secret, written out here:
  -- a function with SET search_path is never inlined, and calling three per key and value cost more
  -- than the checks themselves.
  with recursive walk(path, secret_key, value) as (
    select p_root, false, p
    where p is not null and p::text ~ '"'
    union all
    select c.path, c.secret_key, c.value
    from walk w
    cross join lateral (
      select w.path || '.' || o.key as path,
        w.secret_key or case
          when o.key ~ '^[ -~]*$' and o.key !~* '(pass|pwd|secret|token|credential|authorization|api|access|private)'
            then false
          else pg_catalog.regexp_replace(
            pg_catalog.lower(pg_catalog.regexp_replace(
              case when o.key ~ '[^ -~]' then
                pg_catalog.translate(
                  pg_catalog.regexp_replace(pg_catalog.normalize(o.key, 'NFKC'), '[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0]', '', 'g'),
                  'аеорсухіјѕԁԛԝкмтнвгАВЕКМНОРСТУХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧοαερτυικνχ',
                  'aeopcyxijsdqwkmthbrABEKMHOPCTYXIJSABEZHIKMNOPTYXoaeptuikvx')
              else o.key end,
              '([a-z0-9])([A-Z])', '\1_\2', 'g')),
            '[^a-z0-9]+', '_', 'g')
            ~ '(^|_)(passwords?|password[0-9]+|passwd|passphrase|pwd|secrets?|token|credentials?|authorization|apikey|api_key|access_key|accesskey|private_key|privatekey)($|_)'
        end as secret_key,
        o.value
      from pg_catalog.jsonb_each(
        case when pg_catalog.jsonb_typeof(w.value) = 'object'
          and not (w.value ? '$secret'
            and (select pg_catalog.count(*) from pg_catalog.jsonb_object_keys(w.value)) = 1
            and pg_catalog.jsonb_typeof(w.value -> '$secret') = 'string'
            and (w.value ->> '$secret') ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$')
          then w.value else '{}'::jsonb end) o
      union all
      select w.path || '[' || (a.ord - 1) || ']', w.secret_key, a.value
      from pg_catalog.jsonb_array_elements(case when pg_catalog.jsonb_typeof(w.value) = 'array' then w.value else '[]'::jsonb end)
        with ordinality a(value, ord)
    ) c
  )
  select w.path from walk w
  cross join lateral (select w.value #>> '{}' as v) x
  where pg_catalog.jsonb_typeof(w.value) = 'string'
    and case
      when w.secret_key and x.v <> '' then true
      when x.v !~* '(bearer|eyj|gh[pousr]_|github_pat_|k_(live|test)_|akia|asia|xox|-----begin|://|glpat-|hooks\.slack\.com|aiza|sk-|basic|=|[a-z0-9/+]{40})' then false
      else (
        x.v ~* '^bearer\s+\S{8,}'
          or x.v ~ 'eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.'
          or x.v ~ '(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})'
          or x.v ~ '[sr]k_(live|test)_[A-Za-z0-9]{10,}'
          or x.v ~ '(AKIA|ASIA)[0-9A-Z]{16}'
          or x.v ~ 'xox[baprs]-[A-Za-z0-9-]{10,}'
          or x.v ~ '-----BEGIN [A-Z ]*PRIVATE KEY( BLOCK)?-----'
          or x.v ~* '[a-z][a-z0-9+.-]{0,31}://[^/\s:@]{0,255}:[^/\s@]{1,255}@'
          or x.v ~ 'glpat-[A-Za-z0-9_-]{20,}'
          or x.v ~ 'hooks\.slack\.com/services/[A-Za-z0-9/]{20,}'
          or x.v ~ 'AIza[0-9A-Za-z_-]{35}'
          or x.v ~ '(^|[^A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}'
          or x.v ~* '(^|[^A-Za-z0-9_])(password|passwd|pwd)[ \t]*=[ \t]*[^ \t\r\n&#]'
          or x.v ~* '[?&](access_token|refresh_token|id_token|token|client_secret|secret|api_key|apikey|sig|signature|x-amz-signature|x-goog-signature)=[^&# \t\r\n]'
          or (x.v ~* '^basic[ \t\n\r\f\v]' and coalesce((
            select pg_catalog.length(t.tok) >= 8 and pg_catalog.length(t.tok) % 4 = 0
              and t.tok ~ '^[A-Za-z0-9+/]+={0,2}$'
              and (t.tok ~ '[0-9+/=]' or (t.tok ~ '[a-z]' and pg_catalog.substr(t.tok, 2) ~ '[A-Z]'))
            from (select pg_catalog.regexp_replace(pg_catalog.substr(x.v, 6), '^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$', '', 'g') as tok) t
          ), false))
          or (x.v ~ '[A-Za-z0-9/+]{40}' and exists (
            select 1 from pg_catalog.regexp_split_to_table(x.v, '[^A-Za-z0-9/+]+') part
            where pg_catalog.length(part) = 40 and part ~ '[A-Z]' and part ~ '[a-z]' and part ~ '[0-9]'
          ))
      )
    end
  limit 1
$$;
