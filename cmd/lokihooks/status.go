package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loki-interceptor/lokihooks/httpapi"
	"github.com/loki-interceptor/lokihooks/internal/telemetry"
)

// xminWarnAge is the age from which status calls the oldest transaction
// a problem: lokihooks' own transactions last milliseconds.
const xminWarnAge = 10 * time.Second

func (c cli) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "status",
		GroupID: groupServer,
		Short:   "Print a one-screen summary of lokihooks' state from the database",
		Long: `Reads the database and prints how far the outbox fan-out and the projections
lag, the delivery jobs by state, the destinations, the open circuit breakers,
the failing destinations, and the oldest transaction of the cluster holding a
transaction id (it pauses the outbox until it ends). Needs no running
lokihooks. Seeing other roles' transactions takes pg_monitor.`,
		Example: `  lokihooks status
  lokihooks status --json | jq .Outbox`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return status(cmd.Context(), c, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return cmd
}

func status(ctx context.Context, c cli, asJSON bool) error {
	_, pool, err := connect(ctx, c.getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	s, err := telemetry.ReadStatus(ctx, pool)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return printStatus(c.stdout, s)
}

// printStatus writes the summary, one topic per line.
func printStatus(w io.Writer, s *telemetry.Status) error {
	var b strings.Builder
	line := func(topic, format string, args ...any) {
		fmt.Fprintf(&b, "%-14s "+format+"\n", append([]any{topic}, args...)...)
	}
	fmt.Fprintf(&b, "lokihooks status at %s\n\n", s.At.Format(time.RFC3339))
	line("outbox", "%s", lagText(s.Outbox.Events, s.Outbox.OldestAge))
	var parts []string
	for _, p := range s.Projections {
		parts = append(parts, p.Name+" "+lagText(p.Events, p.OldestAge))
	}
	line("projections", "%s", orNone(parts))
	jobs := map[string][]string{}
	var kinds []string
	for _, j := range s.Jobs {
		if _, ok := jobs[j.Kind]; !ok {
			kinds = append(kinds, j.Kind)
		}
		jobs[j.Kind] = append(jobs[j.Kind], fmt.Sprintf("%s %d", j.State, j.Count))
	}
	parts = parts[:0]
	for _, k := range kinds {
		parts = append(parts, k+": "+strings.Join(jobs[k], ", "))
	}
	line("jobs", "%s", orNone(parts))
	parts = parts[:0]
	for _, d := range s.Destinations {
		parts = append(parts, fmt.Sprintf("%s %s %d", d.Kind, d.Status, d.Count))
	}
	line("destinations", "%s", orNone(parts))
	parts = parts[:0]
	for _, br := range s.Breakers {
		parts = append(parts, fmt.Sprintf("%s %s %d", br.Kind, br.State, br.Count))
	}
	line("breakers", "%s", orNone(parts))
	var failing int64
	for _, n := range s.FailingCount {
		failing += n
	}
	line("failing", "%d destinations whose latest attempt failed", failing)
	for _, f := range s.Failing {
		fmt.Fprintf(&b, "  %-30s %-8s %-12q since %s (%s), breaker %s\n", f.ID, f.Kind, f.Name,
			f.Since.UTC().Format(time.RFC3339), s.At.Sub(f.Since).Round(time.Second), f.BreakerState)
	}
	if h := s.XminHolder; h == nil {
		line("oldest xid", "none: nothing holds the outbox back")
	} else {
		note := ""
		if h.Age >= xminWarnAge {
			note = "  <- holds back the outbox and the projections until it ends"
		}
		line("oldest xid", "%s, pid %d, application %q, database %q, %s%s",
			h.Age.Round(time.Millisecond), h.PID, h.ApplicationName, h.Database, h.State, note)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func lagText(events int64, age time.Duration) string {
	if events == 0 {
		return "caught up"
	}
	return fmt.Sprintf("%d events behind, oldest %s", events, age.Round(time.Millisecond))
}

func orNone(parts []string) string {
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " · ")
}

// apiStatus serves GET /api/v1/status from the database.
type apiStatus struct{ db telemetry.Querier }

func (s apiStatus) Status(ctx context.Context) (*httpapi.StatusView, error) {
	st, err := telemetry.ReadStatus(ctx, s.db)
	if err != nil {
		return nil, err
	}
	v := &httpapi.StatusView{
		CheckedAt: st.At, OutboxLagEvents: st.Outbox.Events, OutboxLagSeconds: st.Outbox.OldestAge.Seconds(),
		Projections: []httpapi.ProjectionLagView{}, Jobs: []httpapi.JobCountView{}, OpenBreakers: []httpapi.OpenBreakersView{},
	}
	for _, p := range st.Projections {
		v.Projections = append(v.Projections, httpapi.ProjectionLagView{Projection: p.Name, Events: p.Events, Seconds: p.OldestAge.Seconds()})
	}
	for _, j := range st.Jobs {
		v.Jobs = append(v.Jobs, httpapi.JobCountView{Kind: j.Kind, State: j.State, Count: j.Count})
	}
	for _, b := range st.Breakers {
		v.OpenBreakers = append(v.OpenBreakers, httpapi.OpenBreakersView{Kind: b.Kind, State: b.State, Count: b.Count})
	}
	for _, n := range st.FailingCount {
		v.FailingDestinations += n
	}
	if h := st.XminHolder; h != nil {
		v.OldestTransactionSeconds, v.OldestTransactionApplication = h.Age.Seconds(), h.ApplicationName
	}
	return v, nil
}
