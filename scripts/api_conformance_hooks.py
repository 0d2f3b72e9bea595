"""schemathesis hooks for scripts/api-conformance (loaded through SCHEMATHESIS_HOOKS).

Adding a connection succeeds only with credentials the platform accepts, which no schema can
generate, and schemathesis cannot aim its dictionaries at a field of one variant of a tagged
union. So the examples it sends to `POST /api/v1/connections` also include the OrderCloud sandbox's
own API client, as its page (/sandbox/ordercloud) shows it: that connects, and the operation is
reached with data it takes as well as with made-up credentials it refuses. (Not the commercetools
sandbox's: connecting it again renews the install the proxy is tested with, and the stateful phase
then revokes what the connection answered with.)
"""

import schemathesis

OPERATION = "POST /api/v1/connections"

SANDBOX_CONNECTIONS = [
    {
        "platform": "ordercloud",
        "client_id": "sandbox-integration",
        "client_secret": "sandbox-integration-secret",
        "grant_type": "client_credentials",
    },
]


@schemathesis.hook
def before_add_examples(context, examples):
    operation = context.operation
    if operation is None or operation.label != OPERATION:
        return
    for body in SANDBOX_CONNECTIONS:
        examples.append(operation.Case(body=body, media_type="application/json"))
