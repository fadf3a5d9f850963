-- 0004: integrations (Slack, Teams, email, Zapier) as destinations: their
-- read model and the Slack thread of each (integration, thread key).

-- Integrations read model, maintained in the same transaction as each
-- append to an integration stream (projections.Integrations).
-- credentials holds the credentials JSON object sealed with
-- LOKIHOOKS_SECRETS_KEY, as the events carry it; it is never returned.
CREATE TABLE integrations (
    id                    text        PRIMARY KEY,
    name                  text        NOT NULL,
    integration_type      text        NOT NULL,
    source                text        NOT NULL,
    credentials           text        NOT NULL,
    config                jsonb       NOT NULL DEFAULT '{}',
    event_types           text[]      NOT NULL DEFAULT '{}',
    status                text        NOT NULL,
    status_reason         text        NOT NULL DEFAULT '',
    retry_strategy        text        NOT NULL,
    max_retries           integer     NOT NULL,
    retry_delay_seconds   integer     NOT NULL,
    max_delay_seconds     integer     NOT NULL,
    backoff_multiplier    double precision NOT NULL,
    jitter_enabled        boolean     NOT NULL,
    timeout_seconds       integer     NOT NULL,
    rate_limit_per_minute integer     NOT NULL DEFAULT 0,
    rate_limit_per_hour   integer     NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    version               bigint      NOT NULL
);
-- Names are unique among integrations that are not deleted: a name is the
-- API's key of an integration.
CREATE UNIQUE INDEX integrations_name_key ON integrations (name) WHERE status <> 'deleted';
CREATE INDEX integrations_event_types_idx ON integrations USING gin (event_types);

-- The Slack thread of each (integration, thread key): the ts of the first
-- message posted for that key, which later messages reply to. Written by
-- the Slack connector through relay.SlackThreads; the first ts saved wins.
CREATE TABLE slack_threads (
    destination_id text        NOT NULL,
    thread_key     text        NOT NULL,
    ts             text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (destination_id, thread_key)
);
