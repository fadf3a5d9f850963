-- 0010: an event's body is stored once, in published_events.body.
--
-- Until now lokihooks_publish stored an event three times: its data in
-- published_events.data (jsonb), the body built from it in
-- published_events.body (the exact bytes sent), and that body again as the
-- payload of its outbox row. The body holds the data (its "data" member is
-- data::text of the same jsonb, so (body::jsonb)->'data' equals data): the
-- column goes, and readers take the data from the body. The outbox row
-- carries no payload any more; the fan-out reads the body from
-- published_events by id. A row with a payload (written by hand, by an
-- older lokihooks_publish before this migration, or put back from the
-- poison table) is still delivered with its payload.
--
-- Dropping a column does not rewrite the table: rows published before
-- keep their data bytes on disk until they are updated or the table is
-- rewritten (VACUUM FULL), which nothing requires.
ALTER TABLE published_events DROP COLUMN data;

-- Same signature, same checks, same errors and same notification as 0008;
-- only what is stored changes.
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

    INSERT INTO published_events AS p (id, type, metadata, body)
    VALUES (v_id, event_type, v_meta, v_body)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT p.type, (p.body::jsonb)->'data' AS data INTO v_existing FROM published_events p WHERE p.id = v_id;
        IF v_existing.type <> event_type OR v_existing.data IS DISTINCT FROM data THEN
            RAISE EXCEPTION 'lokihooks_publish: event id "%" was already published with different content', v_id
                USING ERRCODE = '23505', CONSTRAINT = 'published_events_pkey';
        END IF;
        RETURN v_id; -- deduplicated: the first publication is delivered once
    END IF;

    -- No payload: the fan-out reads the body from published_events.
    INSERT INTO watermill_outbox (uuid, metadata, transaction_id)
    VALUES (
        v_id,
        CASE WHEN v_meta = '{}'::jsonb
            THEN json_build_object('event_type', event_type)
            ELSE ((SELECT jsonb_object_agg(key, value #>> '{}') FROM jsonb_each(v_meta))
                  || jsonb_build_object('event_type', event_type))::json
        END,
        pg_current_xact_id()
    );
    -- Wakes the fan-out at commit; only the publisher holding this
    -- transaction-scoped advisory lock notifies (0008 says why).
    IF pg_try_advisory_xact_lock(hashtext('lokihooks_outbox'), hashtext(current_schema())) THEN
        PERFORM pg_notify('lokihooks_outbox', current_schema());
    END IF;
    RETURN v_id;
END
$fn$;
