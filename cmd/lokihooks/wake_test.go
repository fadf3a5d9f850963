package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loki-interceptor/lokihooks/domain"
)

// recordedCounter is a relay.Observer that counts what it is told.
type recordedCounter struct{ recorded, breakers int }

func (c *recordedCounter) DeliveryRecorded(context.Context, domain.DestinationKind, domain.Event, time.Time) {
	c.recorded++
}

func (c *recordedCounter) BreakerChanged(context.Context, []domain.Event) { c.breakers++ }

func TestWakeOnRecord(t *testing.T) {
	t.Parallel()

	t.Run("WakesEveryRunnerWithoutBlocking", func(t *testing.T) {
		t.Parallel()
		next := &recordedCounter{}
		wakes := []chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}
		w := wakeOnRecord{next: next, wakes: wakes}
		// The second record finds both wake-ups still pending: it must not
		// block on them.
		for range 2 {
			w.DeliveryRecorded(t.Context(), domain.KindWebhook, domain.DeliveryCancelled{}, time.Time{})
		}
		w.BreakerChanged(t.Context(), nil)
		for _, c := range wakes {
			require.Len(t, c, 1)
		}
		require.Equal(t, &recordedCounter{recorded: 2, breakers: 1}, next, "what the telemetry observer is told is unchanged")
	})

	t.Run("WithoutTelemetry", func(t *testing.T) {
		t.Parallel()
		wake := make(chan struct{}, 1)
		w := wakeOnRecord{wakes: []chan struct{}{wake}}
		w.DeliveryRecorded(t.Context(), domain.KindWebhook, domain.DeliveryCancelled{}, time.Time{})
		w.BreakerChanged(t.Context(), nil)
		require.Len(t, wake, 1)
	})
}
