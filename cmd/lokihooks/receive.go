package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/loki-interceptor/lokihooks/internal/sigcheck"
)

// Limits of the development receiver.
const (
	defaultReceiveAddr = "127.0.0.1:9000"
	// maxReceiveBody bounds what one request can make the receiver buffer;
	// the API accepts event bodies far smaller.
	maxReceiveBody = 4 << 20
	// receiveShutdownTimeout bounds the drain on Ctrl-C: held (--timeout-rate)
	// and slow (--latency) requests are released at once, so only requests
	// being read remain.
	receiveShutdownTimeout = 5 * time.Second
)

// receiveOpts are the flags of `lokihooks receive`.
type receiveOpts struct {
	addr        string
	secret      string
	status      int
	failRate    float64
	timeoutRate float64
	resetRate   float64
	latency     time.Duration
	goneAfter   int
	asJSON      bool
	smtp        string
	save        string
}

func (c cli) receiveCmd() *cobra.Command {
	var o receiveOpts
	cmd := &cobra.Command{
		Use:     "receive",
		GroupID: groupTools,
		Short:   "Run a local webhook receiver that verifies and prints deliveries",
		Long: `A webhook receiver for development. It accepts deliveries on any path, verifies
both signatures with --secret (webhook-signature within ±5 minutes, and
X-Webhook-Signature), and prints one line per delivery: time, event type, event
id, attempt, ✓ or ✗ with the reason, the answer and how long it took. Colour on
a terminal (unless NO_COLOR is set), plain text otherwise; --json prints one
JSON object per line.

It can make trouble on purpose, to watch retries, dead letters and the 410
deactivation happen: --status, --fail-rate, --latency, --timeout-rate (hold the
request until the sender gives up), --reset-rate (reset the connection) and
--gone-after. --smtp also runs an SMTP sink that prints every email it gets, to
try the email integration. Ctrl-C stops it.

lokihooks refuses http:// and loopback destinations unless it runs with
LOKIHOOKS_ALLOW_HTTP=true and LOKIHOOKS_ALLOWED_NETWORKS=127.0.0.0/8 (make run
sets both).`,
		Example: `  # Print and verify deliveries; the secret is in the create-webhook response
  lokihooks receive --secret whsec_...

  # Fail 30% of deliveries with a 500 and answer slowly: watch the retries
  lokihooks receive --secret whsec_... --fail-rate 0.3 --latency 2s

  # Always fail: watch a delivery reach the dead letter
  lokihooks receive --status 500

  # Answer 410 Gone after 3 deliveries: watch lokihooks deactivate the webhook
  lokihooks receive --gone-after 3

  # Also catch the email integration's messages
  lokihooks receive --smtp 127.0.0.1:2525

  # Save each request, for 'lokihooks verify'
  lokihooks receive --secret whsec_... --save ./requests`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			return c.receive(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", defaultReceiveAddr, "address to listen on (host:port; port 0 picks a free one)")
	f.StringVar(&o.secret, "secret", "", "the webhook's signing secret (whsec_...), to verify signatures")
	f.IntVar(&o.status, "status", http.StatusOK, "HTTP status to answer")
	f.Float64Var(&o.failRate, "fail-rate", 0, "fraction of deliveries (0 to 1) answered 500")
	f.DurationVar(&o.latency, "latency", 0, "wait this long before answering")
	f.Float64Var(&o.timeoutRate, "timeout-rate", 0, "fraction of deliveries (0 to 1) held unanswered until the sender gives up")
	f.Float64Var(&o.resetRate, "reset-rate", 0, "fraction of deliveries (0 to 1) whose connection is reset instead of answered")
	f.IntVar(&o.goneAfter, "gone-after", 0, "answer 410 Gone to every delivery after the first N (0: never)")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object per line")
	f.StringVar(&o.smtp, "smtp", "", "also run a development SMTP sink on this address, e.g. 127.0.0.1:2525")
	f.StringVar(&o.save, "save", "", "write each request as a raw HTTP file into this directory")
	return cmd
}

func (o receiveOpts) validate() error {
	var errs []error
	if o.status < 100 || o.status > 599 {
		errs = append(errs, fmt.Errorf("--status must be an HTTP status (100 to 599), got %d", o.status))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"--fail-rate", o.failRate}, {"--timeout-rate", o.timeoutRate}, {"--reset-rate", o.resetRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			errs = append(errs, fmt.Errorf("%s must be between 0 and 1 (a fraction, 0.3 for 30%%), got %g", r.name, r.v))
		}
	}
	if o.latency < 0 {
		errs = append(errs, fmt.Errorf("--latency must not be negative, got %s", o.latency))
	}
	if o.goneAfter < 0 {
		errs = append(errs, fmt.Errorf("--gone-after must be 0 (never) or positive, got %d", o.goneAfter))
	}
	return errors.Join(errs...)
}

func (c cli) receive(ctx context.Context, o receiveOpts) error {
	if o.save != "" {
		if err := os.MkdirAll(o.save, 0o755); err != nil {
			return fmt.Errorf("--save: %w", err)
		}
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return listenHint(err, "--addr", o.addr)
	}
	var smtpLn net.Listener
	if o.smtp != "" {
		if smtpLn, err = net.Listen("tcp", o.smtp); err != nil {
			_ = ln.Close()
			return listenHint(err, "--smtp", o.smtp)
		}
	}
	out := &linePrinter{w: c.stdout, asJSON: o.asJSON, color: !o.asJSON && isTerminal(c.stdout) && !loadToolConfig(c.getenv).NoColor}
	stop := make(chan struct{})
	rcv := &devReceiver{o: o, out: out, stop: stop}
	fresh := &freshConns{conns: map[net.Conn]struct{}{}}
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second, ConnState: fresh.track}

	fmt.Fprintf(c.stderr, "lokihooks receive: listening on http://%s (any path), %s\n", ln.Addr(), rcv.describe())
	if smtpLn != nil {
		fmt.Fprintf(c.stderr, "lokihooks receive: SMTP sink on %s (no TLS, any credentials)\n", smtpLn.Addr())
	}
	if o.secret == "" {
		fmt.Fprintln(c.stderr, "lokihooks receive: signatures are not checked: give the webhook's secret with --secret")
	}
	fmt.Fprintln(c.stderr, "lokihooks receive: Ctrl-C to stop")

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("receiver: %w", err)
		}
		return nil
	})
	var sink *smtpSink
	if smtpLn != nil {
		sink = newSMTPSink(out, c.stderr)
		g.Go(func() error { return sink.serve(smtpLn) })
	}
	g.Go(func() error {
		<-gctx.Done()
		close(stop) // release held and slow requests
		fresh.closeAll()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), receiveShutdownTimeout)
		defer cancel()
		var errs []error
		if sink != nil {
			errs = append(errs, sink.shutdown())
		}
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("receiver shutdown: %w", err))
		}
		return errors.Join(errs...)
	})
	err = g.Wait()
	fmt.Fprintf(c.stderr, "lokihooks receive: stopped after %d deliveries\n", rcv.count.Load())
	return err
}

// freshConns tracks connections that have not sent a request yet. Shutdown
// waits 5 seconds for those (a client may still send one), but HTTP clients
// open spare connections they may never use: on Ctrl-C they are closed at
// once.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (f *freshConns) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state == http.StateNew {
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
}

func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		_ = c.Close()
	}
}

// listenHint explains a failed listen of a tool's flag.
func listenHint(err error, flagName, addr string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: the address is already in use; stop what runs there or pick another with %s (port 0 picks a free one)", addr, flagName)
	}
	return fmt.Errorf("listen on %s (%s): %w", addr, flagName, err)
}

// devReceiver answers deliveries as receiveOpts say and prints each one.
type devReceiver struct {
	o     receiveOpts
	out   *linePrinter
	stop  <-chan struct{} // closed on shutdown
	count atomic.Int64    // requests received
}

// Outcomes of one request.
const (
	outcomeAnswered = "answered"
	outcomeTimeout  = "timeout"
	outcomeReset    = "reset"
)

// delivery is what the receiver saw and did for one request.
type delivery struct {
	Kind        string     `json:"kind"` // "delivery"
	Time        time.Time  `json:"time"`
	Method      string     `json:"method"`
	Path        string     `json:"path"`
	EventType   string     `json:"event_type,omitempty"`
	EventID     string     `json:"event_id,omitempty"`
	DeliveryID  string     `json:"delivery_id,omitempty"`
	Attempt     string     `json:"attempt,omitempty"`
	BodyBytes   int        `json:"body_bytes"`
	Verified    *bool      `json:"verified"` // null without --secret
	Standard    *checkJSON `json:"standard,omitempty"`
	Legacy      *checkJSON `json:"legacy,omitempty"`
	Outcome     string     `json:"outcome"` // answered, timeout or reset
	Status      int        `json:"status,omitempty"`
	Simulated   string     `json:"simulated,omitempty"` // which flag decided the answer
	LatencyMS   float64    `json:"latency_ms"`
	SincePubMS  *float64   `json:"since_published_ms,omitempty"`
	SavedTo     string     `json:"saved_to,omitempty"`
	checkReport *sigcheck.Report
}

type checkJSON struct {
	OK      bool   `json:"ok"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (d *devReceiver) describe() string {
	parts := []string{fmt.Sprintf("answering %d", d.o.status)}
	if d.o.failRate > 0 {
		parts = append(parts, fmt.Sprintf("500 to %g%%", d.o.failRate*100))
	}
	if d.o.timeoutRate > 0 {
		parts = append(parts, fmt.Sprintf("holding %g%% until the sender gives up", d.o.timeoutRate*100))
	}
	if d.o.resetRate > 0 {
		parts = append(parts, fmt.Sprintf("resetting %g%% of connections", d.o.resetRate*100))
	}
	if d.o.goneAfter > 0 {
		parts = append(parts, fmt.Sprintf("410 Gone after %d deliveries", d.o.goneAfter))
	}
	if d.o.latency > 0 {
		parts = append(parts, "after "+d.o.latency.String())
	}
	return strings.Join(parts, ", ")
}

func (d *devReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReceiveBody+1))
	n := d.count.Add(1)
	rec := delivery{
		Kind: "delivery", Time: start, Method: r.Method, Path: r.URL.Path, BodyBytes: len(body),
		EventType: r.Header.Get("X-Webhook-Event"), EventID: r.Header.Get(sigcheck.HeaderID),
		DeliveryID: r.Header.Get("X-Webhook-Delivery"), Attempt: r.Header.Get("X-Webhook-Attempt"),
	}
	if err != nil || len(body) > maxReceiveBody {
		http.Error(w, "request body unreadable or over 4 MiB", http.StatusBadRequest)
		rec.Outcome, rec.Status, rec.Simulated = outcomeAnswered, http.StatusBadRequest, "body unreadable or too large"
		d.finish(&rec, start)
		return
	}
	d.fillFromBody(&rec, body, start)
	if d.o.secret != "" {
		rep := sigcheck.Check(r.Header, body, sigcheck.Params{Secret: d.o.secret, Now: start})
		ok := rep.OK()
		rec.Verified, rec.checkReport = &ok, &rep
		rec.Standard = &checkJSON{OK: rep.Standard.OK, Reason: string(rep.Standard.Reason), Message: rep.Standard.Message}
		rec.Legacy = &checkJSON{OK: rep.Legacy.OK, Reason: string(rep.Legacy.Reason), Message: rep.Legacy.Message}
	}
	if d.o.save != "" {
		rec.SavedTo = d.saveRequest(r, body, n, &rec)
	}

	status, simulated := d.o.status, ""
	switch {
	case d.o.goneAfter > 0 && n > int64(d.o.goneAfter):
		status, simulated = http.StatusGone, fmt.Sprintf("--gone-after %d", d.o.goneAfter)
	case roll(d.o.resetRate):
		simulated = "--reset-rate"
	case roll(d.o.timeoutRate):
		simulated = "--timeout-rate"
	case roll(d.o.failRate):
		status, simulated = http.StatusInternalServerError, "--fail-rate"
	}
	rec.Simulated = simulated
	if d.o.latency > 0 && !d.wait(r.Context(), time.After(d.o.latency)) {
		rec.Outcome = outcomeTimeout // the sender gave up during --latency
		d.finish(&rec, start)
		return
	}
	switch simulated {
	case "--reset-rate":
		rec.Outcome = outcomeReset
		resetConnection(w)
	case "--timeout-rate":
		d.wait(r.Context(), nil) // until the sender gives up, or shutdown
		rec.Outcome = outcomeTimeout
	default:
		rec.Outcome, rec.Status = outcomeAnswered, status
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		msg := "received by lokihooks receive"
		if simulated != "" {
			msg = "simulated by lokihooks receive " + simulated
		}
		_, _ = fmt.Fprintln(w, msg)
	}
	d.finish(&rec, start)
}

// wait blocks until done fires (true), or the request ends or the receiver
// stops (false).
func (d *devReceiver) wait(ctx context.Context, done <-chan time.Time) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
	case <-d.stop:
	}
	return false
}

func (d *devReceiver) finish(rec *delivery, start time.Time) {
	rec.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	d.out.delivery(rec)
}

// fillFromBody takes the event's type and id from the body when headers
// lack them, and how long ago the event was published.
func (d *devReceiver) fillFromBody(rec *delivery, body []byte, now time.Time) {
	var env struct {
		ID        string `json:"id"`
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
	}
	if json.Unmarshal(body, &env) != nil {
		return
	}
	if rec.EventType == "" {
		rec.EventType = env.Type
	}
	if rec.EventID == "" {
		rec.EventID = env.ID
	}
	if t, err := time.Parse(time.RFC3339Nano, env.Timestamp); err == nil {
		ms := float64(now.Sub(t).Microseconds()) / 1000
		rec.SincePubMS = &ms
	}
}

// saveRequest writes the request as a raw HTTP file, the input of
// `lokihooks verify`, and returns its path ("" if it could not).
func (d *devReceiver) saveRequest(r *http.Request, body []byte, n int64, rec *delivery) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", r.Method, r.URL.RequestURI(), r.Proto)
	fmt.Fprintf(&b, "Host: %s\r\n", r.Host)
	h := r.Header.Clone()
	h.Set("Content-Length", fmt.Sprint(len(body)))
	_ = h.Write(&b)
	b.WriteString("\r\n")
	b.Write(body)
	name := fmt.Sprintf("%06d", n)
	if id := safeName(rec.EventID); id != "" {
		name += "-" + id
	}
	if a := safeName(rec.Attempt); a != "" {
		name += "-attempt" + a
	}
	path := filepath.Join(d.o.save, name+".http")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return ""
	}
	return path
}

// safeName keeps the characters of s that are safe in a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return -1
	}, s)
}

// roll reports true with probability p.
func roll(p float64) bool { return p > 0 && rand.Float64() < p }

// resetConnection takes the connection over and closes it with a TCP reset,
// as a crashed receiver or a load balancer dropping the request would.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // close sends RST, not FIN
	}
	_ = conn.Close()
}

// linePrinter writes whole lines or blocks, one writer at a time, so that
// concurrent deliveries never interleave.
type linePrinter struct {
	mu     sync.Mutex
	w      io.Writer
	color  bool // ANSI colours (a terminal without NO_COLOR)
	asJSON bool // one JSON object per line
}

func (p *linePrinter) write(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = io.WriteString(p.w, s)
}

// printJSON writes v as one line.
func (p *linePrinter) printJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = fmt.Appendf(nil, `{"kind":"error","error":%q}`, err.Error())
	}
	p.write(string(b) + "\n")
}

// ANSI styles.
const (
	ansiReset  = "\x1b[0m"
	ansiDim    = "\x1b[2m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

func (p *linePrinter) paint(style, s string) string {
	if !p.color || s == "" {
		return s
	}
	return style + s + ansiReset
}

// delivery prints one delivery as one line (or one JSON object).
func (p *linePrinter) delivery(rec *delivery) {
	if p.asJSON {
		p.printJSON(rec)
		return
	}
	var b strings.Builder
	b.WriteString(p.paint(ansiDim, rec.Time.Format("15:04:05.000")))
	b.WriteString("  ")
	eventType := rec.EventType
	if eventType == "" {
		eventType = rec.Method + " " + rec.Path
	}
	b.WriteString(p.paint(ansiCyan+ansiBold, eventType))
	if rec.EventID != "" {
		b.WriteString("  " + rec.EventID)
	}
	if rec.Attempt != "" {
		b.WriteString("  attempt " + rec.Attempt)
	}
	b.WriteString("  " + p.verdict(rec))
	b.WriteString("  → " + p.answer(rec))
	b.WriteString("  " + p.paint(ansiDim, humanDuration(time.Duration(rec.LatencyMS*float64(time.Millisecond)))))
	if rec.SavedTo != "" {
		b.WriteString("  " + p.paint(ansiDim, "saved "+rec.SavedTo))
	}
	b.WriteByte('\n')
	p.write(b.String())
}

func (p *linePrinter) verdict(rec *delivery) string {
	rep := rec.checkReport
	switch {
	case rep == nil:
		return p.paint(ansiDim, "· signatures not checked")
	case rep.OK():
		return p.paint(ansiGreen, "✓ verified")
	}
	var reasons []string
	switch {
	case !rep.Standard.OK && !rep.Legacy.OK && rep.Standard.Message == rep.Legacy.Message:
		reasons = append(reasons, rep.Standard.Message+" (both signatures)")
	default:
		if !rep.Standard.OK {
			reasons = append(reasons, "webhook-signature: "+rep.Standard.Message)
		}
		if !rep.Legacy.OK {
			reasons = append(reasons, "X-Webhook-Signature: "+rep.Legacy.Message)
		}
	}
	return p.paint(ansiRed, "✗ "+strings.Join(reasons, "; "))
}

func (p *linePrinter) answer(rec *delivery) string {
	var s, style string
	switch rec.Outcome {
	case outcomeReset:
		s, style = "connection reset", ansiRed
	case outcomeTimeout:
		s, style = "no answer (sender gave up)", ansiRed
	default:
		s = fmt.Sprintf("%d %s", rec.Status, http.StatusText(rec.Status))
		switch {
		case rec.Status < 300:
			style = ansiGreen
		case rec.Status < 500:
			style = ansiYellow
		default:
			style = ansiRed
		}
	}
	if rec.Simulated != "" {
		s += " (" + rec.Simulated + ")"
	}
	return p.paint(style, s)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
