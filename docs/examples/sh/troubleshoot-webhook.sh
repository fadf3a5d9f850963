# 1. Is the webhook active, and subscribed to the event's type?
curl -sS --fail-with-body "$API/webhooks/$WEBHOOK_ID" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq '{status, status_reason, url, event_types}'
# 2. Was the event published, and which deliveries did it get?
curl -sS --fail-with-body "$API/events/$EVENT_ID" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq '{type, deliveries: [.deliveries[] | {destination_id, status, last_error_category, last_error_detail}]}'
# 3. Did the fan-out fail to schedule some events?
lokihooks outbox poison list
