-- 0004: delivery analytics per destination and UTC hour, and the definition
-- version of each projection (a mismatch with the code's at start-up
-- rebuilds that projection into shadow tables).

-- The version of the code that built a projection's tables. The runner
-- never changes it; a rebuild sets it when it swaps its tables in.
ALTER TABLE projection_checkpoints ADD COLUMN definition_version integer NOT NULL DEFAULT 0;
UPDATE projection_checkpoints SET definition_version = 1 WHERE name = 'deliveries';

-- Analytics read model: one row per destination (webhook or integration)
-- and UTC hour, built from the event log by the "analytics" projection.
-- Every range the API answers is a merge of these rows. Counters count
-- events of the hour they happened in: a delivery created at 10:59 whose
-- first attempt ran at 11:00 counts in the 10:00 row as created and in the
-- 11:00 row as attempted.
CREATE TABLE analytics_hourly (
    destination_id     text        NOT NULL,
    hour               timestamptz NOT NULL,
    kind               text        NOT NULL,
    created            bigint      NOT NULL DEFAULT 0, -- delivery.scheduled
    attempts           bigint      NOT NULL DEFAULT 0, -- delivery.attempted
    delivered          bigint      NOT NULL DEFAULT 0, -- attempts that delivered
    failed_attempts    bigint      NOT NULL DEFAULT 0, -- attempts that did not
    retries            bigint      NOT NULL DEFAULT 0, -- attempts followed by a scheduled retry
    permanent_failures bigint      NOT NULL DEFAULT 0, -- dead letters
    failed             bigint      NOT NULL DEFAULT 0, -- failed finals: 410 Gone, or cancelled
    postponed          bigint      NOT NULL DEFAULT 0, -- rate-limited postponements
    redriven           bigint      NOT NULL DEFAULT 0, -- manual redrives
    errors_3xx         bigint      NOT NULL DEFAULT 0,
    errors_4xx         bigint      NOT NULL DEFAULT 0,
    errors_5xx         bigint      NOT NULL DEFAULT 0,
    errors_timeout     bigint      NOT NULL DEFAULT 0,
    errors_network     bigint      NOT NULL DEFAULT 0,
    errors_blocked     bigint      NOT NULL DEFAULT 0,
    errors_other       bigint      NOT NULL DEFAULT 0,
    -- Response times (ms) of the attempts that reached the receiver: a
    -- response arrived or the attempt timed out. response_sketch is a
    -- DDSketch (logarithmic mapping, relative accuracy 1%) in the
    -- sketches-go binary encoding without its index mapping.
    response_count     bigint           NOT NULL DEFAULT 0,
    response_sum_us    bigint           NOT NULL DEFAULT 0, -- whole microseconds: sums in any order agree
    response_min_ms    double precision,
    response_max_ms    double precision,
    response_sketch    bytea,
    CONSTRAINT analytics_hourly_pkey PRIMARY KEY (destination_id, hour)
);
-- The summary over all destinations reads a time range.
CREATE INDEX analytics_hourly_hour_idx ON analytics_hourly (hour);

INSERT INTO projection_checkpoints (name, definition_version) VALUES ('analytics', 1);
