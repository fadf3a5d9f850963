package app

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/projections"
)

// RebuildBreakers rebuilds the circuit breakers read model from the
// breaker streams in one short transaction (see
// projections.RebuildBreakers).
func RebuildBreakers(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		n, err = projections.RebuildBreakers(ctx, tx, readStreams)
		return err
	})
	return n, err
}
