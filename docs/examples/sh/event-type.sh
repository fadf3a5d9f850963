# The schema and an example of one type, from the API...
curl -sS --fail-with-body "$API/event-types/validation.failed" \
  -H "Authorization: Bearer $LOKIHOOKS_API_KEY" | jq '{name, required: .schema.required, example}'

# ...or from the binary: write an example, then check a payload against the schema.
lokihooks events example validation.failed > payload.json
lokihooks events validate validation.failed payload.json
