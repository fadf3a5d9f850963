package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
)

// Distinctive custom header values, to look for in answers and in the
// database.
const (
	authValue   = "Bearer supersecret-4711"
	apiKeyValue = "k3y-0123456789"
	tenantValue = "acme-tenant-0815"
)

func setupSealed(t *testing.T) (*testBundle, app.Config) {
	t.Helper()
	box, err := secretbox.New(bytes.Repeat([]byte{9}, secretbox.KeySize))
	require.NoError(t, err)
	var ac app.Config
	_, b := setup(t, func(_ *httpapi.Config, a *app.Config) { a.Secrets = box; ac = *a })
	return b, ac
}

// storedHeaders returns the custom headers the relay would send, opened.
func storedHeaders(t *testing.T, b *testBundle, ac app.Config, id string) (map[string]string, []string) {
	t.Helper()
	d, err := app.NewDestinations(b.pool, nil, ac).Destination(t.Context(), domain.DestinationID(id))
	require.NoError(t, err)
	return d.Headers, d.SecretHeaders
}

func requireNoPlaintext(t *testing.T, b *testBundle, values ...string) {
	t.Helper()
	var dump string
	err := b.pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(data::text, ' '), '') || ' ' ||
		(SELECT coalesce(string_agg(w::text, ' '), '') FROM webhooks w) FROM events`).Scan(&dump)
	require.NoError(t, err)
	require.Contains(t, dump, "enc:v1:", "header values are sealed")
	for _, v := range values {
		require.NotContains(t, dump, v, "plain text at rest")
	}
}

func TestAPI_SecretHeaders(t *testing.T) {
	t.Parallel()

	create := func(t *testing.T, b *testBundle) (httpapi.Webhook, response) {
		t.Helper()
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: map[string]any{
			"name": "Secret headers", "url": "https://example.com/secret-headers", "event_types": []string{"*"},
			"custom_headers": map[string]string{"Authorization": authValue, "X-Api-Key": apiKeyValue, "X-Tenant": tenantValue},
			"secret_headers": []string{"x-api-key"},
		}})
		return decode[httpapi.Webhook](t, r, http.StatusCreated), r
	}

	t.Run("MaskedEverywhereSealedAtRest", func(t *testing.T) {
		t.Parallel()
		b, ac := setupSealed(t)
		created, r := create(t, b)
		masked := map[string]string{"Authorization": "Bearer ****4711", "X-Api-Key": "****6789", "X-Tenant": tenantValue}
		require.Equal(t, masked, created.CustomHeaders)
		require.Equal(t, []string{"Authorization", "X-Api-Key"}, created.SecretHeaders)

		answers := []response{
			r,
			b.get(t, webhookPath(created.ID)),
			b.get(t, webhooksPath),
			b.do(t, request{method: http.MethodPatch, path: webhookPath(created.ID), body: map[string]any{"max_retries": 2}}),
			b.do(t, request{method: http.MethodPost, path: webhookPath(created.ID) + "/pause"}),
			b.do(t, request{method: http.MethodPost, path: webhookPath(created.ID) + "/rotate-secret"}),
		}
		for _, a := range answers {
			require.Less(t, a.status, 300, "body: %s", a.body)
			require.NotContains(t, string(a.body), "supersecret")
			require.NotContains(t, string(a.body), apiKeyValue)
		}
		got := decode[httpapi.Webhook](t, b.get(t, webhookPath(created.ID)), http.StatusOK)
		require.Equal(t, masked, got.CustomHeaders)

		// The relay still gets the real values, and knows which to redact.
		headers, secret := storedHeaders(t, b, ac, created.ID)
		require.Equal(t, map[string]string{"Authorization": authValue, "X-Api-Key": apiKeyValue, "X-Tenant": tenantValue}, headers)
		require.Equal(t, []string{"Authorization", "X-Api-Key"}, secret)

		// No header value is stored in plain text, secret or not.
		requireNoPlaintext(t, b, "supersecret", apiKeyValue, tenantValue)
	})

	t.Run("MaskedValueSentBackKeepsTheSecret", func(t *testing.T) {
		t.Parallel()
		b, ac := setupSealed(t)
		created, _ := create(t, b)

		// A GET, edited and sent back whole with PUT, keeps the secrets.
		var body map[string]any
		r := b.get(t, webhookPath(created.ID))
		require.NoError(t, json.Unmarshal(r.body, &body))
		put := map[string]any{}
		for _, k := range []string{"name", "url", "event_types", "custom_headers", "secret_headers", "max_retries"} {
			put[k] = body[k]
		}
		put["max_retries"] = 7
		r = b.do(t, request{method: http.MethodPut, path: webhookPath(created.ID), body: put})
		require.Equal(t, 7, decode[httpapi.Webhook](t, r, http.StatusOK).MaxRetries)
		headers, secret := storedHeaders(t, b, ac, created.ID)
		require.Equal(t, map[string]string{"Authorization": authValue, "X-Api-Key": apiKeyValue, "X-Tenant": tenantValue}, headers)
		require.Equal(t, []string{"Authorization", "X-Api-Key"}, secret)

		// PATCH custom_headers without secret_headers: the masked value is
		// kept and stays secret even though nothing lists it.
		r = b.do(t, request{method: http.MethodPatch, path: webhookPath(created.ID), body: map[string]any{
			"custom_headers": map[string]string{"X-Api-Key": "****6789", "X-Tenant": "other"},
		}})
		got := decode[httpapi.Webhook](t, r, http.StatusOK)
		require.Equal(t, map[string]string{"X-Api-Key": "****6789", "X-Tenant": "other"}, got.CustomHeaders)
		require.Equal(t, []string{"X-Api-Key"}, got.SecretHeaders)
		headers, _ = storedHeaders(t, b, ac, created.ID)
		require.Equal(t, map[string]string{"X-Api-Key": apiKeyValue, "X-Tenant": "other"}, headers)

		// A new value replaces it.
		r = b.do(t, request{method: http.MethodPatch, path: webhookPath(created.ID), body: map[string]any{
			"custom_headers": map[string]string{"X-Api-Key": "new-key-abcdefgh"},
		}})
		got = decode[httpapi.Webhook](t, r, http.StatusOK)
		require.Equal(t, map[string]string{"X-Api-Key": "****efgh"}, got.CustomHeaders)
		headers, _ = storedHeaders(t, b, ac, created.ID)
		require.Equal(t, map[string]string{"X-Api-Key": "new-key-abcdefgh"}, headers)
	})

	t.Run("MarkAndUnmark", func(t *testing.T) {
		t.Parallel()
		b, _ := setupSealed(t)
		created, _ := create(t, b)
		r := b.do(t, request{method: http.MethodPatch, path: webhookPath(created.ID), body: map[string]any{
			"secret_headers": []string{"X-Tenant"},
		}})
		got := decode[httpapi.Webhook](t, r, http.StatusOK)
		require.Equal(t, []string{"Authorization", "X-Tenant"}, got.SecretHeaders)
		require.Equal(t, "****0815", got.CustomHeaders["X-Tenant"])
		require.Equal(t, apiKeyValue, got.CustomHeaders["X-Api-Key"], "unmarked by its owner")

		for name, body := range map[string]map[string]any{
			"NotAHeader": {"secret_headers": []string{"X-Nope"}},
			"Twice":      {"secret_headers": []string{"X-Tenant", "x-tenant"}},
			"NotAString": {"secret_headers": []any{1}},
		} {
			p := requireProblem(t, b.do(t, request{method: http.MethodPatch, path: webhookPath(created.ID), body: body}), http.StatusUnprocessableEntity)
			require.NotEmpty(t, p.Errors, name)
			require.Contains(t, p.Errors[0].Location, "body.secret_headers", name)
		}
	})

	t.Run("ShortValues", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Short", "https://example.com/short", []string{"*"}, map[string]any{
			"custom_headers": map[string]string{"Authorization": "Bearer abc", "Cookie": "s=1", "X-Pin": "1234"},
			"secret_headers": []string{"X-Pin"},
		})
		require.Equal(t, map[string]string{"Authorization": "Bearer ****", "Cookie": "****", "X-Pin": "****"}, created.CustomHeaders)
	})
}

func TestAPI_AttemptRecordsRedactedByWebhook(t *testing.T) {
	t.Parallel()
	// Attempts recorded before a header was marked secret are redacted by
	// the webhook's list when shown.
	fake, b := setupPipeline(t)
	fake.deliveries = testDeliveries(1)
	fake.deliveries[0].Attempts = 1
	fake.attempts = []domain.AttemptView{{
		Attempt: 1, Status: domain.DeliveryFailed, ErrorCategory: domain.ErrorCategoryNetwork,
		ErrorDetail: "other: response headers exceed 64 KiB",
		RequestHeaders: map[string]string{
			"X-Api-Key": "old-plain-key", "Authorization": "Bearer old", "X-Tenant": "acme", "Webhook-Signature": "[redacted]",
		},
		AttemptedAt: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
	}}
	r := b.get(t, webhookDeliveriesPath+"/dlv_1")
	got := decode[httpapi.DeliveryWithAttempts](t, r, http.StatusOK)
	require.Equal(t, map[string]string{
		"X-Api-Key": "[redacted]", "Authorization": "[redacted]", "X-Tenant": "acme", "Webhook-Signature": "[redacted]",
	}, got.AttemptHistory[0].RequestHeaders)
	require.NotContains(t, string(r.body), "old-plain-key")
	// The failure's own explanation reaches the user as recorded.
	require.Equal(t, "network", got.AttemptHistory[0].ErrorCategory)
	require.Equal(t, "other: response headers exceed 64 KiB", got.AttemptHistory[0].ErrorDetail)
	require.Equal(t, 1, got.Attempts)
}
