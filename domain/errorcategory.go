package domain

// ErrorCategory classifies why a delivery attempt failed.
type ErrorCategory string

// Error categories. A successful attempt has no category.
const (
	ErrorCategoryNone    ErrorCategory = ""
	ErrorCategoryHTTP3xx ErrorCategory = "http_3xx" // redirects are not followed
	ErrorCategoryHTTP4xx ErrorCategory = "http_4xx"
	ErrorCategoryHTTP5xx ErrorCategory = "http_5xx"
	ErrorCategoryTimeout ErrorCategory = "timeout"
	ErrorCategoryNetwork ErrorCategory = "network"
)

// Network error details, recorded next to ErrorCategoryNetwork.
const (
	NetworkDetailDNS     = "dns"
	NetworkDetailConnect = "connect"
	NetworkDetailTLS     = "tls"
	NetworkDetailBlocked = "blocked" // refused by the SSRF guard
	NetworkDetailOther   = "other"
)

// CategorizeStatus returns the category of an HTTP status code; 2xx is
// ErrorCategoryNone.
func CategorizeStatus(code int) ErrorCategory {
	switch {
	case code >= 200 && code < 300:
		return ErrorCategoryNone
	case code >= 300 && code < 400:
		return ErrorCategoryHTTP3xx
	case code >= 400 && code < 500:
		return ErrorCategoryHTTP4xx
	default:
		return ErrorCategoryHTTP5xx
	}
}
