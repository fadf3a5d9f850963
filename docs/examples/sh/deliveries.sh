# Deliveries are asynchronous: wait for the event's delivery to this webhook...
until DELIVERY_ID=$(curl -sS --fail-with-body "$API/webhooks/$WEBHOOK_ID/deliveries?event_id=$EVENT_ID" \
    -H "Authorization: Bearer $LOKIHOOKS_API_KEY" | jq -er '.data[0] | select(.status == "delivered") | .id'); do
  sleep 0.2
done
# ...then read it with every attempt.
curl -sS --fail-with-body "$API/webhooks/$WEBHOOK_ID/deliveries/$DELIVERY_ID" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq '{id, status, attempts, attempt_history: [.attempt_history[] | {attempt, status_code, duration_ms}]}'
# Every delivery of every destination, filtered:
curl -sS --fail-with-body "$API/deliveries?status=delivered&event_type=validation.completed&limit=5" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" | jq '[.data[] | {destination_id, event_id, status}]'
