"""schemathesis hooks for scripts/api-conformance (loaded through SCHEMATHESIS_HOOKS).

Revoking an install and deleting an endpoint take only the ids kept for that (or made-up
ones): schemathesis also reuses ids it saw in answers, and a revoke of the install the proxy is
tested with, early in the run, would leave the proxy nothing but 410s to answer. The ids are
the dictionaries scripts/api-conformance wrote into CONFORMANCE_DIR.

Adding a connection succeeds only with credentials the platform accepts, which no schema can
generate, and schemathesis cannot aim its dictionaries at a field of one variant of a tagged
union. So the examples it sends to `POST /api/v1/connections` also include the OrderCloud sandbox's
own API client, as its page (/sandbox/ordercloud) shows it: that connects, and the operation is
reached with data it takes as well as with made-up credentials it refuses. (Not the commercetools
sandbox's: connecting it again renews the install the proxy is tested with, and the stateful phase
then revokes what the connection answered with.)
"""

import os
import zlib

import schemathesis

OPERATION = "POST /api/v1/connections"

# Operation → (the dictionary of ids the rest of the run needs, the dictionary of ids it may use).
SPENDING = {
    "POST /api/v1/installs/{id}/revoke": ("installs", "spare-installs"),
    "DELETE /api/v1/endpoints/{id}": ("endpoints", "spare-endpoints"),
}


def _ids(name):
    """A dictionary scripts/api-conformance wrote: one quoted id a line."""
    path = os.path.join(os.environ["CONFORMANCE_DIR"], name + ".dict")
    with open(path, encoding="utf-8") as lines:
        return [line.strip().strip('"') for line in lines if line.strip()]

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


@schemathesis.hook
def before_call(context, case, kwargs):
    # Right before each request, whatever phase made it and wherever its id came from.
    operation = context.operation
    spending = operation is not None and SPENDING.get(operation.label)
    parameters = case.path_parameters
    if not spending or not isinstance(parameters, dict):
        return
    kept, spare = (_ids(name) for name in spending)
    chosen = parameters.get("id")
    if isinstance(chosen, str) and chosen in kept:
        # The same spare id for the same kept one, so a run replays with its seed.
        parameters["id"] = spare[zlib.crc32(chosen.encode()) % len(spare)]
