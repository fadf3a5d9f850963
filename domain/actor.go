package domain

import "context"

// MetadataActor is the event metadata key that names who made a change: an
// API key's fingerprint ("api_key:3f2a9c1b7d4e") or a component of
// lokihooks ("system:relay"). Never the key itself.
const MetadataActor = "actor"

// ActorSystemRelay is the actor of changes the relay makes on its own
// (deactivating a destination that answered 410 Gone).
const ActorSystemRelay = "system:relay"

type actorKey struct{}

// WithActor returns a context that names who acts; commands run with it
// record the actor in their events' metadata.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor WithActor put in ctx, or "".
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}
