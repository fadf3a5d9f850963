curl -sS --fail-with-body "$API/webhooks/$WEBHOOK_ID/history?limit=3" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq -c '.data[] | {version, type, actor, changes}'
