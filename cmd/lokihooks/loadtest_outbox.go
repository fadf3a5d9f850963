package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/internal/sigcheck"
)

// apiCallTimeout bounds the --via-outbox calls that are not publishes
// (create and delete the webhook).
const apiCallTimeout = 10 * time.Second

// loadtestOutbox runs the load test through a running lokihooks: its own
// receiver, a temporary webhook, events published with the API.
func (c cli) loadtestOutbox(ctx context.Context, o loadtestOpts) error {
	apiURL, err := checkTarget(ctx, o.api, o.allowRemote, "--api")
	if err != nil {
		return err
	}
	api := &apiClient{
		base:   strings.TrimSuffix(strings.TrimSuffix(apiURL.String(), "/"), "/api/v1"),
		key:    o.apiKey,
		client: &http.Client{Timeout: o.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency}},
	}
	defer api.client.CloseIdleConnections()
	info, err := domain.LookupEventType(o.eventType)
	if err != nil {
		return err
	}

	rcv, err := startOutboxReceiver(o.receiverAddr)
	if err != nil {
		return err
	}
	defer rcv.close()
	hook, err := api.createWebhook(ctx, rcv.url+"/loadtest")
	if err != nil {
		return err
	}
	defer func() {
		// Runs on Ctrl-C too: the webhook must not outlive the test.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiCallTimeout)
		defer cancel()
		if err := api.deleteWebhook(dctx, hook.ID); err != nil {
			fmt.Fprintf(c.stderr, "loadtest: could not delete the temporary webhook %s: %v\n", hook.ID, err)
		}
	}()
	rcv.setSecret(hook.Secret)
	fmt.Fprintf(c.stderr, "loadtest: temporary webhook %s → %s; publishing %d %s events to %s, %s\n",
		hook.ID, rcv.url, o.events, o.eventType, api.base, pacing(o))

	prog := newProgress(c.stderr, o.events, "delivered")
	rcv.onFirstReceipt = prog.add
	body, err := json.Marshal(struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}{o.eventType, info.Example})
	if err != nil {
		return err
	}
	var (
		mu        sync.Mutex
		samples   = make([]sample, 0, o.events)
		published = make(map[string]time.Time, o.events)
		firstErr  string
	)
	start := time.Now()
	if err := dispatch(ctx, o, func(ctx context.Context, _ int) {
		at := time.Now()
		id, s, problem := api.publish(ctx, body)
		if errors.Is(ctx.Err(), context.Canceled) && s.category != domain.ErrorCategoryNone {
			return // interrupted: not a result
		}
		mu.Lock()
		defer mu.Unlock()
		samples = append(samples, s)
		if id != "" {
			published[id] = at
		}
		if problem != "" && firstErr == "" {
			firstErr = problem
		}
	}); err != nil {
		return err
	}
	pubElapsed := time.Since(start)
	if firstErr != "" {
		fmt.Fprintf(c.stderr, "loadtest: first publish error: %s\n", firstErr)
	}
	rcv.waitFor(ctx, published, o.wait)
	prog.finish()

	rep := newLoadReport("via_outbox", api.base, o, samples, pubElapsed)
	rep.Delivery, rep.Latency = rcv.stats(published)
	rep.Delivery.WebhookID = hook.ID
	if rep.Delivery.Delivered == 0 && len(published) > 0 {
		fmt.Fprintf(c.stderr, "loadtest: no delivery arrived within %s. Does the server accept loopback deliveries "+
			"(%s=127.0.0.0/8)? GET %s/api/v1/webhooks/%s/deliveries shows each delivery's last error, until the webhook is deleted.\n",
			o.wait, envAllowedNetworks, api.base, hook.ID)
	}
	return c.printLoadReport(rep, o.asJSON)
}

// apiClient makes the few API calls --via-outbox needs, with plain net/http.
type apiClient struct {
	base   string // scheme://host:port
	key    string
	client *http.Client
}

// tempWebhook is the part of the create-webhook response loadtest uses.
type tempWebhook struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

func (a *apiClient) do(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, b, err
}

func (a *apiClient) createWebhook(ctx context.Context, target string) (tempWebhook, error) {
	ctx, cancel := context.WithTimeout(ctx, apiCallTimeout)
	defer cancel()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	body, err := json.Marshal(map[string]any{
		"name": "loadtest-" + hex.EncodeToString(suffix[:]), "url": target,
		"event_types": []string{domain.EventTypeWildcard},
	})
	if err != nil {
		return tempWebhook{}, err
	}
	resp, respBody, err := a.do(ctx, http.MethodPost, "/api/v1/webhooks", body) //nolint:bodyclose // do reads and closes it
	if err != nil {
		return tempWebhook{}, fmt.Errorf("cannot reach the lokihooks API at %s (is 'lokihooks serve' running there? make run starts one): %w", a.base, err)
	}
	var hook tempWebhook
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return hook, fmt.Errorf("the API at %s refused the key (401): --api-key (or %s) must be one of the server's %s", a.base, envAPIKey, envAPIKeys)
	case resp.StatusCode == http.StatusUnprocessableEntity:
		return hook, fmt.Errorf("the API refused the temporary webhook for %s: %s. The server must accept http:// loopback webhooks: "+
			"run it with %s=true and %s=127.0.0.0/8 (make run sets both)", target, problemText(respBody), envAllowHTTP, envAllowedNetworks)
	case resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK:
		return hook, fmt.Errorf("create the temporary webhook: %s: %s", resp.Status, problemText(respBody))
	}
	if err := json.Unmarshal(respBody, &hook); err != nil || hook.ID == "" || hook.Secret == "" {
		return hook, fmt.Errorf("create the temporary webhook: unexpected response %s", truncate(respBody, 200))
	}
	return hook, nil
}

func (a *apiClient) deleteWebhook(ctx context.Context, id string) error {
	resp, body, err := a.do(ctx, http.MethodDelete, "/api/v1/webhooks/"+id, nil) //nolint:bodyclose // do reads and closes it
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, problemText(body))
	}
	return nil
}

// publish sends one event; it returns its id when accepted, the sample, and
// the problem's text when refused.
func (a *apiClient) publish(ctx context.Context, body []byte) (id string, s sample, problem string) {
	start := time.Now()
	resp, respBody, err := a.do(ctx, http.MethodPost, "/api/v1/events", body) //nolint:bodyclose // do reads and closes it
	if err != nil {
		s.category = domain.ErrorCategoryNetwork
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			s.category = domain.ErrorCategoryTimeout
		}
		return "", s, err.Error()
	}
	s.status, s.latency = resp.StatusCode, time.Since(start)
	s.category = domain.CategorizeStatus(resp.StatusCode)
	if s.category != domain.ErrorCategoryNone {
		return "", s, resp.Status + ": " + problemText(respBody)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(respBody, &out); err != nil || out.ID == "" {
		s.category = domain.ErrorCategoryHTTP5xx
		return "", s, "unexpected publish response " + truncate(respBody, 200)
	}
	return out.ID, s, ""
}

// problemText renders an RFC 9457 problem (Huma's shape) in one line.
func problemText(body []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Errors []struct {
			Location string `json:"location"`
			Message  string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &p) != nil || (p.Title == "" && p.Detail == "") {
		return truncate(body, 200)
	}
	parts := []string{p.Detail}
	if p.Detail == "" {
		parts[0] = p.Title
	}
	for _, e := range p.Errors {
		parts = append(parts, e.Location+": "+e.Message)
	}
	return strings.Join(parts, "; ")
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// outboxReceiver records the first receipt of each event and checks its
// signatures.
type outboxReceiver struct {
	url string
	srv *http.Server
	// onFirstReceipt runs once per distinct event; set before deliveries can
	// arrive (the webhook does not exist yet).
	onFirstReceipt func()
	done           chan struct{} // closed when Serve returns

	mu       sync.Mutex
	secret   string
	first    map[string]time.Time
	dups     int
	bad      int
	received chan struct{} // a non-blocking nudge per receipt
}

func startOutboxReceiver(addr string) (*outboxReceiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, listenHint(err, "--receiver-addr", addr)
	}
	r := &outboxReceiver{
		url: "http://" + ln.Addr().String(), first: map[string]time.Time{},
		received: make(chan struct{}, 1), done: make(chan struct{}), onFirstReceipt: func() {},
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln) // ErrServerClosed after close
	}()
	return r, nil
}

func (r *outboxReceiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

func (r *outboxReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, maxReceiveBody))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	id := req.Header.Get(sigcheck.HeaderID)
	r.mu.Lock()
	ok := sigcheck.Check(req.Header, body, sigcheck.Params{Secret: r.secret, Now: now}).OK()
	if !ok {
		r.bad++
	}
	_, seen := r.first[id]
	if seen {
		r.dups++
	} else {
		r.first[id] = now
	}
	r.mu.Unlock()
	if !seen {
		r.onFirstReceipt()
	}
	select {
	case r.received <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitFor waits until every published event was received, wait has passed,
// or ctx ends.
func (r *outboxReceiver) waitFor(ctx context.Context, published map[string]time.Time, wait time.Duration) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		r.mu.Lock()
		missing := 0
		for id := range published {
			if _, ok := r.first[id]; !ok {
				missing++
			}
		}
		r.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-r.received:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// stats compares what arrived with what was published; latency is from the
// start of each publish call to the first receipt.
func (r *outboxReceiver) stats(published map[string]time.Time) (*deliveryStats, *latencyStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := &deliveryStats{Duplicates: r.dups, BadSignatures: r.bad}
	var lat []time.Duration
	for id, at := range published {
		if got, ok := r.first[id]; ok {
			d.Delivered++
			lat = append(lat, got.Sub(at))
		} else {
			d.Missing++
		}
	}
	for id := range r.first {
		if _, ok := published[id]; !ok {
			d.Foreign++
		}
	}
	return d, summarise(lat)
}

// close stops the receiver at once: the report is made, and deliveries
// still arriving (retries of other events, duplicates) no longer count.
func (r *outboxReceiver) close() {
	_ = r.srv.Close()
	<-r.done
}
