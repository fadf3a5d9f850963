curl -sS --fail-with-body -X POST "$API/webhooks" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' -d @- <<JSON | jq '{id, custom_headers, secret_headers}'
{"name": "billing", "url": "$RECEIVER/billing", "event_types": ["batch.completed"],
 "custom_headers": {"X-Api-Key": "k3y-0123456789", "X-Team": "billing"},
 "secret_headers": ["X-Api-Key"]}
JSON
