curl -sS --fail-with-body "$API/webhooks?status=active&event_type=compliance.alert&limit=10" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" | jq '{ids: [.data[].id], next_cursor}'
