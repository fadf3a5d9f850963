package domain

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ValidateWebhookURL checks a destination URL when a webhook is created or changed:
// it must be absolute, use https (or http when allowHTTP), name a host (with
// an optional port 1-65535), and carry no userinfo and no fragment.
//
// The error is a *ValidationError on field "url" matching
// ErrInvalid; it does not repeat the URL, which may hold a token. This
// check is for early, clear feedback only: the SSRF guard of the connectors' client is
// what keeps deliveries away from internal addresses.
func ValidateWebhookURL(raw string, allowHTTP bool) error {
	if raw == "" {
		return invalidURL("is required")
	}
	if len(raw) > MaxURLLength {
		return invalidURL(fmt.Sprintf("must be at most %d characters", MaxURLLength))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalidURL("must be a valid URL")
	}
	switch {
	case u.Scheme == "":
		return invalidURL("must be an absolute URL")
	case u.Scheme == "http" && !allowHTTP:
		// Name the setting: a developer trying a local receiver needs it.
		return invalidURL("must use https (http:// is accepted only when lokihooks runs with " +
			"LOKIHOOKS_ALLOW_HTTP=true, for development)")
	case u.Scheme != "https" && u.Scheme != "http":
		if allowHTTP {
			return invalidURL("must use https or http")
		}
		return invalidURL("must use https")
	case u.Opaque != "" || u.Hostname() == "":
		return invalidURL("must name a host")
	case u.User != nil:
		return invalidURL("must not contain user info")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return invalidURL("must not contain a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalidURL("port must be between 1 and 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return invalidURL("port must be between 1 and 65535")
	}
	return nil
}

func invalidURL(msg string) error {
	return &ValidationError{Fields: []FieldError{{Field: "url", Message: msg}}}
}
