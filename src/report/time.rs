//! RFC 3339 timestamps without a date library: capture times are UTC and need no time zones.

use std::fmt;

use serde::{Serialize, Serializer};

/// Formats nanoseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds).
pub fn rfc3339_micros(ts_nanos: i64) -> String {
    Rfc3339Micros(ts_nanos).to_string()
}

/// A time in nanoseconds since the Unix epoch, displayed and serialized as
/// [`rfc3339_micros`] formats it, from a buffer on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339Micros(pub i64);

impl Rfc3339Micros {
    /// The ASCII text of the time: digits and separators in their fixed places.
    fn as_bytes(self) -> [u8; 27] {
        let ts_nanos = self.0;
        let secs = ts_nanos.div_euclid(1_000_000_000);
        let micros = ts_nanos.rem_euclid(1_000_000_000) / 1_000;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (sod / 3600, (sod / 60) % 60, sod % 60);
        // Nanoseconds in an i64 span the years 1677 to 2262, so every field is non-negative and
        // fits its fixed width: the digits are written in place.
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let fields: [(usize, usize, i64); 7] = [
            (0, 4, y),
            (5, 2, i64::from(m)),
            (8, 2, i64::from(d)),
            (11, 2, hh),
            (14, 2, mm),
            (17, 2, ss),
            (20, 6, micros),
        ];
        for (at, width, mut value) in fields {
            for slot in out.iter_mut().skip(at).take(width).rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        out
    }
}

impl fmt::Display for Rfc3339Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.as_bytes();
        f.write_str(std::str::from_utf8(&bytes).unwrap_or_default())
    }
}

impl Serialize for Rfc3339Micros {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.as_bytes();
        serializer.serialize_str(std::str::from_utf8(&bytes).unwrap_or_default())
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// The algorithm is Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        // 2021-10-26T14:59:54.123456Z
        assert_eq!(
            rfc3339_micros(1_635_260_394_123_456_789),
            "2021-10-26T14:59:54.123456Z"
        );
        assert_eq!(
            rfc3339_micros(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(rfc3339_micros(-1_000), "1969-12-31T23:59:59.999999Z");
        // the ends of the range, against the general formatter
        for ts in [i64::MIN, i64::MAX, -1, 1, 253_402_300_799_999_999] {
            let secs = ts.div_euclid(1_000_000_000);
            let sod = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let expected = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
                sod / 3600,
                (sod / 60) % 60,
                sod % 60,
                ts.rem_euclid(1_000_000_000) / 1_000
            );
            assert_eq!(rfc3339_micros(ts), expected);
        }
        assert_eq!(rfc3339_micros(i64::MIN), "1677-09-21T00:12:43.145224Z");
        for ts in [0, -1_000, i64::MIN, i64::MAX, 1_635_260_394_123_456_789] {
            let text = rfc3339_micros(ts);
            assert_eq!(Rfc3339Micros(ts).to_string(), text);
            assert_eq!(
                serde_json::to_string(&Rfc3339Micros(ts)).unwrap(),
                serde_json::to_string(&text).unwrap()
            );
        }
    }
}
