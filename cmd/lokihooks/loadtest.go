package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/loki-interceptor/lokihooks/connectors"
	"github.com/loki-interceptor/lokihooks/domain"
)

// Loadtest defaults and limits.
const (
	defaultLoadtestEvents      = 1000
	defaultLoadtestConcurrency = 10
	maxLoadtestConcurrency     = 10000
	defaultLoadtestTimeout     = 15 * time.Second
	defaultLoadtestWait        = time.Minute
)

// loopbackNetworks are what loadtest may reach without --allow-remote.
var loopbackNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// loadtestOpts are the flags of `lokihooks loadtest`.
type loadtestOpts struct {
	url          string
	events       int
	rate         float64
	concurrency  int
	secret       string
	eventType    string
	timeout      time.Duration
	allowRemote  bool
	asJSON       bool
	viaOutbox    bool
	api          string
	apiKey       string
	wait         time.Duration
	receiverAddr string
}

func (c cli) loadtestCmd() *cobra.Command {
	o := loadtestOpts{apiKey: loadToolConfig(c.getenv).APIKey}
	cmd := &cobra.Command{
		Use:     "loadtest",
		GroupID: groupTools,
		Short:   "Send signed events to a receiver, or through lokihooks, and measure",
		Long: `Sends N signed events and reports the success rate, the error categories (4xx,
5xx, timeout, network) and the latency (min, avg, p50, p95, p99, max), with a
progress bar on a terminal and progress lines otherwise; --json prints the
report as JSON.

Direct mode (--url) sends the events straight to a receiver, exactly as
lokihooks' own sender signs and sends them: it tests the receiver.

--via-outbox tests the whole pipeline of a running lokihooks instead: it starts
its own receiver, creates a temporary webhook pointing at it (deleted at the
end), publishes the events through the API (POST /api/v1/events) and measures
publish→receipt latency and delivery from what its receiver sees. The server
must accept http:// loopback webhooks (LOKIHOOKS_ALLOW_HTTP=true and
LOKIHOOKS_ALLOWED_NETWORKS=127.0.0.0/8; make run sets both).

Only loopback targets are allowed unless --allow-remote is given: load tests
are for servers you own.`,
		Example: `  # A receiver on this machine, 1000 events, 20 at a time
  lokihooks receive --addr 127.0.0.1:9000 &
  lokihooks loadtest --url http://127.0.0.1:9000/hooks --events 1000 --concurrency 20

  # 200 events per second, signed with your receiver's secret, as JSON
  lokihooks loadtest --url http://127.0.0.1:9000/hooks --rate 200 --secret whsec_... --json

  # Through a running lokihooks (make run), end to end
  lokihooks loadtest --via-outbox --api http://127.0.0.1:8080 --api-key "$(cat .dev/api-key)" --events 500`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			if o.viaOutbox {
				return c.loadtestOutbox(cmd.Context(), o)
			}
			return c.loadtestDirect(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "receiver to send the events to (direct mode)")
	f.IntVar(&o.events, "events", defaultLoadtestEvents, "events to send")
	f.Float64Var(&o.rate, "rate", 0, "events per second (0: as fast as --concurrency allows)")
	f.IntVar(&o.concurrency, "concurrency", defaultLoadtestConcurrency, "requests in flight at most")
	f.StringVar(&o.secret, "secret", "", "signing secret (direct mode; default: a generated one, printed)")
	f.StringVar(&o.eventType, "type", domain.EventTypeValidationCompleted, "event type; its catalog example is the data")
	f.DurationVar(&o.timeout, "timeout", defaultLoadtestTimeout, "per-request timeout")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "allow targets that are not loopback addresses (only servers you own)")
	f.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&o.viaOutbox, "via-outbox", false, "go through a running lokihooks: publish with the API, receive the deliveries")
	f.StringVar(&o.api, "api", "http://"+defaultAddr, "lokihooks API base URL (--via-outbox)")
	f.StringVar(&o.apiKey, "api-key", o.apiKey, "API key (--via-outbox; default $"+envAPIKey+")")
	f.DurationVar(&o.wait, "wait", defaultLoadtestWait, "after publishing, how long to wait for the last deliveries (--via-outbox)")
	f.StringVar(&o.receiverAddr, "receiver-addr", "127.0.0.1:0", "address of the receiver that --via-outbox starts")
	_ = cmd.RegisterFlagCompletionFunc("type", fixedCompletions(domain.EventTypeNames()...))
	return cmd
}

func (o loadtestOpts) validate() error {
	var errs []error
	switch {
	case o.viaOutbox && o.url != "":
		errs = append(errs, errors.New("give --url (direct to a receiver) or --via-outbox (through lokihooks), not both"))
	case o.viaOutbox && o.apiKey == "":
		errs = append(errs, fmt.Errorf("--via-outbox needs --api-key (or %s): one of the server's %s", envAPIKey, envAPIKeys))
	case !o.viaOutbox && o.url == "":
		errs = append(errs, errors.New("give --url (a receiver to send to) or --via-outbox (through a running lokihooks)"))
	}
	if o.events < 1 {
		errs = append(errs, fmt.Errorf("--events must be at least 1, got %d", o.events))
	}
	if o.concurrency < 1 || o.concurrency > maxLoadtestConcurrency {
		errs = append(errs, fmt.Errorf("--concurrency must be between 1 and %d, got %d", maxLoadtestConcurrency, o.concurrency))
	}
	if !(o.rate >= 0) || math.IsInf(o.rate, 0) {
		errs = append(errs, fmt.Errorf("--rate must be 0 (unlimited) or a positive number of events per second, got %g", o.rate))
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout must be positive, got %s", o.timeout))
	}
	if !domain.IsKnownEventType(o.eventType) {
		errs = append(errs, fmt.Errorf("--type %q is not in the catalog (lokihooks events list)", o.eventType))
	}
	if o.secret != "" {
		if err := domain.ValidateSecret(o.secret); err != nil {
			errs = append(errs, fmt.Errorf("--secret: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkTarget refuses a URL whose host is not on loopback, unless
// allowRemote. Names are resolved; every address must be loopback, and the
// sender's dial guard holds it to that.
func checkTarget(ctx context.Context, raw string, allowRemote bool, flagName string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("%s %q must be an http:// or https:// URL with a host", flagName, raw)
	}
	if allowRemote {
		return u, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("%s: resolve %s: %w", flagName, u.Hostname(), err)
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return nil, fmt.Errorf("refusing %s %s: %s is not a loopback address; load-test only servers you own, "+
				"and say so with --allow-remote", flagName, u.Redacted(), a)
		}
	}
	return u, nil
}

// loadtestSender is lokihooks' own webhook sender, with a dial guard that
// allows loopback only (or everything, with --allow-remote).
func loadtestSender(o loadtestOpts) *connectors.Webhook {
	nets := loopbackNetworks
	if o.allowRemote {
		nets = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	client := connectors.NewClient(connectors.ClientConfig{AllowHTTP: true, AllowedNetworks: nets, MaxIdleConnsPerHost: o.concurrency})
	return connectors.NewWebhook(client, connectors.WebhookConfig{HTTPConfig: connectors.HTTPConfig{UserAgent: "lokihooks-loadtest/" + version, DefaultTimeout: o.timeout}})
}

// sample is one request's outcome.
type sample struct {
	category domain.ErrorCategory // none on success
	status   int
	latency  time.Duration // zero without a response
}

func (c cli) loadtestDirect(ctx context.Context, o loadtestOpts) error {
	target, err := checkTarget(ctx, o.url, o.allowRemote, "--url")
	if err != nil {
		return err
	}
	if o.secret == "" {
		o.secret = domain.GenerateSecret()
		fmt.Fprintf(c.stderr, "loadtest: signing with a generated secret %s (give your receiver's with --secret)\n", o.secret)
	}
	info, err := domain.LookupEventType(o.eventType)
	if err != nil {
		return err
	}
	data, err := compactJSON(info.Example)
	if err != nil {
		return err
	}
	sender := loadtestSender(o)
	fmt.Fprintf(c.stderr, "loadtest: %d %s events to %s, %s\n", o.events, o.eventType, target.Redacted(), pacing(o))

	samples := make([]sample, 0, o.events)
	var mu sync.Mutex
	prog := newProgress(c.stderr, o.events, "sending")
	start := time.Now()
	err = dispatch(ctx, o, func(ctx context.Context, i int) {
		now := time.Now()
		id := domain.NewID(domain.EventIDPrefix, now)
		res := sender.Send(ctx, domain.AttemptRequest{
			URL: target.String(), EventID: id, EventType: o.eventType,
			DeliveryID: domain.NewID(domain.DeliveryIDPrefix, now), Attempt: 1,
			Body: envelope(id, o.eventType, now, data), Secrets: []string{o.secret}, Timeout: o.timeout,
		})
		if errors.Is(res.Err, context.Canceled) {
			return // interrupted: not a result
		}
		s := sample{category: res.Category, status: res.StatusCode}
		if res.StatusCode != 0 {
			s.latency = res.Duration
		}
		mu.Lock()
		samples = append(samples, s)
		mu.Unlock()
		prog.add()
	})
	elapsed := time.Since(start)
	prog.finish()
	if err != nil {
		return err
	}
	rep := newLoadReport("direct", target.Redacted(), o, samples, elapsed)
	return c.printLoadReport(rep, o.asJSON)
}

// dispatch runs send for events 0..o.events-1, at most o.concurrency at a
// time and at most o.rate per second, until done or ctx ends (then it
// returns nil: the report covers what was sent).
func dispatch(ctx context.Context, o loadtestOpts, send func(ctx context.Context, i int)) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.concurrency)
	var tick <-chan time.Time
	if o.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		defer t.Stop()
		tick = t.C
	}
	for i := range o.events {
		if tick != nil && i > 0 {
			select {
			case <-tick:
			case <-gctx.Done():
			}
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			send(gctx, i)
			return nil
		})
	}
	return g.Wait()
}

func pacing(o loadtestOpts) string {
	if o.rate > 0 {
		return fmt.Sprintf("%g/s, at most %d in flight", o.rate, o.concurrency)
	}
	return fmt.Sprintf("%d in flight", o.concurrency)
}

func compactJSON(doc []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// loadReport is the result of a load test; `--json` prints it as is.
type loadReport struct {
	Mode            string         `json:"mode"` // direct or via_outbox
	Target          string         `json:"target"`
	EventType       string         `json:"event_type"`
	Requested       int            `json:"requested"`
	Sent            int            `json:"sent"`
	Succeeded       int            `json:"succeeded"`
	SuccessRate     float64        `json:"success_rate"`
	Errors          map[string]int `json:"errors"`
	StatusCodes     map[int]int    `json:"status_codes"`
	DurationSeconds float64        `json:"duration_seconds"`
	PerSecond       float64        `json:"events_per_second"`
	Latency         *latencyStats  `json:"latency_ms"`
	// Set by --via-outbox.
	Delivery *deliveryStats `json:"delivery,omitempty"`
}

// deliveryStats are what the --via-outbox receiver saw.
type deliveryStats struct {
	WebhookID     string `json:"webhook_id"`
	Delivered     int    `json:"delivered"` // distinct published events received
	Missing       int    `json:"missing"`   // published, not received within --wait
	Duplicates    int    `json:"duplicates"`
	BadSignatures int    `json:"bad_signatures"`
	Foreign       int    `json:"foreign"` // events other publishers sent meanwhile
}

// latencyStats summarise latencies in milliseconds.
type latencyStats struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	Avg   float64 `json:"avg"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// errorCategories are the failure kinds a report counts, in print order.
var errorCategories = []domain.ErrorCategory{
	domain.ErrorCategoryHTTP4xx, domain.ErrorCategoryHTTP5xx, domain.ErrorCategoryTimeout,
	domain.ErrorCategoryNetwork, domain.ErrorCategoryHTTP3xx,
}

func newLoadReport(mode, target string, o loadtestOpts, samples []sample, elapsed time.Duration) *loadReport {
	rep := &loadReport{
		Mode: mode, Target: target, EventType: o.eventType, Requested: o.events, Sent: len(samples),
		Errors: map[string]int{}, StatusCodes: map[int]int{}, DurationSeconds: elapsed.Seconds(),
	}
	for _, cat := range errorCategories {
		rep.Errors[string(cat)] = 0
	}
	var lat []time.Duration
	for _, s := range samples {
		if s.category == domain.ErrorCategoryNone {
			rep.Succeeded++
		} else {
			rep.Errors[string(s.category)]++
		}
		if s.status != 0 {
			rep.StatusCodes[s.status]++
			lat = append(lat, s.latency)
		}
	}
	if rep.Sent > 0 {
		rep.SuccessRate = float64(rep.Succeeded) / float64(rep.Sent)
	}
	if elapsed > 0 {
		rep.PerSecond = float64(rep.Sent) / elapsed.Seconds()
	}
	rep.Latency = summarise(lat)
	return rep
}

// summarise returns the latency summary, nil without samples. Percentiles
// are nearest-rank.
func summarise(lat []time.Duration) *latencyStats {
	if len(lat) == 0 {
		return nil
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p/100*float64(len(lat)))) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	return &latencyStats{
		Count: len(lat), Min: ms(lat[0]), Avg: ms(sum / time.Duration(len(lat))),
		P50: ms(rank(50)), P95: ms(rank(95)), P99: ms(rank(99)), Max: ms(lat[len(lat)-1]),
	}
}

func (c cli) printLoadReport(rep *loadReport, asJSON bool) error {
	if asJSON {
		return writeJSON(c.stdout, rep)
	}
	w := c.stdout
	fmt.Fprintf(w, "\n%s: %d of %d events sent in %s (%.0f/s)\n\n", rep.Target, rep.Sent, rep.Requested,
		humanDuration(time.Duration(rep.DurationSeconds*float64(time.Second))), rep.PerSecond)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "outcome\tcount\tshare\t")
	row := func(name string, n int) {
		share := 0.0
		if rep.Sent > 0 {
			share = 100 * float64(n) / float64(rep.Sent)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t\n", name, n, share)
	}
	row("success", rep.Succeeded)
	for _, cat := range errorCategories {
		if cat == domain.ErrorCategoryHTTP3xx && rep.Errors[string(cat)] == 0 {
			continue // redirects are rare; show them only when they happen
		}
		row(strings.TrimPrefix(string(cat), "http_"), rep.Errors[string(cat)])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d := rep.Delivery; d != nil {
		fmt.Fprintf(w, "\ndelivered %d of %d published (%.1f%%); missing %d, duplicates %d, bad signatures %d",
			d.Delivered, rep.Succeeded, 100*rep.deliveredShare(), d.Missing, d.Duplicates, d.BadSignatures)
		if d.Foreign > 0 {
			fmt.Fprintf(w, ", %d deliveries of other publishers' events ignored", d.Foreign)
		}
		fmt.Fprintln(w)
	}
	if l := rep.Latency; l != nil {
		what := "latency (request → response)"
		if rep.Delivery != nil {
			what = "latency (publish → receipt)"
		}
		fmt.Fprintf(w, "\n%s over %d:\n", what, l.Count)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "min\tavg\tp50\tp95\tp99\tmax\t")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", msString(l.Min), msString(l.Avg), msString(l.P50), msString(l.P95), msString(l.P99), msString(l.Max))
		return tw.Flush()
	}
	fmt.Fprintln(w, "\nno responses, so no latency")
	return nil
}

func (r *loadReport) deliveredShare() float64 {
	if r.Delivery == nil || r.Succeeded == 0 {
		return 0
	}
	return float64(r.Delivery.Delivered) / float64(r.Succeeded)
}

func msString(ms float64) string {
	return humanDuration(time.Duration(ms * float64(time.Millisecond)))
}

// progress shows how far a load test is: a bar on a terminal, a line per
// tenth otherwise (so logs and pipes stay readable).
type progress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	w     io.Writer
	what  string
	done  int
	total int
	shown int // tenths printed
}

func newProgress(w io.Writer, total int, what string) *progress {
	p := &progress{w: w, what: what, total: total}
	if isTerminal(w) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionFullWidth(), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *progress) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.bar != nil {
		_ = p.bar.Add(1)
		return
	}
	for tenth := p.done * 10 / p.total; p.shown < tenth; {
		p.shown++
		fmt.Fprintf(p.w, "loadtest: %s %d/%d (%d%%)\n", p.what, p.shown*p.total/10, p.total, p.shown*10)
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
