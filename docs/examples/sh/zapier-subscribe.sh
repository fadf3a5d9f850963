# What a Zapier app's "subscribe" sends; its "unsubscribe" deletes the returned id.
SUBSCRIPTION_ID=$(curl -sS --fail-with-body -X POST "$API/integrations/zapier/subscriptions" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' \
  -d '{"target_url": "https://hooks.zapier.com/hooks/standard/123/abc/", "event_type": "compliance.alert"}' | jq -r .id)
curl -sS --fail-with-body -X DELETE "$API/integrations/zapier/subscriptions/$SUBSCRIPTION_ID" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -w '%{http_code}\n'
