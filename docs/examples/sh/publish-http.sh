EVENT_ID=$(curl -sS --fail-with-body -X POST "$API/events" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" -H 'Content-Type: application/json' \
  -H 'Idempotency-Key: val_123-completed' -d @- <<'JSON' | jq -r .id
{"type": "validation.completed", "id": "val_123:completed",
 "data": {"source_id": "val_123", "document_id": "doc_456", "validation_status": "pass",
          "gates_passed": 8, "gates_failed": 0, "issues": [], "processing_time_ms": 523.45},
 "metadata": {"source": "validator"}}
JSON
)
echo "published $EVENT_ID"
