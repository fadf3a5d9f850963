package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
)

// newSecretsKey is the key the rotation moves to.
const newSecretsKey = "ZGlmZmVyZW50LWtleS1mb3Itcm90YXRpb24tdGVzdCE="

// TestRotateSecretsKey rotates the secrets key of a database holding a
// webhook (a current and a rotated signing secret) and an integration (a
// credential): no text or JSON column, the event log included, holds a
// secret in plain text before or after; afterwards the old key can be
// dropped, and a serve process that has only the new key delivers with
// both signatures verifying.
func TestRotateSecretsKey(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs lokihooks serve in a child process against PostgreSQL")
	}
	ctx := t.Context()
	b := newServeBundle(t)
	rcv := newSignedReceiver(t)
	oldSecret, newSecret := domain.GenerateSecret(), domain.GenerateSecret()
	hook := b.createWebhook(t, rcv.URL)
	_, err := b.webhooks.RotateWebhookSecret(ctx, hook, domain.ExpectAny, domain.RotateSecretParams{Secret: oldSecret, GracePeriod: -1})
	require.NoError(t, err)
	_, err = b.webhooks.RotateWebhookSecret(ctx, hook, domain.ExpectAny, domain.RotateSecretParams{Secret: newSecret, GracePeriod: time.Hour})
	require.NoError(t, err)
	bearer := "Bearer header-token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	_, err = b.webhooks.UpdateWebhook(ctx, hook, domain.ExpectAny, func(s domain.WebhookSpec) domain.WebhookSpec {
		s.CustomHeaders = map[string]string{"Authorization": bearer}
		return s
	})
	require.NoError(t, err)
	password := "smtp-password-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	oldBox, err := secretbox.Parse(testSecretsKey)
	require.NoError(t, err)
	integrations := app.NewIntegrations(b.pool, integrationStore(b.pool), nil, nil, app.Config{Secrets: oldBox})
	_, err = integrations.CreateIntegration(ctx, domain.KindEmail,
		json.RawMessage(`{"smtp_host":"smtp.example.com","smtp_username":"u","smtp_password":"`+password+`"}`),
		func(s domain.IntegrationSpec) domain.IntegrationSpec {
			s.Name, s.Config = "mail", json.RawMessage(`{"default_recipients":["ops@example.com"],"from":"lokihooks@example.com"}`)
			return s
		})
	require.NoError(t, err)
	secrets := []string{oldSecret, newSecret, password, bearer}
	require.Contains(t, grepDatabase(t, b.pool, b.schema, rcv.URL), "events.data: "+rcv.URL, "the grep finds what is stored in plain text")
	require.Empty(t, grepDatabase(t, b.pool, b.schema, secrets...), "plain text before the rotation")

	rotate := func() string {
		var stdout, stderr bytes.Buffer
		getenv := env(map[string]string{envDatabaseURL: b.dbURL, envSecretsKey: newSecretsKey, envSecretsPrevious: testSecretsKey})
		require.NoError(t, run(context.WithoutCancel(ctx), []string{"rotate-secrets-key"}, getenv, &stdout, &stderr), stderr.String())
		return stdout.String()
	}
	require.Contains(t, rotate(), "checked 2 webhooks and integrations: re-sealed 1 webhooks and 1 integrations")
	require.Contains(t, rotate(), "re-sealed 0 webhooks and 0 integrations", "a second run has nothing to do")
	require.Empty(t, grepDatabase(t, b.pool, b.schema, secrets...), "plain text after the rotation")

	// The new key alone opens everything the destinations hold now.
	newBox, err := secretbox.Parse(newSecretsKey)
	require.NoError(t, err)
	dests := app.NewDestinations(b.pool, integrationStore(b.pool), app.Config{Secrets: newBox})
	d, err := dests.Destination(ctx, domain.DestinationID(hook))
	require.NoError(t, err)
	require.Equal(t, []string{newSecret, oldSecret}, d.Secrets)
	require.Equal(t, bearer, d.Headers["Authorization"], "custom header values are re-sealed too")
	mail, err := integrations.GetIntegration(ctx, "mail")
	require.NoError(t, err)
	d, err = dests.Destination(ctx, domain.DestinationID(mail.ID))
	require.NoError(t, err)
	require.Contains(t, string(d.Credentials), password)

	// A process without the old key delivers, signed with both secrets.
	child := b.startServe(t, "serve", map[string]string{envSecretsKey: newSecretsKey})
	ids := b.publish(t, 1, 1)
	require.Eventually(t, func() bool { return len(rcv.requests()) > 0 }, 60*time.Second, 10*time.Millisecond)
	got := rcv.requests()[0]
	require.Equal(t, string(ids[0]), got.Header.Get("webhook-id"))
	ts, err := strconv.ParseInt(got.Header.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err)
	want, err := domain.SignatureHeader([]string{newSecret, oldSecret}, string(ids[0]), time.Unix(ts, 0), got.Body)
	require.NoError(t, err)
	require.Equal(t, want, got.Header.Get("webhook-signature"))
	require.True(t, domain.VerifyLegacy(newSecret, got.Body, got.Header.Get("X-Webhook-Signature")))
	require.Equal(t, bearer, got.Header.Get("Authorization"), "the header, opened with the new key, reaches the receiver")
	_ = child.cmd.Process.Kill()
	child.wait(t, 10*time.Second)
	require.Empty(t, grepDatabase(t, b.pool, b.schema, secrets...), "plain text after deliveries")
}

// integrationStore is an event store projecting webhooks and integrations.
func integrationStore(pool *pgxpool.Pool) *eventstore.Store {
	return eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{
		{StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project},
		{StreamTypes: []string{domain.IntegrationStreamType}, Project: projections.Integrations{}.Project},
	}})
}

// grepDatabase returns "table.column: needle" for every text, character,
// JSON or array column of schema holding one of needles.
func grepDatabase(t *testing.T, pool *pgxpool.Pool, schema string, needles ...string) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = $1 AND (data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY'))
		ORDER BY 1, 2`, schema)
	require.NoError(t, err)
	type column struct{ Table, Column string }
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[column])
	require.NoError(t, err)
	require.NotEmpty(t, cols)
	var hits []string
	for _, c := range cols {
		for _, needle := range needles {
			var n int
			q := `SELECT count(*) FROM ` + pgx.Identifier{schema, c.Table}.Sanitize() + ` WHERE strpos(` +
				pgx.Identifier{c.Column}.Sanitize() + `::text, $1) > 0`
			require.NoError(t, pool.QueryRow(t.Context(), q, needle).Scan(&n))
			if n > 0 {
				hits = append(hits, c.Table+"."+c.Column+": "+needle)
			}
		}
	}
	return hits
}

// signedReceiver keeps the headers and body of every request.
type signedReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []received
}

type received struct {
	Header http.Header
	Body   []byte
}

func newSignedReceiver(t *testing.T) *signedReceiver {
	t.Helper()
	rc := &signedReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{Header: r.Header.Clone(), Body: body})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *signedReceiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}
