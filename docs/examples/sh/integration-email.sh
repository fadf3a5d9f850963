curl -sS --fail-with-body -X POST "$API/integrations" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' -d '{
  "name": "compliance-mail", "integration_type": "email",
  "credentials": {"smtp_host": "smtp.office365.com", "smtp_port": 587,
                  "smtp_username": "alerts@example.com", "smtp_password": "app-password"},
  "config": {"from": "LOKI alerts <alerts@example.com>", "default_recipients": ["compliance@example.com"],
             "distribution_lists": {"lists": {"oncall": ["oncall@example.com"]}, "routes": {"severity:critical": ["oncall"]}},
             "html_format": true, "attach_event": true},
  "event_subscriptions": ["compliance.alert"]}' | jq '{id, name, status}'
