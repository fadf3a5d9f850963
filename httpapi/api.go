package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/loki-interceptor/lokihooks/domain"
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
}

// API is the HTTP API. It is an http.Handler.
type API struct {
	cfg     Config
	deps    Deps
	mux     *http.ServeMux
	huma    huma.API
	keyHash [][32]byte
}

// New builds the API and registers every operation.
func New(deps Deps, cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	a := &API{cfg: cfg, deps: deps, mux: http.NewServeMux()}
	for _, k := range cfg.APIKeys {
		a.keyHash = append(a.keyHash, sha256.Sum256([]byte(k)))
	}
	hc := huma.DefaultConfig("lokihooks API", cfg.Version)
	hc.Info.Description = "Webhooks and integrations for LOKI services: register webhooks, " +
		"inspect the event catalog, deliveries and analytics."
	hc.CreateHooks = nil // no $schema links in bodies
	hc.DocsPath = ""     // /docs is our own page (ui.go): Huma's loads its scripts from a CDN
	hc.Servers = []*huma.Server{{URL: "/", Description: "This server"}}
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "An API key from LOKIHOOKS_API_KEYS."},
	}
	a.huma = humago.New(a.mux, hc)
	a.huma.UseMiddleware(a.authenticate)
	a.registerHealth()
	a.registerEventTypes()
	a.registerWebhooks()
	a.registerEvents()
	a.registerDeliveries()
	a.registerIntegrations()
	a.registerAnalytics()
	a.registerHistory()
	a.registerUI()
	a.mux.HandleFunc("/", a.notFound)
	return a
}

// OpenAPI returns the API description.
func (a *API) OpenAPI() *huma.OpenAPI { return a.huma.OpenAPI() }

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// authenticate requires a valid bearer key on every /api route. Keys are
// compared as SHA-256 digests in constant time.
func (a *API) authenticate(ctx huma.Context, next func(huma.Context)) {
	if !strings.HasPrefix(ctx.Operation().Path, apiPrefix) {
		next(ctx)
		return
	}
	auth := ctx.Header("Authorization")
	// The scheme is case-insensitive (RFC 9110 §11.1).
	scheme, token, ok := strings.Cut(auth, " ")
	if ok && strings.EqualFold(scheme, "Bearer") && a.validKey(strings.TrimSpace(token)) {
		// Commands record which key made them (the audit history).
		next(huma.WithContext(ctx, domain.WithActor(ctx.Context(), apiKeyActor(strings.TrimSpace(token)))))
		return
	}
	ctx.SetHeader("WWW-Authenticate", `Bearer realm="lokihooks"`)
	msg := "missing bearer token: send Authorization: Bearer <api key>"
	if auth != "" {
		msg = "invalid API key"
	}
	_ = huma.WriteErr(a.huma, ctx, http.StatusUnauthorized, msg)
}

func (a *API) validKey(token string) bool {
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, k := range a.keyHash {
		match |= subtle.ConstantTimeCompare(sum[:], k[:])
	}
	return match == 1
}

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
	status, detail := http.StatusNotFound, "no such route: "+r.URL.Path
	if len(allowed) > 0 {
		status, detail = http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed here"
		w.Header().Set("Allow", strings.Join(allowed, ", "))
	}
	writeProblem(w, status, detail)
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(&huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bearer marks an operation as requiring the API key.
var bearer = []map[string][]string{{"bearer": {}}}
