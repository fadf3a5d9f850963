"""Publish a lokihooks event from Python, inside the service's own transaction.

The event exists if and only if the transaction commits. Needs psycopg 3
(apt-get install python3-psycopg, or pip install psycopg):

    DATABASE_URL=postgres://... python3 publish.py doc_789
"""

import json
import os
import sys

import psycopg


def reject_document(conn, document_id, error_code, message):
    """Mark a document as failed and publish validation.failed, atomically."""
    with conn.transaction():
        conn.execute("UPDATE documents SET validation_status = 'fail' WHERE id = %s", (document_id,))
        data = {"document_id": document_id, "error_code": error_code, "message": message}
        (event_id,) = conn.execute(
            "SELECT lokihooks_publish(%s, %s::jsonb, %s)",
            # A deterministic event id makes a retried transaction publish once.
            ("validation.failed", json.dumps(data), f"{document_id}:failed"),
        ).fetchone()
    return event_id


if __name__ == "__main__":
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        print(reject_document(conn, sys.argv[1], "GATE_7", "Risk warning missing"))
