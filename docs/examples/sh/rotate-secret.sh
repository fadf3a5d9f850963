NEW_SECRET=$(curl -sS --fail-with-body -X POST "$API/webhooks/$WEBHOOK_ID/rotate-secret" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' \
  -d '{"grace_period_seconds": 86400}' | jq -r .secret)
