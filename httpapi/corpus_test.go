package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
)

// The bad-input corpus: malformed requests generated from the served
// OpenAPI document for every operation in it, so that an operation added
// later is covered without touching this file. Each is sent to the real
// stack and its answer must be a 4xx RFC 9457 problem that leaks nothing.
//
// It leaves out what net/http refuses before any handler runs, with a
// text/plain 400 of its own: a bad % escape in the path, CR, LF or NUL in a
// header value, a malformed request line. (NUL bytes do reach the API in
// paths, query strings and bodies, and are sent there.)

// badRequest is one generated request.
type badRequest struct {
	op     string // operation id, or the path for routing cases
	what   string // what is wrong with it
	method string
	target string // path and query, escaped as sent
	header map[string]string
	body   []byte // nil: none
}

func (r badRequest) String() string { return r.op + " " + r.what }

// Texts no error body may contain: SQL and driver text, Go type and
// package names, stack traces. Plain substrings are checked first (cheaply),
// then the patterns.
var (
	leakWords      = []string{"SQLSTATE", "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "goroutine ", "runtime.", "reflect.", "map[", "interface {", "[]byte"}
	leakWordsLower = []string{"pgx", "pgconn", "pq: ", "postgres", "syntax error at", "duplicate key", "violates", `relation "`, "panic", "go struct field", "go value of type"}
	leakPatterns   = regexp.MustCompile(`goroutine \d|\.go:\d|\b(domain|httpapi|projections|eventstore|app|huma|json|secretbox)\.[A-Z]`)
)

// leak returns the first leaking text of body, or "".
func leak(body []byte) string {
	s, lower := string(body), strings.ToLower(string(body))
	for _, w := range leakWords {
		if strings.Contains(s, w) {
			return w
		}
	}
	for _, w := range leakWordsLower {
		if strings.Contains(lower, w) {
			return w
		}
	}
	return leakPatterns.FindString(s)
}

// corpus generates the requests.
type corpus struct {
	spec *huma.OpenAPI
	// existing is a webhook that exists, for the If-Match cases (which must
	// leave it unchanged).
	existing string
	out      []badRequest
}

func (c *corpus) add(r badRequest) { c.out = append(c.out, r) }

// schema resolves a $ref.
func (c *corpus) schema(s *huma.Schema) *huma.Schema {
	if s != nil && s.Ref != "" {
		return c.spec.Components.Schemas.SchemaFromRef(s.Ref)
	}
	return s
}

// pathValue is a well-formed value for a path parameter that names nothing,
// so a request that passes validation ends in a 404.
func pathValue(name string) string {
	switch name {
	case "webhook_id":
		return "wh_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"
	case "delivery_id":
		return "dlv_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"
	case "event_id":
		return "evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"
	case "type":
		return "nope.nothing"
	}
	return "unknown_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC"
}

var pathParamRe = regexp.MustCompile(`\{([^}]+)\}`)

// fill puts values into a path template: overrides (already escaped) or
// pathValue.
func fill(path string, overrides map[string]string) string {
	return pathParamRe.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := overrides[name]; ok {
			return v
		}
		return pathValue(name)
	})
}

// minimal returns a body holding only the schema's required properties,
// each a value of its type: invalid for a create (no name, unknown type),
// and valid for a change, which then meets a resource that does not exist.
func (c *corpus) minimal(s *huma.Schema) map[string]any {
	s = c.schema(s)
	out := map[string]any{}
	if s == nil {
		return out
	}
	for _, name := range s.Required {
		out[name] = placeholder(c.schema(s.Properties[name]))
	}
	return out
}

func placeholder(s *huma.Schema) any {
	if s == nil {
		return "x"
	}
	switch s.Type {
	case huma.TypeInteger, huma.TypeNumber:
		return 1
	case huma.TypeBoolean:
		return true
	case huma.TypeArray:
		return []any{}
	case huma.TypeObject:
		return map[string]any{}
	}
	return "x"
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// wrongTypes are JSON values of every type but t.
func wrongTypes(t string) map[string]any {
	all := map[string]any{
		huma.TypeString: "x", huma.TypeInteger: 7, huma.TypeNumber: 1.5, huma.TypeBoolean: true,
		huma.TypeArray: []any{1, "two"}, huma.TypeObject: map[string]any{"k": "v"},
	}
	delete(all, t)
	if t == huma.TypeNumber {
		delete(all, huma.TypeInteger)
	}
	return all
}

// badValues are values that break the schema s, by name.
func badValues(s *huma.Schema) map[string]any {
	out := map[string]any{}
	for name, v := range wrongTypes(s.Type) {
		out["type-"+name] = v
	}
	switch s.Type {
	case huma.TypeString:
		out["nul"] = "a\x00b"
		if s.MaxLength != nil {
			out["too-long"] = strings.Repeat("x", *s.MaxLength+1)
		} else {
			out["huge"] = strings.Repeat("x", 64<<10)
		}
		if len(s.Enum) > 0 {
			out["not-in-enum"] = "not-in-enum"
		}
		if s.Format == "date-time" {
			out["bad-time"] = "2026-13-45T99:99:99Z"
		}
		if s.Pattern != "" {
			out["pattern"] = "has space\u202e"
		}
	case huma.TypeInteger, huma.TypeNumber:
		out["overflow"] = json.RawMessage(`1e300`)
		out["negative-overflow"] = json.RawMessage(`-1e300`)
		out["beyond-float"] = json.RawMessage(`1e400`)
		out["beyond-int64"] = json.RawMessage(`9223372036854775808`)
		if s.Type == huma.TypeInteger {
			out["fraction"] = 1.5
		}
		if s.Minimum != nil {
			out["below-minimum"] = *s.Minimum - 1
		}
		if s.Maximum != nil && *s.Maximum < math.MaxInt32 {
			out["above-maximum"] = *s.Maximum + 1
		}
	case huma.TypeArray:
		out["items-wrong"] = []any{map[string]any{"k": 1}, nil}
		out["many-items"] = slices.Repeat([]any{"x"}, 2000)
	case huma.TypeObject:
		out["value-nested"] = map[string]any{"k": map[string]any{"deep": []any{nil, "\x00"}}}
		out["key-nul"] = map[string]any{"a\x00b": "v"}
		out["deep"] = json.RawMessage(strings.Repeat(`{"a":`, 3000) + "1" + strings.Repeat("}", 3000))
		many := map[string]any{}
		for i := range 2000 {
			many[fmt.Sprintf("k%d", i)] = i
		}
		out["many-keys"] = many
	}
	return out
}

// generate walks every operation of the spec.
func (c *corpus) generate() {
	for _, path := range slices.Sorted(maps.Keys(c.spec.Paths)) {
		item := c.spec.Paths[path]
		ops := map[string]*huma.Operation{
			http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
			http.MethodPatch: item.Patch, http.MethodDelete: item.Delete,
		}
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			if op := ops[method]; op != nil {
				c.operation(path, method, op)
			} else {
				c.add(badRequest{op: path, what: "method " + method, method: method, target: fill(path, nil)})
			}
		}
		c.add(badRequest{op: path, what: "method OPTIONS", method: http.MethodOptions, target: fill(path, nil)})
	}
}

func (c *corpus) operation(path, method string, op *huma.Operation) {
	base := badRequest{op: op.OperationID, method: method, target: fill(path, nil), header: map[string]string{}}
	var bodySchema *huma.Schema
	if op.RequestBody != nil && op.RequestBody.Content["application/json"] != nil {
		bodySchema = c.schema(op.RequestBody.Content["application/json"].Schema)
		base.body = mustJSON(c.minimal(bodySchema))
	}
	with := func(what string, change func(r *badRequest)) {
		r := base
		r.what = what
		r.header = maps.Clone(base.header)
		change(&r)
		c.add(r)
	}

	// The query string as a whole.
	for _, q := range []string{"%%%", "a=%zz", "x=1;y=2", "%"} {
		with("raw query "+q, func(r *badRequest) { r.target += "?" + q })
	}

	// The API key.
	if len(op.Security) > 0 && len(op.Security[0]) > 0 {
		for name, auth := range map[string]string{
			"no key": "", "wrong key": "Bearer wrong-key-0123456789", "no Bearer prefix": testKey,
			"basic": "Basic " + testKey, "empty bearer": "Bearer ",
		} {
			with("auth "+name, func(r *badRequest) { r.header["Authorization"] = auth })
		}
	}

	for _, p := range op.Parameters {
		s := c.schema(p.Schema)
		switch p.In {
		case "path":
			c.pathParam(with, path, p, s)
		case "query":
			c.queryParam(with, p, s)
		case "header":
			c.headerParam(with, path, p, s)
		}
	}
	if bodySchema != nil {
		c.body(with, bodySchema)
	}
}

type withFunc func(what string, change func(r *badRequest))

func (c *corpus) pathParam(with withFunc, path string, p *huma.Param, s *huma.Schema) {
	values := map[string]string{
		"nul": "a%00b", "invalid-utf8": "%FF%FE", "broken-utf8": "%C3%28", "dot-dot": "..%2F..%2Fetc",
		"sql": url.PathEscape("' OR '1'='1"), "space": "a%20b", "rtl-override": "%E2%80%AE", "percent": "%25",
		"long": strings.Repeat("x", 5000),
	}
	if s != nil && s.MaxLength != nil {
		values["too-long"] = strings.Repeat("x", *s.MaxLength+1)
	}
	for name, v := range values {
		with("path "+p.Name+" "+name, func(r *badRequest) { r.target = fill(path, map[string]string{p.Name: v}) })
	}
}

func (c *corpus) queryParam(with withFunc, p *huma.Param, s *huma.Schema) {
	set := func(what, raw string) {
		with("query "+p.Name+" "+what, func(r *badRequest) { r.target += "?" + url.QueryEscape(p.Name) + "=" + raw })
	}
	set("bad escape", "%%%")
	if s == nil {
		return
	}
	switch s.Type {
	case huma.TypeInteger, huma.TypeNumber:
		for what, v := range map[string]string{
			"text": "abc", "fraction": "1.5", "beyond-float": "1e400", "huge": "99999999999999999999999",
			"nan": "NaN", "empty-ish": "%20", "nul": "1%00",
		} {
			set(what, v)
		}
		if s.Minimum != nil {
			set("below-minimum", strconv.FormatFloat(*s.Minimum-1, 'f', -1, 64))
		}
		if s.Maximum != nil {
			set("above-maximum", strconv.FormatFloat(*s.Maximum+1, 'f', -1, 64))
		}
	case huma.TypeBoolean:
		set("text", "maybe")
	case huma.TypeString:
		set("nul", "a%00b")
		set("invalid-utf8", "%FF")
		if s.MaxLength != nil {
			set("too-long", strings.Repeat("x", *s.MaxLength+1))
		}
		if len(s.Enum) > 0 {
			set("not-in-enum", "not-in-enum")
		}
		if s.Format == "date-time" {
			set("bad-time", "yesterday")
			set("bad-date", "2026-13-45T99%3A99%3A99Z")
		}
		if p.Name == "cursor" {
			set("garbage", "%21%21%21")
			set("foreign", "Zm9vYmFy")
			set("padded", "d2hfMQ%3D%3D")
		}
		if strings.Contains(p.Name, "type") {
			set("unknown event type", "nope.nothing")
		}
	}
}

func (c *corpus) headerParam(with withFunc, path string, p *huma.Param, s *huma.Schema) {
	set := func(what, v string, target string) {
		with("header "+p.Name+" "+what, func(r *badRequest) {
			r.header[p.Name] = v
			if target != "" {
				r.target = target
			}
		})
	}
	var values map[string]string
	switch strings.ToLower(p.Name) {
	case "if-match":
		values = map[string]string{
			"empty": " ", "unquoted": "v1", "unterminated": `"v1`, "star-in-list": `*, "v1"`, "lowercase-weak": `w/"v1"`,
			"junk-after": `"v1"x`, "foreign": `"nope"`, "weak": `W/"v1"`, "stale": `"v999"`, "high-bytes": "\"\xff\xfe\"",
			"long": `"` + strings.Repeat("v", 10000) + `"`,
		}
	case "idempotency-key":
		values = map[string]string{
			"empty": " ", "unterminated": `"key`, "inner-quote": `"a"b"`, "invalid-utf8": "\xff\xfe",
			"quoted-invalid-utf8": "\"\xff\"", "bad-escape": `"a\x"`,
		}
	default:
		values = map[string]string{"invalid-utf8": "\xff\xfe"}
	}
	if s != nil && s.MaxLength != nil {
		values["too-long"] = strings.Repeat("k", *s.MaxLength+1)
	}
	for what, v := range values {
		set(what, v, "")
		// Against an existing webhook too, where an If-Match is compared.
		if strings.EqualFold(p.Name, "If-Match") && strings.Contains(path, "{webhook_id}") {
			set(what+" existing", v, fill(path, map[string]string{"webhook_id": c.existing}))
		}
	}
}

func (c *corpus) body(with withFunc, s *huma.Schema) {
	raw := func(what string, body []byte, contentType string) {
		with("body "+what, func(r *badRequest) {
			r.body = body
			if contentType != "" {
				r.header["Content-Type"] = contentType
			}
		})
	}
	for what, body := range map[string]string{
		"not json": `{`, "truncated": `{"a":`, "array": `[]`, "string": `"x"`, "number": `1`, "true": `true`,
		"invalid utf8": "{\"name\": \"\xff\xfe\"}", "nul byte": "{\x00}", "bom": "\ufeff{}", "trailing garbage": `{} x`,
		"deep arrays":       strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		"deep objects":      strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000),
		"duplicate unknown": `{"zz":1,"zz":2}`, "unknown field": `{"no_such_field": "x"}`,
		"oversized": `{"a":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`,
	} {
		raw(what, []byte(body), "")
	}
	many := map[string]any{}
	for i := range 5000 {
		many[fmt.Sprintf("unknown_%d", i)] = i
	}
	raw("many unknown fields", mustJSON(many), "")
	for _, ct := range []string{
		"text/plain", "application/xml", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/cbor", "application/octet-stream",
	} {
		raw("content type "+ct, []byte(`{}`), ct)
	}

	base := c.minimal(s)
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		prop := c.schema(s.Properties[name])
		if slices.Contains(s.Required, name) {
			b := maps.Clone(base)
			delete(b, name)
			raw("missing "+name, mustJSON(b), "")
		}
		if prop == nil {
			continue
		}
		bad := badValues(prop)
		for _, what := range slices.Sorted(maps.Keys(bad)) {
			b := maps.Clone(base)
			b[name] = bad[what]
			raw(name+" "+what, mustJSON(b), "")
		}
	}
}

// maxAnswerBytes bounds an error answer: a bad request must not be
// answered with an amplified echo of itself.
const maxAnswerBytes = 16 << 10

func TestAPI_BadInputCorpus(t *testing.T) {
	t.Parallel()
	api, b := setup(t, func(c *httpapi.Config, _ *app.Config) { c.RateLimit = httpapi.RateLimit{PerSecond: -1} })
	existing := b.createWebhook(t, "Existing", "https://example.com/existing", []string{"*"}, nil)
	c := &corpus{spec: api.OpenAPI(), existing: existing.ID}
	c.generate()
	require.GreaterOrEqual(t, len(c.out), 1000, "the corpus must hold at least 1,000 requests")

	// Every operation in the spec is covered.
	covered := map[string]bool{}
	for _, r := range c.out {
		covered[r.op] = true
	}
	for path, item := range api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op != nil {
				require.True(t, covered[op.OperationID], "operation %s (%s) has no bad requests", op.OperationID, path)
			}
		}
	}

	var mu sync.Mutex
	var failures []string
	fail := func(r badRequest, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, r.String()+": "+fmt.Sprintf(format, args...))
	}
	statuses := map[int]int{}
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(16)
	for _, r := range c.out {
		g.Go(func() error {
			req, err := http.NewRequestWithContext(ctx, r.method, b.server.URL+r.target, nil)
			if err != nil {
				return fmt.Errorf("%s: build request: %w", r, err)
			}
			if r.body != nil {
				req.Body, req.ContentLength = nopCloser{bytes.NewReader(r.body)}, int64(len(r.body))
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Authorization", "Bearer "+testKey)
			for k, v := range r.header {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			res, err := b.server.Client().Do(req)
			if err != nil {
				return fmt.Errorf("%s: %w", r, err)
			}
			defer res.Body.Close()
			// An answer is small; read a little more than the limit, not an
			// amplified echo of the request.
			var body bytes.Buffer
			if _, err := body.ReadFrom(io.LimitReader(res.Body, maxAnswerBytes+1)); err != nil {
				return fmt.Errorf("%s: read answer: %w", r, err)
			}
			mu.Lock()
			statuses[res.StatusCode]++
			mu.Unlock()
			switch {
			case res.StatusCode >= 500:
				fail(r, "%d: %s", res.StatusCode, body.Bytes())
			case res.StatusCode < 400:
				fail(r, "accepted with %d: %.300s", res.StatusCode, body.Bytes())
			case res.Header.Get("Content-Type") != problemJSON:
				fail(r, "%d with Content-Type %q: %.300s", res.StatusCode, res.Header.Get("Content-Type"), body.Bytes())
			case body.Len() > maxAnswerBytes:
				fail(r, "answer of more than %d bytes: %.300s", maxAnswerBytes, body.Bytes())
			case leak(body.Bytes()) != "":
				fail(r, "leaks %q: %.500s", leak(body.Bytes()), body.Bytes())
			default:
				var p huma.ErrorModel
				if err := json.Unmarshal(body.Bytes(), &p); err != nil || p.Status != res.StatusCode || p.Title == "" {
					fail(r, "not a problem for %d: %.300s", res.StatusCode, body.Bytes())
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	t.Logf("%d requests over %d operations; statuses %v", len(c.out), len(covered), statuses)
	require.Empty(t, failures, "%d of %d bad requests were mishandled:\n%s", len(failures), len(c.out), strings.Join(failures, "\n"))

	// Nothing changed: the existing webhook is as it was, and no other
	// webhook was created.
	got := decode[httpapi.Webhook](t, b.get(t, webhookPath(existing.ID)), http.StatusOK)
	require.Equal(t, withoutSecret(existing), got)
	list := decode[httpapi.WebhookList](t, b.get(t, webhooksPath+"?status=active"), http.StatusOK)
	require.Equal(t, []string{existing.ID}, ids(list.Data))
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
