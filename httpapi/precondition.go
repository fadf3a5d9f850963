package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Precondition is the If-Match header of a webhook command (RFC 9110
// §13.1.1). It is exported because Huma reads the parameters of exported
// embedded structs only.
type Precondition struct {
	IfMatch string `header:"If-Match" doc:"The ETag a GET returned (\"v<version>\"), or *: the change is made only if the webhook still has it, else 412. Weak tags (W/\"…\") never match. Leave it out to apply the change to whatever the current version is."`

	// present and raw are set by Resolve: Huma's string parameter cannot
	// tell an absent header from an empty one, and keeps the first of
	// several header lines only.
	present bool
	raw     string
}

// Resolve records whether If-Match was sent and joins every line of it
// into one list (RFC 9110 §5.3).
func (p *Precondition) Resolve(ctx huma.Context) []error {
	var lines []string
	ctx.EachHeader(func(name, value string) {
		if strings.EqualFold(name, "If-Match") {
			lines = append(lines, value)
		}
	})
	p.present, p.raw = len(lines) > 0, strings.Join(lines, ",")
	return nil
}

// ifMatch is a parsed If-Match header.
type ifMatch struct {
	// any is "*": any current representation matches.
	any bool
	// versions are the webhook versions named by strong tags of ours
	// ("v<n>"). Weak tags and tags that are not ours never match a strong
	// comparison, so they add nothing.
	versions []int64
	// weakOnly reports a header whose only tags of ours were weak.
	weakOnly bool
}

// parseIfMatch parses an If-Match field value strictly: "*", or a
// comma-separated list of entity tags, each an optional W/ and a quoted
// opaque tag (RFC 9110 §8.8.3). Empty list elements are ignored, as the
// list syntax requires; a value without any tag is invalid.
func parseIfMatch(value string) (ifMatch, bool) {
	s := strings.Trim(value, " \t")
	if s == "*" {
		return ifMatch{any: true}, true
	}
	var m ifMatch
	tags, weakOurs := 0, 0
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		weak := strings.HasPrefix(s, "W/")
		if weak {
			s = s[2:]
		}
		if !strings.HasPrefix(s, `"`) {
			return ifMatch{}, false
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return ifMatch{}, false
		}
		tag := s[1 : 1+end]
		if !isETagText(tag) {
			return ifMatch{}, false
		}
		s = strings.TrimLeft(s[2+end:], " \t")
		if s != "" && s[0] != ',' {
			return ifMatch{}, false
		}
		tags++
		if v, ours := versionOf(tag); ours && weak {
			weakOurs++
		} else if ours && !slices.Contains(m.versions, v) {
			m.versions = append(m.versions, v)
		}
	}
	if tags == 0 {
		return ifMatch{}, false
	}
	m.weakOnly = weakOurs > 0 && len(m.versions) == 0
	return m, true
}

// isETagText reports whether s holds only etagc characters: visible ASCII
// except the double quote, and obs-text.
func isETagText(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x21 || c == '"' || c == 0x7f {
			return false
		}
	}
	return true
}

// versionOf reads one of our entity tags, "v<n>" with n in canonical
// decimal form.
func versionOf(tag string) (int64, bool) {
	digits, ok := strings.CutPrefix(tag, "v")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != digits {
		return 0, false
	}
	return n, true
}

func etag(version int64) string { return `"v` + strconv.FormatInt(version, 10) + `"` }

// expectedVersion turns a command's If-Match into the version the command
// must find: domain.ExpectAny when the header is absent or "*". A header
// that cannot match (only tags that are not ours, or weak ones) is decided
// here: 404 when the webhook does not exist, else 412. With several of our
// tags, the current version is read to pick the one that holds; the
// command then checks it atomically.
func (a *API) expectedVersion(ctx context.Context, id domain.WebhookID, p *Precondition) (int64, error) {
	return a.expectedVersionOf(ctx, p, func(ctx context.Context) (int64, error) {
		w, err := a.deps.Webhooks.GetWebhook(ctx, id)
		if err != nil {
			return 0, err
		}
		return w.Version, nil
	})
}

// expectedVersionOf is expectedVersion for any resource; current reads its
// version when the header lists several tags.
func (a *API) expectedVersionOf(ctx context.Context, p *Precondition, current func(context.Context) (int64, error)) (int64, error) {
	if !p.present {
		return domain.ExpectAny, nil
	}
	m, ok := parseIfMatch(p.raw)
	if !ok {
		return 0, huma.Error400BadRequest("If-Match is not a valid entity-tag list", &huma.ErrorDetail{
			Location: "header.If-Match",
			Message: `must be * or entity tags in double quotes, exactly as the ETag response header shows them (e.g. "v3"); ` +
				"leave the header out to skip the check",
			Value: p.raw,
		})
	}
	switch {
	case m.any:
		return domain.ExpectAny, nil
	case len(m.versions) == 1:
		return m.versions[0], nil
	}
	version, err := current(ctx)
	if err != nil {
		return 0, a.problem(ctx, err)
	}
	if slices.Contains(m.versions, version) {
		return version, nil
	}
	if m.weakOnly {
		return 0, huma.NewError(http.StatusPreconditionFailed, "If-Match holds only weak entity tags (W/\"…\"), "+
			"which never match for a change: send the ETag exactly as GET returned it, without W/")
	}
	return 0, errPreconditionFailed()
}
