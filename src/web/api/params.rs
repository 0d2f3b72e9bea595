//! Reading query parameters, each refused with a problem that names it.

use super::problem::Problem;

/// A `limit`: `default` when absent, else a whole number from 1 to `max`.
pub(super) fn limit(value: Option<&str>, default: i64, max: i64) -> Result<i64, Problem> {
    let Some(text) = value else {
        return Ok(default);
    };
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            Problem::bad_parameter(
                "limit",
                format!("limit must be a whole number from 1 to {max}."),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded_whole_numbers() {
        assert_eq!(limit(None, 50, 200).unwrap(), 50);
        assert_eq!(limit(Some(" 200 "), 50, 200).unwrap(), 200);
        for bad in ["0", "201", "-3", "1.5", "ten", ""] {
            assert!(limit(Some(bad), 50, 200).is_err(), "{bad}");
        }
    }
}
