package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

// setupAudit is setup with the analytics and history use cases wired.
func setupAudit(t *testing.T) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t, nil)
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	events := eventstore.New(pool, eventstore.Config{Logger: logger, Inline: []eventstore.InlineProjector{{
		StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project,
	}}})
	ac := app.Config{NowFunc: func() time.Time { return testNow }, Logger: logger}
	hooks := app.NewWebhooks(pool, events, nil, nil, ac)
	api := httpapi.New(httpapi.Deps{
		Webhooks: hooks, Events: app.NewEvents(pool, ac), Deliveries: app.NewDeliveries(pool, nil),
		Analytics: app.NewAnalytics(pool), History: hooks,
	}, httpapi.Config{APIKeys: []string{"other-key-9876543210", testKey}, Logger: logger})
	server := httptest.NewServer(api)
	t.Cleanup(server.Close)
	return &testBundle{api: api, pool: pool, server: server}
}

type historyPage struct {
	Data []struct {
		Version int64  `json:"version"`
		Type    string `json:"type"`
		Actor   string `json:"actor"`
		Reason  string `json:"reason"`
		Changes []struct {
			Field string `json:"field"`
			Old   any    `json:"old"`
			New   any    `json:"new"`
		} `json:"changes"`
		PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	} `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func TestAPI_WebhookHistory(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	const (
		secret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		rotated   = "whsec_dGhpcyBpcyBhIG5ldyBzZWNyZXQgZm9yIHRlc3Rz"
		authValue = "Bearer receiver-credential-1234"
	)
	created := decode[httpapi.Webhook](t, b.do(t, request{method: http.MethodPost, path: "/api/v1/webhooks", body: map[string]any{
		"name": "audited", "url": "https://example.com/hooks?token=url-credential-99", "event_types": []string{"*"},
		"secret": secret, "custom_headers": map[string]string{"Authorization": authValue, "X-Team": "billing"},
		"metadata": map[string]any{"owner": "ops", "api_key": "meta-credential-77"},
	}}), http.StatusCreated)
	path := "/api/v1/webhooks/" + created.ID
	r := b.do(t, request{method: http.MethodPatch, path: path, body: map[string]any{
		"max_retries": 7, "name": "audited-2",
		"custom_headers": map[string]string{"Authorization": authValue + "-v2", "X-Region": "eu"},
	}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = b.do(t, request{method: http.MethodPost, path: path + "/rotate-secret", body: map[string]any{"secret": rotated}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	for _, c := range []string{"pause", "resume"} {
		r = b.do(t, request{method: http.MethodPost, path: path + "/" + c})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	}
	r = b.do(t, request{method: http.MethodDelete, path: path})
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)

	// Newest first, two per page, for a deleted webhook too.
	var types []string
	var pages []historyPage
	next := path + "/history?limit=2"
	for next != "" {
		r := b.get(t, next)
		page := decode[historyPage](t, r, http.StatusOK)
		for _, secretish := range []string{secret, rotated, "receiver-credential", "url-credential", "meta-credential"} {
			require.NotContains(t, string(r.body), secretish, "the history reveals no secret")
		}
		pages = append(pages, page)
		for _, e := range page.Data {
			types = append(types, e.Type)
		}
		next = ""
		if page.NextCursor != "" {
			next = path + "/history?limit=2&cursor=" + url.QueryEscape(page.NextCursor)
		}
	}
	require.Equal(t, []string{"deleted", "resumed", "paused", "secret_rotated", "updated", "created"}, types)
	require.Len(t, pages, 3)

	sum := sha256.Sum256([]byte(testKey))
	actor := "api_key:" + hex.EncodeToString(sum[:6])
	all := append(append(pages[0].Data, pages[1].Data...), pages[2].Data...)
	for _, e := range all {
		require.Equal(t, actor, e.Actor, "%s names the key that made it", e.Type)
	}
	rotation := all[3]
	require.Empty(t, rotation.Changes)
	require.NotNil(t, rotation.PreviousSecretExpiresAt)

	update := all[4]
	changes := map[string][2]any{}
	for _, c := range update.Changes {
		changes[c.Field] = [2]any{c.Old, c.New}
	}
	require.Equal(t, map[string][2]any{
		"name":                         {"audited", "audited-2"},
		"max_retries":                  {float64(5), float64(7)},
		"custom_headers.Authorization": {"[redacted] (old)", "[redacted] (new)"},
		"custom_headers.X-Region":      {nil, "[redacted]"},
		"custom_headers.X-Team":        {"[redacted]", nil}, // PATCH replaces the map
	}, changes, "a field-level diff, header values hidden")

	creation := all[5]
	fields := map[string]any{}
	for _, c := range creation.Changes {
		require.Nil(t, c.Old)
		fields[c.Field] = c.New
	}
	require.Equal(t, "https://example.com/hooks?token=REDACTED", fields["url"])
	require.Equal(t, "[redacted]", fields["metadata.api_key"])
	require.Equal(t, "ops", fields["metadata.owner"])

	requireProblem(t, b.get(t, "/api/v1/webhooks/wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC/history"), http.StatusNotFound)
	requireProblem(t, b.get(t, path+"/history?cursor=bm9wZQ"), http.StatusBadRequest)
}

func TestAPI_WebhookAnalyticsRanges(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	w := decode[httpapi.Webhook](t, b.do(t, request{method: http.MethodPost, path: "/api/v1/webhooks", body: map[string]any{
		"name": "measured", "url": "https://example.com/measured", "event_types": []string{"*"},
	}}), http.StatusCreated)
	path := "/api/v1/webhooks/" + w.ID + "/analytics"

	a := decode[httpapi.DestinationAnalytics](t, b.get(t, path), http.StatusOK)
	require.Equal(t, w.ID, a.DestinationID)
	require.Equal(t, "hour", a.Granularity)
	require.Len(t, a.Series, 25, "the last 24 hours, widened to whole hours")
	for _, p := range a.Series {
		require.Equal(t, httpapi.AnalyticsStats{}, p.AnalyticsStats, "empty periods are zeros")
	}
	a = decode[httpapi.DestinationAnalytics](t, b.get(t, path+"?from=2026-11-27T22:30:00Z&to=2026-11-29T01:00:00%2B01:00&granularity=day"), http.StatusOK)
	require.Equal(t, time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), a.From)
	require.Equal(t, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), a.To, "01:00+01:00 is midnight UTC")
	require.Len(t, a.Series, 2)

	for q, loc := range map[string]string{
		"?from=yesterday": "query.from",
		"?from=2026-11-29T00:00:00Z&to=2026-11-28T00:00:00Z": "query.to",
		"?from=2025-01-01T00:00:00Z&to=2026-11-28T00:00:00Z": "query.to",
		"?to=2026-11-28T00:00:00":                            "query.to",
		"?granularity=week":                                  "query.granularity",
	} {
		p := requireProblem(t, b.get(t, path+q), http.StatusUnprocessableEntity)
		require.Contains(t, errorLocations(p), loc, q)
		p = requireProblem(t, b.get(t, "/api/v1/analytics"+strings.Replace(q, "granularity=week", "from=x", 1)), http.StatusUnprocessableEntity)
		require.NotEmpty(t, errorLocations(p), q)
	}
	requireProblem(t, b.get(t, "/api/v1/webhooks/wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC/analytics"), http.StatusNotFound)

	for _, p := range []string{"/api/v1/analytics", "/api/v1/webhooks/{webhook_id}/analytics", "/api/v1/webhooks/{webhook_id}/history"} {
		require.Contains(t, b.api.OpenAPI().Paths, p)
		require.NotNil(t, b.api.OpenAPI().Paths[p].Get, p)
	}
	o := decode[httpapi.AnalyticsOverview](t, b.get(t, "/api/v1/analytics"), http.StatusOK)
	require.Equal(t, 0, o.Destinations)
	require.Empty(t, o.TopByFailures)
}
