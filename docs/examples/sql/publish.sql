BEGIN;
UPDATE documents SET validation_status = 'pass' WHERE id = 'doc_456';
SELECT lokihooks_publish(
  'validation.completed',
  '{"source_id":"val_456","document_id":"doc_456","validation_status":"pass",
    "gates_passed":8,"gates_failed":0,"issues":[],"processing_time_ms":523.45}',
  'val_456:completed',                                                         -- optional event id
  '{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}'  -- optional metadata
);
COMMIT;
