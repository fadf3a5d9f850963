-- 0003: deliveries belong to destinations (webhooks and integrations), one
-- event id form for every publisher, and an index to rebuild configuration
-- read models from their own streams.

ALTER TABLE deliveries RENAME COLUMN webhook_id TO destination_id;
ALTER TABLE deliveries ADD COLUMN kind text NOT NULL DEFAULT 'webhook';
ALTER TABLE deliveries ALTER COLUMN kind DROP DEFAULT;
ALTER INDEX deliveries_webhook_idx RENAME TO deliveries_destination_idx;
ALTER INDEX deliveries_webhook_status_idx RENAME TO deliveries_destination_status_idx;
-- Unfiltered listings (newest first by default) walk this index instead of
-- sorting the whole table.
CREATE INDEX deliveries_created_idx ON deliveries (created_at, id);

ALTER TABLE delivery_attempts RENAME COLUMN webhook_id TO destination_id;
ALTER INDEX delivery_attempts_webhook_time_idx RENAME TO delivery_attempts_destination_time_idx;

-- Configuration streams (webhooks, integrations) are few and small; this
-- partial index lets a rebuild read them without scanning the delivery
-- events, and costs delivery appends nothing.
CREATE INDEX events_config_streams_idx ON events (stream_type, stream_id, version)
    WHERE stream_type <> 'delivery';

-- lokihooks_new_id returns prefix || 26 characters of Crockford base32: 48
-- bits of milliseconds since the epoch, then 80 random bits, the same form
-- as domain.NewID, so ids sort by creation time whoever made them.
CREATE FUNCTION lokihooks_new_id(prefix text) RETURNS text
LANGUAGE plpgsql VOLATILE
AS $fn$
DECLARE
    alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    ms       bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
    rnd      bytea := decode(replace(gen_random_uuid()::text, '-', ''), 'hex');
    bits     bit(130);
    out      text := '';
    i        int;
BEGIN
    -- 2 zero bits of padding, 48 bits of time, 80 random bits.
    bits := B'00' || ms::bit(48)
        || (get_byte(rnd, 0)::bit(8) || get_byte(rnd, 1)::bit(8) || get_byte(rnd, 2)::bit(8)
            || get_byte(rnd, 3)::bit(8) || get_byte(rnd, 4)::bit(8) || get_byte(rnd, 5)::bit(8)
            || get_byte(rnd, 7)::bit(8) || get_byte(rnd, 9)::bit(8) || get_byte(rnd, 10)::bit(8)
            || get_byte(rnd, 11)::bit(8));
    FOR i IN 0..25 LOOP
        out := out || substr(alphabet, substring(bits FROM i * 5 + 1 FOR 5)::int + 1, 1);
    END LOOP;
    RETURN prefix || out;
END
$fn$;

-- lokihooks_publish, as in 0001, with ids from lokihooks_new_id.
CREATE OR REPLACE FUNCTION lokihooks_publish(
    event_type text,
    data       jsonb,
    event_id   text  DEFAULT NULL,
    metadata   jsonb DEFAULT '{}'
) RETURNS text
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    v_id       text := coalesce(event_id, lokihooks_new_id('evt_'));
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
                USING ERRCODE = '23505', CONSTRAINT = 'published_events_pkey';
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

-- Rate-limit windows belong to destinations too. A row counts the tokens
-- taken in a window, including those reserved ahead by deliveries that wait
-- for it (relay: a postponed delivery holds its token).
ALTER TABLE webhook_rate_windows RENAME TO rate_windows;
ALTER TABLE rate_windows RENAME COLUMN webhook_id TO destination_id;
ALTER TABLE rate_windows RENAME CONSTRAINT webhook_rate_windows_pkey TO rate_windows_pkey;
ALTER TABLE rate_windows RENAME CONSTRAINT webhook_rate_windows_window_kind_check TO rate_windows_window_kind_check;

-- Outbox events the fan-out could not schedule, one row per event, with the
-- reason. Tried again with backoff up to a bound (relay), then kept until
-- an operator retries them (lokihooks outbox poison retry) or lets them go.
DROP TABLE watermill_outbox_poison;
CREATE TABLE outbox_poison (
    event_id        text        PRIMARY KEY,
    payload         json        NOT NULL,
    metadata        json        NOT NULL,
    reason          text        NOT NULL,
    tries           integer     NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    next_try_at     timestamptz
);
CREATE INDEX outbox_poison_next_try_idx ON outbox_poison (next_try_at) WHERE next_try_at IS NOT NULL;
