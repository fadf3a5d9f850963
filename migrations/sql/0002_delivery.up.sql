-- 0002: the delivery pipeline's read models, rate-limit windows, API
-- idempotency keys and the outbox's poison topic.

-- Deliveries read model: one row per (event, webhook), built from the event
-- log by the "deliveries" projection.
CREATE TABLE deliveries (
    id                  text        PRIMARY KEY,
    webhook_id          text        NOT NULL,
    event_id            text        NOT NULL,
    event_type          text        NOT NULL,
    status              text        NOT NULL,
    attempts            integer     NOT NULL DEFAULT 0,
    last_status_code    integer,
    last_error_category text,
    last_error_detail   text,
    last_duration_ms    double precision,
    next_attempt_at     timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    delivered_at        timestamptz,
    version             bigint      NOT NULL
);
CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, created_at, id);
CREATE INDEX deliveries_webhook_status_idx ON deliveries (webhook_id, status, created_at, id);
CREATE INDEX deliveries_status_idx ON deliveries (status, created_at, id);
CREATE INDEX deliveries_event_idx ON deliveries (event_id);

-- Every attempt of every delivery, as recorded in delivery.attempted events.
CREATE TABLE delivery_attempts (
    delivery_id      text        NOT NULL,
    attempt          integer     NOT NULL,
    webhook_id       text        NOT NULL,
    event_type       text        NOT NULL,
    status           text        NOT NULL,
    status_code      integer,
    error_category   text,
    error_detail     text,
    duration_ms      double precision NOT NULL,
    request_headers  jsonb       NOT NULL DEFAULT '{}',
    response_headers jsonb       NOT NULL DEFAULT '{}',
    response_body    text        NOT NULL DEFAULT '',
    truncated        boolean     NOT NULL DEFAULT false,
    next_attempt_at  timestamptz,
    attempted_at     timestamptz NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE INDEX delivery_attempts_webhook_time_idx ON delivery_attempts (webhook_id, attempted_at);

INSERT INTO projection_checkpoints (name) VALUES ('deliveries');

-- Per-webhook rate-limit counters, shared by every worker process. Old
-- windows are deleted by the workers.
CREATE TABLE webhook_rate_windows (
    webhook_id   text        NOT NULL,
    window_kind  text        NOT NULL CHECK (window_kind IN ('minute', 'hour')),
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL,
    PRIMARY KEY (webhook_id, window_kind, window_start)
);

-- Idempotency-Key of POST /api/v1/events: the same key with the same body
-- returns the first response; with another body it is a conflict.
CREATE TABLE idempotency_keys (
    key          text        PRIMARY KEY,
    request_hash text        NOT NULL,
    event_id     text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Poison topic of the outbox: messages the fan-out could not handle, with
-- the reason in their metadata. Same layout as the outbox topic.
CREATE TABLE watermill_outbox_poison (
    "offset"         bigserial,
    "uuid"           varchar(255) NOT NULL,
    "created_at"     timestamp    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload"        json DEFAULT NULL,
    "metadata"       json DEFAULT NULL,
    "transaction_id" xid8         NOT NULL,
    PRIMARY KEY ("transaction_id", "offset")
);
