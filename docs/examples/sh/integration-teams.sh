curl -sS --fail-with-body -X POST "$API/integrations" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' -d '{
  "name": "ops-teams", "integration_type": "teams",
  "credentials": {"webhook_url": "https://prod-01.westeurope.logic.azure.com/workflows/0000/triggers/manual/paths/invoke?sig=XXXX"},
  "config": {"header": "LOKI", "link_url": "https://loki.example.com/reports/{data.report_id}", "link_title": "Open report"},
  "event_subscriptions": ["system.error", "report.generated"]}' | jq '{id, name, status}'
