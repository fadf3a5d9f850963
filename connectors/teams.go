package connectors

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Teams defaults and limits.
const (
	// DefaultTeamsMaxCardBytes caps the encoded Teams message when
	// TeamsConfig.MaxCardBytes is zero: Teams refuses messages over about
	// 28 KB.
	DefaultTeamsMaxCardBytes = 28000
	// teamsCardVersion is the Adaptive Card version the Workflows "Post
	// card" action renders; 1.5 cards show "this card couldn't be
	// displayed".
	teamsCardVersion = "1.4"
	// teamsMaxActions bounds the card's buttons.
	teamsMaxActions = 6
	// teamsTruncatedNote marks a card whose text was cut to fit.
	teamsTruncatedNote = "… truncated: the event is too large for a Teams card"
)

// teamsTextLimits are the per-text rune limits tried in turn until the card
// fits; the first already guards against one giant field.
var teamsTextLimits = []int{2000, 1000, 400, 150, 60}

// TeamsConfig configures NewTeams.
type TeamsConfig struct {
	HTTPConfig
	// MaxCardBytes caps the encoded message; longer texts are truncated,
	// and the card says so. Default DefaultTeamsMaxCardBytes (28000).
	MaxCardBytes int
}

func (c TeamsConfig) withDefaults() TeamsConfig {
	c.HTTPConfig = c.HTTPConfig.withDefaults()
	if c.MaxCardBytes <= 0 {
		c.MaxCardBytes = DefaultTeamsMaxCardBytes
	}
	return c
}

// Teams posts events to Microsoft Teams through a Workflows webhook (the
// Power Automate trigger "When a Teams webhook request is received"; the
// retired Office 365 connectors are not supported). The body is a message
// with one Adaptive Card 1.4 attachment: a container styled by severity
// (attention, warning, good), the event's facts in a FactSet, and
// Action.OpenUrl deep links taken from the payload's URLs and the config's
// link_url template. A card that would exceed MaxCardBytes has its texts
// cut and says "… truncated".
//
// Direct messages: a Workflow decides where the card goes, not the
// request. To message a person, build the flow from the same trigger with
// the action "Post card in a chat or channel", "Post as: Flow bot", "Post
// in: Chat with Flow bot" and the person's address as Recipient (or a
// group chat id for "Group chat"); that flow's URL is then the integration's
// webhook_url, and every event reaches the person directly.
//
// Teams answers 202 Accepted with an empty body once the flow is
// triggered (200 from older flows); both are success, and card errors show
// only in the flow's run history. 410 ends the integration (the relay
// deactivates it), 429 and 5xx are retried (Retry-After honoured), other
// 4xx (a deleted flow, a bad signature, a malformed card) are Permanent.
// Teams is safe for concurrent use.
type Teams struct {
	client *http.Client
	cfg    TeamsConfig
}

// NewTeams returns the Teams connector. client should come from NewClient;
// nil means NewClient(ClientConfig{}), the production guard.
func NewTeams(client *http.Client, cfg TeamsConfig) *Teams {
	if client == nil {
		client = NewClient(ClientConfig{})
	}
	return &Teams{client: client, cfg: cfg.withDefaults()}
}

// teamsCredentials are the Teams credentials
// (connectors/schemas/teams.credentials.json).
type teamsCredentials struct {
	WebhookURL string `json:"webhook_url"`
}

// teamsSettings is the Teams config (connectors/schemas/teams.config.json).
type teamsSettings struct {
	Header    string `json:"header"`
	Footer    string `json:"footer"`
	LinkURL   string `json:"link_url"`
	LinkTitle string `json:"link_title"`
}

// Send posts one event (req.Body) as an Adaptive Card. It never returns an
// error: every outcome is a domain.AttemptResult, bounded by req.Timeout.
// Undecodable credentials or config, or a body that is not an event
// envelope, are Permanent failures matching domain.ErrInvalid. No
// credential appears in the result.
func (tm *Teams) Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult {
	var (
		creds teamsCredentials
		set   teamsSettings
	)
	if err := decodeSettings(req.Credentials, &creds, "teams credentials"); err != nil {
		return invalidAttempt("teams credentials do not match the schema", err)
	}
	if creds.WebhookURL == "" {
		return invalidAttempt("teams credentials need webhook_url", errUndecodable)
	}
	if err := decodeSettings(req.Config, &set, "teams config"); err != nil {
		return invalidAttempt("teams config does not match the schema", err)
	}
	env, err := parseEnvelope(req.Body)
	if err != nil {
		return invalidAttempt("event body is not an event envelope", err)
	}
	body, err := teamsRender(newView(env, set.LinkURL, set.LinkTitle), &set, tm.cfg.MaxCardBytes)
	if err != nil {
		return invalidAttempt("teams card cannot be encoded", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", tm.cfg.UserAgent)
	res := roundTrip(ctx, tm.client, &post{
		url: creds.WebhookURL, header: h, body: body, now: attemptNow(&req),
		timeout:          attemptTimeout(&req, tm.cfg.DefaultTimeout),
		maxResponseBytes: tm.cfg.MaxResponseBytes,
		what:             "teams card for delivery " + req.DeliveryID,
	})
	res.Permanent = teamsPermanent(res.StatusCode)
	return res
}

// teamsPermanent reports the 4xx answers that retrying cannot fix. 408,
// 409, 425 and 429 are transient; 410 is left to the relay, which
// deactivates the integration.
func teamsPermanent(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooEarly, http.StatusTooManyRequests, http.StatusGone:
		return false
	}
	return code >= 400 && code < 500
}

// Adaptive Card 1.4 elements, only what the connector uses.
type (
	teamsMessage struct {
		Type        string            `json:"type"`
		Attachments []teamsAttachment `json:"attachments"`
	}
	teamsAttachment struct {
		ContentType string       `json:"contentType"`
		ContentURL  *string      `json:"contentUrl"`
		Content     adaptiveCard `json:"content"`
	}
	adaptiveCard struct {
		Schema  string         `json:"$schema"`
		Type    string         `json:"type"`
		Version string         `json:"version"`
		MSTeams map[string]any `json:"msteams"`
		Body    []any          `json:"body"`
		Actions []acOpenURL    `json:"actions,omitempty"`
	}
	acTextBlock struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Weight   string `json:"weight,omitempty"`
		Size     string `json:"size,omitempty"`
		Color    string `json:"color,omitempty"`
		IsSubtle bool   `json:"isSubtle,omitempty"`
		Wrap     bool   `json:"wrap"`
	}
	acContainer struct {
		Type  string `json:"type"`
		Style string `json:"style,omitempty"`
		Bleed bool   `json:"bleed,omitempty"`
		Items []any  `json:"items"`
	}
	acFactSet struct {
		Type  string   `json:"type"`
		Facts []acFact `json:"facts"`
	}
	acFact struct {
		Title string `json:"title"`
		Value string `json:"value"`
	}
	acOpenURL struct {
		Type  string `json:"type"`
		Title string `json:"title"`
		URL   string `json:"url"`
	}
)

// teamsStyle maps a tone to a Container style.
func teamsStyle(t tone) string {
	switch t {
	case toneDanger:
		return "attention"
	case toneWarning:
		return "warning"
	case toneGood:
		return "good"
	default:
		return "emphasis"
	}
}

// teamsRender encodes the message, cutting texts (then facts) until it
// fits in maxBytes; a cut card ends with teamsTruncatedNote.
func teamsRender(v *view, set *teamsSettings, maxBytes int) ([]byte, error) {
	facts := len(v.Facts)
	for {
		for _, limit := range teamsTextLimits {
			b, err := marshalJSON(teamsCard(v, set, limit, facts))
			if err != nil {
				return nil, err
			}
			// The smallest card is sent whatever its size: Teams will say
			// if it is still too large.
			if len(b) <= maxBytes || (limit == teamsTextLimits[len(teamsTextLimits)-1] && facts == 0) {
				return b, nil
			}
		}
		facts /= 2
	}
}

// teamsCard builds the message with every text cut to limit runes and at
// most facts facts; when anything was cut it ends with teamsTruncatedNote.
func teamsCard(v *view, set *teamsSettings, limit, facts int) *teamsMessage {
	cut := facts < len(v.Facts)
	trim := func(s string) string {
		t := truncateRunes(s, limit)
		if t != s {
			cut = true
		}
		return t
	}
	var head []any
	if set.Header != "" {
		head = append(head, acTextBlock{Type: "TextBlock", Text: trim(set.Header), Size: "Small", IsSubtle: true, Wrap: true})
	}
	head = append(head, acTextBlock{Type: "TextBlock", Text: trim(v.Title), Weight: "Bolder", Size: "Large", Wrap: true})
	body := []any{acContainer{Type: "Container", Style: teamsStyle(v.tone), Bleed: true, Items: head}}
	if v.Message != "" {
		body = append(body, acTextBlock{Type: "TextBlock", Text: trim(v.Message), Wrap: true})
	}
	if facts > 0 {
		fs := acFactSet{Type: "FactSet"}
		for _, f := range v.Facts[:facts] {
			fs.Facts = append(fs.Facts, acFact{Title: trim(f.Label), Value: trim(f.Value)})
		}
		body = append(body, fs)
	}
	meta := v.Type
	if v.ID != "" {
		meta += " · " + v.ID
	}
	if v.Timestamp != "" {
		meta += " · " + v.Timestamp
	}
	if set.Footer != "" {
		meta = trim(set.Footer) + " · " + meta
	}
	body = append(body, acTextBlock{Type: "TextBlock", Text: meta, Size: "Small", IsSubtle: true, Wrap: true})
	var actions []acOpenURL
	for _, l := range v.Links[:min(len(v.Links), teamsMaxActions)] {
		actions = append(actions, acOpenURL{Type: "Action.OpenUrl", Title: truncateRunes(l.Title, 60), URL: l.URL})
	}
	if cut {
		body = append(body, acTextBlock{Type: "TextBlock", Text: teamsTruncatedNote, Size: "Small", IsSubtle: true, Color: "Warning", Wrap: true})
	}
	return &teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content: adaptiveCard{
				Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard",
				Version: teamsCardVersion, MSTeams: map[string]any{"width": "Full"},
				Body: body, Actions: actions,
			},
		}},
	}
}

// teamsKind registers Microsoft Teams.
var teamsKind = kindSpec{
	kind:        domain.KindTeams,
	title:       "Microsoft Teams",
	description: "Post events to a Teams channel or chat as Adaptive Cards through a Workflows webhook.",
	features:    []string{"Adaptive Cards", "sections", "deep links", "colour-coded severity", "direct messages"},
	defaults:    KindDefaults{RateLimitPerMinute: 60, TimeoutSeconds: 15},
	check: func(_, config json.RawMessage) []domain.FieldError {
		var set teamsSettings
		if decodeSettings(config, &set, "") != nil {
			return []domain.FieldError{{Field: "config", Message: "does not match the schema"}}
		}
		return checkLinkTemplate(set.LinkURL)
	},
}
