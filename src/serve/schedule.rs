//! serve::schedule: when `redress serve` sweeps on its own.
//!
//! Takes a standard 5-field crontab expression from the configuration (`serve.schedule`) and
//! gives the next fire times in UTC, a fresh random jitter, and [`run`], the loop that calls a
//! closure at each fire time until shutdown. It parses and converts the crontab itself and
//! hands the `cron` crate only explicit lists, because `cron` differs from crontab: it wants a
//! seconds field, numbers the days of the week 1 (Sunday) to 7 (Saturday) where crontab uses
//! 0 or 7 for Sunday and 1 for Monday, and always ANDs day-of-month with day-of-week. It does
//! not sweep, log findings or read the configuration file: the caller decides what firing means.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio_util::sync::CancellationToken;

/// A parsed schedule.
///
/// Accepts `minute hour day-of-month month day-of-week` (and, as an extension, six fields with
/// a leading `second`), each field a `*`, a number, a name (`JAN`–`DEC`, `SUN`–`SAT`, or the
/// full English name, any case), a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from `a` to the
/// field's maximum), or a comma-separated list of those. Day-of-week runs 0–7, both 0 and 7
/// meaning Sunday. The macros `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly` and
/// `@yearly` (`@annually`) stand for their usual crontab lines; `@reboot` is rejected. Times
/// are UTC.
///
/// Day-of-month and day-of-week follow crontab: when both are restricted (neither field starts
/// with `*`), a day matches if it matches **either** (`0 0 1 * MON` fires on the 1st and on
/// every Monday). The `cron` crate would AND them, so such an expression is kept as two `cron`
/// schedules (one per field) and [`Schedule::next_after`] takes the earlier time. When either
/// field starts with `*` (including `*/2`), the two are ANDed, as crontab does.
///
/// An expression that can never fire (`0 0 30 2 *`) is rejected.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    /// One schedule, or two whose union is the crontab's meaning (day-of-month OR day-of-week).
    schedules: Vec<cron::Schedule>,
}

/// Why an expression is not a schedule; each names the expression.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The expression is empty.
    #[error("schedule is empty")]
    Empty,
    /// Not 5 (or 6) fields.
    #[error(
        "schedule '{expression}': expected 5 fields (minute hour day-of-month month \
         day-of-week) or 6 with a leading second, found {found}"
    )]
    FieldCount {
        /// The expression as written.
        expression: String,
        /// How many fields it has.
        found: usize,
    },
    /// An `@` macro that is not one of the supported ones.
    #[error(
        "schedule '{expression}': unknown macro; use @hourly, @daily, @weekly, @monthly or @yearly"
    )]
    Macro {
        /// The expression as written.
        expression: String,
    },
    /// One field is wrong.
    #[error("schedule '{expression}': {field} field '{value}': {reason}")]
    Field {
        /// The expression as written.
        expression: String,
        /// The field: second, minute, hour, day-of-month, month or day-of-week.
        field: &'static str,
        /// The field's text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The fields are valid one by one but no date satisfies them.
    #[error("schedule '{expression}': never fires (no date matches the day and month fields)")]
    Never {
        /// The expression as written.
        expression: String,
    },
    /// The converted expression was refused by the `cron` crate (a bug in the conversion).
    #[error("schedule '{expression}': converted to '{converted}', which cron refused: {source}")]
    Cron {
        /// The expression as written.
        expression: String,
        /// What it was converted to.
        converted: String,
        /// The `cron` crate's error.
        source: cron::error::Error,
    },
}

/// One crontab field: its name, bounds and the names it accepts.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [(&'static str, &'static str, u32)],
}

const MONTH_NAMES: &[(&str, &str, u32)] = &[
    ("jan", "january", 1),
    ("feb", "february", 2),
    ("mar", "march", 3),
    ("apr", "april", 4),
    ("may", "may", 5),
    ("jun", "june", 6),
    ("jul", "july", 7),
    ("aug", "august", 8),
    ("sep", "september", 9),
    ("oct", "october", 10),
    ("nov", "november", 11),
    ("dec", "december", 12),
];

const DAY_NAMES: &[(&str, &str, u32)] = &[
    ("sun", "sunday", 0),
    ("mon", "monday", 1),
    ("tue", "tuesday", 2),
    ("wed", "wednesday", 3),
    ("thu", "thursday", 4),
    ("fri", "friday", 5),
    ("sat", "saturday", 6),
];

const SECOND: FieldSpec = FieldSpec {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: MONTH_NAMES,
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: DAY_NAMES,
};

/// The names the `cron` crate reads for days of the week, indexed by crontab's number (0 =
/// Sunday); `cron` numbers them differently, so numbers are never handed to it.
const CRON_DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A field's values and whether it was restricted (did not start with `*`).
struct Parsed {
    values: BTreeSet<u32>,
    restricted: bool,
}

impl FieldSpec {
    /// Parses one field into the set of values it matches (day-of-week: 7 folded into 0).
    fn parse(&self, text: &str) -> Result<Parsed, String> {
        let mut values = BTreeSet::new();
        for item in text.split(',') {
            if item.is_empty() {
                return Err("empty item in the list".to_string());
            }
            let (base, step) = match item.split_once('/') {
                Some((base, step)) => {
                    let step: u32 = step
                        .parse()
                        .map_err(|_| format!("step '{step}' is not a number"))?;
                    if step == 0 {
                        return Err("step must be at least 1".to_string());
                    }
                    (base, Some(step))
                }
                None => (item, None),
            };
            let (start, end) = if base == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = base.split_once('-') {
                let start = self.value(a, false)?;
                let end = self.value(b, true)?;
                if start > end {
                    return Err(format!("range {a}-{b} runs backwards"));
                }
                (start, end)
            } else {
                let start = self.value(base, false)?;
                (start, if step.is_some() { self.max } else { start })
            };
            let step = step.unwrap_or(1) as usize;
            values.extend((start..=end).step_by(step));
        }
        if self.name == DAY_OF_WEEK.name && values.remove(&7) {
            values.insert(0);
        }
        Ok(Parsed {
            values,
            restricted: !text.starts_with('*'),
        })
    }

    /// One number or name. A day-of-week range ending in `SUN` ends at 7 (`SAT-SUN`).
    fn value(&self, text: &str, range_end: bool) -> Result<u32, String> {
        if text.is_empty() {
            return Err("a range needs a value on both sides".to_string());
        }
        let n = if text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse::<u32>().unwrap_or(u32::MAX)
        } else {
            let lower = text.to_ascii_lowercase();
            let found = self
                .names
                .iter()
                .find(|(short, long, _)| lower == *short || lower == *long)
                .map(|(_, _, n)| *n);
            match found {
                Some(0) if range_end && self.name == DAY_OF_WEEK.name => 7,
                Some(n) => n,
                None if self.names.is_empty() => {
                    return Err(format!("'{text}' is not a number"));
                }
                None => return Err(format!("'{text}' is not a number or a known name")),
            }
        };
        if n < self.min || n > self.max {
            return Err(format!("{text} is out of range {}-{}", self.min, self.max));
        }
        Ok(n)
    }

    /// The `cron` crate's text for a set of values: `*` when it covers the whole field.
    fn emit(&self, values: &BTreeSet<u32>) -> String {
        let is_dow = self.name == DAY_OF_WEEK.name;
        let full = if is_dow {
            7
        } else {
            (self.max - self.min + 1) as usize
        };
        if values.len() == full {
            return "*".to_string();
        }
        let items: Vec<String> = values
            .iter()
            .map(|v| {
                if is_dow {
                    CRON_DAY_NAMES[*v as usize % 7].to_string()
                } else {
                    v.to_string()
                }
            })
            .collect();
        items.join(",")
    }
}

/// The crontab line a macro stands for, or `None` for an unknown macro.
fn expand_macro(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "@hourly" => "0 * * * *",
        "@daily" | "@midnight" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@yearly" | "@annually" => "0 0 1 1 *",
        _ => return None,
    })
}

impl Schedule {
    /// Parses a crontab expression (see [`Schedule`] for the accepted syntax).
    pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
        let expression = expr.trim().to_string();
        if expression.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let line = if expression.starts_with('@') {
            expand_macro(&expression).ok_or_else(|| ScheduleError::Macro {
                expression: expression.clone(),
            })?
        } else {
            expression.as_str()
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (second, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            found => {
                return Err(ScheduleError::FieldCount {
                    expression: expression.clone(),
                    found,
                });
            }
        };
        let field = |spec: &FieldSpec, text: &str| {
            spec.parse(text).map_err(|reason| ScheduleError::Field {
                expression: expression.clone(),
                field: spec.name,
                value: text.to_string(),
                reason,
            })
        };
        let second = field(&SECOND, second)?;
        let minute = field(&MINUTE, rest[0])?;
        let hour = field(&HOUR, rest[1])?;
        let dom = field(&DAY_OF_MONTH, rest[2])?;
        let month = field(&MONTH, rest[3])?;
        let dow = field(&DAY_OF_WEEK, rest[4])?;

        let time = format!(
            "{} {} {}",
            SECOND.emit(&second.values),
            MINUTE.emit(&minute.values),
            HOUR.emit(&hour.values)
        );
        let month_text = MONTH.emit(&month.values);
        let dom_text = DAY_OF_MONTH.emit(&dom.values);
        let dow_text = DAY_OF_WEEK.emit(&dow.values);
        let converted = if dom.restricted && dow.restricted {
            vec![
                format!("{time} {dom_text} {month_text} *"),
                format!("{time} * {month_text} {dow_text}"),
            ]
        } else {
            vec![format!("{time} {dom_text} {month_text} {dow_text}")]
        };
        let mut schedules = Vec::with_capacity(converted.len());
        for text in converted {
            let schedule: cron::Schedule = text.parse().map_err(|source| ScheduleError::Cron {
                expression: expression.clone(),
                converted: text.clone(),
                source,
            })?;
            schedules.push(schedule);
        }
        let schedule = Schedule {
            expression,
            schedules,
        };
        // 2000 is a leap year, so the 29th of February counts as a date that exists.
        let epoch = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).single();
        if epoch.and_then(|e| schedule.next_after(e)).is_none() {
            return Err(ScheduleError::Never {
                expression: schedule.expression,
            });
        }
        Ok(schedule)
    }

    /// The expression as written (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedules
            .iter()
            .filter_map(|s| s.after(&after).find(|t| *t > after))
            .min()
    }
}

/// A random delay in [0, max], fresh per call.
///
/// Hashes a process-wide counter and the current time with a fresh [`RandomState`]
/// (randomly keyed by the standard library); good enough to spread replicas' sweeps, not for
/// anything secret.
///
/// [`RandomState`]: std::hash::RandomState
pub fn jitter(max: Duration) -> Duration {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let max_nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if max_nanos == 0 {
        return Duration::ZERO;
    }
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(now);
    let random = hasher.finish();
    let nanos = match max_nanos.checked_add(1) {
        Some(bound) => random % bound,
        None => random,
    };
    Duration::from_nanos(nanos)
}

/// Runs until `shutdown`: sleeps until the next fire time plus a fresh jitter, then calls `fire`.
///
/// A fire time missed while `fire` ran (or while the jitter delayed it) is skipped, not queued:
/// after each call the next fire time is computed from the clock. A fire time is never used
/// twice, even when the timer wakes a little early. A schedule with no further fire time waits
/// for `shutdown`.
pub async fn run(
    schedule: Schedule,
    max_jitter: Duration,
    shutdown: CancellationToken,
    mut fire: impl FnMut() + Send,
) {
    let mut last: Option<DateTime<Utc>> = None;
    loop {
        let now = Utc::now();
        let from = match last {
            Some(last) if last > now => last,
            _ => now,
        };
        let Some(next) = schedule.next_after(from) else {
            tracing::warn!(
                schedule = schedule.expression(),
                "schedule has no further fire time"
            );
            shutdown.cancelled().await;
            return;
        };
        let delay = (next - now).to_std().unwrap_or_default() + jitter(max_jitter);
        tracing::debug!(schedule = schedule.expression(), %next, ?delay, "next scheduled sweep");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        if shutdown.is_cancelled() {
            return;
        }
        last = Some(next);
        fire();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("bad test time {s}: {e}"))
    }

    /// The next `n` fire times after `from`, as RFC 3339 strings.
    fn next_n(expr: &str, from: &str, n: usize) -> Vec<String> {
        let schedule = Schedule::parse(expr).unwrap_or_else(|e| panic!("{e}"));
        let mut t = at(from);
        let mut out = Vec::new();
        for _ in 0..n {
            match schedule.next_after(t) {
                Some(next) => {
                    out.push(next.format("%Y-%m-%dT%H:%M:%S %a").to_string());
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    // 2026-03-06 is a Friday.
    const FRIDAY_NOON: &str = "2026-03-06T12:00:00Z";

    #[test]
    fn weekdays_at_three_skip_the_weekend() {
        assert_eq!(
            next_n("0 3 * * 1-5", FRIDAY_NOON, 3),
            [
                "2026-03-09T03:00:00 Mon",
                "2026-03-10T03:00:00 Tue",
                "2026-03-11T03:00:00 Wed"
            ]
        );
        assert_eq!(
            next_n("0 3 * * MON-FRI", FRIDAY_NOON, 3),
            next_n("0 3 * * 1-5", FRIDAY_NOON, 3)
        );
        assert_eq!(
            next_n("0 3 * * mon,tue,wed,thu,fri", FRIDAY_NOON, 3),
            next_n("0 3 * * 1-5", FRIDAY_NOON, 3)
        );
    }

    #[test]
    fn every_fifteen_minutes() {
        assert_eq!(
            next_n("*/15 * * * *", "2026-03-06T12:07:30Z", 4),
            [
                "2026-03-06T12:15:00 Fri",
                "2026-03-06T12:30:00 Fri",
                "2026-03-06T12:45:00 Fri",
                "2026-03-06T13:00:00 Fri"
            ]
        );
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        let sunday = ["2026-03-08T00:00:00 Sun", "2026-03-15T00:00:00 Sun"];
        assert_eq!(next_n("0 0 * * 0", FRIDAY_NOON, 2), sunday);
        assert_eq!(next_n("0 0 * * 7", FRIDAY_NOON, 2), sunday);
        assert_eq!(next_n("0 0 * * sun", FRIDAY_NOON, 2), sunday);
        assert_eq!(next_n("0 0 * * Sunday", FRIDAY_NOON, 2), sunday);
        assert_eq!(next_n("@weekly", FRIDAY_NOON, 2), sunday);
    }

    #[test]
    fn weekend_ranges_wrap_to_seven() {
        let weekend = [
            "2026-03-07T06:00:00 Sat",
            "2026-03-08T06:00:00 Sun",
            "2026-03-14T06:00:00 Sat",
        ];
        assert_eq!(next_n("0 6 * * 6-7", FRIDAY_NOON, 3), weekend);
        assert_eq!(next_n("0 6 * * SAT-SUN", FRIDAY_NOON, 3), weekend);
        assert_eq!(next_n("0 6 * * 0,6", FRIDAY_NOON, 3), weekend);
    }

    #[test]
    fn day_of_week_step_counts_from_sunday() {
        // Crontab's */2 over 0-7 is Sun, Tue, Thu, Sat (and Sun again).
        assert_eq!(
            next_n("0 0 * * */2", FRIDAY_NOON, 4),
            [
                "2026-03-07T00:00:00 Sat",
                "2026-03-08T00:00:00 Sun",
                "2026-03-10T00:00:00 Tue",
                "2026-03-12T00:00:00 Thu"
            ]
        );
    }

    #[test]
    fn macros() {
        assert_eq!(
            next_n("@daily", FRIDAY_NOON, 2),
            ["2026-03-07T00:00:00 Sat", "2026-03-08T00:00:00 Sun"]
        );
        assert_eq!(
            next_n("@midnight", FRIDAY_NOON, 1),
            ["2026-03-07T00:00:00 Sat"]
        );
        assert_eq!(
            next_n("@hourly", FRIDAY_NOON, 2),
            ["2026-03-06T13:00:00 Fri", "2026-03-06T14:00:00 Fri"]
        );
        assert_eq!(
            next_n("@monthly", FRIDAY_NOON, 1),
            ["2026-04-01T00:00:00 Wed"]
        );
        assert_eq!(
            next_n("@yearly", FRIDAY_NOON, 1),
            ["2027-01-01T00:00:00 Fri"]
        );
        assert_eq!(
            next_n("@ANNUALLY", FRIDAY_NOON, 1),
            ["2027-01-01T00:00:00 Fri"]
        );
    }

    #[test]
    fn lists_ranges_steps_and_month_names() {
        assert_eq!(
            next_n("5,35 9-10 * * *", FRIDAY_NOON, 2),
            ["2026-03-07T09:05:00 Sat", "2026-03-07T09:35:00 Sat"]
        );
        assert_eq!(
            next_n("0 8-18/5 * * *", FRIDAY_NOON, 3),
            [
                "2026-03-06T13:00:00 Fri",
                "2026-03-06T18:00:00 Fri",
                "2026-03-07T08:00:00 Sat"
            ]
        );
        // a/n runs from a to the field's maximum.
        assert_eq!(
            next_n("50/5 12 * * *", FRIDAY_NOON, 3),
            [
                "2026-03-06T12:50:00 Fri",
                "2026-03-06T12:55:00 Fri",
                "2026-03-07T12:50:00 Sat"
            ]
        );
        assert_eq!(
            next_n("0 0 1 jan,JUL *", FRIDAY_NOON, 2),
            ["2026-07-01T00:00:00 Wed", "2027-01-01T00:00:00 Fri"]
        );
        assert_eq!(
            next_n("0 0 1 Jun-Aug *", FRIDAY_NOON, 1),
            ["2026-06-01T00:00:00 Mon"]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_as_crontab() {
        // Both restricted: the 10th OR any Monday.
        assert_eq!(
            next_n("0 0 10 * 1", FRIDAY_NOON, 3),
            [
                "2026-03-09T00:00:00 Mon",
                "2026-03-10T00:00:00 Tue",
                "2026-03-16T00:00:00 Mon"
            ]
        );
        // Day-of-month starts with '*': the two are ANDed (odd days that are Mondays).
        assert_eq!(
            next_n("0 0 */2 * 1", FRIDAY_NOON, 2),
            ["2026-03-09T00:00:00 Mon", "2026-03-23T00:00:00 Mon"]
        );
    }

    #[test]
    fn leap_day_and_strictly_after() {
        assert_eq!(
            next_n("0 0 29 2 *", FRIDAY_NOON, 1),
            ["2028-02-29T00:00:00 Tue"]
        );
        // A fire time equal to `after` is not returned.
        assert_eq!(
            next_n("0 3 * * *", "2026-03-06T03:00:00Z", 1),
            ["2026-03-07T03:00:00 Sat"]
        );
        assert_eq!(
            next_n("0 3 * * *", "2026-03-06T02:59:59.500Z", 1),
            ["2026-03-06T03:00:00 Fri"]
        );
    }

    #[test]
    fn six_fields_have_leading_seconds() {
        assert_eq!(
            next_n("*/20 * * * * *", "2026-03-06T12:00:05Z", 3),
            [
                "2026-03-06T12:00:20 Fri",
                "2026-03-06T12:00:40 Fri",
                "2026-03-06T12:01:00 Fri"
            ]
        );
    }

    #[test]
    fn expression_is_kept_as_written() {
        let s = Schedule::parse("  0 3 * * 1-5 ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.expression(), "0 3 * * 1-5");
    }

    /// The error for an invalid expression, as text.
    fn error(expr: &str) -> String {
        match Schedule::parse(expr) {
            Ok(_) => panic!("'{expr}' parsed"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn invalid_expressions_name_the_field() {
        let cases = [
            ("60 * * * *", "minute field '60'"),
            ("* 24 * * *", "hour field '24'"),
            ("* * 0 * *", "day-of-month field '0'"),
            ("* * 32 * *", "day-of-month field '32'"),
            ("* * * 13 * ", "month field '13'"),
            ("* * * foo *", "month field 'foo'"),
            ("* * * * 8", "day-of-week field '8'"),
            ("* * * * MON-XYZ", "day-of-week field 'MON-XYZ'"),
            ("*/0 * * * *", "minute field '*/0'"),
            ("5-1 * * * *", "minute field '5-1'"),
            ("1,,2 * * * *", "minute field '1,,2'"),
            ("* * * * FRI-MON", "day-of-week field 'FRI-MON'"),
            ("61 * * * * *", "second field '61'"),
            ("* * * * MON-", "day-of-week field 'MON-'"),
            ("a * * * *", "minute field 'a'"),
            ("0 3 * * 1/x", "day-of-week field '1/x'"),
        ];
        for (expr, want) in cases {
            let got = error(expr);
            assert!(got.contains(want), "'{expr}': {got}");
            assert!(got.contains(expr.trim()), "'{expr}' not named: {got}");
        }
    }

    #[test]
    fn invalid_shapes_are_named() {
        assert!(error("* * * *").contains("found 4"));
        assert!(error("* * * * * * *").contains("found 7"));
        assert!(error("@reboot").contains("unknown macro"));
        assert!(error("0 0 30 2 *").contains("never fires"));
        assert_eq!(error("   "), "schedule is empty");
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        let max = Duration::from_millis(500);
        let draws: Vec<Duration> = (0..200).map(|_| jitter(max)).collect();
        assert!(draws.iter().all(|d| *d <= max));
        let distinct: BTreeSet<Duration> = draws.iter().copied().collect();
        assert!(
            distinct.len() > 100,
            "only {} distinct draws",
            distinct.len()
        );
        assert!(jitter(Duration::MAX) <= Duration::MAX);
    }

    #[tokio::test]
    async fn run_fires_every_second_and_stops_on_shutdown() {
        let schedule = Schedule::parse("* * * * * *").unwrap_or_else(|e| panic!("{e}"));
        let shutdown = CancellationToken::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(run(schedule, Duration::ZERO, shutdown.clone(), move || {
            let _ = tx.send(Utc::now());
        }));
        let bound = Duration::from_secs(10);
        let mut fired = Vec::new();
        while fired.len() < 2 {
            match tokio::time::timeout(bound, rx.recv()).await {
                Ok(Some(t)) => fired.push(t),
                Ok(None) => panic!("run ended before shutdown"),
                Err(_) => panic!("no fire within {bound:?}"),
            }
        }
        assert!(fired[0] < fired[1]);
        shutdown.cancel();
        tokio::time::timeout(bound, task)
            .await
            .unwrap_or_else(|_| panic!("run did not stop on shutdown"))
            .unwrap_or_else(|e| panic!("run panicked: {e}"));
    }

    #[tokio::test]
    async fn run_stops_on_shutdown_before_the_first_fire() {
        let schedule = Schedule::parse("@yearly").unwrap_or_else(|e| panic!("{e}"));
        let shutdown = CancellationToken::new();
        let fired = std::sync::Arc::new(AtomicU64::new(0));
        let counter = fired.clone();
        let task = tokio::spawn(run(
            schedule,
            Duration::from_secs(60),
            shutdown.clone(),
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
            },
        ));
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap_or_else(|_| panic!("run did not stop on shutdown"))
            .unwrap_or_else(|e| panic!("run panicked: {e}"));
        assert_eq!(fired.load(Ordering::SeqCst), 0);
    }
}
