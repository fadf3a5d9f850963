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

// Waking the workers when a job left for later is due.
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
// Jobs due later take another path that sends no notification either. River inserts a job with a scheduled_at as scheduled, and gives a
// longer snooze or retry the state scheduled or retryable; River's
// scheduler, every 5 s on the leader, makes those due within the next 5 s
// available, and notifies only for those due within 5 ms. lokihooks
// inserts such jobs for retries by a destination's policy, attempts
// postponed to a rate-limit window, a flush due when its batch's interval
// ends and a breaker's job due when it may half-open; its batch members
// and breaker jobs snooze that long. So the dueWake also takes the events
// of jobs left scheduled or retryable, and, through insert middleware on
// the client that inserts them (dueInserts), the jobs inserted for later,
// and notifies the workers when they are due: by then the scheduler has
// made them available. Only those due within dueWakeHorizon are kept,
// which bounds the schedule (dueWakeHorizon / dueWakeQuantum times); the
// others (a paused destination's parked deliveries, long retries) may run
// up to a fetch poll late, little against their wait.
//
// Each of these is only a hint, and the poll stays the fallback: River
// drops the events a subscriber does not take in time (beyond
// dueWakeBuffer waiting), as the middleware drops the due times the
// dueWake has no room for, a notification that fails is not sent again
// (logged), the due times still pending when the process stops are
// dropped, and a notification sent before the database's clock reaches
// scheduled_at (clocks more than dueWakeMargin apart), or before River's
// scheduler made the job available (its leader late or away), fetches
// nothing. Jobs that River's rescuer puts back (RescueAfter, behind the
// heartbeat's reclaim) are left to the poll.

const (
	// dueWakeMargin is how long after a job's scheduled_at the workers
	// are notified.
	dueWakeMargin = 5 * time.Millisecond
	// dueWakeQuantum is the step of the due times: those in one step
	// share a notification, and notifications are at least a step apart.
	dueWakeQuantum = 5 * time.Millisecond
	// dueWakeBuffer is the room for the events, and for the due times of
	// inserted jobs, that the dueWake has not taken yet (River's default
	// for events is 1000; its completer reports up to thousands of jobs
	// at once).
	dueWakeBuffer = 20_000
	// dueNotifyTimeout bounds one notification.
	dueNotifyTimeout = 5 * time.Second
	// dueWakeHorizon is how far ahead due times are kept.
	dueWakeHorizon = 2 * time.Minute
)

// dueWakeKinds are the events that can leave a job to run later.
var dueWakeKinds = []river.EventKind{river.EventKindJobSnoozed, river.EventKindJobFailed, river.EventKindJobInterrupted}

// dueWake notifies the workers when the jobs left for later are due. Its
// fields are set once, before run.
type dueWake struct {
	// notify sends River's insert notification for the delivery queue.
	notify func(context.Context) error
	// now is River's clock (scheduled_at is River's time, not
	// Config.NowFunc's).
	now func() time.Time
	// arm sets the one timer to fire after d, replacing what it was set
	// to, and returns its channel.
	arm func(d time.Duration) <-chan time.Time
	// inserted carries the due times of the jobs inserted for later
	// (dueInserts).
	inserted chan time.Time
	logger   *slog.Logger
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
		inserted: make(chan time.Time, dueWakeBuffer),
		logger:   logger,
	}
}

// insertMiddleware returns River insert middleware that tells w when the
// jobs inserted for later are due.
func (w *dueWake) insertMiddleware() rivertype.Middleware { return &dueInserts{due: w.inserted} }

// subscribeDue returns the events of client's jobs that run needs. River
// closes the channel when the client stops.
func subscribeDue(client *river.Client[pgx.Tx]) <-chan *river.Event {
	events, _ := client.SubscribeConfig(&river.SubscribeConfig{Kinds: dueWakeKinds, ChanSize: dueWakeBuffer})
	return events
}

// run notifies the workers as the jobs of events, and the jobs inserted
// for later, fall due, until ctx ends or events is closed. Notifications go out from a goroutine of their
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
		var (
			due  time.Time
			have bool
		)
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			due, have = dueAt(ev)
		case due = <-w.inserted:
			have = true
		case <-ring:
			ring, armedAt = nil, 0
		}
		now := w.now()
		if have {
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

// dueAt returns when the job of ev is due if River left it to run later
// in the delivery queue: available (with its scheduled_at in the future,
// or past for a job due at once), scheduled or retryable.
func dueAt(ev *river.Event) (time.Time, bool) {
	if ev == nil || ev.Job == nil || ev.Job.Queue != DeliveryQueue {
		return time.Time{}, false
	}
	switch ev.Job.State {
	case rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable:
		return ev.Job.ScheduledAt, true
	default:
		return time.Time{}, false
	}
}

// dueInserts is River insert middleware that hands a dueWake the due
// times of the delivery queue's jobs inserted for later (River inserts a
// job with a scheduled_at as scheduled). A job whose insert is rolled back
// costs one notification for nothing.
type dueInserts struct {
	river.MiddlewareDefaults
	due chan<- time.Time
}

// InsertMany implements rivertype.JobInsertMiddleware.
func (m *dueInserts) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams,
	doInner func(context.Context) ([]*rivertype.JobInsertResult, error),
) ([]*rivertype.JobInsertResult, error) {
	res, err := doInner(ctx)
	if err != nil {
		return res, err
	}
	for _, p := range params {
		if p.State != rivertype.JobStateScheduled || p.Queue != DeliveryQueue || p.ScheduledAt == nil {
			continue
		}
		select {
		case m.due <- *p.ScheduledAt:
		default: // no room: the fetch poll runs the job
		}
	}
	return res, nil
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
// notification. A job due after dueWakeHorizon is left to the poll.
func (a *dueAlarm) add(due, now time.Time) {
	if due.Sub(now) > dueWakeHorizon {
		return
	}
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
