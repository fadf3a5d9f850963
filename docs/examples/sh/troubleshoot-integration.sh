# Send a sample message now and read the connector's verdict.
curl -sS --fail-with-body -X POST "$API/integrations/local-slack/test" -H "Authorization: Bearer $LOKIHOOKS_API_KEY" \
  | jq '{outcome, success, status_code, error_category, error_detail}'
