curl -sS --fail-with-body -X POST "$API/integrations" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' -d '{
  "name": "compliance-slack", "integration_type": "slack",
  "credentials": {"webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX"},
  "config": {"header": "LOKI compliance", "link_url": "https://loki.example.com/documents/{data.document_id}"},
  "event_subscriptions": ["compliance.alert", "validation.failed"]}' | jq '{id, name, status}'
