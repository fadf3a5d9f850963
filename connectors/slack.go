package connectors

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/slack-go/slack"

	"github.com/loki-interceptor/lokihooks/domain"
)

// Slack defaults and limits.
const (
	// DefaultSlackBaseURL is the Slack Web API base when
	// SlackConfig.BaseURL is empty.
	DefaultSlackBaseURL = "https://slack.com/api"
	// DefaultSlackThreadKey is the event path whose value groups bot
	// messages into one thread when config thread_key is absent.
	DefaultSlackThreadKey = "data.document_id"

	// Block Kit limits (api.slack.com/reference/block-kit/blocks).
	slackHeaderMaxRunes  = 150
	slackSectionMaxRunes = 3000
	slackFieldMaxRunes   = 2000
	slackFieldsPerBlock  = 10
	slackMaxFields       = 30
	slackMaxButtons      = 5
	slackFallbackRunes   = 300
)

// Colours by tone: the Slack attachment bar and the email accent. Slack
// needs a legacy attachment for a colour bar; Block Kit alone has none.
const (
	slackColorDanger  = "#D00000"
	slackColorWarning = "#F2840C"
	slackColorGood    = "#2EB67D"
	slackColorNeutral = "#9AA0A6"
)

// SlackConfig configures NewSlack.
type SlackConfig struct {
	HTTPConfig
	// BaseURL is the Slack Web API base that bot-token mode posts
	// chat.postMessage to. Default DefaultSlackBaseURL.
	BaseURL string
	// Logger receives the warning when a thread timestamp cannot be saved
	// after a successful post. Default: discard.
	Logger *slog.Logger
}

func (c SlackConfig) withDefaults() SlackConfig {
	if c.BaseURL == "" {
		c.BaseURL = DefaultSlackBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.HTTPConfig = c.HTTPConfig.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ThreadStore keeps the Slack thread of each (destination, thread key): the
// ts of the first message posted for that key. The Slack connector is its
// consumer; implementations must be safe for concurrent use.
type ThreadStore interface {
	// Thread returns the thread ts stored for key, or "" and a nil error
	// when there is none.
	Thread(ctx context.Context, destination domain.DestinationID, key string) (ts string, err error)
	// SaveThread stores ts for key unless a ts is already stored, which
	// it keeps: the first message of a thread stays its parent.
	SaveThread(ctx context.Context, destination domain.DestinationID, key, ts string) error
}

// MemoryThreadStore is an in-process ThreadStore for tests and local runs.
// It forgets everything on restart and is not shared between processes,
// and it grows with every thread key it sees. The zero value is ready to
// use; it is safe for concurrent use.
type MemoryThreadStore struct {
	mu      sync.Mutex
	threads map[[2]string]string
}

// Thread implements ThreadStore.
func (s *MemoryThreadStore) Thread(_ context.Context, destination domain.DestinationID, key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.threads[[2]string{string(destination), key}], nil
}

// SaveThread implements ThreadStore.
func (s *MemoryThreadStore) SaveThread(_ context.Context, destination domain.DestinationID, key, ts string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.threads == nil {
		s.threads = make(map[[2]string]string)
	}
	k := [2]string{string(destination), key}
	if _, ok := s.threads[k]; !ok {
		s.threads[k] = ts
	}
	return nil
}

// Slack posts events to Slack as Block Kit messages with a colour bar.
//
// Two modes, chosen by the credentials:
//
//   - webhook_url: an incoming webhook. Slack fixes the channel; the answer
//     is the text "ok" or an error string. No threads (Slack returns no
//     message ts).
//   - bot_token (xoxb-…) with config channel: chat.postMessage on the Web
//     API. Events that share a thread key (config thread_key, a dotted
//     path into the event, default data.document_id) go into one thread:
//     the first message's ts is kept in the ThreadStore and later ones
//     reply with thread_ts. Two first events for one key sent at the same
//     moment may both start a thread; the store keeps the first ts saved.
//
// Slack's error strings decide whether a failure is Permanent
// (channel_not_found, invalid_token, …) or retried (rate_limited, internal
// errors, 5xx); a 429's Retry-After is honoured. Slack allows about one
// message per second per channel. Slack is safe for concurrent use.
type Slack struct {
	client  *http.Client
	threads ThreadStore
	cfg     SlackConfig
}

// NewSlack returns the Slack connector. client should come from NewClient
// (nil means NewClient(ClientConfig{}), the production guard); threads
// keeps bot-mode threads, and nil turns threads off.
func NewSlack(client *http.Client, threads ThreadStore, cfg SlackConfig) *Slack {
	if client == nil {
		client = NewClient(ClientConfig{})
	}
	return &Slack{client: client, threads: threads, cfg: cfg.withDefaults()}
}

// slackCredentials are the Slack credentials (connectors/schemas/slack.credentials.json).
type slackCredentials struct {
	WebhookURL string `json:"webhook_url"`
	BotToken   string `json:"bot_token"`
}

// slackSettings is the Slack config (connectors/schemas/slack.config.json).
type slackSettings struct {
	Channel   string `json:"channel"`
	Header    string `json:"header"`
	Footer    string `json:"footer"`
	Threads   *bool  `json:"threads"`
	ThreadKey string `json:"thread_key"`
	LinkURL   string `json:"link_url"`
	LinkTitle string `json:"link_title"`
}

// slackMessage is the body of an incoming-webhook post or a
// chat.postMessage call.
type slackMessage struct {
	Channel     string             `json:"channel,omitempty"`
	ThreadTS    string             `json:"thread_ts,omitempty"`
	Text        string             `json:"text"`
	Attachments []slack.Attachment `json:"attachments"`
	UnfurlLinks *bool              `json:"unfurl_links,omitempty"`
}

// Send posts one event (req.Body) as a message. It never returns an
// error: every outcome is a domain.AttemptResult, bounded by req.Timeout.
// Undecodable credentials or config, or a body that is not an event
// envelope, are Permanent failures matching domain.ErrInvalid, and nothing
// is sent. No credential appears in the result.
func (s *Slack) Send(ctx context.Context, req domain.AttemptRequest) domain.AttemptResult {
	var (
		creds slackCredentials
		set   slackSettings
	)
	if err := decodeSettings(req.Credentials, &creds, "slack credentials"); err != nil {
		return invalidAttempt("slack credentials do not match the schema", err)
	}
	if err := decodeSettings(req.Config, &set, "slack config"); err != nil {
		return invalidAttempt("slack config does not match the schema", err)
	}
	env, err := parseEnvelope(req.Body)
	if err != nil {
		return invalidAttempt("event body is not an event envelope", err)
	}
	msg := slackRender(newView(env, set.LinkURL, set.LinkTitle), set.Header, set.Footer)

	switch {
	case creds.BotToken != "" && set.Channel != "":
		return s.postBot(ctx, &req, env, &set, creds.BotToken, msg)
	case creds.WebhookURL != "":
		return s.postWebhook(ctx, &req, creds.WebhookURL, msg)
	case creds.BotToken != "":
		return invalidAttempt("slack bot_token needs config channel", errUndecodable)
	default:
		return invalidAttempt("slack credentials need webhook_url or bot_token", errUndecodable)
	}
}

func (s *Slack) postWebhook(ctx context.Context, req *domain.AttemptRequest, webhookURL string, msg *slackMessage) domain.AttemptResult {
	body, err := marshalJSON(msg)
	if err != nil {
		return invalidAttempt("slack message cannot be encoded", err)
	}
	res := roundTrip(ctx, s.client, s.post(req, webhookURL, nil, body))
	if res.StatusCode != 0 && !res.Success {
		classifySlack(&res, slackErrorCode(strings.TrimSpace(string(res.ResponseBody))))
	}
	return res
}

func (s *Slack) postBot(ctx context.Context, req *domain.AttemptRequest, env *envelope, set *slackSettings, token string, msg *slackMessage) domain.AttemptResult {
	msg.Channel = set.Channel
	msg.UnfurlLinks = new(bool)
	key := s.threadKey(env, set)
	if key != "" {
		ts, err := s.threads.Thread(ctx, req.DestinationID, key)
		if err != nil {
			return domain.AttemptResult{
				Category: domain.ErrorCategoryNetwork,
				Detail:   domain.NetworkDetailOther + ": slack thread lookup failed",
				Err:      fmt.Errorf("look up slack thread for delivery %s: %w", req.DeliveryID, err),
			}
		}
		msg.ThreadTS = ts
	}
	body, err := marshalJSON(msg)
	if err != nil {
		return invalidAttempt("slack message cannot be encoded", err)
	}
	h := http.Header{"Authorization": {"Bearer " + token}}
	res := roundTrip(ctx, s.client, s.post(req, s.cfg.BaseURL+"/chat.postMessage", h, body))
	if res.StatusCode == 0 {
		return res
	}
	var answer struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		TS    string `json:"ts"`
	}
	if json.Unmarshal(res.ResponseBody, &answer) != nil {
		if res.Success {
			// Slack's Web API always answers JSON; something else answered.
			res.Success = false
			res.Category = domain.ErrorCategoryHTTP5xx
			res.Detail = "slack: response is not Web API JSON (" + statusDetail(res.StatusCode) + ")"
		}
		return res
	}
	if !answer.OK || !res.Success {
		classifySlack(&res, slackErrorCode(answer.Error))
		return res
	}
	if key != "" && msg.ThreadTS == "" && answer.TS != "" {
		s.saveThread(ctx, req, key, answer.TS)
	}
	return res
}

// saveThread records the ts of a thread's first message. The message is
// already posted, so a failure only costs the threading of later events:
// it is logged, not returned, and a late cancellation does not stop it.
func (s *Slack) saveThread(ctx context.Context, req *domain.AttemptRequest, key, ts string) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := s.threads.SaveThread(ctx, req.DestinationID, key, ts); err != nil {
		s.cfg.Logger.WarnContext(ctx, "slack thread not saved",
			"destination_id", string(req.DestinationID), "delivery_id", req.DeliveryID, "error", err)
	}
}

// threadKey is the key that groups bot messages into a thread: the thread
// key path and its value in the event, or "" when threads are off or the
// event has no value there.
func (s *Slack) threadKey(env *envelope, set *slackSettings) string {
	if s.threads == nil || (set.Threads != nil && !*set.Threads) {
		return ""
	}
	path := set.ThreadKey
	if path == "" {
		path = DefaultSlackThreadKey
	}
	v := env.lookupScalar(path)
	if v == "" {
		return ""
	}
	return path + "=" + v
}

func (s *Slack) post(req *domain.AttemptRequest, url string, h http.Header, body []byte) *post {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", s.cfg.UserAgent)
	return &post{
		url: url, header: h, body: body, now: attemptNow(req),
		timeout:          attemptTimeout(req, s.cfg.DefaultTimeout),
		maxResponseBytes: s.cfg.MaxResponseBytes,
		what:             "slack message for delivery " + req.DeliveryID,
	}
}

// slackPermanentErrors are Slack error strings that retrying cannot fix:
// the payload is wrong (our bug), or the channel, token or app is gone or
// not allowed to post. Sources: Slack's incoming-webhook and
// chat.postMessage error lists.
var slackPermanentErrors = map[string]bool{
	"invalid_payload": true, "invalid_blocks": true, "invalid_blocks_format": true,
	"invalid_attachments": true, "too_many_attachments": true, "msg_too_long": true, "no_text": true,
	"missing_text_or_fallback_or_attachments": true, "invalid_arguments": true, "invalid_json": true,
	"json_not_object": true, "invalid_arg_name": true, "invalid_form_data": true,
	"channel_not_found": true, "channel_is_archived": true, "is_archived": true, "not_in_channel": true,
	"user_not_found": true, "posting_to_general_channel_denied": true, "restricted_action": true,
	"action_prohibited": true, "invalid_token": true, "invalid_auth": true, "not_authed": true,
	"token_revoked": true, "token_expired": true, "account_inactive": true, "missing_scope": true,
	"not_allowed_token_type": true, "no_permission": true, "no_service": true, "no_service_id": true,
	"no_team": true, "team_disabled": true, "team_access_not_granted": true, "ekm_access_denied": true,
	"org_login_required": true,
}

// slackErrorCode keeps s when it looks like a Slack error string
// (lowercase words joined by underscores), so arbitrary response text is
// never treated as one.
func slackErrorCode(s string) string {
	if s == "" || len(s) > 64 {
		return ""
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return ""
		}
	}
	return s
}

// classifySlack turns a failed answer into Slack's terms: the error string
// in Detail, Permanent when retrying cannot help. A 200 with ok:false gets
// the category its error implies.
func classifySlack(res *domain.AttemptResult, code string) {
	res.Success = false
	if res.Category == domain.ErrorCategoryNone {
		res.Category = domain.ErrorCategoryHTTP5xx
		if slackPermanentErrors[code] || code == "rate_limited" || code == "ratelimited" {
			res.Category = domain.ErrorCategoryHTTP4xx
		}
	}
	res.Permanent = slackPermanentErrors[code]
	if code != "" {
		res.Detail = "slack: " + code + " (" + statusDetail(res.StatusCode) + ")"
	}
}

// slackRender builds the message: the fallback text for notifications, and
// one attachment with the tone's colour holding every block, so the colour
// bar runs along the whole message.
func slackRender(v *view, header, footer string) *slackMessage {
	headText := v.Title
	var section []string
	if header != "" {
		headText = header
		section = append(section, "*"+slackEscape(v.Title)+"*")
	}
	if v.Message != "" {
		section = append(section, slackEscape(v.Message))
	}

	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncateRunes(headText, slackHeaderMaxRunes), true, false)),
	}
	var text *slack.TextBlockObject
	if len(section) > 0 {
		text = slack.NewTextBlockObject(slack.MarkdownType, truncateRunes(strings.Join(section, "\n"), slackSectionMaxRunes), false, false)
	}
	fields := slackFields(v.Facts)
	for i := 0; i == 0 || i < len(fields); i += slackFieldsPerBlock {
		chunk := fields[i:min(i+slackFieldsPerBlock, len(fields))]
		if text == nil && len(chunk) == 0 {
			break
		}
		blocks = append(blocks, slack.NewSectionBlock(text, chunk, nil))
		text = nil
	}
	if len(v.Links) > 0 {
		var buttons []slack.BlockElement
		for i, l := range v.Links[:min(len(v.Links), slackMaxButtons)] {
			btn := slack.NewButtonBlockElement("open_link_"+strconv.Itoa(i), "",
				slack.NewTextBlockObject(slack.PlainTextType, truncateRunes(l.Title, 75), true, false)).WithURL(l.URL)
			buttons = append(buttons, btn)
		}
		blocks = append(blocks, slack.NewActionBlock("", buttons...))
	}
	var ctxElems []slack.MixedElement
	if footer != "" {
		ctxElems = append(ctxElems, slack.NewTextBlockObject(slack.MarkdownType, truncateRunes(slackEscape(footer), slackFieldMaxRunes), false, false))
	}
	ctxElems = append(ctxElems, slack.NewTextBlockObject(slack.MarkdownType, slackMeta(v), false, false))
	blocks = append(blocks, slack.NewContextBlock("", ctxElems...))

	fallback := v.Title
	if v.Message != "" {
		fallback += ": " + v.Message
	}
	fallback = truncateRunes(fallback, slackFallbackRunes)
	return &slackMessage{
		Text: fallback,
		Attachments: []slack.Attachment{{
			Color: toneColor(v.tone), Fallback: fallback, Blocks: slack.Blocks{BlockSet: blocks},
		}},
	}
}

// slackFields renders facts as mrkdwn "*Label*\nvalue" fields, at most
// slackMaxFields, each within Slack's field limit.
func slackFields(facts []fact) []*slack.TextBlockObject {
	out := make([]*slack.TextBlockObject, 0, min(len(facts), slackMaxFields))
	for _, f := range facts[:min(len(facts), slackMaxFields)] {
		s := "*" + slackEscape(f.Label) + "*\n" + slackEscape(f.Value)
		out = append(out, slack.NewTextBlockObject(slack.MarkdownType, truncateRunes(s, slackFieldMaxRunes), false, false))
	}
	return out
}

// slackMeta is the context line: event type, id and time (Slack renders
// the date in the reader's time zone, with the RFC 3339 text as fallback).
func slackMeta(v *view) string {
	parts := []string{"`" + slackEscape(v.Type) + "`"}
	if v.ID != "" {
		parts = append(parts, slackEscape(v.ID))
	}
	if !v.Time.IsZero() {
		parts = append(parts, fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", v.Time.Unix(), slackEscape(v.Timestamp)))
	}
	return strings.Join(parts, " · ")
}

func toneColor(t tone) string {
	switch t {
	case toneDanger:
		return slackColorDanger
	case toneWarning:
		return slackColorWarning
	case toneGood:
		return slackColorGood
	default:
		return slackColorNeutral
	}
}

// slackEscaper escapes the three characters mrkdwn treats as control
// characters.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// slackKind registers Slack.
var slackKind = kindSpec{
	kind:        domain.KindSlack,
	title:       "Slack",
	description: "Post events to a Slack channel as colour-coded Block Kit messages, threaded per document.",
	features:    []string{"channels and threads", "Block Kit", "colour-coded alerts", "custom header and footer"},
	defaults:    KindDefaults{RateLimitPerMinute: 60, TimeoutSeconds: 10},
	check:       checkSlack,
}

// checkSlack requires exactly one of webhook_url and bot_token, and a
// channel exactly when there is a bot token.
func checkSlack(credentials, config json.RawMessage) []domain.FieldError {
	var (
		creds slackCredentials
		set   slackSettings
		out   []domain.FieldError
	)
	if decodeSettings(credentials, &creds, "") != nil || decodeSettings(config, &set, "") != nil {
		return []domain.FieldError{{Field: "credentials", Message: "does not match the schema"}}
	}
	switch {
	case creds.WebhookURL == "" && creds.BotToken == "":
		out = append(out, domain.FieldError{Field: "credentials", Message: "needs webhook_url or bot_token"})
	case creds.WebhookURL != "" && creds.BotToken != "":
		out = append(out, domain.FieldError{Field: "credentials", Message: "needs only one of webhook_url and bot_token"})
	case creds.BotToken != "" && set.Channel == "":
		out = append(out, domain.FieldError{Field: "config.channel", Message: "is required with credentials bot_token"})
	case creds.WebhookURL != "" && set.Channel != "":
		out = append(out, domain.FieldError{Field: "config.channel", Message: "is not allowed with credentials webhook_url (Slack fixes the webhook's channel)"})
	}
	return append(out, checkLinkTemplate(set.LinkURL)...)
}
