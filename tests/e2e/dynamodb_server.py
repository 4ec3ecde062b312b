"""moto's server answering one request at a time, for the DynamoDB journal in end-to-end tests.

`python -m moto.server` handles requests in threads, and moto applies a TransactWriteItems
as check-then-write without a lock, so two replicas' transactions could interleave inside
moto in a way DynamoDB never allows. Serving requests one by one gives moto DynamoDB's
per-item serialisability. Run: `python -m tests.e2e.dynamodb_server PORT`; the first line
of stdout names the endpoint.
"""

from __future__ import annotations

import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def main(port: int) -> None:
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=False)
    print(f"dynamodb serving at http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]))
