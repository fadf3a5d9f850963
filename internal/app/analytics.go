package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
	"github.com/loki-interceptor/lokihooks/projections"
)

// Analytics reads the analytics read model. It is safe for concurrent use.
type Analytics struct {
	pool *pgxpool.Pool
}

// NewAnalytics returns the analytics use cases.
func NewAnalytics(pool *pgxpool.Pool) *Analytics { return &Analytics{pool: pool} }

// DestinationAnalytics returns a destination's statistics over r. A webhook
// that never existed, or an id that names no kind of destination, is
// domain.ErrNotFound (a deleted webhook has its past); integrations answer
// zeros until they have deliveries.
func (a *Analytics) DestinationAnalytics(ctx context.Context, id domain.DestinationID, r domain.AnalyticsRange) (*domain.DestinationAnalytics, error) {
	switch {
	case domain.KindOf(id) == domain.KindWebhook:
		if _, err := projections.WebhookAnyStatus(ctx, a.pool, domain.WebhookID(id)); err != nil {
			return nil, err
		}
	case !strings.HasPrefix(string(id), domain.IntegrationIDPrefix):
		return nil, fmt.Errorf("destination %s: %w", id, domain.ErrNotFound)
	}
	return projections.DestinationAnalytics(ctx, a.pool, id, r)
}

// AnalyticsOverview returns the statistics of every destination over r,
// with the top projections.DefaultTopDestinations by failed attempts and by
// p99 response time.
func (a *Analytics) AnalyticsOverview(ctx context.Context, r domain.AnalyticsRange) (*domain.AnalyticsOverview, error) {
	return projections.AnalyticsOverview(ctx, a.pool, r, 0)
}
