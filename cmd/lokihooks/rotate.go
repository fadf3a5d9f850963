package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/eventstore"
	"github.com/loki-interceptor/lokihooks/internal/app"
	"github.com/loki-interceptor/lokihooks/projections"
)

func (c cli) rotateSecretsKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rotate-secrets-key",
		GroupID: groupServer,
		Short:   "Re-encrypt every secret at rest under the current LOKIHOOKS_SECRETS_KEY",
		Long: `Seals again, under LOKIHOOKS_SECRETS_KEY, every signing secret and integration
credential that a key of LOKIHOOKS_SECRETS_KEY_PREVIOUS sealed (or that is still
stored in plain text). Each changed webhook or integration gets a re-encryption
event, so that the event log and the read models alike need only the current
key afterwards. Safe to run while lokihooks serves, and to run again.

To rotate the key:
  1. Run every process with the new key in LOKIHOOKS_SECRETS_KEY and the old one
     in LOKIHOOKS_SECRETS_KEY_PREVIOUS (they open both, seal with the new one).
  2. Run lokihooks rotate-secrets-key.
  3. Remove LOKIHOOKS_SECRETS_KEY_PREVIOUS and restart the processes.`,
		Example: `  LOKIHOOKS_SECRETS_KEY=$(cat new.key) LOKIHOOKS_SECRETS_KEY_PREVIOUS=$(cat old.key) \
    lokihooks rotate-secrets-key`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return rotateSecretsKey(cmd.Context(), c.getenv, c.stdout)
		},
	}
}

func rotateSecretsKey(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfigFor(getenv, false, true)
	if err != nil {
		return configError(err)
	}
	pool, err := openPool(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return err
	}
	defer pool.Close()
	events := eventstore.New(pool, eventstore.Config{Inline: []eventstore.InlineProjector{
		{StreamTypes: []string{domain.WebhookStreamType}, Project: projections.Webhooks{}.Project},
		{StreamTypes: []string{domain.IntegrationStreamType}, Project: projections.Integrations{}.Project},
	}})
	res, err := app.RotateSecretsKey(ctx, pool, events, app.Config{Secrets: cfg.Secrets})
	fmt.Fprintf(stdout, "checked %d webhooks and integrations: re-sealed %d webhooks and %d integrations under the current key\n",
		res.Checked, res.Webhooks, res.Integrations)
	if err != nil {
		return err
	}
	if cfg.Secrets.Keys() > 1 {
		fmt.Fprintf(stdout, "every secret opens with the current key: remove %s once every process runs with it\n", envSecretsPrevious)
	}
	return nil
}
