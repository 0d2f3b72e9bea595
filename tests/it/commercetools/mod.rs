//! commercetools over HTTP: requests forwarded by the Merchant Center API gateway.

mod forward_to;
