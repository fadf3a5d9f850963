package relay

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
)

// SlackThreads keeps the Slack thread of each (destination, thread key) in
// the slack_threads table, shared by every worker process: the ts of the
// first message posted for that key, which later messages reply to. It
// satisfies the Slack connector's ThreadStore (cmd wires it in) and is
// safe for concurrent use.
type SlackThreads struct {
	pool *pgxpool.Pool
}

// NewSlackThreads returns the thread store on pool.
func NewSlackThreads(pool *pgxpool.Pool) *SlackThreads { return &SlackThreads{pool: pool} }

const (
	selectThread = `SELECT ts FROM slack_threads WHERE destination_id = $1 AND thread_key = $2`
	// insertThread keeps the first ts saved: two first messages for one
	// key posted at the same moment both start a thread, and the earlier
	// saved stays the parent of the later ones.
	insertThread = `INSERT INTO slack_threads (destination_id, thread_key, ts) VALUES ($1, $2, $3)
		ON CONFLICT (destination_id, thread_key) DO NOTHING`
)

// Thread returns the thread ts stored for key, or "" when there is none.
func (s *SlackThreads) Thread(ctx context.Context, destination domain.DestinationID, key string) (string, error) {
	var ts string
	err := s.pool.QueryRow(ctx, selectThread, string(destination), key).Scan(&ts)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read slack thread of %s: %w", destination, err)
	}
	return ts, nil
}

// SaveThread stores ts for key unless a ts is already stored.
func (s *SlackThreads) SaveThread(ctx context.Context, destination domain.DestinationID, key, ts string) error {
	if _, err := s.pool.Exec(ctx, insertThread, string(destination), key, ts); err != nil {
		return fmt.Errorf("save slack thread of %s: %w", destination, err)
	}
	return nil
}
