-- 0005 (resilience): worker heartbeats, and circuit breakers per
-- destination.

-- One row per worker process identity (the River client id of a process
-- with the worker role): when it last proved it is alive. A process beats
-- every couple of seconds; the running jobs of an identity whose beat
-- lapsed are made available again (relay.Relay, relay/riverjobs.go), and
-- its row is then deleted.
CREATE TABLE worker_heartbeats (
    worker_id  text        PRIMARY KEY,
    host       text        NOT NULL,
    pid        integer     NOT NULL,
    started_at timestamptz NOT NULL,
    beat_at    timestamptz NOT NULL
);

-- Circuit breakers read model, maintained in the same transaction as each
-- append to a breaker stream (projections.Breakers). A destination without
-- a row has a closed breaker that never opened.
CREATE TABLE breakers (
    destination_id text             PRIMARY KEY,
    state          text             NOT NULL,
    reason         text             NOT NULL DEFAULT '',
    since          timestamptz      NOT NULL,
    attempts       integer          NOT NULL DEFAULT 0,
    failures       integer          NOT NULL DEFAULT 0,
    failure_rate   double precision NOT NULL DEFAULT 0,
    window_seconds integer          NOT NULL DEFAULT 0,
    opens          integer          NOT NULL DEFAULT 0,
    reopen_at      timestamptz,
    failing_since  timestamptz,
    version        bigint           NOT NULL
);

-- The breakers' sliding window: attempts and failures per destination,
-- worker process and 10-second bucket. Each worker writes only its own
-- rows (once a second at most), so workers never wait on each other;
-- the window is the sum over workers. Buckets older than the window are
-- deleted.
CREATE TABLE breaker_counts (
    destination_id text        NOT NULL,
    bucket_start   timestamptz NOT NULL,
    worker_id      text        NOT NULL,
    attempts       integer     NOT NULL,
    failures       integer     NOT NULL,
    PRIMARY KEY (destination_id, bucket_start, worker_id)
);
CREATE INDEX breaker_counts_bucket_idx ON breaker_counts (bucket_start);

-- Per destination: since when it has failed without a success in between
-- (NULL while its latest attempt succeeded), for auto-deactivation.
CREATE TABLE breaker_health (
    destination_id  text        PRIMARY KEY,
    failing_since   timestamptz,
    last_success_at timestamptz
);
