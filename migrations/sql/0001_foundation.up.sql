-- 0001: the event log, projection checkpoints, the webhooks read model, the
-- event-type catalog, the outbox topic's tables and lokihooks_publish.
-- Every object is created unqualified so the migration works in any schema.

-- The append-only event log. transaction_id lets readers apply the
-- xid8 < pg_snapshot_xmin rule, so a transaction that commits late is never
-- skipped (see eventstore.ReadLog).
CREATE TABLE events (
    position       bigserial   PRIMARY KEY,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id      text        NOT NULL,
    stream_type    text        NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 1),
    type           text        NOT NULL,
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}',
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);
CREATE INDEX events_transaction_position_idx ON events (transaction_id, position);

-- One row per projection (read model): how far into the log it has applied.
CREATE TABLE projection_checkpoints (
    name           text        PRIMARY KEY,
    transaction_id xid8        NOT NULL DEFAULT '0',
    position       bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Webhooks read model, maintained in the same transaction as each append.
CREATE TABLE webhooks (
    id                    text        PRIMARY KEY,
    name                  text        NOT NULL,
    url                   text        NOT NULL,
    secret                text        NOT NULL,
    previous_secrets      jsonb       NOT NULL DEFAULT '[]',
    status                text        NOT NULL,
    event_types           text[]      NOT NULL,
    retry_strategy        text        NOT NULL,
    max_retries           integer     NOT NULL,
    retry_delay_seconds   integer     NOT NULL,
    max_delay_seconds     integer     NOT NULL,
    backoff_multiplier    double precision NOT NULL,
    jitter_enabled        boolean     NOT NULL,
    timeout_seconds       integer     NOT NULL,
    rate_limit_per_minute integer     NOT NULL DEFAULT 0,
    rate_limit_per_hour   integer     NOT NULL DEFAULT 0,
    custom_headers        jsonb       NOT NULL DEFAULT '{}',
    metadata              jsonb       NOT NULL DEFAULT '{}',
    status_reason         text        NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    last_triggered_at     timestamptz,
    version               bigint      NOT NULL
);
-- Names and URLs are unique among webhooks that are not deleted.
CREATE UNIQUE INDEX webhooks_name_key ON webhooks (name) WHERE status <> 'deleted';
CREATE UNIQUE INDEX webhooks_url_key ON webhooks (url) WHERE status <> 'deleted';
CREATE INDEX webhooks_created_idx ON webhooks (created_at, id);
CREATE INDEX webhooks_event_types_idx ON webhooks USING gin (event_types);

-- The event catalog known to lokihooks_publish. Kept equal to
-- domain.Catalog() (a test compares them).
CREATE TABLE event_types (
    name text PRIMARY KEY
);
INSERT INTO event_types (name) VALUES
    ('batch.completed'),
    ('compliance.alert'),
    ('correction.applied'),
    ('document.processed'),
    ('report.generated'),
    ('system.error'),
    ('validation.completed'),
    ('validation.failed'),
    ('webhook.test');

-- Every event published through the outbox, with the exact body delivered
-- to receivers (byte-identical on every attempt).
CREATE TABLE published_events (
    seq          bigserial   UNIQUE,
    id           text        PRIMARY KEY,
    type         text        NOT NULL,
    data         jsonb       NOT NULL,
    metadata     jsonb       NOT NULL DEFAULT '{}',
    body         text        NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX published_events_type_seq_idx ON published_events (type, seq);

-- The outbox topic "outbox" in watermill-sql v3's default PostgreSQL layout.
-- Watermill never creates tables here (its InitializeSchema races across
-- processes); uuid is widened to hold caller-chosen event ids.
CREATE TABLE watermill_outbox (
    "offset"         bigserial,
    "uuid"           varchar(255) NOT NULL,
    "created_at"     timestamp    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload"        json DEFAULT NULL,
    "metadata"       json DEFAULT NULL,
    "transaction_id" xid8         NOT NULL,
    PRIMARY KEY ("transaction_id", "offset")
);
CREATE TABLE watermill_offsets_outbox (
    consumer_group                varchar(255) NOT NULL,
    offset_acked                  bigint,
    last_processed_transaction_id xid8 NOT NULL,
    PRIMARY KEY (consumer_group)
);

-- lokihooks_publish writes one event into the outbox inside the caller's
-- transaction and returns its id: the event exists if and only if that
-- transaction commits. An unknown event type raises SQLSTATE LH001, invalid
-- data, id or metadata SQLSTATE 22023. Publishing
-- an id again with the same type and data returns the id and delivers nothing
-- new; with different content it raises SQLSTATE 23505.
CREATE FUNCTION lokihooks_publish(
    event_type text,
    data       jsonb,
    event_id   text  DEFAULT NULL,
    metadata   jsonb DEFAULT '{}'
) RETURNS text
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_id       text := coalesce(event_id, 'evt_' || replace(gen_random_uuid()::text, '-', ''));
    v_meta     jsonb := coalesce(metadata, '{}'::jsonb);
    v_body     text;
    v_existing record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM event_types t WHERE t.name = event_type) THEN
        RAISE EXCEPTION 'lokihooks_publish: unknown event type "%"', event_type
            USING ERRCODE = 'LH001', HINT = 'GET /api/v1/event-types lists the catalog';
    END IF;
    IF data IS NULL OR jsonb_typeof(data) <> 'object' THEN
        RAISE EXCEPTION 'lokihooks_publish: data must be a JSON object'
            USING ERRCODE = '22023';
    END IF;
    IF v_id !~ '^[A-Za-z0-9_:-]{1,200}$' THEN
        RAISE EXCEPTION 'lokihooks_publish: event id "%" must be 1-200 characters of A-Z a-z 0-9 _ : -', v_id
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(v_meta) <> 'object' THEN
        RAISE EXCEPTION 'lokihooks_publish: metadata must be a JSON object'
            USING ERRCODE = '22023';
    END IF;

    -- Built once, stored as text: every attempt sends exactly these bytes.
    v_body := '{"id":' || to_json(v_id)::text
        || ',"type":' || to_json(event_type)::text
        || ',"timestamp":' || to_json(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
        || ',"data":' || data::text || '}';

    INSERT INTO published_events AS p (id, type, data, metadata, body)
    VALUES (v_id, event_type, data, v_meta, v_body)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT p.type, p.data INTO v_existing FROM published_events p WHERE p.id = v_id;
        IF v_existing.type <> event_type OR v_existing.data <> data THEN
            RAISE EXCEPTION 'lokihooks_publish: event id "%" was already published with different content', v_id
                USING ERRCODE = '23505';
        END IF;
        RETURN v_id; -- deduplicated: the first publication is delivered once
    END IF;

    INSERT INTO watermill_outbox (uuid, payload, metadata, transaction_id)
    VALUES (
        v_id,
        v_body::json,
        CASE WHEN v_meta = '{}'::jsonb
            THEN json_build_object('event_type', event_type)
            ELSE ((SELECT jsonb_object_agg(key, value #>> '{}') FROM jsonb_each(v_meta))
                  || jsonb_build_object('event_type', event_type))::json
        END,
        pg_current_xact_id()
    );
    RETURN v_id;
END
$fn$;
