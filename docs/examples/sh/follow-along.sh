# A webhook for every event type, delivered to lokihooks receive...
WEBHOOK_ID=$(curl -sS --fail-with-body -X POST "$API/webhooks" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' \
  -d "{\"name\": \"follow-along\", \"url\": \"$RECEIVER/hooks\", \"event_types\": [\"*\"]}" | jq -r .id)
# ...and an event for it: lokihooks receive prints the delivery.
lokihooks events example system.error | jq '{type: "system.error", data: .}' |
  curl -sS --fail-with-body -X POST "$API/events" \
    -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' -d @-
