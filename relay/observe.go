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
		o.DeliveryRecorded(ctx, rec.job.Args.DestinationKind, rec.event, rec.published)
	}
}

// firstPublished is the publication time the Observer is told of for an
// attempt sending body: that of the event on a delivery's first attempt,
// zero otherwise.
func firstPublished(attempt int, body []byte) time.Time {
	if attempt != 1 {
		return time.Time{}
	}
	return bodyTimestamp(body)
}

// timestampKey precedes the publication time in an event body, which
// lokihooks_publish writes as {"id":…,"type":…,"timestamp":"…Z","data":…}.
const timestampKey = `,"timestamp":"`

// bodyTimestamp returns the publication time written in an event body, or
// zero (none found). The first match is the real one: an id cannot hold a
// quote and the type comes from the catalog, so data, which follows, cannot
// fake it.
func bodyTimestamp(body []byte) time.Time {
	const maxPrefix = 512 // id and type are at most 200 characters each
	head := string(body[:min(len(body), maxPrefix)])
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
