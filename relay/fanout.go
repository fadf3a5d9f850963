package relay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/riverqueue/river"

	"github.com/loki-interceptor/lokihooks/domain"
)

// FanoutGroup is the watermill consumer group of the fan-out.
const FanoutGroup = "fanout"

// Fan-out defaults.
const (
	DefaultPollInterval = 20 * time.Millisecond
	MinPollInterval     = time.Millisecond
	defaultAckDeadline  = 30 * time.Second
)

// errPoison marks a message that can never be handled; it goes to the
// poison topic instead of blocking the consumer group.
var errPoison = errors.New("poison message")

// FanoutConfig configures a Fanout.
type FanoutConfig struct {
	// PollInterval is how long the outbox consumer waits after an empty poll
	// (default 20ms; it bounds publish→schedule latency and costs one xid
	// per poll).
	PollInterval time.Duration
	// PollRows is how many outbox rows one poll reads (default 2000).
	PollRows int
	// GroupRows is the most outbox rows handled as one message (default 500).
	GroupRows int
	// Logger (default: discard).
	Logger *slog.Logger
}

func (c FanoutConfig) withDefaults() FanoutConfig {
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.PollRows == 0 {
		c.PollRows = defaultPollRows
	}
	if c.GroupRows == 0 {
		c.GroupRows = defaultGroupRows
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c FanoutConfig) validate() error {
	switch {
	case c.PollInterval < MinPollInterval:
		return fmt.Errorf("PollInterval must be at least %s", MinPollInterval)
	case c.PollRows < 1 || c.GroupRows < 1:
		return errors.New("PollRows and GroupRows must be positive")
	}
	return nil
}

// Fanout turns outbox events into scheduled deliveries.
type Fanout struct {
	db     *sql.DB
	store  Store
	jobs   *river.Client[*sql.Tx]
	cfg    FanoutConfig
	router *message.Router
}

// NewFanout builds the fan-out router. db must reach the same schema as the
// store (pgx stdlib over the same pool); jobs is an insert-only River client
// on db.
func NewFanout(db *sql.DB, store Store, jobs *river.Client[*sql.Tx], cfg FanoutConfig) (*Fanout, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f := &Fanout{db: db, store: store, jobs: jobs, cfg: cfg}
	logger := watermill.NewSlogLogger(cfg.Logger.With("component", "fanout"))
	ackDeadline := defaultAckDeadline
	sub, err := wmsql.NewSubscriber(db, wmsql.SubscriberConfig{
		ConsumerGroup:  FanoutGroup,
		PollInterval:   cfg.PollInterval,
		ResendInterval: 100 * time.Millisecond,
		RetryInterval:  time.Second,
		AckDeadline:    &ackDeadline,
		SchemaAdapter:  newBatchSchema(cfg.PollRows, cfg.GroupRows),
		OffsetsAdapter: wmsql.DefaultPostgreSQLOffsetsAdapter{},
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("create outbox subscriber: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, logger)
	if err != nil {
		return nil, fmt.Errorf("create router: %w", err)
	}
	poison, err := middleware.PoisonQueueWithFilter(txPublisher{logger: logger}, PoisonTopic, func(err error) bool {
		var panicErr middleware.RecoveredPanicError
		return errors.Is(err, errPoison) || errors.As(err, &panicErr)
	})
	if err != nil {
		return nil, fmt.Errorf("create poison queue: %w", err)
	}
	router.AddMiddleware(poison, middleware.Recoverer)
	router.AddConsumerHandler("fanout", OutboxTopic, sub, f.handle)
	f.router = router
	return f, nil
}

// Run consumes the outbox until ctx is cancelled; it returns nil then.
func (f *Fanout) Run(ctx context.Context) error {
	if err := f.router.Run(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("fanout router: %w", err)
	}
	return nil
}

// Running is closed once the router is consuming.
func (f *Fanout) Running() chan struct{} { return f.router.Running() }

// outboxItem is one event inside a grouped outbox message.
type outboxItem struct {
	ID       string            `json:"id"`
	Metadata map[string]string `json:"metadata"`
	Body     json.RawMessage   `json:"body"`
}

// handle schedules the deliveries of one group of outbox events, on the
// subscriber's transaction, inside a savepoint: a failed statement rolls
// back to it instead of aborting the transaction (which would make the
// group loop forever).
func (f *Fanout) handle(msg *message.Message) error {
	ctx := msg.Context()
	tx, ok := wmsql.TxFromContext(ctx)
	if !ok {
		return fmt.Errorf("%w: no subscriber transaction in context", errPoison)
	}
	var items []outboxItem
	if err := json.Unmarshal(msg.Payload, &items); err != nil {
		return fmt.Errorf("%w: decode outbox group %s: %v", errPoison, msg.UUID, err)
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT fanout"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	n, err := f.schedule(ctx, tx, items)
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT fanout"); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT fanout"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	f.cfg.Logger.DebugContext(ctx, "fanout", "events", len(items), "deliveries", n)
	return nil
}

func (f *Fanout) schedule(ctx context.Context, tx *sql.Tx, items []outboxItem) (int, error) {
	events := make([]OutboxEvent, 0, len(items))
	trace := make(map[domain.EventID]map[string]string, len(items))
	bodies := make(map[domain.EventID]string, len(items))
	for _, it := range items {
		typ := it.Metadata["event_type"]
		if it.ID == "" || typ == "" {
			return 0, fmt.Errorf("%w: outbox row %q has no event id or event_type", errPoison, it.ID)
		}
		id := domain.EventID(it.ID)
		events = append(events, OutboxEvent{ID: id, Type: typ})
		trace[id] = traceOnly(it.Metadata)
		if len(it.Body) > 0 && string(it.Body) != "null" {
			bodies[id] = string(it.Body)
		}
	}
	subs, err := f.store.MatchSQLTx(ctx, tx, events)
	if err != nil || len(subs) == 0 {
		return 0, err
	}
	now := time.Now().UTC()
	streams := make([]domain.NewStream, len(subs))
	byDelivery := make(map[string]Subscription, len(subs))
	for i, s := range subs {
		id := domain.DeliveryIDFor(s.EventID, s.WebhookID)
		streams[i] = domain.NewStream{ID: string(id), Metadata: trace[s.EventID], Event: domain.DeliveryScheduled{
			DeliveryID: id, WebhookID: s.WebhookID, EventID: s.EventID, Type: s.EventType, At: now,
		}}
		byDelivery[string(id)] = s
	}
	started, err := f.store.StartStreamsSQLTx(ctx, tx, domain.DeliveryStreamType, streams)
	if err != nil || len(started) == 0 {
		return 0, err
	}
	params := make([]river.InsertManyParams, len(started))
	for i, id := range started {
		s := byDelivery[id]
		params[i] = river.InsertManyParams{Args: DeliverArgs{
			DeliveryID: domain.DeliveryID(id), WebhookID: s.WebhookID, EventID: s.EventID, EventType: s.EventType,
			Attempt: 1, Try: 1, Trace: trace[s.EventID], Body: bodies[s.EventID],
		}}
	}
	if _, err := f.jobs.InsertManyFastTx(ctx, tx, params); err != nil {
		return 0, fmt.Errorf("insert %d delivery jobs: %w", len(params), err)
	}
	return len(started), nil
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

// txPublisher publishes on the transaction found in the message context,
// so a poisoned message is recorded atomically with the consumer's offset.
type txPublisher struct {
	logger watermill.LoggerAdapter
}

func (p txPublisher) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	tx, ok := wmsql.TxFromContext(msgs[0].Context())
	if !ok {
		return errors.New("poison publish: no transaction in message context")
	}
	pub, err := wmsql.NewPublisher(tx, wmsql.PublisherConfig{SchemaAdapter: wmsql.DefaultPostgreSQLSchema{}}, p.logger)
	if err != nil {
		return err
	}
	return pub.Publish(topic, msgs...)
}

func (txPublisher) Close() error { return nil }
