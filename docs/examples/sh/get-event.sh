curl -sS --fail-with-body "$API/events/$EVENT_ID" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq '{id, type, published_at, schema_violations, deliveries: [.deliveries[] | {destination_id, status}]}'
