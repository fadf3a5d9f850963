-- 0009 (storage): attempt excerpts in their own rows, which retention
-- deletes once old; leaner writes per delivery.

-- The excerpts of each attempt (request headers as sent, response headers,
-- the start of the response body), written by the recorder in the
-- transaction that appends the attempt's delivery.attempted event, which
-- names its row (payload_id). Retention deletes rows older than its
-- horizon, oldest id first, after appending an
-- attempt_excerpts.redacted.v1 event that says up to which id; the event
-- rows themselves are never edited. Ids come from the sequence before the
-- transaction writes anything, so they grow with time and every insert
-- lands on the index's rightmost page.
CREATE TABLE attempt_payloads (
    id               bigint      PRIMARY KEY,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    request_headers  jsonb,
    response_headers jsonb,
    response_body    text
);
CREATE SEQUENCE attempt_payloads_id_seq OWNED BY attempt_payloads.id;

-- An attempt's payload row; NULL for attempts recorded before 0009, whose
-- excerpts stay in the columns beside (and in their event).
ALTER TABLE delivery_attempts ADD COLUMN payload_id bigint;

-- Attempts that still hold excerpts in the read model itself (recorded
-- before 0009): a redaction finds them here. Attempts recorded since never
-- enter this index.
CREATE INDEX delivery_attempts_inline_excerpts_idx ON delivery_attempts (attempted_at)
    WHERE payload_id IS NULL AND (response_body <> '' OR request_headers <> '{}' OR response_headers <> '{}');

-- Retention deletes idempotency keys oldest first.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- The deliveries read model's status indexes leave delivered rows out:
-- they are most rows, and a listing of delivered deliveries walks the
-- destination's index or the creation index instead. A delivery written
-- once, delivered, then touches four indexes instead of six.
DROP INDEX deliveries_destination_status_idx;
CREATE INDEX deliveries_destination_status_idx ON deliveries (destination_id, status, created_at, id)
    WHERE status <> 'delivered';
DROP INDEX deliveries_status_idx;
CREATE INDEX deliveries_status_idx ON deliveries (status, created_at, id) WHERE status <> 'delivered';
