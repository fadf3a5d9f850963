package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// The dashboard's end-to-end test: a real `lokihooks serve` (all roles, in
// a child process) with real deliveries to a local receiver, and the UI
// driven in Debian's headless Chromium through the DevTools protocol
// (chromedp). Every request the browser makes is intercepted: any that is
// not for 127.0.0.1 is refused and fails the test.
//
// Screenshots of each page go to .artifacts/ui/ at the repository root
// (git-ignored); `make screenshots` copies them to docs/screenshots/.

// uiTestKey is the API key of the serve process under test.
const uiTestKey = "ui-e2e-key-0123456789abcdef"

// uiWait bounds every wait for the page; the machine may be busy.
const uiWait = 60 * time.Second

// Not parallel: Chromium and a second serve process keep a core busy for
// its 20 seconds, and the crash tests beside it are sensitive to timing
// (their rescue window is 2 s); it runs first, before the parallel tests.
func TestUI_EndToEnd(t *testing.T) { //nolint:paralleltest // see above
	if testing.Short() {
		t.Skip("runs lokihooks serve and Chromium")
	}
	chrome := chromiumPath(t)
	shots := screenshotDir(t)
	start := time.Now()

	b := newServeBundle(t)
	rcv := newUIReceiver(t)
	base := b.startAPIServe(t)
	c := &uiAPI{t: t, base: base, client: http.Client{Timeout: 30 * time.Second}}

	orders := c.createWebhook("Orders", rcv.URL+"/ok", []string{"*"}, "exponential_backoff")
	billing := c.createWebhook("Billing", rcv.URL+"/flaky", []string{"compliance.alert"}, "no_retry")
	const events = 8
	for i := range events {
		c.publish("validation.completed", fmt.Sprintf(`{"document_id":"doc_%d","gates_failed":0,"gates_passed":8,"issues":[],
			"processing_time_ms":523.45,"source_id":"val_123","validation_status":"pass"}`, i))
	}
	// Two dead letters: the single redrive below picks one by its id and
	// must leave the other where it is.
	var dead []string
	for i := range 2 {
		c.publish("compliance.alert", fmt.Sprintf(`{"affected_documents":["doc_%d"],"alert_level":"high",
			"message":"Financial promotion lacks a risk warning","recommended_actions":["Add the standard risk warning"]}`, i))
		require.Eventually(t, func() bool {
			dead = c.deliveryIDs(billing, "permanent_failure")
			return len(dead) == i+1
		}, uiWait, 50*time.Millisecond, "dead letter %d never appeared", i+1)
	}
	// Analytics from the real deliveries (the runner batches every second).
	require.Eventually(t, func() bool {
		var a struct {
			Summary struct {
				ResponseCount int `json:"response_count"`
				Delivered     int `json:"delivered"`
			} `json:"summary"`
		}
		c.get("/api/v1/webhooks/"+orders+"/analytics", &a)
		return a.Summary.ResponseCount >= events+2 && a.Summary.Delivered >= events+2
	}, uiWait, 100*time.Millisecond, "analytics never counted the deliveries")
	t.Logf("server, webhooks and %d deliveries ready after %s", events+4, time.Since(start).Round(time.Millisecond))

	br := newBrowser(t, chrome, shots)
	shot := func(name string) {
		t.Helper()
		png := runBrowser(br, chromedp.CaptureScreenshot())
		require.NoError(t, os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644))
	}

	// The steps below are one browser session, in order.
	step := func(name string) {
		t.Helper()
		t.Logf("step %s (%s since start)", name, time.Since(start).Round(time.Millisecond))
	}

	step("sign in")
	{
		br.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("api-key")))
		shot("signin")
		br.do(
			chromedp.SendKeys(chromedp.ID("api-key"), "not-the-key-0123456789"),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("signin-error")),
		)
		msg := runBrowser(br, chromedp.Text(chromedp.ID("signin-error")))
		require.Contains(t, msg, "API key was not accepted")
		br.requireLabelled()
		br.requireContrast()
		shot("signin-wrong-key")
		br.do(
			br.eval(`(() => { const k = document.getElementById('api-key'); k.value = ''; k.dispatchEvent(new Event('input', { bubbles: true })); })()`),
			chromedp.SendKeys(chromedp.ID("api-key"), uiTestKey+kb.Enter), // Enter submits the form
			chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Main"]`)),
		)
		stored := runBrowser(br, chromedp.Evaluate[string](`sessionStorage.getItem('lokihooks.apiKey')`))
		local := runBrowser(br, chromedp.Evaluate[string](`JSON.stringify(localStorage) + document.cookie`))
		require.Equal(t, uiTestKey, stored, "the key lives in sessionStorage")
		require.Equal(t, "{}", local, "nothing in localStorage or cookies")
	}

	step("overview")
	{
		br.waitJS(`document.querySelector('#chart-deliveries')?.dataset.points > 0 &&
			document.querySelector('#chart-latency')?.dataset.points > 0 &&
			document.querySelector('#top-failing a')?.textContent === 'Billing'`)
		br.requireLabelled()
		br.requireContrast()
		shot("overview")
	}

	step("latency chart")
	{
		br.do(chromedp.Click(chromedp.Search(`//nav//a[text()="Destinations"]`)),
			chromedp.Click(chromedp.Search(`//table[@id="webhooks"]//a[text()="Orders"]`)))
		br.waitJS(`document.querySelector('#chart-dest-latency')?.dataset.points > 0`)
		// The percentiles are drawn: the canvas has pixels of their colours.
		br.waitJS(`(() => {
			const c = document.querySelector('#chart-dest-latency canvas');
			if (!c) return false;
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			let n = 0;
			const colours = [[0x00, 0x9E, 0x73], [0x00, 0x72, 0xB2], [0xD5, 0x5E, 0x00]]; // p50, p95, p99
			for (let i = 0; i < d.length; i += 4) {
				if (d[i+3] > 200 && colours.some(([r, g, b]) => Math.abs(d[i] - r) < 30 && Math.abs(d[i+1] - g) < 30 && Math.abs(d[i+2] - b) < 30)) n++;
			}
			return n > 10;
		})()`)
		p95 := runBrowser(br, chromedp.Text(chromedp.CSS(`#dest-p95 .tile-value`)))
		require.Regexp(t, `^\d+(\.\d+)? (ms|s)$`, p95, "p95 from real responses")
		br.requireLabelled()
		br.requireContrast()
		shot("webhook")
	}

	step("pause and resume")
	{
		// Keyboard only: focus Pause, Enter opens the dialog (focus on
		// Cancel), Tab to the confirmation, Enter.
		br.do(chromedp.Focus(chromedp.Search(`//div[@class="actions"]/button[text()="Pause"]`)), chromedp.KeyEvent(kb.Enter),
			chromedp.WaitVisible(chromedp.CSS(`dialog[open]`)))
		shot("webhook-pause-confirm")
		br.do(chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Enter))
		br.waitJS(`document.querySelector('.page-head .badge')?.textContent === 'paused'`)
		require.Equal(t, "paused", c.webhookStatus(orders))
		shot("webhook-paused")
		br.do(chromedp.Click(chromedp.Search(`//div[@class="actions"]/button[text()="Resume"]`)),
			chromedp.WaitVisible(chromedp.CSS(`dialog[open] button.primary`)),
			chromedp.Click(chromedp.CSS(`dialog[open] button.primary`)))
		br.waitJS(`document.querySelector('.page-head .badge')?.textContent === 'active'`)
		require.Equal(t, "active", c.webhookStatus(orders))
	}

	step("redrive")
	{
		rcv.failing.Store(false) // the receiver is fixed
		br.do(chromedp.Click(chromedp.Search(`//nav//a[text()="Dead letters"]`)))
		br.waitJS(fmt.Sprintf(`document.querySelectorAll('#dead-letters tr[data-delivery="%s"], #dead-letters tr[data-delivery="%s"]').length === 2`, dead[0], dead[1]))
		br.requireLabelled()
		br.requireContrast()
		shot("dead-letters")

		// One dead letter, from its row.
		br.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#dead-letters tr[data-delivery="%s"] button`, dead[0]))),
			chromedp.WaitVisible(chromedp.CSS(`dialog[open] button.primary`)),
			chromedp.Click(chromedp.CSS(`dialog[open] button.primary`)))
		br.waitJS(`document.querySelector('#redrive-result')?.textContent.startsWith('Redriven 1 delivery.')`)
		br.waitJS(fmt.Sprintf(`document.querySelector('#redriven tr[data-delivery="%s"]')?.dataset.status === 'delivered'`, dead[0]))
		require.Equal(t, "delivered", c.deliveryStatus(billing, dead[0]))
		require.Equal(t, 2, rcv.hits(dead[0]), "the receiver got the first attempt and the redrive")
		br.do(chromedp.ScrollIntoView(chromedp.ID("redriven")))
		shot("dead-letters-redriven")

		// The rest, in bulk.
		br.do(chromedp.Click(chromedp.Search(`//div[@class="actions"]/button[text()="Redrive all matching"]`)),
			chromedp.WaitVisible(chromedp.CSS(`dialog[open] button.danger`)),
			chromedp.Click(chromedp.CSS(`dialog[open] button.danger`)))
		br.waitJS(`document.querySelector('#redrive-result')?.textContent.startsWith('Redriven 1 delivery across 2 destinations')`)
		br.waitJS(fmt.Sprintf(`document.querySelector('#redriven tr[data-delivery="%s"]')?.dataset.status === 'delivered'`, dead[1]))
		require.Equal(t, "delivered", c.deliveryStatus(billing, dead[1]))
		require.Empty(t, c.deliveryIDs(billing, "permanent_failure"))
	}

	step("docs")
	{
		br.do(chromedp.Navigate(base + "/docs"))
		br.waitJS(`document.querySelector('.swagger-ui .info .title')?.textContent.includes('lokihooks API') &&
			document.querySelectorAll('.opblock').length > 20`)
		shot("docs")
	}

	step("phone")
	{
		br.do(chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/ui/#/webhooks/"+orders))
		br.waitJS(`document.querySelector('#chart-dest-latency')?.dataset.points > 0`)
		br.waitJS(`document.documentElement.scrollWidth <= window.innerWidth`) // nothing sticks out sideways
		shot("webhook-phone")
		br.do(br.eval(`location.hash = '#/'`))
		br.waitJS(`document.querySelector('#chart-deliveries')?.dataset.points > 0 && document.documentElement.scrollWidth <= window.innerWidth`)
		shot("overview-phone")
	}

	step("no request leaves 127.0.0.1")
	{
		urls, blocked := br.requests()
		require.Empty(t, blocked, "requests the page made to other hosts")
		require.Greater(t, len(urls), 20, "the recorder saw the page's requests")
		for _, u := range urls {
			p, err := url.Parse(u)
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1", p.Hostname(), u)
		}
		t.Logf("%d requests, every one to 127.0.0.1", len(urls))
	}
	t.Logf("took %s; screenshots in %s", time.Since(start).Round(time.Millisecond), shots)
}

// chromiumPath finds Debian's Chromium. Without it the test is skipped,
// except in CI (CI=true), whose .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed, and CI must run the dashboard's end-to-end test (.ci/run installs it)")
	}
	t.Skip("SKIPPED the dashboard's end-to-end test: Chromium is not installed (apt-get install chromium)")
	return ""
}

// screenshotDir is .artifacts/ui at the repository root.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", ".artifacts", "ui"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// startAPIServe runs `lokihooks serve` with every role on a free port of
// 127.0.0.1 and returns its base URL.
func (b *serveBundle) startAPIServe(t *testing.T) string {
	t.Helper()
	env := map[string]string{
		runMainEnv: "1", envDatabaseURL: b.dbURL, envAddr: "127.0.0.1:0", envAPIKeys: uiTestKey,
		envAllowHTTP: "true", envAllowedNetworks: "127.0.0.0/8", envPollInterval: "10ms", envProjectionLag: "50ms",
		envShutdownTimeout: "5s", envSecretsKey: testSecretsKey,
	}
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &lineLog{t: t, prefix: "serve"}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	c := &serveChild{name: "serve", cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = cmd.Wait()
		out.flush()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
	})
	var base string
	require.Eventually(t, func() bool {
		base = out.value("  API:       ", "/api/v1")
		return base != ""
	}, uiWait, 10*time.Millisecond, "serve never said where it listens")
	return base
}

// value returns the text between prefix and suffix on the first line that
// starts with prefix, or "".
func (w *lineLog) value(prefix, suffix string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSuffix(v, suffix)
		}
	}
	return ""
}

// uiReceiver answers /ok with 200 and /flaky with 500 while failing is set;
// it counts requests by delivery id.
type uiReceiver struct {
	*httptest.Server
	failing atomic.Bool
	mu      sync.Mutex
	byID    map[string]int
}

func newUIReceiver(t *testing.T) *uiReceiver {
	t.Helper()
	r := &uiReceiver{byID: map[string]int{}}
	r.failing.Store(true)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.byID[req.Header.Get("X-Webhook-Delivery")]++
		r.mu.Unlock()
		if req.URL.Path == "/flaky" && r.failing.Load() {
			http.Error(w, "receiver down for maintenance", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *uiReceiver) hits(delivery string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[delivery]
}

// uiAPI calls the API under test, as a client would.
type uiAPI struct {
	t      *testing.T
	base   string
	client http.Client
}

func (c *uiAPI) do(method, path string, body any, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+uiTestKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.client.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	require.Less(c.t, res.StatusCode, 300, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(raw, out))
	}
}

func (c *uiAPI) get(path string, out any) { c.t.Helper(); c.do(http.MethodGet, path, nil, out) }

func (c *uiAPI) createWebhook(name, target string, types []string, strategy string) string {
	c.t.Helper()
	var w struct {
		ID string `json:"id"`
	}
	c.do(http.MethodPost, "/api/v1/webhooks", map[string]any{
		"name": name, "url": target, "event_types": types, "retry_strategy": strategy,
	}, &w)
	return w.ID
}

func (c *uiAPI) publish(typ, data string) {
	c.t.Helper()
	c.do(http.MethodPost, "/api/v1/events", map[string]any{"type": typ, "data": json.RawMessage(data)}, nil)
}

func (c *uiAPI) deliveryIDs(webhook, status string) []string {
	c.t.Helper()
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	c.get("/api/v1/webhooks/"+webhook+"/deliveries?status="+status+"&limit=100", &page)
	ids := make([]string, len(page.Data))
	for i, d := range page.Data {
		ids[i] = d.ID
	}
	return ids
}

func (c *uiAPI) deliveryStatus(webhook, delivery string) string {
	c.t.Helper()
	var d struct {
		Status string `json:"status"`
	}
	c.get("/api/v1/webhooks/"+webhook+"/deliveries/"+delivery, &d)
	return d.Status
}

func (c *uiAPI) webhookStatus(id string) string {
	c.t.Helper()
	var w struct {
		Status string `json:"status"`
	}
	c.get("/api/v1/webhooks/"+id, &w)
	return w.Status
}

// browser is one headless Chromium tab whose every request is intercepted:
// requests for 127.0.0.1 continue, any other is refused and recorded.
type browser struct {
	t       *testing.T
	ctx     context.Context
	shots   string // where a failure leaves its screenshot
	mu      sync.Mutex
	urls    []string
	blocked []string
}

func newBrowser(t *testing.T, chrome, shots string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests may run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		// A second guard: no host name resolves but the test server's.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	br := &browser{t: t, ctx: ctx, shots: shots}
	// Subscribing starts the browser; the context of that first call has no
	// timeout, since it lives as long as the browser.
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range paused {
			if err != nil {
				return // the browser is closing
			}
			u, err := url.Parse(ev.Request.URL)
			allowed := err == nil && u.Hostname() == "127.0.0.1"
			br.mu.Lock()
			br.urls = append(br.urls, ev.Request.URL)
			if !allowed {
				br.blocked = append(br.blocked, ev.Request.URL)
			}
			br.mu.Unlock()
			if allowed {
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			} else {
				_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
	})
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}})
	require.NoError(t, err)
	return br
}

// do runs actions in order, each wait bounded by uiWait.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiWait)
	defer cancel()
	b.check(chromedp.Do(ctx, actions...), "actions")
}

// check fails the test on err, leaving a screenshot and the page's text.
func (b *browser) check(err error, what string) {
	b.t.Helper()
	if err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(filepath.Join(b.shots, "failure.png"), png, 0o644)
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 3000)`))
	b.t.Fatalf("%s: %v\npage (screenshot in %s):\n%s", what, err, filepath.Join(b.shots, "failure.png"), text)
}

// eval is an action that evaluates a script for its effect.
func (b *browser) eval(script string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](script)(ctx, t)
		return err
	})
}

// runBrowser runs one action that returns a value, bounded by uiWait.
func runBrowser[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiWait)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	b.check(err, "action")
	return v
}

// waitJS waits until the expression is true in the page.
func (b *browser) waitJS(expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiWait)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
	b.check(err, "waiting for "+expr)
}

// requireLabelled checks that every control on the page has an accessible
// name: a label, aria-label(ledby), or text.
func (b *browser) requireLabelled() {
	b.t.Helper()
	unnamed := runBrowser(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('input, select, textarea, button, a[href]')]
		.filter((e) => e.offsetParent !== null || e.type === 'radio')
		.filter((e) => !((e.labels && e.labels.length) || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || e.textContent.trim()))
		.map((e) => e.outerHTML.slice(0, 120))`))
	require.Empty(b.t, unnamed, "controls without an accessible name")
}

// requireContrast checks that the visible text on the page has a contrast
// ratio of at least 4.5:1 with its background (3:1 for large text), as WCAG
// 2 AA asks; disabled controls are exempt. The background is the first
// opaque one behind the text.
func (b *browser) requireContrast() {
	b.t.Helper()
	low := runBrowser(b, chromedp.Evaluate[[]string](`(() => {
		const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
		const lum = ([r, g, b]) => {
			const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
			return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
		};
		const bg = (e) => {
			for (; e; e = e.parentElement) {
				const c = rgb(getComputedStyle(e).backgroundColor);
				if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
			}
			return [255, 255, 255];
		};
		const out = [];
		for (const e of document.querySelectorAll('body *')) {
			if (![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
			if (e.closest('[disabled], dialog:not([open]), .sr-only, .u-legend, details:not([open]) > :not(summary)')) continue;
			const r = e.getBoundingClientRect();
			if (r.width === 0 || r.height === 0) continue;
			const s = getComputedStyle(e);
			if (s.visibility === 'hidden' || Number(s.opacity) === 0) continue;
			const l1 = lum(rgb(s.color).slice(0, 3)), l2 = lum(bg(e));
			const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
			const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
			const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
			if (ratio < need) out.push(ratio.toFixed(2) + ': ' + e.outerHTML.slice(0, 100));
		}
		return out;
	})()`))
	require.Empty(b.t, low, "text with too little contrast")
}

// requests returns every URL the page requested, and those it was refused.
func (b *browser) requests() (urls, blocked []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.urls...), append([]string(nil), b.blocked...)
}
