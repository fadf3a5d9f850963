package relay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/jackc/pgx/v5"
)

// OutboxChannel is the channel lokihooks_publish notifies, once per
// publishing transaction, with the schema of its outbox as the payload
// (migration 0008). Anything else that writes outbox rows should notify it
// too; rows written without a notification are found by the fallback poll.
const OutboxChannel = "lokihooks_outbox"

// listenRetry is how long the listener waits before connecting again after
// its connection failed.
const listenRetry = time.Second

// fanoutLinger is how long after the last work found the fan-out keeps
// looking every PollInterval, for the rows of publishers that did not
// notify.
const fanoutLinger = time.Second

// peekTimeout bounds the read-only look at the outbox.
const peekTimeout = 5 * time.Second

// outboxState is what the read-only look at the outbox found.
type outboxState int

const (
	outboxEmpty   outboxState = iota // nothing past the consumer's position
	outboxWaiting                    // rows past it, behind an open transaction
	outboxReady                      // rows the next poll reads
)

// peekOutbox tells, without taking a lock or a transaction id, whether the
// fan-out's next poll would read anything: the first row past the
// consumer's position, and whether it is below the snapshot's xmin (the
// same rule as batchSchema's SelectQuery).
const peekOutbox = `SELECT m.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
	FROM watermill_outbox m, watermill_offsets_outbox o
	WHERE o.consumer_group = $1
	  AND (m.transaction_id, m."offset") > (o.last_processed_transaction_id, o.offset_acked)
	ORDER BY m.transaction_id, m."offset"
	LIMIT 1`

// waker is the fan-out subscriber's BackoffManager. After a poll that found
// nothing, it does not sleep a fixed interval: it waits until a read-only
// look at the outbox finds rows to read. It looks when a notification
// arrives (wake); every pollInterval while rows wait behind an open
// transaction, and for linger after the last work found (lokihooks_publish
// skips the notification while another publisher's is in flight); every
// fallback otherwise. An idle fan-out therefore burns no transaction id and
// writes no WAL; polls that lock the offset row happen only when there is
// work.
type waker struct {
	errors       wmsql.BackoffManager // after an error: watermill's default
	db           *sql.DB
	pollInterval time.Duration
	fallback     time.Duration
	linger       time.Duration
	lastWork     time.Time     // when a poll or a look last found work
	notified     chan struct{} // capacity 1: a wake-up waiting to be seen
	// runCtx is Fanout.Run's context, set before the router starts:
	// watermill's BackoffManager gets no context, and the wait and the
	// look must end with Run.
	runCtx context.Context
}

func newWaker(db *sql.DB, cfg FanoutConfig) *waker {
	return &waker{
		errors: wmsql.NewDefaultBackoffManager(cfg.PollInterval, time.Second),
		db:     db, pollInterval: cfg.PollInterval, fallback: cfg.PollFallback, linger: fanoutLinger,
		notified: make(chan struct{}, 1),
	}
}

// wake makes a waiting fan-out look at the outbox now. It never blocks.
func (w *waker) wake() {
	select {
	case w.notified <- struct{}{}:
	default:
	}
}

// HandleError implements wmsql.BackoffManager; watermill calls it after
// every poll, on the consumer's goroutine, and sleeps what it returns.
func (w *waker) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil || !noMsg {
		if err == nil {
			w.lastWork = time.Now()
		}
		return w.errors.HandleError(logger, noMsg, err)
	}
	wait := time.Duration(0)
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-w.runCtx.Done():
				t.Stop()
				// Longer than any shutdown: the consumer sees its context
				// end, instead of polling once more.
				return w.fallback + time.Minute
			case <-w.notified:
			case <-t.C:
			}
			t.Stop()
		}
		switch w.peek() {
		case outboxReady:
			w.lastWork = time.Now()
			return 0
		case outboxWaiting:
			wait = w.pollInterval
		default:
			wait = w.fallback
			if time.Since(w.lastWork) < w.linger {
				wait = w.pollInterval
			}
		}
	}
}

// peek looks at the outbox; on error it answers ready, so that the poll
// runs and reports the error.
func (w *waker) peek() outboxState {
	ctx, cancel := context.WithTimeout(w.runCtx, peekTimeout)
	defer cancel()
	var ready bool
	err := w.db.QueryRowContext(ctx, peekOutbox, FanoutGroup).Scan(&ready)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return outboxEmpty
	case err != nil:
		return outboxReady
	case ready:
		return outboxReady
	default:
		return outboxWaiting
	}
}

// listen holds a connection listening on OutboxChannel and wakes w for
// each notification about this schema, until ctx ends. When the
// connection fails, it wakes w (a notification may have been missed) and
// connects again after listenRetry.
func listen(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), w *waker, logger *slog.Logger) {
	for ctx.Err() == nil {
		err := listenOnce(ctx, connect, w)
		if ctx.Err() != nil {
			return
		}
		logger.WarnContext(ctx, "outbox listener lost its connection; polling until it is back", "error", err)
		w.wake()
		t := time.NewTimer(listenRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func listenOnce(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), w *waker) error {
	conn, err := connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+OutboxChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	w.wake() // rows written while nobody listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		if n.Payload == schema {
			w.wake()
		}
	}
}
