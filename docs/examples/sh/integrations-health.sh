curl -sS --fail-with-body "$API/integrations/health" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq -c '.data[] | {name, status, last_success_at, last_failure_reason, failure_rate_last_hour}'
