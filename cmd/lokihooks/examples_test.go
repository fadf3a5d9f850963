package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/docs/examples/go/apiclient"
	"github.com/loki-interceptor/lokihooks/docs/examples/go/publish"
	"github.com/loki-interceptor/lokihooks/docs/examples/go/verify"
	"github.com/loki-interceptor/lokihooks/domain"
)

// The examples under docs/examples are the code of docs/guide.md (see
// guide_test.go); these tests run them.

// examplesDir is docs/examples, from this package's directory.
var examplesDir = filepath.Join("..", "..", "docs", "examples")

// signedRequest is a delivery saved by `lokihooks receive --save`, and what
// a verifier must say of it.
type signedRequest struct {
	name     string
	path     string // the raw HTTP request
	secret   string // the secret the verifier is given
	standard bool   // webhook-signature verifies
	legacy   bool   // X-Webhook-Signature verifies
}

// signedRequests sends deliveries signed by lokihooks' own sender to a
// `lokihooks receive --save`, and derives the broken ones from them.
func signedRequests(t *testing.T) []signedRequest {
	t.Helper()
	dir := t.TempDir()
	r := startReceive(t, "--save", dir, "--json")
	secret, previous := domain.GenerateSecret(), domain.GenerateSecret()
	info, err := domain.LookupEventType(domain.EventTypeComplianceAlert)
	require.NoError(t, err)
	send := func(secrets ...string) string {
		t.Helper()
		id := domain.NewID(domain.EventIDPrefix, time.Now())
		res := r.sender.Send(t.Context(), domain.AttemptRequest{
			URL: r.url + "/hooks", EventID: id, EventType: info.Name, DeliveryID: "dlv_example", Attempt: 1,
			Body: envelope(id, info.Name, time.Now(), info.Example), Secrets: secrets,
		})
		require.True(t, res.Success, "%+v", res)
		return r.nextDelivery(t).SavedTo
	}
	signed := send(secret)
	rotated := send(secret, previous) // during a rotation's grace period

	raw, err := os.ReadFile(signed)
	require.NoError(t, err)
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	require.True(t, ok)
	tampered := filepath.Join(dir, "tampered.http")
	require.NoError(t, os.WriteFile(tampered, bytes.Join([][]byte{head, bytes.Replace(body, []byte("high"), []byte("HIGH"), 1)}, []byte("\r\n\r\n")), 0o600))

	// Ten minutes old, correctly signed for its time: only the timestamp
	// check refuses it.
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	require.NoError(t, err)
	at := time.Now().Add(-10 * time.Minute)
	sig, err := domain.SignatureHeader([]string{secret}, req.Header.Get("webhook-id"), at, body)
	require.NoError(t, err)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	var stale bytes.Buffer
	stale.WriteString("POST /hooks HTTP/1.1\r\nHost: " + req.Host + "\r\n")
	require.NoError(t, req.Header.Write(&stale))
	stale.WriteString("\r\n")
	stale.Write(body)
	stalePath := filepath.Join(dir, "stale.http")
	require.NoError(t, os.WriteFile(stalePath, stale.Bytes(), 0o600))

	return []signedRequest{
		{name: "Signed", path: signed, secret: secret, standard: true, legacy: true},
		{name: "RotatedPreviousSecret", path: rotated, secret: previous, standard: true, legacy: false},
		{name: "RotatedCurrentSecret", path: rotated, secret: secret, standard: true, legacy: true},
		{name: "Tampered", path: tampered, secret: secret, standard: false, legacy: false},
		{name: "WrongSecret", path: signed, secret: domain.GenerateSecret(), standard: false, legacy: false},
		{name: "Stale", path: stalePath, secret: secret, standard: false, legacy: true},
	}
}

// TestExamples_Verifiers runs the signature verifiers of the guide (Go,
// Python, Node, Ruby, PHP) on deliveries signed by lokihooks.
func TestExamples_Verifiers(t *testing.T) {
	t.Parallel()
	reqs := signedRequests(t)

	t.Run("Go", func(t *testing.T) {
		t.Parallel()
		for _, rq := range reqs {
			raw, err := os.ReadFile(rq.path)
			require.NoError(t, err)
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			require.NoError(t, err)
			body, err := io.ReadAll(req.Body)
			require.NoError(t, err)
			require.Equal(t, rq.standard, verify.Verify(rq.secret, req.Header, body) == nil, rq.name)
			require.Equal(t, rq.legacy, verify.VerifyLegacy(rq.secret, req.Header, body), rq.name)

			// The handler answers what lokihooks should see.
			var got []verify.Event
			h := verify.Handler(rq.secret, func(ev verify.Event) error {
				got = append(got, ev)
				return nil
			})
			in := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/hooks", bytes.NewReader(body))
			in.Header = req.Header
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, in)
			if rq.standard {
				require.Equal(t, http.StatusNoContent, rec.Code, rq.name)
				require.Len(t, got, 1)
				require.Equal(t, domain.EventTypeComplianceAlert, got[0].Type)
			} else {
				require.Equal(t, http.StatusUnauthorized, rec.Code, rq.name)
			}
		}
	})

	for _, lang := range []struct{ name, interpreter, file string }{
		{"Python", "python3", "python/verify.py"},
		{"Node", "node", "node/verify.mjs"},
		{"Ruby", "ruby", "ruby/verify.rb"},
		{"PHP", "php", "php/verify.php"},
	} {
		t.Run(lang.name, func(t *testing.T) {
			t.Parallel()
			interpreter := lookInterpreter(t, lang.interpreter)
			for _, rq := range reqs {
				cmd := exec.CommandContext(t.Context(), interpreter, filepath.Join(examplesDir, lang.file), rq.path)
				cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+rq.secret)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				var exit *exec.ExitError
				if rq.standard {
					require.NoError(t, err, "%s: %s", rq.name, stderr.String())
				} else {
					require.ErrorAs(t, err, &exit, "%s: %s", rq.name, stderr.String())
					require.Equal(t, 1, exit.ExitCode())
				}
				require.Equal(t, "webhook-signature: "+validity(rq.standard)+"\nX-Webhook-Signature: "+validity(rq.legacy)+"\n",
					string(out), rq.name)
			}
		})
	}
}

func validity(ok bool) string {
	if ok {
		return "valid"
	}
	return "INVALID"
}

// lookInterpreter finds an interpreter of the examples. Without it the
// test is skipped, except in CI (CI set), whose .ci/run installs them all.
func lookInterpreter(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if errors.Is(err, exec.ErrNotFound) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run installs it", name)
		}
		t.Skipf("%s is not installed: its examples run where it is (apt-get install %s; .ci/run does)", name, aptPackage[name])
	}
	require.NoError(t, err)
	return path
}

// aptPackage names the Debian package of each interpreter.
var aptPackage = map[string]string{"python3": "python3", "node": "nodejs", "ruby": "ruby", "php": "php-cli"}

// decodeJSON is json.Unmarshal that fails the test.
func decodeJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(data, v), "%s", data)
}

// TestExamples_Guide runs the examples of docs/guide.md in the guide's
// order against a real `lokihooks serve` (every role, its own schema) with
// `lokihooks receive` as the receiver: the shell scripts in one bash
// session whose variables carry from one script to the next (as in the
// reader's terminal), the Go, Python and SQL ones on the server's schema.
// Its subtests run one after the other: each example builds on the state
// the ones before it left.
func TestExamples_Guide(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs lokihooks serve in a child process against PostgreSQL")
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		lookInterpreter(t, tool)
	}
	raw, err := os.ReadFile(guidePath)
	require.NoError(t, err)
	s := startAPIServe(t)
	r := startReceive(t)
	ctx := t.Context()
	// The service's own table, which the publishing examples write.
	_, err = s.pool.Exec(ctx, `CREATE TABLE documents (id text PRIMARY KEY, validation_status text);
		INSERT INTO documents (id) VALUES ('doc_456'), ('doc_789')`)
	require.NoError(t, err)

	sh := newExampleShell(t, s, r.url)
	runners := guideRunners(s, r.url)
	for _, b := range parseGuide(t, string(raw)) {
		switch {
		case b.include == "":
		case filepath.Ext(b.include) == ".sh":
			t.Run(b.include, func(t *testing.T) { //nolint:paralleltest // in the guide's order
				sh.run(t, b.include)
			})
			if b.include == "sh/zapier-subscribe.sh" {
				// The integration examples name real services: they must
				// not receive what the later examples publish.
				deleteIntegrationsBut(t, s, "local-slack")
			}
		case runners[b.include] != nil:
			t.Run(b.include, runners[b.include]) //nolint:paralleltest // in the guide's order
		}
	}
}

// exampleShell runs the guide's shell examples as a reader would, in one
// terminal: `lokihooks` on the PATH (this test binary, as main), the
// variables one script sets seen by the next.
type exampleShell struct {
	dir   string   // working directory
	env   []string // the environment of every script
	state string   // the variables the scripts set so far (export -p)
	after map[string]string
}

func newExampleShell(t *testing.T, s *apiServe, receiver string) *exampleShell {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	wrapper := "#!/bin/sh\n" + runMainEnv + "=1 exec " + strconv.Quote(os.Args[0]) + ` "$@"` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "lokihooks"), []byte(wrapper), 0o755)) //nolint:gosec // an executable
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".dev"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".dev", "api-key"), []byte(e2eAPIKey+"\n"), 0o600))
	state := filepath.Join(dir, "state.sh")
	require.NoError(t, os.WriteFile(state, nil, 0o600))
	return &exampleShell{
		dir: dir, state: state,
		env: append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			envDatabaseURL+"="+s.dbURL, "NO_COLOR=1"),
		// env.sh points at make run's defaults; the test's server and
		// receiver listen elsewhere.
		after: map[string]string{"sh/env.sh": "export API=" + s.base + "/api/v1 RECEIVER=" + receiver + "\n"},
	}
}

func (sh *exampleShell) run(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// The script's path is absolute: the working directory is the reader's.
	script, err := filepath.Abs(filepath.Join(examplesDir, path))
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, "bash", "-c",
		`set -euo pipefail; set -a; source "$1"; source "$2"; set +a; export -p > "$1"`,
		"bash", sh.state, script)
	cmd.Dir, cmd.Env, cmd.WaitDelay = sh.dir, sh.env, 5*time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("docs/examples/%s:\n%s", path, out)
	require.NoError(t, err, "docs/examples/%s failed", path)
	if extra := sh.after[path]; extra != "" {
		f, err := os.OpenFile(sh.state, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString(extra)
		require.NoError(t, errors.Join(err, f.Close()))
	}
}

// deleteIntegrationsBut deletes every integration except keep.
func deleteIntegrationsBut(t *testing.T, s *apiServe, keep string) {
	t.Helper()
	var page struct {
		Data []struct {
			Name string `json:"name"`
		} `json:"data"`
	}
	require.Equal(t, http.StatusOK, s.call(t, http.MethodGet, "/api/v1/integrations?limit=100", nil, &page))
	for _, it := range page.Data {
		if it.Name != keep {
			require.Equal(t, http.StatusNoContent, s.call(t, http.MethodDelete, "/api/v1/integrations/"+it.Name, nil, nil))
		}
	}
}

// guideRunners run the guide's Go, Python and SQL examples.
func guideRunners(s *apiServe, receiver string) map[string]func(*testing.T) {
	return map[string]func(*testing.T){
		"go/apiclient/apiclient.go": func(t *testing.T) {
			d, err := apiclient.Tour(t.Context(), s.base, e2eAPIKey, receiver+"/tour")
			require.NoError(t, err)
			require.Equal(t, "compliance.alert", d.EventType)
			var out bytes.Buffer
			require.NoError(t, apiclient.Refusal(t.Context(), s.base, e2eAPIKey, &out))
			require.Contains(t, out.String(), "422 ")
			require.Contains(t, out.String(), "  body.event_types: ")
		},
		"go/publish/publish.go": func(t *testing.T) {
			ctx := t.Context()
			id, err := publish.DocumentValidated(ctx, s.pool, "doc_456")
			require.NoError(t, err)
			require.Equal(t, "val_doc_456:completed", id)
			db := stdlib.OpenDBFromPool(s.pool)
			t.Cleanup(func() { _ = db.Close() })
			alert, err := publish.ComplianceAlert(ctx, db, "doc_789", "Risk warning missing")
			require.NoError(t, err)
			requirePublishedValid(t, s, id, alert)
		},
		"python/publish.py": func(t *testing.T) {
			python := lookPython(t, "psycopg")
			cmd := exec.CommandContext(t.Context(), python, filepath.Join(examplesDir, "python", "publish.py"), "doc_789")
			cmd.Env = append(os.Environ(), "DATABASE_URL="+libpqURL(t, s.dbURL))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.Equal(t, "doc_789:failed\n", string(out))
			requirePublishedValid(t, s, "doc_789:failed")
		},
		"sql/publish.sql": func(t *testing.T) {
			script, err := os.ReadFile(filepath.Join(examplesDir, "sql", "publish.sql"))
			require.NoError(t, err)
			_, err = s.pool.Exec(t.Context(), string(script))
			require.NoError(t, err)
			requirePublishedValid(t, s, "val_456:completed")
		},
		"sql/long-transactions.sql": func(t *testing.T) {
			query, err := os.ReadFile(filepath.Join(examplesDir, "sql", "long-transactions.sql"))
			require.NoError(t, err)
			rows, err := s.pool.Query(t.Context(), string(query))
			require.NoError(t, err)
			rows.Close()
			require.NoError(t, rows.Err())
		},
	}
}

// requirePublishedValid waits until the fan-out handled each event and
// checks that it found the data valid.
func requirePublishedValid(t *testing.T, s *apiServe, ids ...string) {
	t.Helper()
	for _, id := range ids {
		require.Eventually(t, func() bool {
			var n int
			require.NoError(t, s.pool.QueryRow(t.Context(), `SELECT count(*) FROM deliveries WHERE event_id = $1`, id).Scan(&n))
			return n > 0
		}, 20*time.Second, 20*time.Millisecond, "event %s has no delivery", id)
		var violations []byte
		require.NoError(t, s.pool.QueryRow(t.Context(), `SELECT schema_violations FROM published_events WHERE id = $1`, id).Scan(&violations))
		require.Nil(t, violations, "event %s: %s", id, violations)
	}
}

// lookPython finds a python3 that can import module: the one on the PATH,
// else the system's (where Debian's python3-psycopg installs it).
func lookPython(t *testing.T, module string) string {
	t.Helper()
	var tried []string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.CommandContext(t.Context(), path, "-c", "import "+module).Run() == nil {
			return path
		}
		tried = append(tried, path)
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no python3 with %s (tried %v); .ci/run installs python3-%s", module, tried, module)
	}
	t.Skipf("no python3 with %s (tried %v): apt-get install python3-%s, or pip install %s", module, tried, module, module)
	return ""
}

// libpqURL turns serve's DATABASE_URL (pgx: search_path and pool_max_conns
// parameters) into one libpq accepts (the schema in options).
func libpqURL(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	q := u.Query()
	schema := q.Get("search_path")
	require.NotEmpty(t, schema)
	q.Del("search_path")
	q.Del("pool_max_conns")
	q.Set("options", "-csearch_path="+schema)
	u.RawQuery = q.Encode()
	return u.String()
}
