curl -sS --fail-with-body -X POST "$API/integrations" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' -d '{
  "name": "compliance-threads", "integration_type": "slack",
  "credentials": {"bot_token": "xoxb-0000000000-0000000000000-XXXXXXXXXXXXXXXXXXXXXXXX"},
  "config": {"channel": "C0123ALERTS", "footer": "LOKI · production"},
  "event_subscriptions": ["*"]}' | jq '{id, name, status}'
