package relay

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
)

// dueWakeDriver runs a dueWake on a clock, a timer and a notification
// that the test holds. The dueWake reads the clock once for each event or
// ring it takes: the driver hands it the time then, so that the dueWake
// sees exactly the times the test sets.
type dueWakeDriver struct {
	events   chan *river.Event
	inserted chan time.Time
	now      time.Time
	clock    chan time.Time
	// armed receives every duration the timer is set to; fire fires it.
	armed chan time.Duration
	fire  chan time.Time
	// notified counts notifications.
	notified chan struct{}
	cancel   context.CancelFunc
	done     sync.WaitGroup
}

// dueWakeStart is the driver's clock at the start: a whole second.
var dueWakeStart = time.Unix(1_000_000, 0)

func driveDueWake(t *testing.T) *dueWakeDriver {
	t.Helper()
	d := &dueWakeDriver{
		events: make(chan *river.Event), inserted: make(chan time.Time), now: dueWakeStart, clock: make(chan time.Time),
		armed: make(chan time.Duration, 100), fire: make(chan time.Time), notified: make(chan struct{}, 100),
	}
	w := &dueWake{
		notify: func(context.Context) error { d.notified <- struct{}{}; return nil },
		now:    func() time.Time { return <-d.clock },
		arm: func(dur time.Duration) <-chan time.Time {
			d.armed <- dur
			return d.fire
		},
		inserted: d.inserted,
		logger:   slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(t.Context())
	d.cancel = cancel
	d.done.Go(func() { w.run(ctx, d.events) })
	t.Cleanup(d.stop)
	return d
}

// job hands the dueWake the event of a job of the delivery queue left in
// state with its scheduled_at at in from the start of the clock. The
// dueWake took the one before when this returns.
func (d *dueWakeDriver) job(t *testing.T, state rivertype.JobState, in time.Duration) {
	t.Helper()
	d.send(t, &river.Event{Kind: river.EventKindJobSnoozed, Job: &rivertype.JobRow{
		Queue: DeliveryQueue, State: state, ScheduledAt: dueWakeStart.Add(in),
	}})
}

func (d *dueWakeDriver) send(t *testing.T, ev *river.Event) {
	t.Helper()
	select {
	case d.events <- ev:
	case <-time.After(5 * time.Second):
		t.Fatal("the dueWake does not take events")
	}
	d.tell(t)
}

// insert hands the dueWake the due time of a job inserted for later, in
// from the start of the clock, as dueInserts does.
func (d *dueWakeDriver) insert(t *testing.T, in time.Duration) {
	t.Helper()
	select {
	case d.inserted <- dueWakeStart.Add(in):
	case <-time.After(5 * time.Second):
		t.Fatal("the dueWake does not take inserted jobs")
	}
	d.tell(t)
}

// tell hands the dueWake the time when it reads its clock.
func (d *dueWakeDriver) tell(t *testing.T) {
	t.Helper()
	select {
	case d.clock <- d.now:
	case <-time.After(5 * time.Second):
		t.Fatal("the dueWake does not read its clock")
	}
}

// at sets the clock to at from the start.
func (d *dueWakeDriver) at(at time.Duration) { d.now = dueWakeStart.Add(at) }

// requireArmed checks that the timer was set next to want.
func (d *dueWakeDriver) requireArmed(t *testing.T, want time.Duration) {
	t.Helper()
	select {
	case got := <-d.armed:
		require.Equal(t, want, got, "timer set")
	case <-time.After(5 * time.Second):
		t.Fatalf("the timer was not set (to %s)", want)
	}
}

// ring fires the timer.
func (d *dueWakeDriver) ring(t *testing.T) {
	t.Helper()
	select {
	case d.fire <- d.now:
	case <-time.After(5 * time.Second):
		t.Fatal("the dueWake does not wait for its timer")
	}
	d.tell(t)
}

// stop stops the dueWake and waits for it: every notification it asked
// for has been sent.
func (d *dueWakeDriver) stop() {
	d.cancel()
	d.done.Wait()
}

// requireNotified checks that the dueWake notifies the workers (once:
// the next check, or requireDone, sees any other).
func (d *dueWakeDriver) requireNotified(t *testing.T) {
	t.Helper()
	select {
	case <-d.notified:
	case <-time.After(5 * time.Second):
		t.Fatal("the workers were not notified")
	}
}

// requireDone stops the dueWake and checks that it notified the workers
// and set the timer no more than the test saw.
func (d *dueWakeDriver) requireDone(t *testing.T) {
	t.Helper()
	d.stop()
	require.Empty(t, d.notified, "notifications")
	require.Empty(t, d.armed, "timer set again")
}

// TestDueWake_EarliestFirstThenRearms checks that the timer is always set
// for the earliest due job (margin included), that a later one does not
// move it, and that each ring notifies once and sets it for the next.
func TestDueWake_EarliestFirstThenRearms(t *testing.T) {
	t.Parallel()
	d := driveDueWake(t)
	d.job(t, rivertype.JobStateAvailable, 300*time.Millisecond)
	d.requireArmed(t, 305*time.Millisecond)
	d.job(t, rivertype.JobStateAvailable, 100*time.Millisecond)
	d.requireArmed(t, 105*time.Millisecond)
	d.job(t, rivertype.JobStateAvailable, 200*time.Millisecond) // later than the timer: leaves it

	d.at(105 * time.Millisecond)
	d.ring(t)
	d.requireNotified(t)
	d.requireArmed(t, 100*time.Millisecond) // for 205 ms
	d.at(205 * time.Millisecond)
	d.ring(t)
	d.requireNotified(t)
	d.requireArmed(t, 100*time.Millisecond) // for 305 ms
	d.at(305 * time.Millisecond)
	d.ring(t)
	d.requireNotified(t)
	d.requireDone(t)
}

// TestDueWake_DueNowNotifiesAtOnce checks that a job due already (a
// snooze of 0, a retry in the past) is announced without the timer, and
// that notifications are at least a step apart.
func TestDueWake_DueNowNotifiesAtOnce(t *testing.T) {
	t.Parallel()
	d := driveDueWake(t)
	d.job(t, rivertype.JobStateAvailable, 0) // due now
	d.requireNotified(t)                     // with no timer set (requireDone checks)
	d.at(10 * time.Millisecond)
	d.job(t, rivertype.JobStateAvailable, -time.Second) // due long ago
	d.requireNotified(t)
	d.job(t, rivertype.JobStateAvailable, 10*time.Millisecond) // due now, right after a notification
	d.requireArmed(t, dueWakeQuantum)
	d.at(10*time.Millisecond + dueWakeQuantum)
	d.ring(t)
	d.requireNotified(t)
	d.requireDone(t)
}

// TestDueWake_CoalescesCloseDueTimes checks that jobs due in the same step
// of the clock share one notification.
func TestDueWake_CoalescesCloseDueTimes(t *testing.T) {
	t.Parallel()
	d := driveDueWake(t)
	d.job(t, rivertype.JobStateAvailable, 50500*time.Microsecond)
	d.requireArmed(t, 60*time.Millisecond) // 55.5 ms, up to the step
	d.job(t, rivertype.JobStateAvailable, 51500*time.Microsecond)
	d.job(t, rivertype.JobStateAvailable, 52*time.Millisecond)
	d.at(60 * time.Millisecond)
	d.ring(t)
	d.requireNotified(t)
	d.requireDone(t)
}

// TestDueAlarm_KeepsEachTimeOnce checks that jobs due in one step take
// one place in the schedule, however many they are.
func TestDueAlarm_KeepsEachTimeOnce(t *testing.T) {
	t.Parallel()
	a := newDueAlarm()
	for i := range 1000 { // due 1.000001 s to 1.001 s: notified at 1.010 s
		a.add(dueWakeStart.Add(time.Second+time.Duration(i+1)*time.Microsecond), dueWakeStart)
	}
	require.Len(t, a.slots, 1)
	require.Len(t, a.set, 1)
	require.False(t, a.ring(dueWakeStart.Add(time.Second+dueWakeMargin)))
	require.True(t, a.ring(dueWakeStart.Add(time.Second+10*time.Millisecond)))
	_, ok := a.next()
	require.False(t, ok)
	require.Empty(t, a.set)
}

// TestDueWake_LaterJobsWithinHorizon checks that jobs left scheduled or
// retryable, and jobs inserted for later, are announced when due (River's
// scheduler has made them available by then), if due within
// dueWakeHorizon.
func TestDueWake_LaterJobsWithinHorizon(t *testing.T) {
	t.Parallel()
	d := driveDueWake(t)
	d.job(t, rivertype.JobStateScheduled, dueWakeHorizon+time.Second) // left to the poll
	d.insert(t, dueWakeHorizon+time.Second)
	d.job(t, rivertype.JobStateScheduled, time.Minute)
	d.requireArmed(t, time.Minute+dueWakeMargin)
	d.job(t, rivertype.JobStateRetryable, 30*time.Second)
	d.requireArmed(t, 30*time.Second+dueWakeMargin)
	d.insert(t, 10*time.Second)
	d.requireArmed(t, 10*time.Second+dueWakeMargin)

	d.at(10*time.Second + dueWakeMargin)
	d.ring(t)
	d.requireNotified(t)
	d.requireArmed(t, 20*time.Second)
	d.at(30*time.Second + dueWakeMargin)
	d.ring(t)
	d.requireNotified(t)
	d.requireArmed(t, 30*time.Second)
	d.at(time.Minute + dueWakeMargin)
	d.ring(t)
	d.requireNotified(t)
	d.requireDone(t)
}

// TestDueWake_IgnoresJobsThatDoNotWait checks that jobs that will not run
// again, and jobs of other queues, are not announced.
func TestDueWake_IgnoresJobsThatDoNotWait(t *testing.T) {
	t.Parallel()
	d := driveDueWake(t)
	for _, state := range []rivertype.JobState{
		rivertype.JobStateDiscarded, rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateRunning,
	} {
		d.job(t, state, 100*time.Millisecond)
	}
	d.send(t, &river.Event{Kind: river.EventKindJobSnoozed, Job: &rivertype.JobRow{
		Queue: "elsewhere", State: rivertype.JobStateAvailable, ScheduledAt: dueWakeStart.Add(100 * time.Millisecond),
	}})
	d.send(t, &river.Event{Kind: river.EventKindQueuePaused, Queue: &rivertype.Queue{Name: DeliveryQueue}})
	d.requireDone(t)
}

// TestDueInserts_PassesJobsInsertedForLater checks that the insert
// middleware hands on the due time of each job of the delivery queue
// inserted for later, once the insert succeeded.
func TestDueInserts_PassesJobsInsertedForLater(t *testing.T) {
	t.Parallel()
	due := make(chan time.Time, 10)
	m := &dueInserts{due: due}
	now, later := dueWakeStart, dueWakeStart.Add(30*time.Second)
	params := []*rivertype.JobInsertParams{
		{Queue: DeliveryQueue, State: rivertype.JobStateAvailable, ScheduledAt: &now}, // River notifies
		{Queue: "elsewhere", State: rivertype.JobStateScheduled, ScheduledAt: &later},
		{Queue: DeliveryQueue, State: rivertype.JobStateScheduled, ScheduledAt: &later},
	}
	inserted := []*rivertype.JobInsertResult{{Job: &rivertype.JobRow{ID: 1}}}
	res, err := m.InsertMany(t.Context(), params, func(context.Context) ([]*rivertype.JobInsertResult, error) {
		require.Empty(t, due, "handed on before the insert")
		return inserted, nil
	})
	require.NoError(t, err)
	require.Equal(t, inserted, res)
	require.Len(t, due, 1)
	require.Equal(t, later, <-due)

	failed := errors.New("insert failed")
	_, err = m.InsertMany(t.Context(), params, func(context.Context) ([]*rivertype.JobInsertResult, error) {
		return nil, failed
	})
	require.ErrorIs(t, err, failed)
	require.Empty(t, due)
}

// TestDueWake_StopsWhenRiverClosesEvents checks that the dueWake ends when
// River closes its events (the client stopped), with its last
// notification sent.
func TestDueWake_StopsWhenRiverClosesEvents(t *testing.T) {
	t.Parallel()
	d := driveDueWake(t)
	d.job(t, rivertype.JobStateAvailable, 0)
	close(d.events)
	d.done.Wait()
	require.Len(t, d.notified, 1, "the notification asked for before")
}
