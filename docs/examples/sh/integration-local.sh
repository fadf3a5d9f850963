curl -sS --fail-with-body -X POST "$API/integrations" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' -d @- <<JSON | jq '{id, name, status}'
{"name": "local-slack", "integration_type": "slack",
 "credentials": {"webhook_url": "$RECEIVER/slack"}, "event_subscriptions": ["compliance.alert"]}
JSON
curl -sS --fail-with-body -X POST "$API/integrations/local-slack/test" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" | jq '{outcome, status_code}'
