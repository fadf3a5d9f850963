package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/loki-interceptor/lokihooks/domain"
)

// FanoutGroup is the watermill consumer group of the fan-out.
const FanoutGroup = "fanout"

// Fan-out defaults and bounds.
const (
	DefaultPollInterval = 20 * time.Millisecond
	MinPollInterval     = time.Millisecond
	// DefaultPollFallback is how long an idle fan-out waits for a
	// notification before it looks at the outbox anyway.
	DefaultPollFallback = time.Second
	// DefaultMaxDeliveries bounds the deliveries one handler run schedules
	// when the subscriber count is known: message groups shrink so that
	// events × subscribers stays near it.
	DefaultMaxDeliveries = 5000
	defaultAckDeadline   = 30 * time.Second
)

// FanoutConfig configures a Fanout. Zero values mean the defaults stated.
type FanoutConfig struct {
	// PollInterval is how often the outbox consumer looks again while
	// events wait behind a transaction that is still open (default 20ms).
	// Looking is a read-only query: it takes no transaction id.
	PollInterval time.Duration
	// PollFallback is how long the consumer waits for a notification on
	// OutboxChannel before it looks at the outbox anyway (default 1s). It
	// bounds the delay of rows written without a notification; events
	// published through lokihooks_publish are read as soon as they commit.
	// Without a listener (Fanout built by NewFanout alone), PollInterval is
	// used instead.
	PollFallback time.Duration
	// PollRows is how many outbox rows one poll reads (default 500).
	PollRows int
	// GroupRows is the most outbox rows handled as one message (default
	// 500); fewer when destinations are many (MaxDeliveries).
	GroupRows int
	// MaxDeliveries is how many deliveries one message should schedule at
	// most (default 5000): with S subscribers per event, groups hold about
	// MaxDeliveries/S events.
	MaxDeliveries int
	// Poison tunes the handling of events that cannot be scheduled.
	Poison PoisonConfig
	// Logger (default: discard).
	Logger *slog.Logger
}

func (c FanoutConfig) withDefaults() FanoutConfig {
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.PollFallback == 0 {
		c.PollFallback = DefaultPollFallback
	}
	if c.PollRows == 0 {
		c.PollRows = defaultPollRows
	}
	if c.GroupRows == 0 {
		c.GroupRows = defaultGroupRows
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = DefaultMaxDeliveries
	}
	c.Poison = c.Poison.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c FanoutConfig) validate() error {
	switch {
	case c.PollInterval < MinPollInterval:
		return fmt.Errorf("PollInterval must be at least %s", MinPollInterval)
	case c.PollFallback < c.PollInterval:
		return errors.New("PollFallback must be at least PollInterval")
	case c.PollRows < 1 || c.GroupRows < 1 || c.MaxDeliveries < 1:
		return errors.New("PollRows, GroupRows and MaxDeliveries must be positive")
	}
	return c.Poison.validate()
}

// Fanout turns outbox events into scheduled deliveries.
type Fanout struct {
	db     *sql.DB
	deps   Deps
	jobs   *river.Client[*sql.Tx]
	cfg    FanoutConfig
	router *message.Router
	poison *poison
	// groupRows is the current message size (outbox rows), adapted to the
	// number of subscribers per event; read by the schema on every poll.
	groupRows *atomic.Int64
	// withBodies and bodies: with workers in the same process, the poll
	// reads the published bodies and the fan-out hands them to the workers
	// (shareBodies).
	withBodies *atomic.Bool
	bodies     *bodies
	// waker decides when the subscriber polls again after an empty poll.
	waker *waker
	// connect opens the listener's connection (nil: no listener, and the
	// waker looks every PollInterval).
	connect func(context.Context) (*pgx.Conn, error)
}

// NewFanout builds the fan-out router. db must reach the same schema as the
// event log (pgx stdlib over the same pool); jobs is an insert-only River
// client on db.
func NewFanout(db *sql.DB, deps Deps, jobs *river.Client[*sql.Tx], cfg FanoutConfig) (*Fanout, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f := &Fanout{db: db, deps: deps, jobs: jobs, cfg: cfg, groupRows: &atomic.Int64{}, withBodies: &atomic.Bool{}}
	f.groupRows.Store(int64(cfg.GroupRows))
	f.waker = newWaker(db, cfg)
	f.waker.fallback = cfg.PollInterval // until a listener is set (listenWith)
	f.poison = &poison{db: db, cfg: cfg.Poison, logger: cfg.Logger.With("component", "fanout")}
	logger := watermill.NewSlogLogger(cfg.Logger.With("component", "fanout"))
	ackDeadline := defaultAckDeadline
	sub, err := wmsql.NewSubscriber(db, wmsql.SubscriberConfig{
		ConsumerGroup:  FanoutGroup,
		PollInterval:   cfg.PollInterval,
		ResendInterval: 100 * time.Millisecond,
		RetryInterval:  time.Second,
		AckDeadline:    &ackDeadline,
		BackoffManager: f.waker,
		SchemaAdapter:  batchSchema{DefaultPostgreSQLSchema: wmsql.DefaultPostgreSQLSchema{SubscribeBatchSize: cfg.PollRows}, pollRows: cfg.PollRows, groupRows: f.groupRows, withBodies: f.withBodies},
		OffsetsAdapter: wmsql.DefaultPostgreSQLOffsetsAdapter{},
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("create outbox subscriber: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, logger)
	if err != nil {
		return nil, fmt.Errorf("create router: %w", err)
	}
	router.AddConsumerHandler("fanout", OutboxTopic, sub, f.handleOrRestart)
	f.router = router
	return f, nil
}

// Run consumes the outbox, and puts poisoned events whose backoff passed
// back into it, until ctx is cancelled; it returns nil then.
func (f *Fanout) Run(ctx context.Context) error {
	f.waker.runCtx = ctx
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { f.poison.retryLoop(ctx, f.waker.wake) })
	if f.connect != nil {
		wg.Go(func() { listen(ctx, f.connect, f.waker, f.cfg.Logger.With("component", "fanout")) })
	}
	if err := f.router.Run(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("fanout router: %w", err)
	}
	return nil
}

// listenWith makes the fan-out wake on notifications received on
// connections that connect opens, and look at the outbox only every
// PollFallback otherwise. Call it before Run.
func (f *Fanout) listenWith(connect func(context.Context) (*pgx.Conn, error)) {
	f.connect = connect
	f.waker.fallback = f.cfg.PollFallback
}

// shareBodies makes the fan-out hand the published bodies of the events it
// schedules to b, this process's workers' reader. Call it before Run.
func (f *Fanout) shareBodies(b *bodies) {
	f.bodies = b
	f.withBodies.Store(b != nil)
}

// Running is closed once the router is consuming.
func (f *Fanout) Running() chan struct{} { return f.router.Running() }

// outboxItem is one event inside a grouped outbox message.
type outboxItem struct {
	ID       string            `json:"id"`
	Metadata map[string]string `json:"metadata"`
	Body     json.RawMessage   `json:"body"`
	// Published is the body from published_events, when the schema reads
	// it (batchSchema.withBodies); it is handed to this process's workers,
	// never put in the job.
	Published json.RawMessage `json:"published,omitempty"`
}

// handle schedules the deliveries of one group of outbox events on the
// subscriber's transaction. It never leaves the group blocked: if the
// group fails, each event is tried alone, each in a savepoint (a failed
// statement would otherwise abort the transaction and loop the group
// forever), and the events that still fail go to the poison table with
// their reason while the others are scheduled. Only an error that makes
// the transaction itself unusable (a lost connection) is returned, so that
// watermill retries the group on a new one.
func (f *Fanout) handle(msg *message.Message) error {
	ctx := msg.Context()
	tx, ok := wmsql.TxFromContext(ctx)
	if !ok {
		return errors.New("fanout: no subscriber transaction in context")
	}
	items, err := decodeOutboxGroup(msg.Payload)
	if err != nil {
		// The schema builds this payload; it cannot be malformed unless the
		// outbox table was written by hand. Nothing can be learned from a
		// retry.
		f.cfg.Logger.ErrorContext(ctx, "outbox group is not decodable; skipped", "message", msg.UUID, "error", err)
		return nil
	}
	n, err := f.inSavepoint(ctx, tx, items)
	if err == nil {
		f.cfg.Logger.DebugContext(ctx, "fanout", "events", len(items), "deliveries", n)
		return f.poison.clear(ctx, tx, items)
	}
	if len(items) == 1 {
		return f.poison.add(ctx, tx, items[0], err)
	}
	for _, it := range items {
		if _, err := f.inSavepoint(ctx, tx, []outboxItem{it}); err != nil {
			if perr := f.poison.add(ctx, tx, it, err); perr != nil {
				return perr
			}
		}
	}
	return f.poison.clear(ctx, tx, items)
}

// inSavepoint schedules items inside a savepoint and rolls back to it on
// failure (or panic), leaving the transaction usable.
func (f *Fanout) inSavepoint(ctx context.Context, tx *sql.Tx, items []outboxItem) (n int, err error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT fanout"); err != nil {
		return 0, fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while scheduling: %v", p)
		}
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT fanout"); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
			}
			return
		}
		if _, rerr := tx.ExecContext(ctx, "RELEASE SAVEPOINT fanout"); rerr != nil {
			err = fmt.Errorf("release savepoint: %w", rerr)
		}
	}()
	return f.schedule(ctx, tx, items)
}

// schedule matches, appends delivery.scheduled and inserts the jobs of
// items, then adapts the group size to the subscribers per event seen.
func (f *Fanout) schedule(ctx context.Context, tx *sql.Tx, items []outboxItem) (int, error) {
	events := make([]domain.EventRef, 0, len(items))
	trace := make(map[domain.EventID]map[string]string, len(items))
	bodies := make(map[domain.EventID]string, len(items))
	published := make(map[domain.EventID][]byte)
	for _, it := range items {
		typ := it.Metadata["event_type"]
		if it.ID == "" || typ == "" {
			return 0, fmt.Errorf("outbox row %q has no event id or event_type", it.ID)
		}
		id := domain.EventID(it.ID)
		events = append(events, domain.EventRef{ID: id, Type: typ})
		trace[id] = traceOnly(it.Metadata)
		if len(it.Body) > 0 && string(it.Body) != "null" {
			bodies[id] = string(it.Body)
		} else if len(it.Published) > 0 && string(it.Published) != "null" {
			published[id] = it.Published
		}
	}
	if err := f.checkEvents(ctx, tx, events); err != nil {
		return 0, err
	}
	subs, err := f.deps.Subscribers.MatchSQLTx(ctx, tx, events)
	if err != nil {
		return 0, err
	}
	f.adapt(len(items), len(subs))
	if len(subs) == 0 {
		return 0, nil
	}
	if f.bodies != nil {
		// Before the jobs commit, so before any worker can ask.
		for _, s := range subs {
			if body, ok := published[s.EventID]; ok {
				f.bodies.remember(s.EventID, body)
			}
		}
	}
	now := time.Now().UTC()
	streams := make([]domain.Append, len(subs))
	byDelivery := make(map[string]domain.Subscription, len(subs))
	for i, s := range subs {
		id := domain.DeliveryIDFor(s.EventID, s.DestinationID)
		streams[i] = domain.Append{
			StreamID: string(id), StreamType: domain.DeliveryStreamType, Expect: domain.ExpectNew,
			Metadata: trace[s.EventID],
			Events: []domain.Event{domain.DeliveryScheduled{
				DeliveryID: id, DestinationID: s.DestinationID, Kind: s.Kind, EventID: s.EventID, Type: s.EventType, At: now,
			}},
		}
		byDelivery[string(id)] = s
	}
	started, err := f.deps.Log.AppendSQLTx(ctx, tx, streams...)
	if err != nil || len(started) == 0 {
		return 0, err
	}
	params := make([]river.InsertManyParams, len(started))
	for i, r := range started {
		s := byDelivery[r.StreamID]
		params[i] = river.InsertManyParams{Args: DeliverArgs{
			DeliveryID: domain.DeliveryID(r.StreamID), DestinationID: s.DestinationID, DestinationKind: s.Kind,
			EventID: s.EventID, EventType: s.EventType, Attempt: 1, Try: 1, Trace: trace[s.EventID], Body: bodies[s.EventID],
		}}
	}
	if _, err := f.jobs.InsertManyFastTx(ctx, tx, params); err != nil {
		return 0, fmt.Errorf("insert %d delivery jobs: %w", len(params), err)
	}
	return len(started), nil
}

// adapt sets the next groups' size so that events × subscribers per event
// stays near MaxDeliveries.
func (f *Fanout) adapt(events, deliveries int) {
	if events == 0 {
		return
	}
	perEvent := max(1, (deliveries+events-1)/events)
	f.groupRows.Store(int64(max(1, min(f.cfg.GroupRows, f.cfg.MaxDeliveries/perEvent))))
}

// traceOnly keeps the W3C trace context keys of outbox metadata.
func traceOnly(md map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"traceparent", "tracestate"} {
		if v, ok := md[k]; ok {
			out[k] = v
		}
	}
	return out
}
