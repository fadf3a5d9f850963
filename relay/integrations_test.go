package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/internal/dbtest"
	"github.com/loki-interceptor/lokihooks/internal/secretbox"
	"github.com/loki-interceptor/lokihooks/projections"
	"github.com/loki-interceptor/lokihooks/relay"
)

// These tests run integrations through the whole pipeline: the real
// connectors (behind the Mux, as serve wires them) against httptest fakes
// and an in-process SMTP server, the real relay, the deliveries
// projection and the API.

// Credentials whose every appearance the tests look for: each is unique
// and appears nowhere else.
const (
	slackToken     = "xoxb-1111-2222-slacktokensecret"
	teamsSig       = "teamssigsecret0123"
	zapierHookPath = "/hooks/catch/123/zapierpathsecret/"
	smtpUser       = "alerts-bot"
	smtpPassword   = "smtp-password-secret-42"
	integrationKey = "integration-test-key-0123456789"
)

// syncBuffer is a concurrency-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// integrationEnv is a schema with the event store, the use cases' config
// and captured logs; relays are started on it with start.
type integrationEnv struct {
	pool   *pgxpool.Pool
	events *eventstore.Store
	appCfg app.Config
	logs   *syncBuffer
	logger *slog.Logger
	// slackAPI is the base URL of the Slack Web API fake (bot mode).
	slackAPI string
}

func newIntegrationEnv(t *testing.T, slackAPI string) *integrationEnv {
	t.Helper()
	pool := dbtest.Pool(t, &dbtest.Opts{MaxConns: 20})
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	require.NoError(t, err)
	return &integrationEnv{
		pool: pool, logs: logs, logger: logger, slackAPI: slackAPI,
		events: eventstore.New(pool, eventstore.Config{Logger: logger, Inline: []eventstore.InlineProjector{
			{StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project},
			{StreamTypes: []string{domain.IntegrationStreamType}, Project: projections.Integrations{}.Project},
			{StreamTypes: []string{domain.BreakerStreamType}, Project: projections.Breakers{}.Project},
		}}),
		appCfg: app.Config{Secrets: box, Validation: domain.ValidationOpts{AllowHTTP: true}, Logger: logger},
	}
}

// sender is the Mux of every connector, as serve builds it, with loopback
// allowed and Slack threads in PostgreSQL.
func (e *integrationEnv) sender(t *testing.T) *connectors.Mux {
	t.Helper()
	loopback := connectors.ClientConfig{AllowHTTP: true, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	client := connectors.NewClient(loopback)
	t.Cleanup(client.CloseIdleConnections)
	return connectors.NewMux(map[domain.DestinationKind]connectors.Sender{
		domain.KindWebhook: connectors.NewWebhook(client, connectors.WebhookConfig{}),
		domain.KindSlack: connectors.NewSlack(client, relay.NewSlackThreads(e.pool), connectors.SlackConfig{
			BaseURL: e.slackAPI, Logger: e.logger,
		}),
		domain.KindTeams:  connectors.NewTeams(client, connectors.TeamsConfig{}),
		domain.KindEmail:  connectors.NewEmail(connectors.NewSMTPDialer(loopback), connectors.EmailConfig{HELO: "lokihooks.test"}),
		domain.KindZapier: connectors.NewZapier(client, connectors.ZapierConfig{}),
	})
}

// running is a started relay with the deliveries projection.
type running struct {
	relay *relay.Relay
	// stop cancels the relay and waits for it; it returns Run's error.
	stop func() error
}

// start runs a relay (fan-out, workers) and the deliveries projection
// until stop or the end of the test.
func (e *integrationEnv) start(t *testing.T, sender relay.Sender, change func(*relay.Config)) *running {
	t.Helper()
	db := stdlib.OpenDBFromPool(e.pool)
	t.Cleanup(func() { _ = db.Close() })
	cfg := relay.Config{
		Fanout: true, Work: true, Workers: 20,
		FanoutConfig:      relay.FanoutConfig{PollInterval: 5 * time.Millisecond},
		FetchPollInterval: 10 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
		RandomFunc: func() float64 { return 0.5 }, Logger: e.logger,
	}
	if change != nil {
		change(&cfg)
	}
	rl, err := relay.New(e.pool, db, relay.Deps{
		Log: e.events, Subscribers: projections.Subscribers{}, Destinations: app.NewDestinations(e.pool, e.events, e.appCfg),
		Sender: sender,
	}, cfg)
	require.NoError(t, err)
	runner, err := projections.NewRunner(e.pool, projections.RunnerConfig{
		Name: "deliveries", Projector: projections.Deliveries{}, PollInterval: 5 * time.Millisecond,
		Read: func(ctx context.Context, q projections.DB, after domain.LogPosition, limit int) ([]domain.Recorded, error) {
			return eventstore.ReadLog(ctx, q, after, limit)
		},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	var wg sync.WaitGroup
	var runErr error
	wg.Add(2)
	go func() { defer wg.Done(); runErr = rl.Run(ctx) }()
	go func() { defer wg.Done(); _ = runner.Run(ctx) }()
	var once sync.Once
	stop := func() error {
		once.Do(func() { cancel(); wg.Wait() })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case <-rl.FanoutRunning():
	case <-time.After(10 * time.Second):
		t.Fatal("fan-out did not start")
	}
	return &running{relay: rl, stop: stop}
}

// apiClient calls the real API as an integrator would and keeps every
// response body.
type apiClient struct {
	t         *testing.T
	server    *httptest.Server
	mu        sync.Mutex
	responses []string
}

func (e *integrationEnv) api(t *testing.T, rl *relay.Relay, sender relay.Sender) *apiClient {
	t.Helper()
	h := httpapi.New(httpapi.Deps{
		Webhooks: app.NewWebhooks(e.pool, e.events, rl, sender, e.appCfg), Events: app.NewEvents(e.pool, e.appCfg),
		Deliveries:   app.NewDeliveries(e.pool, rl),
		Integrations: app.NewIntegrations(e.pool, e.events, rl, sender, e.appCfg),
	}, httpapi.Config{APIKeys: []string{integrationKey}, Logger: e.logger})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &apiClient{t: t, server: srv}
}

func (c *apiClient) call(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.server.URL+path, rd)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+integrationKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.server.Client().Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	c.mu.Lock()
	c.responses = append(c.responses, string(raw))
	c.mu.Unlock()
	require.Equal(c.t, want, resp.StatusCode, "%s %s: %s", method, path, raw)
	out := map[string]any{}
	if len(raw) > 0 {
		require.NoError(c.t, json.Unmarshal(raw, &out))
	}
	return out
}

func (c *apiClient) allResponses() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.responses, "\n")
}

// slackAPIFake answers chat.postMessage like Slack's Web API, with a new
// ts per message.
func slackAPIFake(t *testing.T) *receiver {
	t.Helper()
	return newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/chat.postMessage" || r.Header.Get("Authorization") != "Bearer "+slackToken {
			_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		_, _ = fmt.Fprintf(w, `{"ok":true,"channel":"C0ALERTS","ts":"1700000000.%06d"}`, n)
	})
}

// mailServer is an in-process SMTP server (PLAIN auth without TLS, which
// lokihooks allows only inside LOKIHOOKS_ALLOWED_NETWORKS).
type mailServer struct {
	host  string
	port  int
	mu    sync.Mutex
	mails []mail
}

type mail struct {
	from, user string
	to         []string
	data       string
}

func newMailServer(t *testing.T) *mailServer {
	t.Helper()
	m := &mailServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{srv: m}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); _ = ln.Close(); <-served })
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	m.host = host
	m.port, _ = strconv.Atoi(port)
	return m
}

func (m *mailServer) received() []mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.mails)
}

type mailSession struct {
	srv  *mailServer
	cur  mail
	user string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPassword {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		s.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data, s.cur.user = string(data), s.user
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.cur = mail{} }
func (s *mailSession) Logout() error { return nil }

// publishData publishes one event through lokihooks_publish, as a LOKI
// service does, in its own transaction.
func publishData(t *testing.T, pool *pgxpool.Pool, eventType, data string) domain.EventID {
	t.Helper()
	var id string
	require.NoError(t, pool.QueryRow(t.Context(), "SELECT lokihooks_publish($1, $2::jsonb)", eventType, data).Scan(&id))
	return domain.EventID(id)
}

// waitFor polls the deliveries read model until the delivery of (event,
// destination) has status want.
func waitFor(t *testing.T, pool *pgxpool.Pool, ev domain.EventID, dest string, want domain.DeliveryStatus) *domain.DeliveryView {
	t.Helper()
	id := domain.DeliveryIDFor(ev, domain.DestinationID(dest))
	var last *domain.DeliveryView
	ok := assertEventually(t, func() bool {
		d, err := projections.GetDelivery(t.Context(), pool, id)
		if err == nil {
			last = d
		}
		return err == nil && d.Status == want
	})
	if !ok {
		(&testBundle{pool: pool}).diagnose(t, id)
		t.Fatalf("delivery %s never reached %s (last: %+v)", id, want, last)
	}
	return last
}

// fourIntegrations are Slack (bot), Teams, email and Zapier integrations
// subscribed to compliance.alert, created through the API.
type fourIntegrations struct {
	slackAPI, teams, zapier *receiver
	mail                    *mailServer
	ids                     map[string]string // integration type → id
}

func createFour(t *testing.T, c *apiClient, slackAPI *receiver) *fourIntegrations {
	t.Helper()
	f := &fourIntegrations{
		slackAPI: slackAPI,
		teams:    newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }),
		zapier: newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"status":"success","request_id":"r1"}`)
		}),
		mail: newMailServer(t),
		ids:  map[string]string{},
	}
	for typ, body := range map[string]map[string]any{
		"slack": {
			"credentials": map[string]any{"bot_token": slackToken},
			"config":      map[string]any{"channel": "C0ALERTS", "header": "LOKI compliance"},
		},
		"teams": {"credentials": map[string]any{"webhook_url": f.teams.URL + "/workflows/abc/triggers/manual/paths/invoke?sig=" + teamsSig}},
		"email": {
			"credentials": map[string]any{"smtp_host": f.mail.host, "smtp_port": f.mail.port, "smtp_username": smtpUser, "smtp_password": smtpPassword},
			"config":      map[string]any{"from": "LOKI <alerts@loki.test>", "default_recipients": []string{"compliance@loki.test"}, "tls": "none"},
		},
		"zapier": {"credentials": map[string]any{"webhook_url": f.zapier.URL + zapierHookPath}},
	} {
		body["name"], body["integration_type"] = typ+"-alerts", typ
		body["event_subscriptions"] = []string{domain.EventTypeComplianceAlert}
		created := c.call(http.MethodPost, "/api/v1/integrations", body, http.StatusCreated)
		f.ids[typ] = created["id"].(string)
	}
	return f
}

const alertData = `{"alert_level":"critical","message":"PII found in export","affected_documents":["doc_1"],"document_id":"doc_1"}`

// TestIntegrations_Pipeline: one event published with lokihooks_publish
// reaches a Slack fake, a Teams fake, the SMTP server and a Zapier fake,
// each exactly once; then every API response, every log line and every
// text column of the database are searched for the four credentials.
func TestIntegrations_Pipeline(t *testing.T) {
	t.Parallel()
	slack := slackAPIFake(t)
	env := newIntegrationEnv(t, slack.URL)
	sender := env.sender(t)
	r := env.start(t, sender, nil)
	c := env.api(t, r.relay, sender)
	f := createFour(t, c, slack)

	ev := publishData(t, env.pool, domain.EventTypeComplianceAlert, alertData)
	for typ, id := range f.ids {
		d := waitFor(t, env.pool, ev, id, domain.DeliveryDelivered)
		require.Equal(t, domain.DestinationKind(typ), d.Kind)
		require.Equal(t, 1, d.Attempts, typ)
	}
	require.Len(t, f.slackAPI.requests(), 1, "Slack exactly once")
	require.Len(t, f.teams.requests(), 1, "Teams exactly once")
	require.Len(t, f.mail.received(), 1, "email exactly once")
	require.Len(t, f.zapier.requests(), 1, "Zapier exactly once")

	var post struct {
		Channel     string `json:"channel"`
		Text        string `json:"text"`
		Attachments []struct {
			Color string `json:"color"`
		} `json:"attachments"`
	}
	require.NoError(t, json.Unmarshal(f.slackAPI.requests()[0].Body, &post))
	require.Equal(t, "C0ALERTS", post.Channel)
	require.Equal(t, "#D00000", post.Attachments[0].Color, "critical alerts are red")
	var card struct {
		Attachments []struct {
			Content struct {
				Version string `json:"version"`
			} `json:"content"`
		} `json:"attachments"`
	}
	require.NoError(t, json.Unmarshal(f.teams.requests()[0].Body, &card))
	require.Equal(t, "1.4", card.Attachments[0].Content.Version)
	m := f.mail.received()[0]
	require.Equal(t, []string{"compliance@loki.test"}, m.to)
	require.Equal(t, smtpUser, m.user, "authenticated with the stored credentials")
	require.Contains(t, m.data, "PII found in export")
	var flat map[string]any
	require.NoError(t, json.Unmarshal(f.zapier.requests()[0].Body, &flat))
	require.Equal(t, string(ev), flat["event_id"])
	require.Equal(t, "critical", flat["alert_level"])

	// The API shows the deliveries, with their destination.
	all := c.call(http.MethodGet, "/api/v1/deliveries?event_id="+string(ev), nil, http.StatusOK)
	var kinds []string
	for _, d := range all["data"].([]any) {
		kinds = append(kinds, d.(map[string]any)["destination_type"].(string))
	}
	require.ElementsMatch(t, []string{"slack", "teams", "email", "zapier"}, kinds)
	for typ := range f.ids {
		name := typ + "-alerts"
		c.call(http.MethodGet, "/api/v1/integrations/"+name, nil, http.StatusOK)
		list := c.call(http.MethodGet, "/api/v1/integrations/"+name+"/deliveries", nil, http.StatusOK)
		dlv := list["data"].([]any)[0].(map[string]any)
		c.call(http.MethodGet, "/api/v1/integrations/"+name+"/deliveries/"+dlv["id"].(string), nil, http.StatusOK)
		test := c.call(http.MethodPost, "/api/v1/integrations/"+name+"/test", nil, http.StatusOK)
		require.Equal(t, true, test["success"], "%s: %v", typ, test)
		c.call(http.MethodPut, "/api/v1/integrations/"+name, map[string]any{"max_retries": 3}, http.StatusOK)
	}
	c.call(http.MethodGet, "/api/v1/integrations", nil, http.StatusOK)
	c.call(http.MethodGet, "/api/v1/integrations/health", nil, http.StatusOK)
	c.call(http.MethodGet, "/api/v1/integrations/marketplace", nil, http.StatusOK)

	secrets := []string{slackToken, teamsSig, "zapierpathsecret", smtpPassword}
	responses, logs := c.allResponses(), env.logs.String()
	for _, s := range secrets {
		require.NotContains(t, responses, s, "an API response holds a credential")
		require.NotContains(t, logs, s, "a log line holds a credential")
	}
	for _, hit := range textColumnsContaining(t, env.pool, secrets) {
		t.Errorf("credential in the database: %s", hit)
	}
	// The check does look: the sealed credentials open to the secrets.
	var sealed string
	require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT credentials FROM integrations WHERE id = $1`, f.ids["slack"]).Scan(&sealed))
	plain, err := env.appCfg.Secrets.Open(sealed)
	require.NoError(t, err)
	require.Contains(t, plain, slackToken)
}

// textColumnsContaining searches every text, varchar, json, jsonb and
// array column of every table of the test's schema (River's included) for
// each needle and names the hits.
func textColumnsContaining(t *testing.T, pool *pgxpool.Pool, needles []string) []string {
	t.Helper()
	ctx := t.Context()
	rows, err := pool.Query(ctx, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
		  AND (c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED'))`)
	require.NoError(t, err)
	type column struct{ table, name string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.table, &c.name)
	})
	require.NoError(t, err)
	require.NotEmpty(t, cols)
	var hits []string
	for _, c := range cols {
		q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s::text LIKE '%%' || $1 || '%%'`,
			pgx.Identifier{c.table}.Sanitize(), pgx.Identifier{c.name}.Sanitize())
		for _, n := range needles {
			var count int
			require.NoError(t, pool.QueryRow(ctx, q, n).Scan(&count), "%s.%s", c.table, c.name)
			if count > 0 {
				hits = append(hits, fmt.Sprintf("%s.%s holds %q", c.table, c.name, n))
			}
		}
	}
	return hits
}

// TestIntegrations_SlackThreads: through the real relay, the second event
// about a document replies in the thread of the first.
func TestIntegrations_SlackThreads(t *testing.T) {
	t.Parallel()
	slack := slackAPIFake(t)
	env := newIntegrationEnv(t, slack.URL)
	sender := env.sender(t)
	r := env.start(t, sender, nil)
	c := env.api(t, r.relay, sender)
	created := c.call(http.MethodPost, "/api/v1/integrations", map[string]any{
		"name": "threads", "integration_type": "slack", "credentials": map[string]any{"bot_token": slackToken},
		"config": map[string]any{"channel": "C0ALERTS"}, "event_subscriptions": []string{"*"},
	}, http.StatusCreated)
	id := created["id"].(string)

	first := publishData(t, env.pool, domain.EventTypeComplianceAlert, alertData)
	waitFor(t, env.pool, first, id, domain.DeliveryDelivered)
	other := publishData(t, env.pool, domain.EventTypeValidationFailed, `{"document_id":"doc_2","errors":[]}`)
	waitFor(t, env.pool, other, id, domain.DeliveryDelivered)
	second := publishData(t, env.pool, domain.EventTypeValidationFailed, `{"document_id":"doc_1","errors":[]}`)
	waitFor(t, env.pool, second, id, domain.DeliveryDelivered)

	threadOf := func(n int) string {
		var msg struct {
			ThreadTS string `json:"thread_ts"`
		}
		require.NoError(t, json.Unmarshal(slack.requests()[n].Body, &msg))
		return msg.ThreadTS
	}
	require.Len(t, slack.requests(), 3)
	require.Empty(t, threadOf(0), "the first message about doc_1 starts the thread")
	require.Empty(t, threadOf(1), "doc_2 has a thread of its own")
	require.Equal(t, "1700000000.000001", threadOf(2), "the second message about doc_1 replies to the first")

	var threads int
	require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM slack_threads WHERE destination_id = $1`, id).Scan(&threads))
	require.Equal(t, 2, threads, "threads are kept in PostgreSQL")
}

// zapierItems decodes a Zapier request: an array (a batch) or one object.
func zapierItems(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		var items []map[string]any
		require.NoError(t, json.Unmarshal(body, &items))
		return items
	}
	var one map[string]any
	require.NoError(t, json.Unmarshal(body, &one))
	return []map[string]any{one}
}

// createZapier creates a batching Zapier integration through the app.
func createZapier(t *testing.T, env *integrationEnv, url string, size, interval int) *domain.Integration {
	t.Helper()
	i, err := app.NewIntegrations(env.pool, env.events, nil, nil, env.appCfg).CreateIntegration(t.Context(), domain.KindZapier,
		json.RawMessage(`{"webhook_url":"`+url+`"}`), func(s domain.IntegrationSpec) domain.IntegrationSpec {
			s.Name, s.EventTypes = "zap", []string{"*"}
			s.Config = json.RawMessage(fmt.Sprintf(`{"batch_size":%d,"batch_interval_seconds":%d}`, size, interval))
			return s
		})
	require.NoError(t, err)
	return i
}

// publishMany publishes n events in one transaction.
func publishMany(t *testing.T, pool *pgxpool.Pool, n int) []domain.EventID {
	t.Helper()
	var ids []domain.EventID
	require.NoError(t, pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		for i := range n {
			var id string
			if err := tx.QueryRow(t.Context(), "SELECT lokihooks_publish('batch.completed', $1::jsonb)",
				fmt.Sprintf(`{"batch_id":"b%d","documents_processed":%d}`, i, i)).Scan(&id); err != nil {
				return err
			}
			ids = append(ids, domain.EventID(id))
		}
		return nil
	}))
	return ids
}

// TestIntegrations_ZapierBatches: seven events to a Zapier integration with
// batch_size 3 arrive as JSON arrays of at most three, every event exactly
// once; the last, partial batch leaves when its interval ends.
func TestIntegrations_ZapierBatches(t *testing.T) {
	t.Parallel()
	env := newIntegrationEnv(t, "")
	zap := newReceiver(t, status(http.StatusOK))
	sender := env.sender(t)
	env.start(t, sender, nil)
	zi := createZapier(t, env, zap.URL+"/hooks/catch/1/2/", 3, 1)

	ids := publishMany(t, env.pool, 7)
	for _, ev := range ids {
		d := waitFor(t, env.pool, ev, string(zi.ID), domain.DeliveryDelivered)
		require.Equal(t, 1, d.Attempts)
	}
	seen := map[string]int{}
	full := 0
	for _, r := range zap.requests() {
		items := zapierItems(t, r.Body)
		require.LessOrEqual(t, len(items), 3)
		if len(items) == 3 {
			require.True(t, bytes.HasPrefix(r.Body, []byte("[")), "a batch is a JSON array")
			full++
		}
		for _, it := range items {
			seen[it["event_id"].(string)]++
		}
	}
	require.Len(t, seen, 7)
	for ev, n := range seen {
		require.Equal(t, 1, n, "event %s sent %d times", ev, n)
	}
	require.Positive(t, full, "full batches are sent as one request")
	require.Less(t, len(zap.requests()), 7, "batched: fewer requests than events")
}

// TestIntegrations_ZapierBatchInterrupted: a batch cut short by shutdown
// while its request is in flight is put back, and the next relay sends
// it: nothing is lost.
func TestIntegrations_ZapierBatchInterrupted(t *testing.T) {
	t.Parallel()
	env := newIntegrationEnv(t, "")
	arrived := make(chan struct{}, 10)
	var hang sync.Once
	zap := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		hung := false
		hang.Do(func() {
			hung = true
			arrived <- struct{}{}
			<-r.Context().Done() // the first request hangs until the relay gives up on it
		})
		if !hung {
			w.WriteHeader(http.StatusOK)
		}
	})
	sender := env.sender(t)
	first := env.start(t, sender, func(c *relay.Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	zi := createZapier(t, env, zap.URL+"/hooks/catch/1/2/", 3, 3600)
	ids := publishMany(t, env.pool, 3)
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the batch was never sent")
	}
	require.NoError(t, first.stop(), "the first relay shuts down, cancelling the batch in flight")

	env.start(t, sender, nil)
	for _, ev := range ids {
		waitFor(t, env.pool, ev, string(zi.ID), domain.DeliveryDelivered)
	}
	reqs := zap.requests()
	require.GreaterOrEqual(t, len(reqs), 2)
	var resent []string
	for _, r := range reqs[1:] {
		for _, it := range zapierItems(t, r.Body) {
			resent = append(resent, it["event_id"].(string))
		}
	}
	want := make([]string, len(ids))
	for i, id := range ids {
		want[i] = string(id)
	}
	require.ElementsMatch(t, want, resent, "every event of the interrupted batch is sent again, once")
}

// TestIntegrations_ZapierBatchCrash: a process that died holding a claimed
// batch leaves running jobs; the next relay's River rescues them and they
// are batched and delivered again.
func TestIntegrations_ZapierBatchCrash(t *testing.T) {
	t.Parallel()
	env := newIntegrationEnv(t, "")
	zap := newReceiver(t, status(http.StatusOK))
	sender := env.sender(t)
	first := env.start(t, sender, nil)
	// Five per batch and an hour to fill it: the three events park.
	zi := createZapier(t, env, zap.URL+"/hooks/catch/1/2/", 5, 3600)
	ids := publishMany(t, env.pool, 3)
	require.Eventually(t, func() bool {
		var parked int
		err := env.pool.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE kind = 'deliver'
			AND state = 'scheduled' AND metadata @> '{"output":"batch_parked"}'`).Scan(&parked)
		return err == nil && parked == 3
	}, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, first.stop())

	// A flush claims the batch, and its process dies before sending it:
	// long enough ago that the claim is stale.
	n, err := relay.ClaimParkedAsCrashedFlush(t.Context(), env.pool, domain.DestinationID(zi.ID), 5)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	_, err = env.pool.Exec(t.Context(), `UPDATE river_job SET attempted_at = now() - interval '1 hour' WHERE state = 'running'`)
	require.NoError(t, err)
	// The batches may now leave after a second.
	_, err = app.NewIntegrations(env.pool, env.events, nil, nil, env.appCfg).UpdateIntegration(t.Context(), "zap", domain.ExpectAny, nil,
		func(current, _ domain.IntegrationSpec) domain.IntegrationSpec {
			current.Config = json.RawMessage(`{"batch_size":5,"batch_interval_seconds":1}`)
			return current
		})
	require.NoError(t, err)

	env.start(t, sender, func(c *relay.Config) { c.RescueAfter = time.Second })
	for _, ev := range ids {
		waitFor(t, env.pool, ev, string(zi.ID), domain.DeliveryDelivered)
	}
	var sent []string
	for _, r := range zap.requests() {
		for _, it := range zapierItems(t, r.Body) {
			sent = append(sent, it["event_id"].(string))
		}
	}
	want := make([]string, len(ids))
	for i, id := range ids {
		want[i] = string(id)
	}
	require.ElementsMatch(t, want, sent, "every event of the crashed batch is delivered, once")
}

// TestIntegrations_RetriesDeadLetterRedrive: an integration retries with
// its own policy, dead-letters, shows in the dead-letter view and is
// redriven through the API, like a webhook.
func TestIntegrations_RetriesDeadLetterRedrive(t *testing.T) {
	t.Parallel()
	env := newIntegrationEnv(t, "")
	var up sync.Mutex
	healthy := false
	teams := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		up.Lock()
		defer up.Unlock()
		if !healthy {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	sender := env.sender(t)
	r := env.start(t, sender, nil)
	c := env.api(t, r.relay, sender)
	created := c.call(http.MethodPost, "/api/v1/integrations", map[string]any{
		"name": "teams", "integration_type": "teams", "credentials": map[string]any{"webhook_url": teams.URL + "/flow?sig=" + teamsSig},
		"event_subscriptions": []string{"*"}, "max_retries": 2, "retry_delay_seconds": 0, "max_delay_seconds": 0,
		"retry_strategy": "fixed_interval",
	}, http.StatusCreated)
	id := created["id"].(string)

	ev := publishData(t, env.pool, domain.EventTypeSystemError, `{"error_code":"E42","message":"disk full"}`)
	d := waitFor(t, env.pool, ev, id, domain.DeliveryPermanentFailure)
	require.Equal(t, 3, d.Attempts, "1 + max_retries attempts")
	require.Equal(t, 502, d.LastStatusCode)
	dead := c.call(http.MethodGet, "/api/v1/deliveries?status=permanent_failure", nil, http.StatusOK)
	require.Len(t, dead["data"], 1)
	require.Equal(t, "teams", dead["data"].([]any)[0].(map[string]any)["destination_type"])

	up.Lock()
	healthy = true
	up.Unlock()
	redriven := c.call(http.MethodPost, "/api/v1/integrations/teams/retry", map[string]any{}, http.StatusOK)
	require.InDelta(t, 1, redriven["redriven"], 0)
	d = waitFor(t, env.pool, ev, id, domain.DeliveryDelivered)
	require.Equal(t, 4, d.Attempts)
	require.Len(t, teams.requests(), 4)
}

// TestIntegrations_GoneTargets: a 410 from a Zapier REST hook's target
// unsubscribes it (deleted); from a catch hook it deactivates it.
func TestIntegrations_GoneTargets(t *testing.T) {
	t.Parallel()
	env := newIntegrationEnv(t, "")
	gone := newReceiver(t, status(http.StatusGone))
	sender := env.sender(t)
	r := env.start(t, sender, nil)
	c := env.api(t, r.relay, sender)
	sub := c.call(http.MethodPost, "/api/v1/integrations/zapier/subscriptions", map[string]any{
		"target_url": gone.URL + "/hooks/standard/1/rest/", "event_type": "report.generated",
	}, http.StatusCreated)
	catch := c.call(http.MethodPost, "/api/v1/integrations", map[string]any{
		"name": "catch", "integration_type": "zapier", "credentials": map[string]any{"webhook_url": gone.URL + "/hooks/catch/1/2/"},
		"event_subscriptions": []string{"report.generated"},
	}, http.StatusCreated)

	ev := publishData(t, env.pool, domain.EventTypeReportGenerated, `{"report_id":"r1","report_type":"monthly"}`)
	waitFor(t, env.pool, ev, sub["id"].(string), domain.DeliveryFailed)
	waitFor(t, env.pool, ev, catch["id"].(string), domain.DeliveryFailed)

	c.call(http.MethodGet, "/api/v1/integrations/"+sub["name"].(string), nil, http.StatusNotFound)
	restHook, err := projections.IntegrationAnyStatus(t.Context(), env.pool, domain.IntegrationID(sub["id"].(string)))
	require.NoError(t, err)
	require.Equal(t, domain.WebhookStatusDeleted, restHook.Status, "the REST hook is unsubscribed")
	require.Contains(t, restHook.StatusReason, "410")
	got := c.call(http.MethodGet, "/api/v1/integrations/catch", nil, http.StatusOK)
	require.Equal(t, "inactive", got["status"], "a catch hook is deactivated")

	// Neither receives anything more.
	next := publishData(t, env.pool, domain.EventTypeReportGenerated, `{"report_id":"r2","report_type":"monthly"}`)
	_, err = projections.GetDelivery(t.Context(), env.pool, domain.DeliveryIDFor(next, domain.DestinationID(catch["id"].(string))))
	require.ErrorIs(t, err, domain.ErrNotFound)
}
