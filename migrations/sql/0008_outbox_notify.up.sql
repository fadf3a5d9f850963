-- 0008: the fan-out wakes on a notification instead of polling.
--
-- lokihooks_publish, as in 0003, also notifies channel lokihooks_outbox
-- with the schema of its outbox as the payload, unless another publishing
-- transaction that will notify is in flight. PostgreSQL delivers the
-- notification when the publishing transaction commits, and folds the
-- notifications of one transaction into one. The fan-out listens on that
-- channel and polls only as a rare fallback (LOKIHOOKS_POLL_FALLBACK), so
-- an idle lokihooks burns no transaction ids. Same signature, same checks,
-- same result.
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
    -- Wakes the fan-out at commit (nothing is sent if the transaction rolls
    -- back; repeated in one transaction, it is sent once). PostgreSQL
    -- commits notifying transactions one at a time, each holding a lock
    -- through its WAL flush: only the one publisher holding this
    -- transaction-scoped advisory lock notifies, so that concurrent
    -- publishers commit together. The fan-out keeps looking for a while
    -- after each wake-up, and finds the rows of those that did not notify.
    IF pg_try_advisory_xact_lock(hashtext('lokihooks_outbox'), hashtext(current_schema())) THEN
        PERFORM pg_notify('lokihooks_outbox', current_schema());
    END IF;
    RETURN v_id;
END
$fn$;
