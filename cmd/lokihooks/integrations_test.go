package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
)

func TestReplay_RebuildsIntegrations(t *testing.T) {
	t.Parallel()
	pool, schema := dbtest.PoolSchema(t, nil)
	ctx := t.Context()
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{{
		StreamTypes: []string{domain.IntegrationStreamType}, Project: projections.Integrations{}.Project,
	}}})
	box, err := secretbox.New(bytes.Repeat([]byte{3}, secretbox.KeySize))
	require.NoError(t, err)
	integrations := app.NewIntegrations(pool, events, nil, nil, app.Config{Secrets: box})
	for _, name := range []string{"a", "b"} {
		_, err := integrations.CreateIntegration(ctx, domain.KindTeams, json.RawMessage(`{"webhook_url":"https://teams.example.com/`+name+`"}`),
			func(s domain.IntegrationSpec) domain.IntegrationSpec { s.Name = name; return s })
		require.NoError(t, err)
	}
	_, err = integrations.PauseIntegration(ctx, "b", domain.ExpectAny)
	require.NoError(t, err)
	_, err = integrations.SubscribeZapier(ctx, "https://hooks.zapier.com/hooks/standard/1/", domain.EventTypeComplianceAlert)
	require.NoError(t, err)

	before := tableJSON(t, pool, `SELECT * FROM integrations ORDER BY id`)
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string {
		if k == envDatabaseURL {
			return schemaURL(t, schema)
		}
		return ""
	}
	require.NoError(t, run(context.WithoutCancel(ctx), []string{"replay", "--projection", "integrations"}, getenv, &stdout, &stderr), stderr.String())
	require.True(t, strings.HasPrefix(stdout.String(), "integrations: rebuilt from 4 events in "), stdout.String())
	require.Equal(t, before, tableJSON(t, pool, `SELECT * FROM integrations ORDER BY id`))
}

// TestBuild_ServesIntegrations checks serve's wiring: the integrations API,
// its read model inline, and the connectors' Mux behind test-integration.
func TestBuild_ServesIntegrations(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t, nil)
	teams := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	t.Cleanup(teams.Close)
	cfg, err := loadConfigFor(func(k string) string {
		return map[string]string{
			envAPIKeys: "build-test-key-0123456789", envSecretsKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			envAllowHTTP: "true", envAllowedNetworks: "127.0.0.0/8",
		}[k]
	}, true, true)
	require.NoError(t, err)
	sys, err := build(pool, cfg, []string{roleAPI}, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sys.db.Close() })

	call := func(method, path, body string) (int, string) {
		req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer build-test-key-0123456789")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		sys.api.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	code, body := call(http.MethodPost, "/api/v1/integrations",
		`{"name":"teams","integration_type":"teams","credentials":{"webhook_url":"`+teams.URL+`/flow?sig=buildsecret"}}`)
	require.Equal(t, http.StatusCreated, code, body)
	code, body = call(http.MethodPost, "/api/v1/integrations/teams/test", "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"outcome":"delivered"`)
	require.Contains(t, body, `"status_code":202`)
	code, body = call(http.MethodGet, "/api/v1/integrations/marketplace", "")
	require.Equal(t, http.StatusOK, code, body)
	require.NotContains(t, body+tableJSON(t, pool, `SELECT * FROM integrations`), "buildsecret")
}
