-- API keys (issue 22; processor/domain/api_keys.py, db/api_keys.py).
--
-- A key is shown once, when `energy-ingest keys create` makes it; only the SHA-256 digest of
-- the whole key is kept. A revoked key keeps its row (revoked_at set), so `keys list` still
-- says who had access and until when.

CREATE TABLE IF NOT EXISTS api_keys (
    key_id     text PRIMARY KEY,                 -- the 12 hex digits after eik_
    name       text NOT NULL DEFAULT '',
    scopes     text[] NOT NULL CHECK (scopes <@ ARRAY['ingest', 'admin', 'read']
                                      AND cardinality(scopes) > 0),
    digest     bytea NOT NULL CHECK (length(digest) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
