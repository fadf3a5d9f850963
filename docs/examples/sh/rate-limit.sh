curl -sS --fail-with-body -X PATCH "$API/webhooks/$WEBHOOK_ID" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' \
  -d '{"rate_limit_per_minute": 120, "rate_limit_per_hour": 5000}' | jq '{rate_limit_per_minute, rate_limit_per_hour}'
