WEBHOOK=$(curl -sS --fail-with-body -X POST "$API/webhooks" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' -d @- <<JSON
{"name": "compliance", "url": "$RECEIVER/compliance",
 "event_types": ["compliance.alert", "validation.completed", "validation.failed"],
 "retry_strategy": "exponential_backoff", "max_retries": 5, "retry_delay_seconds": 60,
 "metadata": {"team": "compliance"}}
JSON
)
echo "$WEBHOOK" | jq '{id, status, event_types, retry_schedule_preview: .retry_schedule_preview[0:2]}'
WEBHOOK_ID=$(echo "$WEBHOOK" | jq -r .id)
WEBHOOK_SECRET=$(echo "$WEBHOOK" | jq -r .secret)   # shown in this answer and rotate-secret's only
