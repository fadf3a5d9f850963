# One webhook, per day (the last 24 hours, in whole days):
curl -sS --fail-with-body "$API/webhooks/$WEBHOOK_ID/analytics?granularity=day" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" | jq -c '.summary | {total_deliveries, delivered, success_rate, p99_response_ms, errors}'
# Every destination, with the ones that fail most:
curl -sS --fail-with-body "$API/analytics" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq -c '{destinations, success_rate: .summary.success_rate, top_by_failures: [.top_by_failures[] | {destination_id, failed_attempts}]}'
