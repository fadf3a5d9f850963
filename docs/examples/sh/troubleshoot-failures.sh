# Which kind of failure dominates, over the last 24 hours?
curl -sS --fail-with-body "$API/webhooks/$WEBHOOK_ID/analytics" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq -c '.summary | {attempts, failed_attempts, errors, p95_response_ms}'
# What did the receiver answer last time?
curl -sS --fail-with-body "$API/webhooks/$WEBHOOK_ID/deliveries?status=retrying&limit=3" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq '[.data[] | {id, attempts, last_status_code, last_error_category, last_error_detail, next_attempt_at}]'
