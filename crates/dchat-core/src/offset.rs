//! Message offsets as callers name them.

use crate::ValidationError;

/// The largest offset a caller may name: 2^53 - 1, the largest integer a JSON number carries
/// exactly (JavaScript's `Number.MAX_SAFE_INTEGER`), so that every client reads back the
/// offset it was given. No room gets there (a million messages a second would take 285
/// years), and below it the sums that history forms from an offset (the end of its block,
/// `after + 1`) stay far from overflowing.
pub const MAX_OFFSET: i64 = (1 << 53) - 1;

/// Checks an offset a caller gave as `field`: an integer from 0 to [`MAX_OFFSET`]. The one
/// check for every offset of every route, so that they all refuse the same values.
pub fn check_offset(field: &'static str, value: i64) -> Result<i64, ValidationError> {
    if (0..=MAX_OFFSET).contains(&value) {
        Ok(value)
    } else {
        Err(ValidationError::new(field, format!("must be an integer from 0 to {MAX_OFFSET}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_from_zero_to_the_largest_exact_json_integer_pass_and_nothing_else() {
        assert_eq!(check_offset("after", 0), Ok(0));
        assert_eq!(check_offset("after", MAX_OFFSET), Ok(MAX_OFFSET));
        for bad in [-1, MAX_OFFSET + 1, i64::MAX, i64::MIN] {
            let err = check_offset("from_offset", bad).unwrap_err();
            assert_eq!(err.field, "from_offset", "{bad}");
        }
    }
}
