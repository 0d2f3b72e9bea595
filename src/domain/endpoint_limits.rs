//! What an endpoint's backend can take: a rate (messages a second, none by default) and a most
//! in flight at once (16 by default). Validated on construction, so the command line, the
//! console and the API refuse the same values with the same words.

/// The most in flight when none is given.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 16;

/// The largest rate or most-in-flight accepted.
const MAX_LIMIT: u32 = 1000;

/// An endpoint's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointLimits {
    rate_limit: Option<u32>,
    max_in_flight: u32,
}

impl Default for EndpointLimits {
    fn default() -> Self {
        Self {
            rate_limit: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

impl EndpointLimits {
    /// Checks both: a rate from 1 to 1000 a second (or none), a most-in-flight from 1 to 1000.
    /// The error names the field at fault and says what is accepted.
    pub fn new(
        rate_limit: Option<i64>,
        max_in_flight: i64,
    ) -> Result<Self, (&'static str, String)> {
        let bounded = |n: i64| {
            u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
        };
        let rate_limit = match rate_limit {
            None => None,
            Some(n) => Some(bounded(n).ok_or((
                "rate_limit",
                format!("rate_limit must be a whole number of messages a second from 1 to {MAX_LIMIT}, or none."),
            ))?),
        };
        let max_in_flight = bounded(max_in_flight).ok_or((
            "max_in_flight",
            format!("max_in_flight must be a whole number from 1 to {MAX_LIMIT}."),
        ))?;
        Ok(Self {
            rate_limit,
            max_in_flight,
        })
    }

    /// Messages a second at most, when limited.
    pub fn rate_limit(&self) -> Option<u32> {
        self.rate_limit
    }

    /// Messages in flight at once at most.
    pub fn max_in_flight(&self) -> u32 {
        self.max_in_flight
    }

    /// For pages and the command line: "at most 5 a second, 16 at once".
    pub fn describe(&self) -> String {
        match self.rate_limit {
            Some(rate) => format!("at most {rate} a second, {} at once", self.max_in_flight),
            None => format!("no rate limit, {} at once", self.max_in_flight),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(
            EndpointLimits::new(None, 16).unwrap(),
            EndpointLimits::default()
        );
        assert_eq!(
            EndpointLimits::new(Some(5), 1).unwrap().rate_limit(),
            Some(5)
        );
        for (rate, most) in [
            (Some(0), 1),
            (Some(1001), 1),
            (Some(-1), 1),
            (None, 0),
            (None, 1001),
        ] {
            assert!(EndpointLimits::new(rate, most).is_err(), "{rate:?} {most}");
        }
        assert_eq!(EndpointLimits::new(Some(0), 1).unwrap_err().0, "rate_limit");
        assert_eq!(EndpointLimits::new(None, 0).unwrap_err().0, "max_in_flight");
    }
}
