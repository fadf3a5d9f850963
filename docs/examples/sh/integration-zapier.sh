curl -sS --fail-with-body -X POST "$API/integrations" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' -d '{
  "name": "zapier-reports", "integration_type": "zapier",
  "credentials": {"webhook_url": "https://hooks.zapier.com/hooks/catch/123456/abcdef/"},
  "config": {"select": ["event_type", "report_id", "report_type"], "rename": {"report_id": "id"},
             "batch_size": 10, "batch_interval_seconds": 60},
  "event_subscriptions": ["report.generated"]}' | jq '{id, name, status}'
