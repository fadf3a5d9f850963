package httpapi

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// Defaults and limits of the API.
const (
	DefaultPageLimit = 20
	MaxPageLimit     = 100
	// MaxBodyBytes bounds every request body; larger bodies get 413.
	MaxBodyBytes = 256 << 10
	apiPrefix    = "/api/"
)

// Config configures the API. Only APIKeys is required.
type Config struct {
	// APIKeys are the accepted bearer keys; every /api route requires one.
	APIKeys []string
	// Version is reported in the OpenAPI document (default "dev").
	Version string
	// Logger receives request errors (default: discard).
	Logger *slog.Logger
	// RateLimit is each API key's request budget, per process (default:
	// DefaultRateLimitPerSecond, bursts of DefaultRateLimitBurst).
	RateLimit RateLimit
	// NowFunc is the rate limiter's clock (default time.Now).
	NowFunc func() time.Time
}

// Deps are the API's collaborators. Every operation is registered whatever
// is set (the OpenAPI document needs none); an operation whose dependency
// is nil must not be called.
type Deps struct {
	Webhooks   Webhooks
	Events     Events
	Deliveries Deliveries
	Readiness  Readiness
	// Integrations serves /api/v1/integrations (integrations.go).
	Integrations Integrations
	Analytics    Analytics
	History      WebhookHistory
	// Status serves GET /api/v1/status (status.go); without it, 503.
	Status Status
}

// API is the HTTP API. It is an http.Handler.
type API struct {
	cfg     Config
	deps    Deps
	mux     *http.ServeMux
	huma    huma.API
	keyHash [][32]byte
	// actors name each key in the audit history, by index (apiKeyActor).
	actors  []string
	limiter *keyLimiter // nil: no rate limit
}

// New builds the API and registers every operation.
func New(deps Deps, cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	a := &API{cfg: cfg, deps: deps, mux: http.NewServeMux()}
	for _, k := range cfg.APIKeys {
		a.keyHash = append(a.keyHash, sha256.Sum256([]byte(k)))
		a.actors = append(a.actors, apiKeyActor(k))
	}
	a.limiter = newKeyLimiter(cfg.RateLimit, len(cfg.APIKeys), cfg.NowFunc)
	hc := huma.DefaultConfig("lokihooks API", cfg.Version)
	hc.Info.Description = "Webhooks and integrations for LOKI services: register webhooks, " +
		"inspect the event catalog, deliveries and analytics."
	hc.CreateHooks = nil // no $schema links in bodies
	hc.Formats = map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat}
	hc.Transformers = append(hc.Transformers, sanitizeProblem)
	hc.DocsPath = "" // /docs is our own page (ui.go): Huma's loads its scripts from a CDN
	hc.Servers = []*huma.Server{{URL: "/", Description: "This server"}}
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API key from LOKIHOOKS_API_KEYS."},
	}
	a.huma = humago.New(a.mux, hc)
	a.registerHealth()
	a.registerEventTypes()
	a.registerWebhooks()
	a.registerEvents()
	a.registerDeliveries()
	a.registerIntegrations()
	a.registerAnalytics()
	a.registerHistory()
	a.registerStatus()
	a.registerUI()
	a.mux.HandleFunc("/", a.notFound)
	return a
}

// jsonFormat is Huma's JSON format, except that a body that is not valid
// UTF-8 is refused (RFC 8259 §8.1) instead of having its bad bytes
// silently replaced.
var jsonFormat = huma.Format{
	Marshal: huma.DefaultJSONFormat.Marshal,
	Unmarshal: func(data []byte, v any) error {
		if !utf8.Valid(data) {
			return errors.New("the body is not valid UTF-8: JSON text must be encoded in UTF-8")
		}
		return json.Unmarshal(data, v)
	},
}

// OpenAPI returns the API description.
func (a *API) OpenAPI() *huma.OpenAPI { return a.huma.OpenAPI() }

// notFound answers unknown routes (404) and known routes with the wrong
// method (405) as problem+json instead of ServeMux's text/plain.
func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	status, detail := http.StatusNotFound, "no such route: "+r.URL.Path+
		" (the API is under /api/v1; GET /openapi.json describes every route)"
	if len(allowed) > 0 {
		status, detail = http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed here; use "+strings.Join(allowed, ", ")
		w.Header().Set("Allow", strings.Join(allowed, ", "))
	}
	writeProblem(w, r, status, detail)
}

// bearer marks an operation as requiring the API key.
var bearer = []map[string][]string{{"bearer": {}}}
