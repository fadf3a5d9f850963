package relay

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/loki-interceptor/lokihooks/domain"
)

const (
	// maxBodyRead bounds the event ids one read of bodies asks for (a
	// request larger than that is read alone).
	maxBodyRead = 500
	// bodyReaders is how many reads of bodies run at once.
	bodyReaders = 2
	// bodyReadTimeout bounds one read, which serves several jobs and so
	// does not end with any one of them.
	bodyReadTimeout = 10 * time.Second
)

const selectBodies = `SELECT id, body FROM published_events WHERE id = ANY($1::text[])`

// bodies reads the bodies of the events that delivery jobs send from
// published_events, where lokihooks_publish keeps the one copy of each
// (jobs carry a body only when their outbox row did, see batchSchema).
// Requests that arrive while a read runs are read together by the next one,
// in one query: a job waits for no other when the workers are idle, and
// under load one query serves many jobs.
//
// Bodies the fan-out of the same process hands over (remember) are served
// from memory: the workers of a process that runs the fan-out too read
// nothing for the events it scheduled, while they stay among the last
// maxRememberedBytes remembered.
type bodies struct {
	pool  *pgxpool.Pool
	queue chan *bodyRequest

	mu         sync.Mutex
	remembered map[domain.EventID][]byte
	order      []domain.EventID // oldest first
	size       int
}

// maxRememberedBytes bounds the bodies kept in memory for the workers.
const maxRememberedBytes = 8 << 20

// remember keeps body for the workers' next reads of id, forgetting the
// oldest bodies beyond maxRememberedBytes.
func (b *bodies) remember(id domain.EventID, body []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.remembered[id]; ok || len(body) > maxRememberedBytes {
		return
	}
	b.remembered[id] = body
	b.order = append(b.order, id)
	b.size += len(body)
	for b.size > maxRememberedBytes {
		old := b.order[0]
		b.order = b.order[1:]
		b.size -= len(b.remembered[old])
		delete(b.remembered, old)
	}
}

// recall returns the remembered bodies among ids, and the ids it has none
// for.
func (b *bodies) recall(ids []domain.EventID) (map[domain.EventID][]byte, []domain.EventID) {
	got := make(map[domain.EventID][]byte, len(ids))
	var missing []domain.EventID
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		if body, ok := b.remembered[id]; ok {
			got[id] = body
		} else {
			missing = append(missing, id)
		}
	}
	return got, missing
}

type bodyRequest struct {
	ids  []domain.EventID
	done chan bodyAnswer
}

type bodyAnswer struct {
	bodies map[domain.EventID][]byte
	err    error
}

func newBodies(pool *pgxpool.Pool) *bodies {
	return &bodies{pool: pool, queue: make(chan *bodyRequest, maxBodyRead*bodyReaders), remembered: map[domain.EventID][]byte{}}
}

// read returns the bodies of the published events among ids; an id that is
// not a published event is absent from the result.
func (b *bodies) read(ctx context.Context, ids []domain.EventID) (map[domain.EventID][]byte, error) {
	got, missing := b.recall(ids)
	if len(missing) == 0 {
		return got, nil
	}
	read, err := b.query(ctx, missing)
	if err != nil {
		return nil, err
	}
	for id, body := range read {
		got[id] = body
	}
	return got, nil
}

// query reads the bodies of ids from published_events, together with the
// reads other workers ask for meanwhile.
func (b *bodies) query(ctx context.Context, ids []domain.EventID) (map[domain.EventID][]byte, error) {
	req := &bodyRequest{ids: ids, done: make(chan bodyAnswer, 1)}
	select {
	case b.queue <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case a := <-req.done:
		return a.bodies, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// body returns the body of one event (domain.ErrNotFound if it is not a
// published event).
func (b *bodies) body(ctx context.Context, id domain.EventID) ([]byte, error) {
	got, err := b.read(ctx, []domain.EventID{id})
	if err != nil {
		return nil, err
	}
	body, ok := got[id]
	if !ok {
		return nil, fmt.Errorf("published event %s: %w", id, domain.ErrNotFound)
	}
	return body, nil
}

// run serves requests with bodyReaders goroutines until ctx is cancelled.
// It must be stopped only after the workers that read.
func (b *bodies) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range bodyReaders {
		wg.Go(func() { b.readLoop(ctx) })
	}
	wg.Wait()
}

func (b *bodies) readLoop(ctx context.Context) {
	for {
		var first *bodyRequest
		select {
		case first = <-b.queue:
		case <-ctx.Done():
			return
		}
		batch, n := []*bodyRequest{first}, len(first.ids)
	drain:
		for n < maxBodyRead {
			select {
			case req := <-b.queue:
				batch, n = append(batch, req), n+len(req.ids)
			default:
				break drain
			}
		}
		b.answer(context.WithoutCancel(ctx), batch, n)
	}
}

// answer reads the bodies a batch of requests asks for in one query and
// gives each request its own.
func (b *bodies) answer(ctx context.Context, batch []*bodyRequest, n int) {
	ids := make([]string, 0, n)
	for _, req := range batch {
		for _, id := range req.ids {
			ids = append(ids, string(id))
		}
	}
	all, err := b.selectBodies(ctx, ids)
	for _, req := range batch {
		a := bodyAnswer{err: err}
		if err == nil {
			a.bodies = make(map[domain.EventID][]byte, len(req.ids))
			for _, id := range req.ids {
				if body, ok := all[id]; ok {
					a.bodies[id] = body
				}
			}
		}
		req.done <- a
	}
}

func (b *bodies) selectBodies(ctx context.Context, ids []string) (map[domain.EventID][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, bodyReadTimeout)
	defer cancel()
	rows, err := b.pool.Query(ctx, selectBodies, ids)
	if err != nil {
		return nil, fmt.Errorf("read the bodies of %d events: %w", len(ids), err)
	}
	defer rows.Close()
	out := make(map[domain.EventID][]byte, len(ids))
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return nil, fmt.Errorf("read the bodies of %d events: %w", len(ids), err)
		}
		out[domain.EventID(id)] = body
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the bodies of %d events: %w", len(ids), err)
	}
	return out, nil
}
