lokihooks retries --strategy linear_backoff --max-retries 3 --delay 120 --jitter=false
