package relay

import (
	"context"
	"strings"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
)

// nopObserver is the Observer of a relay given none.
type nopObserver struct{}

func (nopObserver) DeliveryRecorded(context.Context, domain.DestinationKind, domain.Event, time.Time) {
}
func (nopObserver) BreakerChanged(context.Context, []domain.Event) {}

func observerOrNop(o Observer) Observer {
	if o == nil {
		return nopObserver{}
	}
	return o
}

// observeRecorded tells o about a batch of records that committed.
func observeRecorded(ctx context.Context, o Observer, batch []*record) {
	for _, rec := range batch {
		a := rec.job.Args
		var published time.Time
		if ev, ok := rec.event.(domain.DeliveryAttempted); ok && ev.Attempt == 1 {
			published = bodyTimestamp(a.Body)
		}
		o.DeliveryRecorded(ctx, a.DestinationKind, rec.event, published)
	}
}

// timestampKey precedes the publication time in an event body, which
// lokihooks_publish writes as {"id":…,"type":…,"timestamp":"…Z","data":…}.
const timestampKey = `,"timestamp":"`

// bodyTimestamp returns the publication time written in an event body that
// travelled with its job, or zero (no body in the job, or none found).
// The first match is the real one: an id cannot hold a quote and the type
// comes from the catalog, so data, which follows, cannot fake it.
func bodyTimestamp(body string) time.Time {
	const maxPrefix = 512 // id and type are at most 200 characters each
	head := body[:min(len(body), maxPrefix)]
	_, rest, ok := strings.Cut(head, timestampKey)
	if !ok {
		return time.Time{}
	}
	value, _, ok := strings.Cut(rest, `"`)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return time.Time{}
	}
	return t
}
