package relay

import (
	"container/heap"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Waking the workers when a job River left for later is due.
//
// River (as of v0.51.2) does not send a job that snoozes, or fails and is
// retried, for at most its scheduler interval (5 s) through its scheduler:
// it makes the job available at once, with its scheduled_at in the future,
// and sends no insert notification. The job runs at the first fetch after
// its scheduled_at, and idle workers fetch on an insert notification or
// every Config.FetchPollInterval, a fallback of 5 s by default. lokihooks
// relies on such jobs: a batching destination's flush snoozes batchSettle
// while deliveries of its destination run and 0 after maxBatchRounds, a
// parked batch member snoozes until its batch's interval ends, a breaker's
// job snoozes until the breaker may half-open, 0 to read it again and
// breakerRecheck while a delivery runs, and a job whose outcome could not
// be recorded is retried after 1, 2 and 4 s (infraRetry). Left to the
// poll, each would wait up to 5 s more than it asked for.
//
// So a worker process subscribes to River's events of the jobs it
// finishes: snoozed, failed and interrupted (at shutdown) jobs, the kinds
// that can leave a job available. River sends them once its completer has
// written the job's new state, so the event's row is what the database
// holds. For each job of the delivery queue left available, a dueWake
// sends River's insert notification for the queue (notifyWorkers) when the
// job is due: the idle workers of every process fetch then. It keeps the
// due times and one timer, for the earliest. A job due already is
// announced at once (an idle completer writes every 250 ms, so the
// shortest snoozes are due by the time they are written); a later one
// dueWakeMargin after its scheduled_at, so that the fetch's scheduled_at
// <= now() holds. Due times in the same dueWakeQuantum step of the clock
// share one notification, and notifications are at least dueWakeQuantum
// apart.
//
// Each of these is only a hint, and the poll stays the fallback: River
// drops the events a subscriber does not take in time (beyond
// dueWakeBuffer waiting), a notification that fails is not sent again
// (logged), the due times still pending when the process stops are
// dropped, and a notification sent before the database's clock reaches
// scheduled_at (clocks more than dueWakeMargin apart) fetches nothing.

const (
	// dueWakeMargin is how long after a job's scheduled_at the workers
	// are notified.
	dueWakeMargin = 5 * time.Millisecond
	// dueWakeQuantum is the step of the due times: those in one step
	// share a notification, and notifications are at least a step apart.
	dueWakeQuantum = 5 * time.Millisecond
	// dueWakeBuffer is the room River gives the events the dueWake has
	// not taken yet (River's default is 1000; the completer reports up to
	// thousands of jobs at once).
	dueWakeBuffer = 20_000
	// dueNotifyTimeout bounds one notification.
	dueNotifyTimeout = 5 * time.Second
)

// dueWakeKinds are the events that can leave a job available.
var dueWakeKinds = []river.EventKind{river.EventKindJobSnoozed, river.EventKindJobFailed, river.EventKindJobInterrupted}

// dueWake notifies the workers when the jobs River left available for
// later are due. Its fields are set once, before run.
type dueWake struct {
	// notify sends River's insert notification for the delivery queue.
	notify func(context.Context) error
	// now is River's clock (scheduled_at is River's time, not
	// Config.NowFunc's).
	now func() time.Time
	// arm sets the one timer to fire after d, replacing what it was set
	// to, and returns its channel.
	arm    func(d time.Duration) <-chan time.Time
	logger *slog.Logger
}

func newDueWake(pool *pgxpool.Pool, logger *slog.Logger) *dueWake {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	return &dueWake{
		notify: func(ctx context.Context) error { return notifyWorkers(ctx, pool) },
		now:    time.Now,
		arm: func(d time.Duration) <-chan time.Time {
			timer.Reset(d)
			return timer.C
		},
		logger: logger,
	}
}

// subscribeDue returns the events of client's jobs that run needs. River
// closes the channel when the client stops.
func subscribeDue(client *river.Client[pgx.Tx]) <-chan *river.Event {
	events, _ := client.SubscribeConfig(&river.SubscribeConfig{Kinds: dueWakeKinds, ChanSize: dueWakeBuffer})
	return events
}

// run notifies the workers as the jobs of events fall due, until ctx ends
// or events is closed. Notifications go out from a goroutine of their
// own, so that taking events never waits for the database; those asked
// for while one is sent make one more.
func (w *dueWake) run(ctx context.Context, events <-chan *river.Event) {
	kick := make(chan struct{}, 1)
	var sender sync.WaitGroup
	sender.Go(func() { w.send(ctx, kick) })
	defer func() {
		close(kick)
		sender.Wait()
	}()
	alarm := newDueAlarm()
	var (
		ring    <-chan time.Time
		armedAt int64 // the slot ring is for (0: none)
	)
	for {
		var ev *river.Event
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			ev = e
		case <-ring:
			ring, armedAt = nil, 0
		}
		now := w.now()
		if due, ok := dueAt(ev); ok {
			alarm.add(due, now)
		}
		if alarm.ring(now) {
			select {
			case kick <- struct{}{}:
			default: // one is pending already
			}
		}
		next, ok := alarm.next()
		switch {
		case !ok:
			ring, armedAt = nil, 0
		case next != armedAt:
			ring, armedAt = w.arm(time.Duration(next-now.UnixNano())), next
		}
	}
}

// send sends one notification per kick until kick is closed.
func (w *dueWake) send(ctx context.Context, kick <-chan struct{}) {
	for range kick {
		nctx, cancel := context.WithTimeout(ctx, dueNotifyTimeout)
		err := w.notify(nctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			w.logger.WarnContext(ctx, "waking the workers for a due job failed; they fetch it at their next poll", "error", err)
		}
	}
}

// dueAt returns when the job of ev is due if River left it available in
// the delivery queue (its scheduled_at: in the future, or past for a job
// due at once).
func dueAt(ev *river.Event) (time.Time, bool) {
	if ev == nil || ev.Job == nil || ev.Job.Queue != DeliveryQueue || ev.Job.State != rivertype.JobStateAvailable {
		return time.Time{}, false
	}
	return ev.Job.ScheduledAt, true
}

// dueAlarm is the schedule of a dueWake: the times to notify the workers
// at, in Unix nanoseconds, each once. It is not safe for concurrent use.
type dueAlarm struct {
	slots slotHeap
	set   map[int64]struct{}
	// last is when it last rang.
	last int64
}

func newDueAlarm() *dueAlarm { return &dueAlarm{set: map[int64]struct{}{}} }

// add schedules a notification for a job due at due, now being now: at
// once if the job is due, else dueWakeMargin after due rounded up to a
// dueWakeQuantum step; and never less than dueWakeQuantum after the last
// notification.
func (a *dueAlarm) add(due, now time.Time) {
	slot := now.UnixNano()
	if due.After(now) {
		slot = roundUp(due.Add(dueWakeMargin).UnixNano(), int64(dueWakeQuantum))
	}
	slot = max(slot, a.last+int64(dueWakeQuantum))
	if _, ok := a.set[slot]; ok {
		return
	}
	a.set[slot] = struct{}{}
	heap.Push(&a.slots, slot)
}

// ring removes the slots due at now and reports whether there was one:
// the workers are to be notified.
func (a *dueAlarm) ring(now time.Time) bool {
	t := now.UnixNano()
	rang := false
	for len(a.slots) > 0 && a.slots[0] <= t {
		delete(a.set, heap.Pop(&a.slots).(int64))
		rang = true
	}
	if rang {
		a.last = t
	}
	return rang
}

// next returns the earliest slot, if any.
func (a *dueAlarm) next() (int64, bool) {
	if len(a.slots) == 0 {
		return 0, false
	}
	return a.slots[0], true
}

// roundUp rounds n, a positive number, up to a multiple of step.
func roundUp(n, step int64) int64 { return (n + step - 1) / step * step }

// slotHeap is a min-heap of slots (container/heap).
type slotHeap []int64

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h slotHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *slotHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *slotHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
