curl -sS --fail-with-body -X POST "$API/webhooks/$WEBHOOK_ID/test" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq '{success, status_code, error_category}'
