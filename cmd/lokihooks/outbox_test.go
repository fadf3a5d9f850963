package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/internal/dbtest"
)

func TestOutboxPoison_ListAndRetry(t *testing.T) {
	t.Parallel()
	pool, schema := dbtest.PoolSchema(t, nil)
	ctx := context.WithoutCancel(t.Context())
	_, err := pool.Exec(ctx, `INSERT INTO outbox_poison (event_id, payload, metadata, reason, tries)
		VALUES ('evt_p1', '{"id":"evt_p1"}', '{"event_type":"system.error"}', 'no destination table', 5)`)
	require.NoError(t, err)
	getenv := func(k string) string {
		if k == envDatabaseURL {
			return schemaURL(t, schema)
		}
		return ""
	}
	cmd := func(args ...string) string {
		var stdout, stderr bytes.Buffer
		require.NoError(t, run(ctx, args, getenv, &stdout, &stderr), stderr.String())
		return stdout.String()
	}

	out := cmd("outbox", "poison", "list")
	require.Contains(t, out, "evt_p1")
	require.Contains(t, out, "no destination table")
	require.Contains(t, out, "by hand", "exhausted events wait for an operator")
	var listed []map[string]any
	require.NoError(t, json.Unmarshal([]byte(cmd("outbox", "poison", "list", "--json")), &listed))
	require.Len(t, listed, 1)

	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"outbox", "poison", "retry"}, getenv, &stdout, &stderr)
	require.Error(t, err, "retry needs ids or --all")

	require.Contains(t, cmd("outbox", "poison", "retry", "evt_p1"), "put 1 events back")
	var outbox int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM watermill_outbox WHERE uuid = 'evt_p1'
		AND metadata->>'lokihooks_poison_retry' = 'true'`).Scan(&outbox))
	require.Equal(t, 1, outbox, "back in the outbox, marked as a retry")
	require.Contains(t, cmd("outbox", "poison", "retry", "--all"), "put 1 events back", "still listed until scheduled")
}
