package app

import (
	"context"
	"fmt"

	"github.com/loki-interceptor/lokihooks/domain"
)

// actorMetadata records the actor of ctx (domain.WithActor) in the
// metadata of the events a command appends; nil when there is none.
func actorMetadata(ctx context.Context) map[string]string {
	if a := domain.ActorFrom(ctx); a != "" {
		return map[string]string{domain.MetadataActor: a}
	}
	return nil
}

// WebhookHistory returns a page of a webhook's audit history, newest
// first: the changes with a version below before (every change when before
// <= 0), at most limit of them. It reads the webhook's own stream, so
// deleted webhooks have a history too; a webhook that never existed is
// domain.ErrNotFound.
func (h *Webhooks) WebhookHistory(ctx context.Context, id domain.WebhookID, before int64, limit int) ([]domain.HistoryEntry, error) {
	recs, err := h.events.Load(ctx, string(id))
	if err != nil {
		return nil, err
	}
	if recs[0].Type != domain.TypeWebhookCreated {
		return nil, fmt.Errorf("webhook %s: %w", id, domain.ErrNotFound)
	}
	all, err := domain.WebhookHistory(recs)
	if err != nil {
		return nil, err
	}
	out := make([]domain.HistoryEntry, 0, min(limit, len(all)))
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		if before <= 0 || all[i].Version < before {
			out = append(out, all[i])
		}
	}
	return out, nil
}
