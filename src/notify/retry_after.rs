//! `Retry-After` from an endpoint that answered `429` or `503`: delta-seconds or an HTTP date
//! (RFC 9110 §10.2.3), turned into the moment before which nothing more is sent to it, capped
//! at the retry schedule's longest wait (a backend cannot park deliveries for longer than the
//! schedule would).

use std::time::{Duration, SystemTime};

use reqwest::{StatusCode, header::HeaderMap};
use time::OffsetDateTime;

/// How long the endpoint asked to be left alone, when it answered `429` or `503` with a
/// `Retry-After` that can be read; `None` otherwise (the schedule alone decides). A date in
/// the past asks for no wait.
pub(super) fn requested(
    status: StatusCode,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(SystemTime::from(now))
            .unwrap_or(Duration::ZERO),
    )
}

/// The Unix second from which sending may resume: `now` plus the wait (at most `longest`),
/// rounded up, so nothing is sent even a fraction of a second early. `None` for no wait.
pub(super) fn paused_until(now: OffsetDateTime, wait: Duration, longest: Duration) -> Option<i64> {
    let wait = wait.min(longest);
    if wait.is_zero() {
        return None;
    }
    let end = now + wait;
    Some(end.unix_timestamp() + i64::from(end.nanosecond() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", value.parse().unwrap());
        headers
    }

    #[test]
    fn seconds_and_dates_are_read_on_429_and_503_only() {
        let now = OffsetDateTime::from_unix_timestamp(1_445_412_480).unwrap(); // 07:28:00
        let h = headers("3");
        assert_eq!(
            requested(StatusCode::TOO_MANY_REQUESTS, &h, now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(requested(StatusCode::INTERNAL_SERVER_ERROR, &h, now), None);
        let date = headers("Wed, 21 Oct 2015 07:28:07 GMT");
        assert_eq!(
            requested(StatusCode::SERVICE_UNAVAILABLE, &date, now),
            Some(Duration::from_secs(7))
        );
        let past = headers("Wed, 21 Oct 2015 07:27:00 GMT");
        assert_eq!(
            requested(StatusCode::SERVICE_UNAVAILABLE, &past, now),
            Some(Duration::ZERO)
        );
        for bad in ["soon", "-3", "1.5", ""] {
            assert_eq!(
                requested(StatusCode::TOO_MANY_REQUESTS, &headers(bad), now),
                None,
                "{bad}"
            );
        }
        assert_eq!(
            requested(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), now),
            None
        );
    }

    #[test]
    fn a_pause_is_rounded_up_and_capped() {
        let now = OffsetDateTime::from_unix_timestamp(100).unwrap() + Duration::from_millis(300);
        let long = Duration::from_secs(60);
        assert_eq!(paused_until(now, Duration::from_secs(3), long), Some(104));
        assert_eq!(
            paused_until(now, Duration::from_secs(3600), long),
            Some(161)
        );
        assert_eq!(paused_until(now, Duration::ZERO, long), None);
        let whole = OffsetDateTime::from_unix_timestamp(100).unwrap();
        assert_eq!(paused_until(whole, Duration::from_secs(3), long), Some(103));
    }
}
