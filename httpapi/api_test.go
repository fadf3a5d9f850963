package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/projections"
)

const (
	testKey     = "test-key-0123456789"
	problemJSON = "application/problem+json"
)

// testNow is the API's fixed clock: every timestamp the API writes is this.
var testNow = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

type testBundle struct {
	api    *httpapi.API
	pool   *pgxpool.Pool
	server *httptest.Server
}

// setup builds the real stack (event store with the webhooks projection,
// the webhook use cases, API) on an isolated schema and serves it over real
// HTTP, so ServeMux routing and body limits are exercised. cfg may adjust
// the API's and the use cases' Config.
func setup(t *testing.T, cfg func(*httpapi.Config, *app.Config)) (*httpapi.API, *testBundle) {
	t.Helper()
	pool := dbtest.Pool(t, nil)
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	events := eventstore.New(pool, eventstore.Config{Logger: logger, Inline: []eventstore.InlineProjector{
		{StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project},
		{StreamTypes: []string{domain.IntegrationStreamType}, Project: projections.Integrations{}.Project},
	}})
	c := httpapi.Config{APIKeys: []string{testKey}, Logger: logger}
	ac := app.Config{NowFunc: func() time.Time { return testNow }, Logger: logger}
	if cfg != nil {
		cfg(&c, &ac)
	}
	hooks := app.NewWebhooks(pool, events, nil, nil, ac)
	api := httpapi.New(httpapi.Deps{
		Webhooks: hooks, Events: app.NewEvents(pool, ac),
		Deliveries: app.NewDeliveries(pool, nil), Integrations: app.NewIntegrations(pool, events, nil, nil, ac),
		Analytics: app.NewAnalytics(pool), History: hooks,
	}, c)
	server := httptest.NewServer(api)
	t.Cleanup(server.Close)
	return api, &testBundle{api: api, pool: pool, server: server}
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request describes one request. Unless set, Authorization carries testKey
// and a body gets Content-Type application/json; a header mapped to "" is
// removed.
type request struct {
	method  string
	path    string
	body    any // nil: no body; string or []byte: sent as is; else JSON-encoded
	headers map[string]string
}

func (b *testBundle) do(t *testing.T, r request) response {
	t.Helper()
	res, err := b.send(t.Context(), r)
	require.NoError(t, err)
	return res
}

// send is do without a *testing.T, for use from other goroutines.
func (b *testBundle) send(ctx context.Context, r request) (response, error) {
	var body io.Reader
	switch v := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	case []byte:
		body = bytes.NewReader(v)
	default:
		buf, err := json.Marshal(v)
		if err != nil {
			return response{}, err
		}
		body = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, b.server.URL+r.path, body)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := b.server.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, header: res.Header, body: raw}, nil
}

func (b *testBundle) get(t *testing.T, path string) response {
	t.Helper()
	return b.do(t, request{method: http.MethodGet, path: path})
}

// decode requires status and a JSON body, and decodes it into T.
func decode[T any](t *testing.T, r response, status int) T {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	var v T
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// requireProblem requires an RFC 9457 problem with the given status.
func requireProblem(t *testing.T, r response, status int) huma.ErrorModel {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Equal(t, problemJSON, r.header.Get("Content-Type"), "body: %s", r.body)
	p := decode[huma.ErrorModel](t, r, status)
	require.Equal(t, status, p.Status)
	require.Equal(t, http.StatusText(status), p.Title)
	return p
}

// errorLocations lists the locations of a problem's details.
func errorLocations(p huma.ErrorModel) []string {
	out := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		out = append(out, e.Location)
	}
	return out
}

// createWebhook creates a webhook with the given name, url and event types
// (plus extra fields) and returns it.
func (b *testBundle) createWebhook(t *testing.T, name, url string, eventTypes []string, extra map[string]any) httpapi.Webhook {
	t.Helper()
	body := map[string]any{"name": name, "url": url, "event_types": eventTypes}
	for k, v := range extra {
		body[k] = v
	}
	r := b.do(t, request{method: http.MethodPost, path: "/api/v1/webhooks", body: body})
	return decode[httpapi.Webhook](t, r, http.StatusCreated)
}

// pathParam matches a path parameter of an OpenAPI path.
var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// apiRoutes returns every operation under /api from the served OpenAPI
// document as "METHOD /path" with path parameters filled in.
func apiRoutes(t *testing.T, api *httpapi.API) []string {
	t.Helper()
	var out []string
	for path, item := range api.OpenAPI().Paths {
		if !strings.HasPrefix(path, "/api/") {
			continue
		}
		concrete := strings.NewReplacer("{webhook_id}", "wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC", "{type}", "compliance.alert").Replace(path)
		concrete = pathParam.ReplaceAllString(concrete, "unknown_1")
		for method, op := range map[string]*huma.Operation{
			http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
			http.MethodPatch: item.Patch, http.MethodDelete: item.Delete,
		} {
			if op != nil {
				out = append(out, method+" "+concrete)
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

func TestAPI_Auth(t *testing.T) {
	t.Parallel()
	// The subtests only read (every write they send is refused), so they
	// share one server.
	api, b := setup(t, nil)

	t.Run("MissingKeyEveryRoute", func(t *testing.T) {
		t.Parallel()
		for _, route := range apiRoutes(t, api) {
			method, path, _ := strings.Cut(route, " ")
			r := b.do(t, request{method: method, path: path, headers: map[string]string{"Authorization": ""}})
			p := requireProblem(t, r, http.StatusUnauthorized)
			require.Equal(t, `Bearer realm="lokihooks"`, r.header.Get("WWW-Authenticate"), route)
			require.Contains(t, p.Detail, "missing bearer token", route)
		}
	})

	t.Run("WrongKeyEveryRoute", func(t *testing.T) {
		t.Parallel()
		for _, route := range apiRoutes(t, api) {
			method, path, _ := strings.Cut(route, " ")
			for _, auth := range []string{"Bearer wrong-key-0123456789", "Bearer " + testKey + "x", "Basic " + testKey, testKey, "Bearer "} {
				r := b.do(t, request{method: method, path: path, headers: map[string]string{"Authorization": auth}})
				p := requireProblem(t, r, http.StatusUnauthorized)
				require.Equal(t, `Bearer realm="lokihooks"`, r.header.Get("WWW-Authenticate"), route)
				require.Equal(t, "invalid API key", p.Detail, "%s with %q", route, auth)
			}
		}
	})

	t.Run("RightKeyEveryRoute", func(t *testing.T) {
		t.Parallel()
		for _, route := range apiRoutes(t, api) {
			method, path, _ := strings.Cut(route, " ")
			r := b.do(t, request{method: method, path: path})
			require.NotEqual(t, http.StatusUnauthorized, r.status, "%s: %s", route, r.body)
			require.Less(t, r.status, http.StatusInternalServerError, "%s: %s", route, r.body)
		}
	})

	t.Run("RightKey", func(t *testing.T) {
		t.Parallel()
		for _, auth := range []string{"Bearer " + testKey, "bearer " + testKey, "BEARER  " + testKey} {
			r := b.do(t, request{method: http.MethodGet, path: "/api/v1/webhooks", headers: map[string]string{"Authorization": auth}})
			decode[httpapi.WebhookList](t, r, http.StatusOK)
			require.Empty(t, r.header.Get("WWW-Authenticate"))
		}
	})

	t.Run("SecondKey", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, func(c *httpapi.Config, _ *app.Config) { c.APIKeys = []string{testKey, "second-key-0123456789"} })
		r := b.do(t, request{method: http.MethodGet, path: "/api/v1/event-types", headers: map[string]string{"Authorization": "Bearer second-key-0123456789"}})
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	})

	t.Run("PublicRoutes", func(t *testing.T) {
		t.Parallel()
		for path, contentType := range map[string]string{
			"/healthz":          "application/json",
			"/readyz":           "application/json",
			"/openapi.json":     "application/openapi+json",
			"/openapi.yaml":     "application/openapi+yaml",
			"/openapi-3.0.json": "application/openapi+json",
		} {
			r := b.do(t, request{method: http.MethodGet, path: path, headers: map[string]string{"Authorization": ""}})
			require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
			require.Equal(t, contentType, r.header.Get("Content-Type"), path)
			require.Empty(t, r.header.Get("WWW-Authenticate"), path)
		}
	})
}

func TestAPI_Health(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil) // read-only subtests share one server

	t.Run("Healthz", func(t *testing.T) {
		t.Parallel()
		body := decode[httpapi.HealthBody](t, b.get(t, "/healthz"), http.StatusOK)
		require.Equal(t, httpapi.HealthBody{Status: "ok"}, body)
	})

	t.Run("ReadyzWithoutReadiness", func(t *testing.T) {
		t.Parallel()
		body := decode[httpapi.HealthBody](t, b.get(t, "/readyz"), http.StatusOK)
		require.Equal(t, httpapi.HealthBody{Status: "ok"}, body)
	})
}

func TestAPI_OpenAPI(t *testing.T) {
	t.Parallel()
	api, b := setup(t, nil)

	// Every operation states its security: the bearer key under /api, an
	// explicit "none" elsewhere.
	for path, item := range api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			want := []map[string][]string{{}}
			if strings.HasPrefix(path, "/api/") {
				want = []map[string][]string{{"bearer": {}}}
			}
			require.Equal(t, want, op.Security, "%s %s", op.Method, path)
		}
	}

	r := b.get(t, "/openapi.json")
	spec := decode[map[string]any](t, r, http.StatusOK)
	require.Equal(t, "3.1.0", spec["openapi"])
	require.Contains(t, spec["paths"], "/api/v1/webhooks")

	r = b.get(t, "/openapi-3.0.json")
	spec = decode[map[string]any](t, r, http.StatusOK)
	require.Equal(t, "3.0.3", spec["openapi"])

	r = b.get(t, "/openapi.yaml")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), "openapi: 3.1.0")
}

func TestAPI_EventTypes(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil) // read-only subtests share one server

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		list := decode[httpapi.EventTypeList](t, b.get(t, "/api/v1/event-types"), http.StatusOK)
		names := make([]string, 0, len(list.Data))
		for _, et := range list.Data {
			names = append(names, et.Name)
			require.NotEmpty(t, et.Description, et.Name)
			require.NotEmpty(t, et.Schema, et.Name)
			require.NotEmpty(t, et.Example, et.Name)
		}
		require.Equal(t, []string{
			"batch.completed", "compliance.alert", "correction.applied", "document.processed",
			"report.generated", "system.error", "validation.completed", "validation.failed", "webhook.test",
		}, names)
	})

	t.Run("Get", func(t *testing.T) {
		t.Parallel()
		r := b.get(t, "/api/v1/event-types/compliance.alert")
		raw := decode[map[string]json.RawMessage](t, r, http.StatusOK)
		require.JSONEq(t, `"compliance.alert"`, string(raw["name"]))
		for _, key := range []string{"schema", "example"} {
			var obj map[string]any
			require.NoError(t, json.Unmarshal(raw[key], &obj), "%s must be an object: %s", key, raw[key])
			require.NotEmpty(t, obj, key)
		}
		et := decode[httpapi.EventType](t, r, http.StatusOK)
		require.Equal(t, "object", et.Schema["type"])
	})

	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		p := requireProblem(t, b.get(t, "/api/v1/event-types/nope.nothing"), http.StatusNotFound)
		require.Contains(t, p.Detail, "nope.nothing")
	})
}

func TestAPI_Routing(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil) // read-only subtests share one server

	t.Run("UnknownPath", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/", "/api", "/api/v2/webhooks", "/api/v1/webhooks/", "/api/v1/event-types/", "/nope"} {
			p := requireProblem(t, b.get(t, path), http.StatusNotFound)
			require.Equal(t, "no such route: "+path, p.Detail)
		}
	})

	t.Run("WrongMethod", func(t *testing.T) {
		t.Parallel()
		r := b.do(t, request{method: http.MethodDelete, path: "/api/v1/webhooks"})
		p := requireProblem(t, r, http.StatusMethodNotAllowed)
		require.Equal(t, "method DELETE is not allowed here", p.Detail)
		require.Equal(t, "GET, POST", r.header.Get("Allow"))

		r = b.do(t, request{method: http.MethodPost, path: "/api/v1/webhooks/wh_x"})
		requireProblem(t, r, http.StatusMethodNotAllowed)
		require.Equal(t, "GET, PUT, PATCH, DELETE", r.header.Get("Allow"))
	})
}
