curl -sS --fail-with-body -X POST "$API/webhooks/$WEBHOOK_ID/pause" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" | jq -r .status
curl -sS --fail-with-body -X POST "$API/webhooks/$WEBHOOK_ID/resume" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" | jq -r .status
