package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loki-interceptor/lokihooks/domain"
)

// retriesOpts are the flags of `lokihooks retries`: a webhook's retry
// fields, under the names the API uses.
type retriesOpts struct {
	strategy   string
	maxRetries int
	delay      int // seconds
	maxDelay   int // seconds
	multiplier float64
	jitter     bool
	timeout    int // seconds
	asJSON     bool
}

// retryFlags maps the webhook fields that WebhookSpec.Validate names to the
// flags that set them.
var retryFlags = map[string]string{
	"retry_strategy":      "--strategy",
	"max_retries":         "--max-retries",
	"retry_delay_seconds": "--delay",
	"max_delay_seconds":   "--max-delay",
	"backoff_multiplier":  "--multiplier",
	"timeout_seconds":     "--timeout",
}

func (c cli) retriesCmd() *cobra.Command {
	var o retriesOpts
	cmd := &cobra.Command{
		Use:     "retries",
		GroupID: groupTools,
		Short:   "Preview a webhook's retry schedule",
		Long: `Prints when a failing delivery is retried under a webhook's retry settings:
each retry's delay (with the ±20% jitter bounds when jitter is on) and how long
after the first attempt it starts. The flags take the webhook's fields, with
the same defaults as POST /api/v1/webhooks.`,
		Example: `  lokihooks retries
  lokihooks retries --strategy exponential_backoff --max-retries 5 --delay 60 --max-delay 7200 --multiplier 2 --jitter
  lokihooks retries --strategy fixed_interval --max-retries 10 --delay 30 --jitter=false
  lokihooks retries --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := o.policy()
			if err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			if o.asJSON {
				return writeJSON(c.stdout, scheduleJSON(p))
			}
			return printSchedule(c.stdout, p, time.Duration(o.timeout)*time.Second)
		},
	}
	d := domain.DefaultWebhookSpec()
	f := cmd.Flags()
	f.StringVar(&o.strategy, "strategy", string(d.RetryStrategy), "exponential_backoff, linear_backoff, fixed_interval or no_retry")
	f.IntVar(&o.maxRetries, "max-retries", d.MaxRetries, "retries after the first attempt")
	f.IntVar(&o.delay, "delay", d.RetryDelaySeconds, "initial delay, seconds (retry_delay_seconds)")
	f.IntVar(&o.maxDelay, "max-delay", d.MaxDelaySeconds, "cap on any delay, seconds (max_delay_seconds)")
	f.Float64Var(&o.multiplier, "multiplier", d.BackoffMultiplier, "growth factor of exponential_backoff, 1 to 10")
	f.BoolVar(&o.jitter, "jitter", d.JitterEnabled, "randomise each delay by ±20% (--jitter=false to turn off)")
	f.IntVar(&o.timeout, "timeout", d.TimeoutSeconds, "per-attempt timeout, seconds (for the worst case)")
	f.BoolVar(&o.asJSON, "json", false, "print the schedule as JSON")
	_ = cmd.RegisterFlagCompletionFunc("strategy", fixedCompletions(
		string(domain.RetryExponential), string(domain.RetryLinear), string(domain.RetryFixed), string(domain.RetryNone)))
	return cmd
}

// policy checks the flags with the webhook's own rules and returns the
// policy they describe.
func (o retriesOpts) policy() (domain.RetryPolicy, error) {
	spec := domain.DefaultWebhookSpec()
	spec.Name, spec.URL, spec.EventTypes = "preview", "https://example.com/", []string{domain.EventTypeWildcard}
	spec.RetryStrategy, spec.MaxRetries = domain.RetryStrategy(o.strategy), o.maxRetries
	spec.RetryDelaySeconds, spec.MaxDelaySeconds = o.delay, o.maxDelay
	spec.BackoffMultiplier, spec.JitterEnabled, spec.TimeoutSeconds = o.multiplier, o.jitter, o.timeout
	err := spec.Validate(domain.ValidationOpts{})
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		problems := make([]string, len(ve.Fields))
		for i, f := range ve.Fields {
			name := retryFlags[f.Field]
			if name == "" {
				name = f.Field
			}
			problems[i] = name + " " + f.Message
		}
		return domain.RetryPolicy{}, errors.New(strings.Join(problems, "; "))
	}
	if err != nil {
		return domain.RetryPolicy{}, err
	}
	return spec.RetryPolicy(), nil
}

func printSchedule(w io.Writer, p domain.RetryPolicy, timeout time.Duration) error {
	sched := p.Schedule()
	if len(sched) == 0 {
		fmt.Fprintf(w, "%s: the first failed attempt is final (permanent_failure); nothing is retried.\n", describePolicy(p))
		return nil
	}
	fmt.Fprintf(w, "%s\n\n", describePolicy(p))
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "retry\tdelay\tstarts after the first attempt")
	for _, r := range sched {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", r.N, withBounds(r.Delay, r.Min, r.Max), withBounds(r.Cumulative, r.CumulativeMin, r.CumulativeMax))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	last := sched[len(sched)-1]
	attempts := time.Duration(len(sched)+1) * timeout
	fmt.Fprintf(w, "\nIf retry %d fails too, the delivery is dead-lettered (permanent_failure) about %s after the first attempt;\n"+
		"at worst %s, counting every attempt running into its %s timeout. A receiver's Retry-After on\n"+
		"429 or 503 can lengthen a delay (up to %s).\n",
		last.N, humanDuration(last.Cumulative), humanDuration(last.CumulativeMax+attempts), humanDuration(timeout), humanDuration(domain.MaxRetryAfter))
	return nil
}

func describePolicy(p domain.RetryPolicy) string {
	var b strings.Builder
	b.WriteString(string(p.Strategy))
	if p.Strategy == domain.RetryNone {
		return b.String()
	}
	fmt.Fprintf(&b, ": %d retries, delay %s", p.MaxRetries, humanDuration(p.Delay))
	switch p.Strategy {
	case domain.RetryExponential:
		fmt.Fprintf(&b, " ×%g per retry", p.Multiplier)
	case domain.RetryLinear:
		fmt.Fprintf(&b, " × the retry number")
	}
	fmt.Fprintf(&b, ", at most %s", humanDuration(p.MaxDelay))
	if p.Jitter {
		b.WriteString(", jitter ±20%")
	} else {
		b.WriteString(", no jitter")
	}
	return b.String()
}

func withBounds(d, lo, hi time.Duration) string {
	if lo == hi {
		return humanDuration(d)
	}
	return fmt.Sprintf("%s (%s – %s)", humanDuration(d), humanDuration(lo), humanDuration(hi))
}

// scheduleEntry is one retry in `retries --json`, in seconds.
type scheduleEntry struct {
	N                 int     `json:"n"`
	DelaySeconds      float64 `json:"delay_seconds"`
	MinSeconds        float64 `json:"min_seconds"`
	MaxSeconds        float64 `json:"max_seconds"`
	CumulativeSeconds float64 `json:"cumulative_seconds"`
	CumulativeMin     float64 `json:"cumulative_min_seconds"`
	CumulativeMax     float64 `json:"cumulative_max_seconds"`
}

type scheduleDoc struct {
	Strategy          string          `json:"strategy"`
	MaxRetries        int             `json:"max_retries"`
	RetryDelaySeconds float64         `json:"retry_delay_seconds"`
	MaxDelaySeconds   float64         `json:"max_delay_seconds"`
	BackoffMultiplier float64         `json:"backoff_multiplier"`
	JitterEnabled     bool            `json:"jitter_enabled"`
	Retries           []scheduleEntry `json:"retries"`
}

func scheduleJSON(p domain.RetryPolicy) scheduleDoc {
	doc := scheduleDoc{
		Strategy: string(p.Strategy), MaxRetries: p.MaxRetries,
		RetryDelaySeconds: p.Delay.Seconds(), MaxDelaySeconds: p.MaxDelay.Seconds(),
		BackoffMultiplier: p.Multiplier, JitterEnabled: p.Jitter, Retries: []scheduleEntry{},
	}
	for _, r := range p.Schedule() {
		doc.Retries = append(doc.Retries, scheduleEntry{
			N: r.N, DelaySeconds: r.Delay.Seconds(), MinSeconds: r.Min.Seconds(), MaxSeconds: r.Max.Seconds(),
			CumulativeSeconds: r.Cumulative.Seconds(), CumulativeMin: r.CumulativeMin.Seconds(), CumulativeMax: r.CumulativeMax.Seconds(),
		})
	}
	return doc
}

// humanDuration prints d briefly: 1m12s, 2h, 45s, 1.5s, 350ms, 1.23ms, 72µs.
func humanDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < 100*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		d = d.Round(100 * time.Millisecond)
	default:
		d = d.Round(time.Second)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
