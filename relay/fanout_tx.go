package relay

import (
	"context"
	"database/sql"
	"time"

	wmsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// txProbeTimeout bounds the statement that tells a broken subscriber
// transaction from a live one.
const txProbeTimeout = 2 * time.Second

// handleOrRestart runs handle and, when it failed because the subscriber's
// transaction is gone (its connection was lost or terminated, or the
// server restarted), acks the group instead of returning the error.
// watermill-sql resends a nacked message on the same transaction, forever:
// on a dead connection the fan-out would never move again. Acking a
// transaction that cannot commit is safe: the ack's offset update and the
// commit fail, nothing of the group is written, and the subscriber reads
// the group again on a new transaction.
func (f *Fanout) handleOrRestart(msg *message.Message) error {
	err := f.handle(msg)
	if err == nil {
		return nil
	}
	tx, ok := wmsql.TxFromContext(msg.Context())
	if !ok || !txBroken(msg.Context(), tx) {
		return err
	}
	f.cfg.Logger.WarnContext(msg.Context(), "outbox transaction lost; the group is read again on a new one",
		"message", msg.UUID, "error", err)
	return nil
}

// txBroken reports whether tx can no longer run a statement (so it can
// never commit).
func txBroken(ctx context.Context, tx *sql.Tx) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), txProbeTimeout)
	defer cancel()
	_, err := tx.ExecContext(ctx, "SELECT 1")
	return err != nil
}
