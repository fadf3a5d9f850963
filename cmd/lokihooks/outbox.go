package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/relay"
)

func (c cli) outboxCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "outbox",
		GroupID: groupServer,
		Short:   "Inspect the outbox: events the fan-out could not schedule",
		Example: `  lokihooks outbox poison list
  lokihooks outbox poison retry --all`,
		Args: subcommandArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	poison := &cobra.Command{
		Use:   "poison",
		Short: "List or retry poisoned outbox events",
		Long: `An outbox event the fan-out cannot schedule (a bug, a row written by hand) is
tried a few times with a growing wait, then kept in the poison table with its
reason, while the events behind it are delivered. These commands show them
and put them back once the cause is fixed.`,
		Example: `  lokihooks outbox poison list
  lokihooks outbox poison retry evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC`,
		Args: subcommandArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	poison.AddCommand(c.poisonListCmd(), c.poisonRetryCmd())
	cmd.AddCommand(poison)
	return cmd
}

func (c cli) poisonListCmd() *cobra.Command {
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List poisoned outbox events, oldest failure first",
		Example: `  lokihooks outbox poison list
  lokihooks outbox poison list --json | jq '.[].reason'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return poisonList(cmd.Context(), c, limit, asJSON)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "show at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func (c cli) poisonRetryCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "retry [event-id ...]",
		Short: "Put poisoned events back into the outbox now",
		Long: `Puts the named poisoned events (or every one, with --all) back into the outbox,
with their tries counted from zero. An event that fails again returns to the
poison table.`,
		Example: `  lokihooks outbox poison retry evt_01JDZ8Q6V3N5T8W2X4Y6Z8A0BC
  lokihooks outbox poison retry --all`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usageErrorf(cmd, "name the events to retry, or pass --all")
			}
			ids := make([]domain.EventID, len(args))
			for i, a := range args {
				ids[i] = domain.EventID(a)
			}
			return poisonRetry(cmd.Context(), c, ids)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "retry every poisoned event")
	return cmd
}

func poisonList(ctx context.Context, c cli, limit int, asJSON bool) error {
	_, pool, err := connect(ctx, c.getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	ps, err := relay.ListPoisoned(ctx, pool, limit)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if ps == nil {
			ps = []relay.Poisoned{}
		}
		return enc.Encode(ps)
	}
	return printPoisoned(c.stdout, ps)
}

func printPoisoned(w io.Writer, ps []relay.Poisoned) error {
	if len(ps) == 0 {
		_, err := fmt.Fprintln(w, "no poisoned outbox events")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tTYPE\tTRIES\tFIRST FAILED\tNEXT TRY\tREASON")
	for _, p := range ps {
		next := "by hand"
		if p.NextTryAt != nil {
			next = p.NextTryAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.EventID, p.EventType, p.Tries,
			p.FirstFailedAt.UTC().Format(time.RFC3339), next, p.Reason)
	}
	return tw.Flush()
}

func poisonRetry(ctx context.Context, c cli, ids []domain.EventID) error {
	_, pool, err := connect(ctx, c.getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := relay.RetryPoisoned(ctx, pool, ids)
	if err != nil {
		return err
	}
	if len(ids) > 0 && n < len(ids) {
		fmt.Fprintf(c.stdout, "put %d of %d events back into the outbox (the others are not poisoned)\n", n, len(ids))
		return nil
	}
	fmt.Fprintf(c.stdout, "put %d events back into the outbox\n", n)
	return nil
}
