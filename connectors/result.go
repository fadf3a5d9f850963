package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/loki-interceptor/lokihooks/domain"
)

// invalidAttempt is the result of an attempt that cannot be made as
// configured (undecodable credentials, an event body that is not an
// envelope, a template that does not parse): nothing is sent and retrying
// cannot help, so it is Permanent. detail is value-free text; err must not
// hold a credential and is wrapped so that it matches domain.ErrInvalid.
func invalidAttempt(detail string, err error) domain.AttemptResult {
	if !errors.Is(err, domain.ErrInvalid) {
		err = fmt.Errorf("%w: %w", domain.ErrInvalid, err)
	}
	return domain.AttemptResult{
		Category:  domain.ErrorCategoryNetwork,
		Detail:    domain.NetworkDetailOther + ": " + detail,
		Permanent: true,
		Err:       err,
	}
}

// errUndecodable reports credentials or config that do not decode into the
// connector's settings. It never carries the JSON decoder's text, which can
// quote the offending value.
var errUndecodable = errors.New("does not match the kind's schema")

// decodeSettings decodes an integration's credentials or config (a JSON
// object; nil or empty means {}) into v. what names it in the error
// ("slack credentials").
func decodeSettings(raw json.RawMessage, v any, what string) error {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s: %w", what, errUndecodable)
	}
	return nil
}

// marshalJSON encodes v without escaping &, < and > (chat services show
// the text as sent) and without the trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// attemptTimeout is req's timeout, or def when it has none.
func attemptTimeout(req *domain.AttemptRequest, def time.Duration) time.Duration {
	if req.Timeout > 0 {
		return req.Timeout
	}
	return def
}

// attemptNow is req's attempt time, or the clock's when it has none.
func attemptNow(req *domain.AttemptRequest) time.Time {
	if req.Now.IsZero() {
		return time.Now()
	}
	return req.Now
}

// saveTimeout bounds bookkeeping that runs after a successful send and must
// not be lost to a cancellation that came a moment too late (Slack thread
// timestamps).
const saveTimeout = 5 * time.Second

// detached returns a context that outlives ctx's cancellation, bounded by
// saveTimeout.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
}
