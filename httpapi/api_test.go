package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
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
			require.Equal(t, "missing API key: send the header Authorization: Bearer <api key>", p.Detail, route)
		}
	})

	t.Run("WrongKeyEveryRoute", func(t *testing.T) {
		t.Parallel()
		// Each refusal says what is wrong and what to send instead, and
		// never echoes the key.
		const want = ": send the header Authorization: Bearer <api key>"
		for auth, detail := range map[string]string{
			"Bearer wrong-key-0123456789":      "invalid API key: it is not one of the keys this server accepts (LOKIHOOKS_API_KEYS); check it for typos and stray characters, or ask the operator for a key",
			"Bearer " + testKey + "x":          "invalid API key: it is not one of the keys this server accepts (LOKIHOOKS_API_KEYS); check it for typos and stray characters, or ask the operator for a key",
			testKey:                            "the Authorization header is missing the Bearer prefix" + want,
			"Bearer ":                          "the Authorization header has the Bearer prefix but no API key after it" + want,
			"Basic " + testKey:                 `the Authorization scheme "Basic" is not supported` + want,
			"Bearer" + strings.Repeat("x", 30): "the Authorization header is missing the Bearer prefix" + want,
			`"quoted" ` + testKey:              "the Authorization header is not a bearer key" + want,
		} {
			for _, route := range apiRoutes(t, api) {
				method, path, _ := strings.Cut(route, " ")
				r := b.do(t, request{method: method, path: path, headers: map[string]string{"Authorization": auth}})
				p := requireProblem(t, r, http.StatusUnauthorized)
				require.Equal(t, `Bearer realm="lokihooks"`, r.header.Get("WWW-Authenticate"), route)
				require.Equal(t, detail, p.Detail, "%s with %q", route, auth)
				require.NotContains(t, string(r.body), testKey)
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
				for _, status := range []string{"400", "401", "422", "429"} {
					require.Contains(t, op.Responses, status, "%s %s documents %s", op.Method, path, status)
				}
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
			require.Equal(t, "no such route: "+path+" (the API is under /api/v1; GET /openapi.json describes every route)", p.Detail)
		}
	})

	t.Run("WrongMethod", func(t *testing.T) {
		t.Parallel()
		r := b.do(t, request{method: http.MethodDelete, path: "/api/v1/webhooks"})
		p := requireProblem(t, r, http.StatusMethodNotAllowed)
		require.Equal(t, "method DELETE is not allowed here; use GET, POST", p.Detail)
		require.Equal(t, "GET, POST", r.header.Get("Allow"))

		r = b.do(t, request{method: http.MethodPost, path: "/api/v1/webhooks/wh_x"})
		requireProblem(t, r, http.StatusMethodNotAllowed)
		require.Equal(t, "GET, PUT, PATCH, DELETE", r.header.Get("Allow"))
	})
}

// rawRequest writes head (a request line and headers, without the blank
// line) and an incomplete body on a new connection, then reads the answer
// within wait. It returns the status line and whether the server closed
// the connection after answering.
func (b *testBundle) rawRequest(t *testing.T, head string, wait time.Duration) (status string, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.server.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, head+"\r\n\r\n"+`{"name": "slow`)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "no answer within %s", wait)
	_, err = io.Copy(io.Discard, res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	return res.Status, res.Close
}

func TestAPI_SlowUnauthenticatedBody(t *testing.T) {
	t.Parallel()
	// A client without a key that announces a body and sends it slowly is
	// answered from its headers alone, at once, and its connection closed:
	// it cannot hold a connection for the body timeout.
	_, b := setup(t, nil)
	for _, head := range []string{
		"POST /api/v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000",
		"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked",
		"PATCH /api/v1/webhooks/wh_1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-key-0123456789\r\nContent-Length: 100000",
		"POST /api/v1/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 100000",
	} {
		status, closed := b.rawRequest(t, head, 2*time.Second)
		require.Equal(t, "401 Unauthorized", status, head)
		require.True(t, closed, "the connection must be closed: %s", head)
	}
	// Routes that need no key answer before the body too.
	status, closed := b.rawRequest(t, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000", 2*time.Second)
	require.Equal(t, "405 Method Not Allowed", status)
	require.True(t, closed)
}

func TestAPI_InvalidQueryString(t *testing.T) {
	t.Parallel()
	// Huma drops query pairs it cannot parse; a filter or cursor with a bad
	// escape must be refused instead of ignored.
	api, b := setup(t, nil)
	routes := append(apiRoutes(t, api), "GET /healthz", "GET /openapi.json")
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		for _, query := range []string{"cursor=%%%", "event_type=%%%", "limit=1&status=%zz", "a=1;b=2", "%"} {
			r := b.do(t, request{method: method, path: path + "?" + query})
			p := requireProblem(t, r, http.StatusBadRequest)
			require.Contains(t, p.Detail, "the query string is not valid", "%s?%s", route, query)
		}
	}
}

func TestAPI_SecurityHeaders(t *testing.T) {
	t.Parallel()
	api, b := setup(t, nil)
	created := b.createWebhook(t, "Headers", "https://example.com/headers", []string{"*"}, nil)
	check := func(t *testing.T, r response, what string, cache string) {
		t.Helper()
		require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), what)
		require.Equal(t, "DENY", r.header.Get("X-Frame-Options"), what)
		require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"), what)
		require.Equal(t, cache, r.header.Get("Cache-Control"), what)
	}
	for _, route := range apiRoutes(t, api) {
		method, path, _ := strings.Cut(route, " ")
		for _, auth := range []string{"Bearer " + testKey, ""} {
			r := b.do(t, request{method: method, path: path, headers: map[string]string{"Authorization": auth}})
			check(t, r, route, "no-store")
		}
	}
	check(t, b.get(t, webhookPath(created.ID)), "get", "no-store")
	for path, cache := range map[string]string{
		"/healthz": "no-store", "/readyz": "no-store", "/openapi.json": "no-cache", "/nope": "no-cache",
	} {
		check(t, b.get(t, path), path, cache)
	}
	check(t, b.do(t, request{method: http.MethodDelete, path: "/openapi.json"}), "405", "no-cache")

	// The answers that carry a signing secret say so in their own right.
	r := b.do(t, request{method: http.MethodPost, path: webhooksPath, body: validBody(map[string]any{"name": "Secret", "url": "https://example.com/secret"})})
	require.Equal(t, http.StatusCreated, r.status)
	check(t, r, "create", "no-store")
	r = b.do(t, request{method: http.MethodPost, path: webhookPath(created.ID) + "/rotate-secret"})
	require.Equal(t, http.StatusOK, r.status)
	check(t, r, "rotate", "no-store")
}

func TestAPI_HumaMessagesSayWhatToDo(t *testing.T) {
	t.Parallel()
	_, b := setup(t, nil)
	for _, c := range []struct {
		req    request
		status int
		detail string
	}{
		{
			request{method: http.MethodPost, path: webhooksPath, body: validBody(map[string]any{"max_retries": "5"})},
			http.StatusUnprocessableEntity,
			"the request is not valid: errors lists each problem and where it is",
		},
		{
			request{method: http.MethodPost, path: webhooksPath, body: `{"name": "` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`},
			http.StatusRequestEntityTooLarge,
			"the request body is larger than 256 KiB: send a smaller one",
		},
		{
			request{method: http.MethodPost, path: webhooksPath, body: "<webhook/>", headers: map[string]string{"Content-Type": "application/xml"}},
			http.StatusUnsupportedMediaType,
			"the request body must be JSON: send it with Content-Type: application/json",
		},
		{
			request{method: http.MethodPost, path: webhooksPath, body: ""},
			http.StatusBadRequest,
			"this operation needs a JSON request body",
		},
	} {
		p := requireProblem(t, b.do(t, c.req), c.status)
		require.Equal(t, c.detail, p.Detail)
	}
}

func TestAPI_RateLimit(t *testing.T) {
	t.Parallel()
	const secondKey = "second-key-0123456789"
	var mu sync.Mutex
	now := testNow
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	_, b := setup(t, func(c *httpapi.Config, _ *app.Config) {
		c.APIKeys = []string{testKey, secondKey}
		c.RateLimit = httpapi.RateLimit{PerSecond: 2, Burst: 3}
		c.NowFunc = clock
	})
	get := func(key string) response {
		return b.do(t, request{method: http.MethodGet, path: "/api/v1/event-types", headers: map[string]string{"Authorization": "Bearer " + key}})
	}

	for range 3 {
		require.Equal(t, http.StatusOK, get(testKey).status)
	}
	r := get(testKey)
	p := requireProblem(t, r, http.StatusTooManyRequests)
	require.Equal(t, "1", r.header.Get("Retry-After"))
	require.Contains(t, p.Detail, "retry after 1 s")
	require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))

	// Each key has its own budget; routes without a key have none.
	require.Equal(t, http.StatusOK, get(secondKey).status)
	require.Equal(t, http.StatusOK, b.get(t, "/healthz").status)
	// An unknown key is refused before it costs anyone a token.
	for range 5 {
		requireProblem(t, get("wrong-key-0123456789"), http.StatusUnauthorized)
	}

	// Half a second refills one token at 2 per second.
	advance(500 * time.Millisecond)
	require.Equal(t, http.StatusOK, get(testKey).status)
	requireProblem(t, get(testKey), http.StatusTooManyRequests)
	advance(10 * time.Second) // refills to the burst, no further
	for range 3 {
		require.Equal(t, http.StatusOK, get(testKey).status)
	}
	requireProblem(t, get(testKey), http.StatusTooManyRequests)

	t.Run("Off", func(t *testing.T) {
		t.Parallel()
		_, b := setup(t, func(c *httpapi.Config, _ *app.Config) {
			c.RateLimit = httpapi.RateLimit{PerSecond: -1}
			c.NowFunc = func() time.Time { return testNow }
		})
		for range 50 {
			require.Equal(t, http.StatusOK, b.get(t, "/api/v1/event-types").status)
		}
	})
}
