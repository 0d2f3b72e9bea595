//! The built-in sandbox: working stand-ins for the platforms' authorize pages, token endpoints
//! and a few API calls (each platform's own, in `src/platforms/<name>/sandbox/`), and a stand-in
//! for the vendor's backend receiving notifications ([`receiver`]), served only in sandbox mode.
//! They let a new user click through a whole install on a fresh machine and let tests drive real
//! redirects. They check requests as strictly as a real platform would, so a flow that works
//! here is a flow that checks its inputs. What the platforms' stand-ins share is here too: one
//! use codes ([`codes`]) and the approval and error pages ([`pages`]).
//!
//! They are mounted with their own state, as the platforms they stand in for: nothing in here
//! reaches into storelink's application state.

pub(crate) mod codes;
pub(crate) mod pages;
pub(crate) mod receiver;

use std::sync::Arc;

use axum::Router;

/// The stand-ins.
pub(crate) struct Sandbox {
    /// Every platform's stand-in, with its own state.
    pub platforms: Router,
    /// The stand-in for the vendor's backend, receiving notifications (when added).
    pub receiver: Option<receiver::SandboxReceiver>,
}

/// The stand-ins' routes.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    let mut router: Router<S> = sandbox.platforms.with_state(());
    if let Some(receiver) = sandbox.receiver {
        router = router.merge(receiver::router(Arc::new(receiver)));
    }
    router
}
