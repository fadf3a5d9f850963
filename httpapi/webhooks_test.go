package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
)

const webhooksPath = "/api/v1/webhooks"

// testSecret is a valid caller-chosen signing secret (32 bytes).
var testSecret = "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

func webhookPath(id string) string { return webhooksPath + "/" + id }

// requireNoKey requires that a JSON object response has no top-level key.
func requireNoKey(t *testing.T, body []byte, key string) {
	t.Helper()
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw), "body: %s", body)
	require.NotContains(t, raw, key, "body: %s", body)
}

// withSchedule sets the retry_schedule_preview that a webhook's retry
// fields imply (TestAPI_RetrySchedulePreview checks the numbers).
func withSchedule(w httpapi.Webhook) httpapi.Webhook {
	p := domain.WebhookSpec{
		RetryStrategy: domain.RetryStrategy(w.RetryStrategy), MaxRetries: w.MaxRetries,
		RetryDelaySeconds: w.RetryDelaySeconds, MaxDelaySeconds: w.MaxDelaySeconds,
		BackoffMultiplier: w.BackoffMultiplier, JitterEnabled: w.JitterEnabled,
	}.RetryPolicy()
	w.RetrySchedulePreview = []httpapi.ScheduledRetry{}
	for _, r := range p.Schedule() {
		w.RetrySchedulePreview = append(w.RetrySchedulePreview, httpapi.ScheduledRetry{
			Retry: r.N, DelaySeconds: r.Delay.Seconds(), MinDelaySeconds: r.Min.Seconds(), MaxDelaySeconds: r.Max.Seconds(),
			AfterSeconds: r.Cumulative.Seconds(), AfterMinSeconds: r.CumulativeMin.Seconds(), AfterMaxSeconds: r.CumulativeMax.Seconds(),
		})
	}
	return w
}

func withoutSecret(w httpapi.Webhook) httpapi.Webhook {
	w.Secret = ""
	return w
}

func TestAPI_CreateWebhook(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: map[string]any{
			"name": "Compliance", "url": "https://example.com/hooks", "event_types": []string{"compliance.alert"},
		}})
		created := decode[httpapi.Webhook](t, r, http.StatusCreated)
		require.True(t, strings.HasPrefix(created.ID, "wh_"), created.ID)
		require.Equal(t, webhookPath(created.ID), r.header.Get("Location"))
		require.Equal(t, `"v1"`, r.header.Get("ETag"))
		require.True(t, strings.HasPrefix(created.Secret, "whsec_"), "secret %q", created.Secret)
		require.Greater(t, len(created.Secret), len("whsec_")+30)

		require.Equal(t, withSchedule(httpapi.Webhook{
			ID: created.ID, Name: "Compliance", URL: "https://example.com/hooks", Secret: created.Secret,
			Status: "active", EventTypes: []string{"compliance.alert"},
			RetryStrategy: "exponential_backoff", MaxRetries: 5, RetryDelaySeconds: 60, MaxDelaySeconds: 7200,
			BackoffMultiplier: 2, JitterEnabled: true, TimeoutSeconds: 15, RateLimitPerMinute: 0, RateLimitPerHour: 0,
			CustomHeaders: map[string]string{}, SecretHeaders: []string{}, Metadata: map[string]any{},
			CreatedAt: testNow, UpdatedAt: testNow, LastTriggeredAt: nil, Version: 1,
		}), created)

		r = b.get(t, webhookPath(created.ID))
		got := decode[httpapi.Webhook](t, r, http.StatusOK)
		requireNoKey(t, r.body, "secret")
		require.Equal(t, `"v1"`, r.header.Get("ETag"))
		require.Equal(t, withoutSecret(created), got)
	})

	t.Run("AllFields", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "All", "https://example.com/all", []string{"*"}, map[string]any{
			"secret": testSecret, "retry_strategy": "linear_backoff", "max_retries": 9,
			"retry_delay_seconds": 5, "max_delay_seconds": 50, "backoff_multiplier": 1.5,
			"jitter_enabled": false, "timeout_seconds": 30, "rate_limit_per_minute": 10,
			"rate_limit_per_hour": 100, "custom_headers": map[string]string{"X-Team": "compliance"},
			"metadata": map[string]any{"owner": "ops", "tier": 2.0},
		})
		require.Equal(t, testSecret, created.Secret)
		require.Equal(t, withSchedule(httpapi.Webhook{
			ID: created.ID, Name: "All", URL: "https://example.com/all", Secret: testSecret,
			Status: "active", EventTypes: []string{"*"},
			RetryStrategy: "linear_backoff", MaxRetries: 9, RetryDelaySeconds: 5, MaxDelaySeconds: 50,
			BackoffMultiplier: 1.5, JitterEnabled: false, TimeoutSeconds: 30, RateLimitPerMinute: 10, RateLimitPerHour: 100,
			CustomHeaders: map[string]string{"X-Team": "compliance"}, SecretHeaders: []string{}, Metadata: map[string]any{"owner": "ops", "tier": 2.0},
			CreatedAt: testNow, UpdatedAt: testNow, Version: 1,
		}), created)

		r := b.get(t, webhookPath(created.ID))
		requireNoKey(t, r.body, "secret")
		require.Equal(t, withoutSecret(created), decode[httpapi.Webhook](t, r, http.StatusOK))
	})

	t.Run("DuplicateName", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		b.createWebhook(t, "Same", "https://example.com/a", []string{"*"}, nil)
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: map[string]any{
			"name": "Same", "url": "https://example.com/b", "event_types": []string{"*"},
		}})
		p := requireProblem(t, r, http.StatusConflict)
		require.Equal(t, `name "Same" is already used by another webhook: choose another value`, p.Detail)
	})

	t.Run("DuplicateURL", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		b.createWebhook(t, "First", "https://example.com/same", []string{"*"}, nil)
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: map[string]any{
			"name": "Second", "url": "https://example.com/same", "event_types": []string{"*"},
		}})
		p := requireProblem(t, r, http.StatusConflict)
		require.Equal(t, `url "https://example.com/same" is already used by another webhook: choose another value`, p.Detail)
	})

	t.Run("ReuseAfterDelete", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		first := b.createWebhook(t, "Reused", "https://example.com/reused", []string{"*"}, nil)
		r := b.do(t, request{method: http.MethodDelete, path: webhookPath(first.ID)})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		second := b.createWebhook(t, "Reused", "https://example.com/reused", []string{"*"}, nil)
		require.NotEqual(t, first.ID, second.ID)
	})

	t.Run("HTTPURLRejected", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: map[string]any{
			"name": "Plain", "url": "http://example.com/hooks", "event_types": []string{"*"},
		}})
		p := requireProblem(t, r, http.StatusUnprocessableEntity)
		require.Equal(t, []string{"body.url"}, errorLocations(p))
		require.Contains(t, p.Errors[0].Message, "must use https")
		require.Contains(t, p.Errors[0].Message, "LOKIHOOKS_ALLOW_HTTP=true", "the refusal names the setting")
	})

	t.Run("HTTPURLAllowed", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, func(_ *httpapi.Config, a *app.Config) { a.Validation.AllowHTTP = true })
		created := b.createWebhook(t, "Plain", "http://example.com/hooks", []string{"*"}, nil)
		require.Equal(t, "http://example.com/hooks", created.URL)
	})

	t.Run("ReservedCustomHeader", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: map[string]any{
			"name": "Sig", "url": "https://example.com/sig", "event_types": []string{"*"},
			"custom_headers": map[string]string{"webhook-signature": "v1,forged"},
		}})
		p := requireProblem(t, r, http.StatusUnprocessableEntity)
		require.Equal(t, []string{"body.custom_headers.webhook-signature"}, errorLocations(p))
	})

	t.Run("EveryReservedHeaderRefused", func(t *testing.T) {
		t.Parallel()
		// The API refuses every header the sender would drop (one list in
		// domain), in any case, instead of accepting it and sending nothing.
		_, b := setup(t, nil)
		for _, name := range append(domain.ReservedHeaders(), "expect", "KEEP-ALIVE") {
			r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: map[string]any{
				"name": "Reserved", "url": "https://example.com/reserved", "event_types": []string{"*"},
				"custom_headers": map[string]string{name: "v"},
			}})
			p := requireProblem(t, r, http.StatusUnprocessableEntity)
			require.Equal(t, []string{"body.custom_headers." + name}, errorLocations(p), name)
			require.Contains(t, p.Errors[0].Message, "cannot be overridden", name)
		}
		requireNoWebhooks(t, b)
	})

	t.Run("EveryDomainProblemAtOnce", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: map[string]any{
			"name": "", "url": "ftp://example.com", "event_types": []string{"nope.nothing"},
			"retry_delay_seconds": 60, "max_delay_seconds": 10, "backoff_multiplier": 20,
			"timeout_seconds": 0, "secret": "not-a-secret",
		}})
		p := requireProblem(t, r, http.StatusUnprocessableEntity)
		require.Equal(t, "the request is not valid: errors lists each problem and where it is", p.Detail)
		require.ElementsMatch(t, []string{
			"body.name", "body.url", "body.event_types", "body.max_delay_seconds",
			"body.backoff_multiplier", "body.timeout_seconds", "body.secret",
		}, errorLocations(p))
		requireNoWebhooks(t, b)
	})

	t.Run("EverySchemaProblemAtOnce", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: map[string]any{
			"name": "Schema", "url": "https://example.com/s", "event_types": []string{"*"},
			"max_retries": -1, "retry_strategy": "sometimes", "rate_limit_per_hour": -5, "colour": "red",
		}})
		p := requireProblem(t, r, http.StatusUnprocessableEntity)
		require.ElementsMatch(t, []string{
			"body.max_retries", "body.retry_strategy", "body.rate_limit_per_hour", "body.colour",
		}, errorLocations(p))
		requireNoWebhooks(t, b)
	})
}

func requireNoWebhooks(t *testing.T, b *testBundle) {
	t.Helper()
	list := decode[httpapi.WebhookList](t, b.get(t, webhooksPath), http.StatusOK)
	require.Empty(t, list.Data)
}

func ids(ws []httpapi.Webhook) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID
	}
	return out
}

func TestAPI_ListWebhooks(t *testing.T) {
	t.Parallel()

	t.Run("CursorPagination", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		var want []string
		for i := range 5 {
			w := b.createWebhook(t, "hook "+string(rune('a'+i)), "https://example.com/"+string(rune('a'+i)), []string{"*"}, nil)
			want = append(want, w.ID)
		}
		// IDs sort by creation time; the fixed clock leaves their random
		// part to decide the order, which is still the order of the list,
		// newest first.
		slices.Sort(want)
		slices.Reverse(want)

		var got []string
		path := webhooksPath + "?limit=2"
		for page := 1; page <= 3; page++ {
			r := b.get(t, path)
			list := decode[httpapi.WebhookList](t, r, http.StatusOK)
			got = append(got, ids(list.Data)...)
			if page < 3 {
				require.Len(t, list.Data, 2)
				require.NotEmpty(t, list.NextCursor)
				link := r.header.Get("Link")
				require.Equal(t, `</api/v1/webhooks?cursor=`+list.NextCursor+`&limit=2>; rel="next"`, link)
				path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
				continue
			}
			require.Len(t, list.Data, 1)
			requireNoKey(t, r.body, "next_cursor")
			require.Empty(t, r.header.Values("Link"))
		}
		require.Equal(t, want, got)
		for _, w := range decode[httpapi.WebhookList](t, b.get(t, webhooksPath), http.StatusOK).Data {
			require.Empty(t, w.Secret)
		}
	})

	t.Run("OrderAscending", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		var want []string
		for i := range 3 {
			w := b.createWebhook(t, fmt.Sprintf("asc %d", i), fmt.Sprintf("https://example.com/asc/%d", i), []string{"*"}, nil)
			want = append(want, w.ID)
		}
		slices.Sort(want)
		r := b.get(t, webhooksPath+"?order=asc&limit=2")
		list := decode[httpapi.WebhookList](t, r, http.StatusOK)
		require.Equal(t, want[:2], ids(list.Data))
		link := r.header.Get("Link")
		require.Equal(t, `</api/v1/webhooks?cursor=`+list.NextCursor+`&limit=2&order=asc>; rel="next"`, link)
		list = decode[httpapi.WebhookList](t, b.get(t, strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)), http.StatusOK)
		require.Equal(t, want[2:], ids(list.Data))
		slices.Reverse(want)
		require.Equal(t, want, ids(decode[httpapi.WebhookList](t, b.get(t, webhooksPath+"?order=desc"), http.StatusOK).Data))
	})

	t.Run("ExactPageHasNoCursor", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		b.createWebhook(t, "one", "https://example.com/1", []string{"*"}, nil)
		b.createWebhook(t, "two", "https://example.com/2", []string{"*"}, nil)
		r := b.get(t, webhooksPath+"?limit=2")
		list := decode[httpapi.WebhookList](t, r, http.StatusOK)
		require.Len(t, list.Data, 2)
		requireNoKey(t, r.body, "next_cursor")
		require.Empty(t, r.header.Values("Link"))
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		alert := b.createWebhook(t, "alert", "https://example.com/alert", []string{"compliance.alert"}, nil)
		failed := b.createWebhook(t, "failed", "https://example.com/failed", []string{"validation.failed"}, nil)
		all := b.createWebhook(t, "all", "https://example.com/all", []string{"*"}, nil)
		paused := b.createWebhook(t, "paused", "https://example.com/paused", []string{"compliance.alert", "validation.failed"}, nil)
		deleted := b.createWebhook(t, "deleted", "https://example.com/deleted", []string{"compliance.alert"}, nil)
		require.Equal(t, http.StatusOK, b.do(t, request{method: http.MethodPost, path: webhookPath(paused.ID) + "/pause"}).status)
		require.Equal(t, http.StatusNoContent, b.do(t, request{method: http.MethodDelete, path: webhookPath(deleted.ID)}).status)

		sorted := func(ws ...httpapi.Webhook) []string { // newest first
			out := ids(ws)
			slices.Sort(out)
			slices.Reverse(out)
			return out
		}
		for query, want := range map[string][]string{
			"":                             sorted(alert, failed, all, paused),
			"?status=active":               sorted(alert, failed, all),
			"?status=paused":               sorted(paused),
			"?status=inactive":             {},
			"?status=deleted":              sorted(deleted),
			"?event_type=compliance.alert": sorted(alert, all, paused),
			"?event_type=validation.failed&status=active":  sorted(failed, all),
			"?event_type=report.generated":                 sorted(all),
			"?event_type=compliance.alert&status=deleted":  sorted(deleted),
			"?event_type=validation.failed&status=deleted": {},
		} {
			list := decode[httpapi.WebhookList](t, b.get(t, webhooksPath+query), http.StatusOK)
			require.Equal(t, want, ids(list.Data), "query %q", query)
		}

		list := decode[httpapi.WebhookList](t, b.get(t, webhooksPath+"?status=deleted"), http.StatusOK)
		require.Equal(t, "deleted", list.Data[0].Status)

		r := b.get(t, webhooksPath+"?status=active&event_type=compliance.alert&limit=1")
		list = decode[httpapi.WebhookList](t, r, http.StatusOK)
		require.Equal(t, sorted(alert, all)[:1], ids(list.Data))
		require.Equal(t, `</api/v1/webhooks?cursor=`+list.NextCursor+`&event_type=compliance.alert&limit=1&status=active>; rel="next"`,
			r.header.Get("Link"))
		list = decode[httpapi.WebhookList](t, b.get(t, webhooksPath+"?status=active&event_type=compliance.alert&limit=1&cursor="+list.NextCursor), http.StatusOK)
		require.Equal(t, sorted(alert, all)[1:], ids(list.Data))
	})

	t.Run("InvalidCursor", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		for _, cursor := range []string{"!!!", base64.RawURLEncoding.EncodeToString([]byte("evt_1")), "d2hfMQ=="} {
			p := requireProblem(t, b.get(t, webhooksPath+"?cursor="+cursor), http.StatusBadRequest)
			require.Contains(t, p.Detail, "invalid cursor: pass the next_cursor of the previous page unchanged")
			require.Equal(t, []string{"query.cursor"}, errorLocations(p))
		}
	})

	t.Run("InvalidLimit", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		for _, limit := range []string{"0", "101", "-1"} {
			p := requireProblem(t, b.get(t, webhooksPath+"?limit="+limit), http.StatusUnprocessableEntity)
			require.Equal(t, []string{"query.limit"}, errorLocations(p), limit)
		}
	})
}

func TestAPI_UpdateWebhook(t *testing.T) {
	t.Parallel()

	t.Run("PatchOneField", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Patch", "https://example.com/p", []string{"compliance.alert"}, map[string]any{
			"custom_headers": map[string]string{"X-Team": "a"}, "metadata": map[string]any{"k": "v"},
		})
		r := b.do(t, request{method: http.MethodPatch, path: webhookPath(created.ID), body: map[string]any{"max_retries": 3}})
		got := decode[httpapi.Webhook](t, r, http.StatusOK)
		requireNoKey(t, r.body, "secret")
		require.Equal(t, `"v2"`, r.header.Get("ETag"))
		want := withoutSecret(created)
		want.MaxRetries, want.Version = 3, 2
		want = withSchedule(want)
		require.Equal(t, want, got)
		require.Equal(t, want, decode[httpapi.Webhook](t, b.get(t, webhookPath(created.ID)), http.StatusOK))
	})

	t.Run("PutResetsOmittedFields", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Put", "https://example.com/put", []string{"compliance.alert"}, map[string]any{
			"retry_strategy": "fixed_interval", "max_retries": 9, "retry_delay_seconds": 5, "max_delay_seconds": 50,
			"backoff_multiplier": 3, "jitter_enabled": false, "timeout_seconds": 30, "rate_limit_per_minute": 10,
			"rate_limit_per_hour": 100, "custom_headers": map[string]string{"X-Team": "a"}, "metadata": map[string]any{"k": "v"},
		})
		r := b.do(t, request{method: http.MethodPut, path: webhookPath(created.ID), body: map[string]any{
			"name": "Put 2", "url": "https://example.com/put2", "event_types": []string{"validation.failed"},
		}})
		got := decode[httpapi.Webhook](t, r, http.StatusOK)
		require.Equal(t, `"v2"`, r.header.Get("ETag"))
		want := withSchedule(httpapi.Webhook{
			ID: created.ID, Name: "Put 2", URL: "https://example.com/put2", Status: "active",
			EventTypes: []string{"validation.failed"}, RetryStrategy: "exponential_backoff", MaxRetries: 5,
			RetryDelaySeconds: 60, MaxDelaySeconds: 7200, BackoffMultiplier: 2, JitterEnabled: true,
			TimeoutSeconds: 15, CustomHeaders: map[string]string{}, SecretHeaders: []string{}, Metadata: map[string]any{},
			CreatedAt: testNow, UpdatedAt: testNow, Version: 2,
		})
		require.Equal(t, want, got)
		require.Equal(t, want, decode[httpapi.Webhook](t, b.get(t, webhookPath(created.ID)), http.StatusOK))
	})

	t.Run("IfMatch", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Etag", "https://example.com/etag", []string{"*"}, nil)
		patch := func(ifMatch string, retries int) response {
			return b.do(t, request{
				method: http.MethodPatch, path: webhookPath(created.ID),
				body: map[string]any{"max_retries": retries}, headers: map[string]string{"If-Match": ifMatch},
			})
		}

		r := patch(`"v1"`, 1)
		require.Equal(t, 1, decode[httpapi.Webhook](t, r, http.StatusOK).MaxRetries)
		require.Equal(t, `"v2"`, r.header.Get("ETag"))

		p := requireProblem(t, patch(`"v1"`, 2), http.StatusPreconditionFailed)
		require.Contains(t, p.Detail, "changed since you read it")
		require.NotContains(t, p.Detail, "version", "no internals in the answer")

		r = patch("*", 3)
		require.Equal(t, 3, decode[httpapi.Webhook](t, r, http.StatusOK).MaxRetries)
		require.Equal(t, `"v3"`, r.header.Get("ETag"))

		r = b.do(t, request{
			method: http.MethodPut, path: webhookPath(created.ID), headers: map[string]string{"If-Match": `"v1"`},
			body: map[string]any{"name": "Etag", "url": "https://example.com/etag", "event_types": []string{"*"}},
		})
		requireProblem(t, r, http.StatusPreconditionFailed)
		r = b.do(t, request{method: http.MethodDelete, path: webhookPath(created.ID), headers: map[string]string{"If-Match": `"v1"`}})
		requireProblem(t, r, http.StatusPreconditionFailed)
		r = b.do(t, request{method: http.MethodPost, path: webhookPath(created.ID) + "/pause", headers: map[string]string{"If-Match": `"v1"`}})
		requireProblem(t, r, http.StatusPreconditionFailed)

		got := decode[httpapi.Webhook](t, b.get(t, webhookPath(created.ID)), http.StatusOK)
		require.Equal(t, int64(3), got.Version)
		require.Equal(t, "active", got.Status)
	})

	t.Run("UnknownID", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		for _, method := range []string{http.MethodPatch, http.MethodPut} {
			r := b.do(t, request{method: method, path: webhookPath("wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"), body: map[string]any{
				"name": "x", "url": "https://example.com/x", "event_types": []string{"*"},
			}})
			requireProblem(t, r, http.StatusNotFound)
		}
		r := b.do(t, request{
			method: http.MethodPatch, path: webhookPath("wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"),
			body: map[string]any{"max_retries": 1}, headers: map[string]string{"If-Match": `"v0"`},
		})
		requireProblem(t, r, http.StatusNotFound)
	})

	t.Run("Conflict", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		b.createWebhook(t, "Taken", "https://example.com/taken", []string{"*"}, nil)
		other := b.createWebhook(t, "Other", "https://example.com/other", []string{"*"}, nil)
		r := b.do(t, request{method: http.MethodPatch, path: webhookPath(other.ID), body: map[string]any{"name": "Taken"}})
		requireProblem(t, r, http.StatusConflict)
		r = b.do(t, request{method: http.MethodPatch, path: webhookPath(other.ID), body: map[string]any{"url": "https://example.com/taken"}})
		requireProblem(t, r, http.StatusConflict)
		got := decode[httpapi.Webhook](t, b.get(t, webhookPath(other.ID)), http.StatusOK)
		require.Equal(t, withoutSecret(other), got)
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Valid", "https://example.com/valid", []string{"*"}, nil)
		r := b.do(t, request{method: http.MethodPatch, path: webhookPath(created.ID), body: map[string]any{
			"url": "http://example.com/valid", "event_types": []string{}, "timeout_seconds": 500,
		}})
		p := requireProblem(t, r, http.StatusUnprocessableEntity)
		require.ElementsMatch(t, []string{"body.url", "body.event_types", "body.timeout_seconds"}, errorLocations(p))
		got := decode[httpapi.Webhook](t, b.get(t, webhookPath(created.ID)), http.StatusOK)
		require.Equal(t, withoutSecret(created), got)
	})
}

func TestAPI_DeliveriesOfMissingWebhook(t *testing.T) {
	t.Parallel()
	// Through the real stack: a webhook that never existed or was deleted
	// has no deliveries to list, get or retry.
	_, b := setup(t, nil)
	live := b.createWebhook(t, "Live", "https://example.com/live", []string{"*"}, nil)
	gone := b.createWebhook(t, "Gone", "https://example.com/gone", []string{"*"}, nil)
	require.Equal(t, http.StatusNoContent, b.do(t, request{method: http.MethodDelete, path: webhookPath(gone.ID)}).status)

	list := decode[httpapi.DeliveryList](t, b.get(t, webhookPath(live.ID)+"/deliveries"), http.StatusOK)
	require.Empty(t, list.Data)
	for _, id := range []string{gone.ID, "wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"} {
		for _, req := range []request{
			{method: http.MethodGet, path: webhookPath(id) + "/deliveries"},
			{method: http.MethodGet, path: webhookPath(id) + "/deliveries/dlv_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"},
			{method: http.MethodPost, path: webhookPath(id) + "/retry"},
		} {
			p := requireProblem(t, b.do(t, req), http.StatusNotFound)
			require.Contains(t, p.Detail, id, "%s %s", req.method, req.path)
		}
	}
	// The deleted webhook's deliveries stay listable as a filter.
	list = decode[httpapi.DeliveryList](t, b.get(t, "/api/v1/deliveries?webhook_id="+gone.ID), http.StatusOK)
	require.Empty(t, list.Data)
}

func TestAPI_WebhookCommands(t *testing.T) {
	t.Parallel()

	post := func(t *testing.T, b *testBundle, id, command string, body any) response {
		t.Helper()
		return b.do(t, request{method: http.MethodPost, path: webhookPath(id) + "/" + command, body: body})
	}

	t.Run("PauseResume", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Pause", "https://example.com/pause", []string{"*"}, nil)

		r := post(t, b, created.ID, "pause", nil)
		w := decode[httpapi.Webhook](t, r, http.StatusOK)
		require.Equal(t, "paused", w.Status)
		require.Equal(t, `"v2"`, r.header.Get("ETag"))
		requireNoKey(t, r.body, "secret")
		require.Equal(t, "paused", decode[httpapi.Webhook](t, b.get(t, webhookPath(created.ID)), http.StatusOK).Status)

		r = post(t, b, created.ID, "pause", nil) // already paused: nothing to record
		require.Equal(t, "paused", decode[httpapi.Webhook](t, r, http.StatusOK).Status)
		require.Equal(t, `"v2"`, r.header.Get("ETag"))

		r = post(t, b, created.ID, "resume", nil)
		w = decode[httpapi.Webhook](t, r, http.StatusOK)
		require.Equal(t, "active", w.Status)
		require.Equal(t, int64(3), w.Version)
		require.Equal(t, `"v3"`, r.header.Get("ETag"))
		require.Equal(t, "active", decode[httpapi.Webhook](t, b.get(t, webhookPath(created.ID)), http.StatusOK).Status)
	})

	t.Run("RotateSecret", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Rotate", "https://example.com/rotate", []string{"*"}, nil)

		r := post(t, b, created.ID, "rotate-secret", nil)
		rotated := decode[httpapi.Webhook](t, r, http.StatusOK)
		require.True(t, strings.HasPrefix(rotated.Secret, "whsec_"), rotated.Secret)
		require.NotEqual(t, created.Secret, rotated.Secret)
		require.Equal(t, `"v2"`, r.header.Get("ETag"))

		r = b.get(t, webhookPath(created.ID))
		requireNoKey(t, r.body, "secret")
		require.Equal(t, withoutSecret(rotated), decode[httpapi.Webhook](t, r, http.StatusOK))

		r = post(t, b, created.ID, "rotate-secret", map[string]any{"secret": testSecret, "grace_period_seconds": 0})
		require.Equal(t, testSecret, decode[httpapi.Webhook](t, r, http.StatusOK).Secret)

		r = post(t, b, created.ID, "rotate-secret", map[string]any{"secret": testSecret})
		p := requireProblem(t, r, http.StatusUnprocessableEntity)
		require.Equal(t, []string{"body.secret"}, errorLocations(p))

		r = post(t, b, created.ID, "rotate-secret", map[string]any{"grace_period_seconds": 604801})
		p = requireProblem(t, r, http.StatusUnprocessableEntity)
		require.Equal(t, []string{"body.grace_period_seconds"}, errorLocations(p))
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Delete", "https://example.com/delete", []string{"*"}, nil)

		r := b.do(t, request{method: http.MethodDelete, path: webhookPath(created.ID), headers: map[string]string{"If-Match": `"v1"`}})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		require.Empty(t, r.body)

		requireProblem(t, b.get(t, webhookPath(created.ID)), http.StatusNotFound)
		requireNoWebhooks(t, b)

		for _, req := range []request{
			{method: http.MethodPost, path: webhookPath(created.ID) + "/pause"},
			{method: http.MethodPost, path: webhookPath(created.ID) + "/resume"},
			{method: http.MethodPost, path: webhookPath(created.ID) + "/rotate-secret"},
			{method: http.MethodDelete, path: webhookPath(created.ID)},
			{method: http.MethodPatch, path: webhookPath(created.ID), body: map[string]any{"max_retries": 1}},
			{method: http.MethodPut, path: webhookPath(created.ID), body: map[string]any{
				"name": "Delete", "url": "https://example.com/delete", "event_types": []string{"*"},
			}},
		} {
			r := b.do(t, req)
			p := requireProblem(t, r, http.StatusNotFound)
			require.Contains(t, p.Detail, created.ID, "%s %s", req.method, req.path)
		}
	})

	t.Run("UnknownID", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		for _, command := range []string{"pause", "resume", "rotate-secret"} {
			requireProblem(t, post(t, b, "wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC", command, nil), http.StatusNotFound)
		}
		requireProblem(t, b.get(t, webhookPath("wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC")), http.StatusNotFound)
		r := b.do(t, request{method: http.MethodDelete, path: webhookPath("wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC")})
		requireProblem(t, r, http.StatusNotFound)
	})
}

// patchConcurrently sends the same PATCH (with max_retries = writer index)
// from n goroutines at once and returns how many got each status.
func patchConcurrently(t *testing.T, b *testBundle, id string, n int, headers map[string]string) map[int]int {
	t.Helper()
	type result struct {
		status int
		err    error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := b.send(t.Context(), request{
				method: http.MethodPatch, path: webhookPath(id), body: map[string]any{"max_retries": i}, headers: headers,
			})
			results <- result{r.status, err}
		})
	}
	wg.Wait()
	close(results)
	counts := map[int]int{}
	for r := range results {
		require.NoError(t, r.err)
		counts[r.status]++
	}
	return counts
}

func TestAPI_ConcurrentWrites(t *testing.T) {
	t.Parallel()
	const writers = 8

	t.Run("WithoutIfMatchAllApply", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Busy", "https://example.com/busy", []string{"*"}, nil)
		counts := patchConcurrently(t, b, created.ID, writers, nil)
		require.Equal(t, map[int]int{http.StatusOK: writers}, counts)
		got := decode[httpapi.Webhook](t, b.get(t, webhookPath(created.ID)), http.StatusOK)
		require.Equal(t, int64(1+writers), got.Version)
	})

	t.Run("SameIfMatchOneWins", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, nil)
		created := b.createWebhook(t, "Race", "https://example.com/race", []string{"*"}, nil)
		counts := patchConcurrently(t, b, created.ID, writers, map[string]string{"If-Match": `"v1"`})
		require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusPreconditionFailed: writers - 1}, counts)
		got := decode[httpapi.Webhook](t, b.get(t, webhookPath(created.ID)), http.StatusOK)
		require.Equal(t, int64(2), got.Version)
	})
}

// TestAPI_IfMatch follows RFC 9110 strictly: entity tags are opaque and
// quoted, weak tags never match a change, a tag that is not ours is a 412,
// and a header that is not an entity-tag list at all is a 400.
func TestAPI_IfMatch(t *testing.T) {
	t.Parallel()
	// Every case runs on its own webhook at version 1, so the cases can
	// share one server.
	_, b := setup(t, nil)
	var mu sync.Mutex
	n := 0
	fresh := func(t *testing.T) httpapi.Webhook {
		t.Helper()
		mu.Lock()
		n++
		name := fmt.Sprintf("ifmatch-%d", n)
		mu.Unlock()
		return b.createWebhook(t, name, "https://example.com/"+name, []string{"*"}, nil)
	}
	commands := map[string]func(id string) request{
		"Patch": func(id string) request {
			return request{method: http.MethodPatch, path: webhookPath(id), body: map[string]any{"max_retries": 1}}
		},
		"Put": func(id string) request {
			return request{method: http.MethodPut, path: webhookPath(id), body: map[string]any{"max_retries": 1}}
		},
		"Delete": func(id string) request { return request{method: http.MethodDelete, path: webhookPath(id)} },
		"Pause":  func(id string) request { return request{method: http.MethodPost, path: webhookPath(id) + "/pause"} },
		"Rotate": func(id string) request {
			return request{method: http.MethodPost, path: webhookPath(id) + "/rotate-secret"}
		},
	}
	for _, tc := range []struct {
		name    string
		ifMatch string
		status  int
	}{
		{"Current", `"v1"`, 0},
		{"Star", `*`, 0},
		{"ListWithCurrent", `"v7", "v1"`, 0},
		{"ListWithCurrentAndForeign", `"abc",W/"v1", "v1"`, 0},
		{"EmptyElementsIgnored", `, "v1",`, 0},
		{"Stale", `"v2"`, http.StatusPreconditionFailed},
		{"StaleList", `"v2", "v3"`, http.StatusPreconditionFailed},
		{"Foreign", `"abc"`, http.StatusPreconditionFailed},
		{"ForeignLooksLikeOurs", `"v01"`, http.StatusPreconditionFailed},
		{"ForeignNegative", `"v-1"`, http.StatusPreconditionFailed},
		{"ForeignBareV", `"v"`, http.StatusPreconditionFailed},
		{"EmptyTag", `""`, http.StatusPreconditionFailed},
		{"Weak", `W/"v1"`, http.StatusPreconditionFailed},
		{"Empty", ``, http.StatusBadRequest},
		{"Blank", `   `, http.StatusBadRequest},
		{"OnlyCommas", `,,`, http.StatusBadRequest},
		{"Unquoted", `v1`, http.StatusBadRequest},
		{"UnquotedNumber", `1`, http.StatusBadRequest},
		{"Unterminated", `"v1`, http.StatusBadRequest},
		{"LowercaseWeak", `w/"v1"`, http.StatusBadRequest},
		{"StarInList", `*, "v1"`, http.StatusBadRequest},
		{"JunkAfterTag", `"v1"x`, http.StatusBadRequest},
		{"SpaceInTag", `"v 1"`, http.StatusBadRequest},
		{"Garbage", `yesterday`, http.StatusBadRequest},
	} {
		for cmd, req := range commands {
			t.Run(tc.name+"/"+cmd, func(t *testing.T) {
				t.Parallel()
				w := fresh(t)
				rq := req(w.ID)
				rq.headers = map[string]string{"If-Match": tc.ifMatch}
				if tc.ifMatch == "" {
					// do removes a header mapped to ""; a blank value
					// reaches the server as an empty one.
					rq.headers = map[string]string{"If-Match": " "}
				}
				r := b.do(t, rq)
				if tc.status == 0 {
					require.Less(t, r.status, 300, "body: %s", r.body)
					return
				}
				p := requireProblem(t, r, tc.status)
				if tc.status == http.StatusBadRequest {
					require.Equal(t, []string{"header.If-Match"}, errorLocations(p))
				}
				for _, internal := range []string{"stream", "expected", "actual", "version"} {
					require.NotContains(t, strings.ToLower(p.Detail), internal, "no internals in the answer")
				}
				got := decode[httpapi.Webhook](t, b.get(t, webhookPath(w.ID)), http.StatusOK)
				require.Equal(t, int64(1), got.Version, "a refused command changes nothing")
			})
		}
	}

	t.Run("UnknownWebhook", func(t *testing.T) {
		t.Parallel()
		// A precondition is not evaluated when the answer without it would
		// be a 404 (RFC 9110 §13.2.1).
		for _, ifMatch := range []string{`"v1"`, `"v7"`, `"abc"`, `W/"v1"`, `"v1", "v2"`, "*"} {
			for cmd, req := range commands {
				rq := req("wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC")
				rq.headers = map[string]string{"If-Match": ifMatch}
				requireProblem(t, b.do(t, rq), http.StatusNotFound)
				_ = cmd
			}
		}
	})

	t.Run("DeletedWebhook", func(t *testing.T) {
		t.Parallel()
		w := fresh(t)
		r := b.do(t, request{method: http.MethodDelete, path: webhookPath(w.ID)})
		require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
		for cmd, req := range commands {
			rq := req(w.ID)
			rq.headers = map[string]string{"If-Match": `"v1"`}
			requireProblem(t, b.do(t, rq), http.StatusNotFound)
			_ = cmd
		}
	})

	t.Run("SeveralHeaderLines", func(t *testing.T) {
		t.Parallel()
		w := fresh(t)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.server.URL+webhookPath(w.ID)+"/pause", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Add("If-Match", `"v5"`)
		req.Header.Add("If-Match", `"v1"`)
		res, err := b.server.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, http.StatusOK, res.StatusCode)
	})
}

func TestAPI_ErrorBodiesEchoNoSecrets(t *testing.T) {
	t.Parallel()
	// An error body helps a client find its mistake without repeating its
	// secrets or its whole request back (probe finding: a 422 returned the
	// body, secrets included, up to 256 KiB).
	_, b := setup(t, nil)
	const secretValue = "supersecret-credential-4711"
	secretBody := func(extra string) string {
		return `{"name": "Echo", "url": "https://example.com/echo", "event_types": ["*"], "secret": "` + testSecret +
			`", "custom_headers": {"Authorization": "Bearer ` + secretValue + `"}` + extra + `}`
	}
	for name, c := range map[string]struct {
		body     string
		status   int
		location string
	}{
		"UnknownField":      {secretBody(`, "colour": "red"`), http.StatusUnprocessableEntity, "body.colour"},
		"UnknownNested":     {secretBody(`, "metadata": {"k": "v"}, "extra": {"nested": "` + secretValue + `"}`), http.StatusUnprocessableEntity, "body.extra"},
		"NotJSON":           {secretBody(`,`), http.StatusBadRequest, "body"},
		"Truncated":         {secretBody("")[:120], http.StatusBadRequest, "body"},
		"SecretWrongType":   {`{"name": "Echo", "url": "https://example.com/echo", "event_types": ["*"], "secret": ["` + secretValue + `"]}`, http.StatusUnprocessableEntity, "body.secret"},
		"HeaderWrongType":   {`{"name": "Echo", "url": "https://example.com/echo", "event_types": ["*"], "custom_headers": {"X-Key": ["` + secretValue + `"]}}`, http.StatusUnprocessableEntity, "body.custom_headers.X-Key"},
		"HeaderWithNewline": {`{"name": "Echo", "url": "https://example.com/echo", "event_types": ["*"], "custom_headers": {"X-Key": "` + secretValue + `\r\nHost: evil"}}`, http.StatusUnprocessableEntity, "body.custom_headers.X-Key"},
		"SecretInvalid":     {`{"name": "Echo", "url": "https://example.com/echo", "event_types": ["*"], "secret": "whsec_` + secretValue + `"}`, http.StatusUnprocessableEntity, "body.secret"},
	} {
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: c.body})
		p := requireProblem(t, r, c.status)
		require.Contains(t, errorLocations(p), c.location, name)
		require.NotContains(t, string(r.body), secretValue, name)
		require.NotContains(t, string(r.body), testSecret, name)
		require.Less(t, len(r.body), 1024, "%s: %s", name, r.body)
	}

	// A non-secret string is echoed, capped.
	r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: validBody(map[string]any{"name": strings.Repeat("n", 300)})})
	p := requireProblem(t, r, http.StatusUnprocessableEntity)
	require.Equal(t, []string{"body.name"}, errorLocations(p))
	require.Equal(t, strings.Repeat("n", 200)+"…", p.Errors[0].Value)
	// An oversized, deeply nested body is refused without being echoed.
	r = b.do(t, request{method: http.MethodPost, path: webhooksPath, body: strings.Repeat("[", 10001)})
	requireProblem(t, r, http.StatusBadRequest)
	require.Less(t, len(r.body), 1024, "body: %s", r.body)
}

func TestAPI_BodyEncodingAndNumbers(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)
	// JSON is UTF-8: invalid bytes are refused, not replaced with U+FFFD
	// and stored.
	r := b.do(t, request{
		method: http.MethodPost, path: webhooksPath,
		body: "{\"name\": \"a\xffb\", \"url\": \"https://example.com/utf8\", \"event_types\": [\"*\"]}",
	})
	p := requireProblem(t, r, http.StatusBadRequest)
	require.Contains(t, p.Errors[0].Message, "not valid UTF-8")
	requireNoWebhooks(t, b)

	// Numbers that do not fit are refused in the API's terms, never Go's.
	for body, location := range map[string]string{
		`{"name": "n", "url": "https://example.com/n", "event_types": ["*"], "retry_delay_seconds": 1e300}`: "body.retry_delay_seconds",
		`{"name": "n", "url": "https://example.com/n", "event_types": ["*"], "max_delay_seconds": 1e19}`:    "body.max_delay_seconds",
		`{"name": "n", "url": "https://example.com/n", "event_types": ["*"], "timeout_seconds": -1e19}`:     "body.timeout_seconds",
		`{"name": "n", "url": "https://example.com/n", "event_types": ["*"], "backoff_multiplier": 1e400}`:  "body",
	} {
		r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: body})
		require.Contains(t, []int{http.StatusBadRequest, http.StatusUnprocessableEntity}, r.status, "body: %s", r.body)
		p := requireProblem(t, r, r.status)
		require.Contains(t, errorLocations(p), location, body)
		require.NotContains(t, string(r.body), "Go ", body)
		require.NotContains(t, string(r.body), "float64", body)
	}
	requireNoWebhooks(t, b)
}

func TestAPI_RetrySchedulePreview(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)

	// The defaults: exponential from 60 s, doubling, ±20 % jitter.
	created := b.createWebhook(t, "Preview", "https://example.com/preview", []string{"*"}, nil)
	r := b.get(t, webhookPath(created.ID))
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(decodeRaw(t, r), &raw))
	require.JSONEq(t, `[
		{"retry": 1, "delay_seconds": 60, "min_delay_seconds": 48, "max_delay_seconds": 72, "after_seconds": 60, "after_min_seconds": 48, "after_max_seconds": 72},
		{"retry": 2, "delay_seconds": 120, "min_delay_seconds": 96, "max_delay_seconds": 144, "after_seconds": 180, "after_min_seconds": 144, "after_max_seconds": 216},
		{"retry": 3, "delay_seconds": 240, "min_delay_seconds": 192, "max_delay_seconds": 288, "after_seconds": 420, "after_min_seconds": 336, "after_max_seconds": 504},
		{"retry": 4, "delay_seconds": 480, "min_delay_seconds": 384, "max_delay_seconds": 576, "after_seconds": 900, "after_min_seconds": 720, "after_max_seconds": 1080},
		{"retry": 5, "delay_seconds": 960, "min_delay_seconds": 768, "max_delay_seconds": 1152, "after_seconds": 1860, "after_min_seconds": 1488, "after_max_seconds": 2232}
	]`, string(raw["retry_schedule_preview"]))

	// Linear without jitter, capped by max_delay_seconds.
	r = b.do(t, request{method: http.MethodPatch, path: webhookPath(created.ID), body: map[string]any{
		"retry_strategy": "linear_backoff", "max_retries": 3, "retry_delay_seconds": 30, "max_delay_seconds": 70, "jitter_enabled": false,
	}})
	got := decode[httpapi.Webhook](t, r, http.StatusOK)
	require.Equal(t, []httpapi.ScheduledRetry{
		{Retry: 1, DelaySeconds: 30, MinDelaySeconds: 30, MaxDelaySeconds: 30, AfterSeconds: 30, AfterMinSeconds: 30, AfterMaxSeconds: 30},
		{Retry: 2, DelaySeconds: 60, MinDelaySeconds: 60, MaxDelaySeconds: 60, AfterSeconds: 90, AfterMinSeconds: 90, AfterMaxSeconds: 90},
		{Retry: 3, DelaySeconds: 70, MinDelaySeconds: 70, MaxDelaySeconds: 70, AfterSeconds: 160, AfterMinSeconds: 160, AfterMaxSeconds: 160},
	}, got.RetrySchedulePreview)

	// no_retry: an empty list, not null.
	r = b.do(t, request{method: http.MethodPatch, path: webhookPath(created.ID), body: map[string]any{"retry_strategy": "no_retry"}})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.NoError(t, json.Unmarshal(r.body, &raw))
	require.JSONEq(t, `[]`, string(raw["retry_schedule_preview"]))
}

func decodeRaw(t *testing.T, r response) []byte {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	return r.body
}
