# Read the current version (ETag), then change two fields if nobody changed it meanwhile.
ETAG=$(curl -sS --fail-with-body -o /dev/null -D - "$API/webhooks/$WEBHOOK_ID" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" | tr -d '\r' | sed -n 's/^etag: //Ip')
curl -sS --fail-with-body -X PATCH "$API/webhooks/$WEBHOOK_ID" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' \
  -H "If-Match: $ETAG" -d '{"timeout_seconds": 10, "max_retries": 8}' | jq '{version, timeout_seconds, max_retries}'
