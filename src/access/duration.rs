//! Durations and expiry times as the `keys` commands take them, and UTC timestamps as
//! they print them.

use crate::tools::behaviour::Day;

const DURATION_FORMS: &str = "a whole number followed by s, m, h, d or w (30s, 15m, 24h, 30d, 2w)";
const EXPIRY_FORMS: &str = "a duration from now (30s, 15m, 24h, 30d, 2w), a date \
     (2026-12-31, meaning 00:00 UTC) or a UTC time (2026-12-31T18:00:00Z)";

/// Seconds in `30s`, `15m`, `24h`, `30d` or `2w`.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("\"{text}\" is not a duration; use {DURATION_FORMS}");
    let trimmed = text.trim();
    let split = trimmed.len().saturating_sub(1);
    let (number, unit) = (
        trimmed.get(..split).ok_or_else(bad)?,
        trimmed.get(split..).ok_or_else(bad)?,
    );
    let unit_secs: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .ok_or_else(|| format!("\"{text}\" is too long a duration"))
}

/// When a key given `--expires TEXT` at `now` should expire: a duration from now, a date
/// (00:00 UTC of that day) or a UTC time `YYYY-MM-DDTHH:MM:SSZ`. Must lie in the future.
pub fn parse_expiry(text: &str, now: i64) -> Result<i64, String> {
    let trimmed = text.trim();
    let at = if let Ok(secs) = parse_duration(trimmed) {
        now.checked_add(secs)
            .ok_or_else(|| format!("\"{text}\" is too far in the future"))?
    } else if let Some(at) = parse_utc(trimmed) {
        at
    } else {
        return Err(format!("\"{text}\" is not an expiry; use {EXPIRY_FORMS}"));
    };
    if at <= now {
        return Err(format!(
            "{} is not in the future (it is {} now); give a later time or a duration",
            format_utc(at),
            format_utc(now)
        ));
    }
    Ok(at)
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`, as Unix seconds.
fn parse_utc(text: &str) -> Option<i64> {
    if !text.is_ascii() {
        return None;
    }
    let (date, time) = match text.len() {
        10 => (text, None),
        20 if text.as_bytes()[10] == b'T' && text.ends_with('Z') => {
            (&text[..10], Some(&text[11..19]))
        }
        _ => return None,
    };
    if !date.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        _ => b.is_ascii_digit(),
    }) {
        return None;
    }
    let day = Day::parse(date)?;
    let secs_of_day = match time {
        None => 0,
        Some(time) => {
            let b = time.as_bytes();
            if b[2] != b':' || b[5] != b':' {
                return None;
            }
            let field = |range: std::ops::Range<usize>, max: i64| {
                let part = &time[range];
                if !part.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                part.parse::<i64>().ok().filter(|v| *v <= max)
            };
            field(0..2, 23)? * 3600 + field(3..5, 59)? * 60 + field(6..8, 59)?
        }
    };
    day.0.checked_mul(86_400)?.checked_add(secs_of_day)
}

/// `2026-12-02T04:23:38Z`.
pub fn format_utc(secs: i64) -> String {
    let day = Day(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{day}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("30d"), Ok(2_592_000));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        assert_eq!(parse_duration(" 0s "), Ok(0));
        for bad in [
            "",
            "s",
            "30",
            "30x",
            "-5m",
            "+5m",
            "1.5h",
            "5 m",
            "ä",
            "3é",
            "99999999999999999w",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
        }
        assert!(
            parse_duration("30x")
                .expect_err("unit")
                .contains("30s, 15m, 24h, 30d, 2w")
        );
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_796_185_418), "2026-12-02T04:23:38Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn expiry_from_a_duration_or_a_date() {
        let now = 1_796_185_418; // 2026-12-02T04:23:38Z
        assert_eq!(parse_expiry("30d", now), Ok(now + 30 * 86_400));
        assert_eq!(parse_expiry("2026-12-03", now), Ok(1_796_256_000));
        assert_eq!(format_utc(1_796_256_000), "2026-12-03T00:00:00Z");
        assert_eq!(
            parse_expiry("2026-12-02T04:23:39Z", now).map(format_utc),
            Ok("2026-12-02T04:23:39Z".to_string())
        );
        assert_eq!(
            parse_expiry("2028-02-29T23:59:59Z", now).map(format_utc),
            Ok("2028-02-29T23:59:59Z".to_string())
        );
        for text in ["2027-01-01", "2027-06-15T12:00:00Z"] {
            let at = parse_expiry(text, now).expect(text);
            assert!(format_utc(at).starts_with(&text[..10]));
        }
    }

    #[test]
    fn past_and_malformed_expiries_are_refused() {
        let now = 1_796_185_418;
        let past = parse_expiry("2026-12-02", now).expect_err("past");
        assert!(past.contains("not in the future"), "{past}");
        assert!(parse_expiry("2026-12-02T04:23:38Z", now).is_err());
        assert!(parse_expiry("0s", now).is_err());
        for bad in [
            "tomorrow",
            "2026-13-01",
            "2027-02-29",
            "2026-12-32",
            "2026-12-3",
            "+2027-01-01",
            "2027-01-01T24:00:00Z",
            "2027-01-01T12:60:00Z",
            "2027-01-01T12:00:00",
            "2027-01-01 12:00:00Z",
            "2027-01-01T12:00:00+01:00",
            "2027-01-01T1é:00:00Z",
        ] {
            let err = parse_expiry(bad, now).expect_err(bad);
            assert!(
                err.contains("2026-12-31T18:00:00Z") && err.contains("30d"),
                "{err}"
            );
        }
    }
}
