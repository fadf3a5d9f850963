# The dead letter: deliveries whose every attempt failed.
curl -sS --fail-with-body "$API/deliveries?status=permanent_failure" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq '[.data[] | {id, destination_id, event_id, last_error_category, last_error_detail}]'
# Once the receiver is fixed: schedule them again, each with a fresh set of retries.
curl -sS --fail-with-body -X POST "$API/webhooks/$WEBHOOK_ID/retry" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' \
  -d '{"status": "permanent_failure", "since": "2026-01-01T00:00:00Z"}'
