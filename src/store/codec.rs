//! How values are written to and read back from columns: times, dates,
//! address lists and states. Reading never panics; a value that does not
//! parse is reported as damage.

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};

use super::{Fault, MessageState};

/// A time as stored: RFC 3339 with the offset it was given.
pub(super) fn time(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The same instant in UTC with nanoseconds, fixed width for years 0–9999,
/// so that text order is time order.
pub(super) fn utc_key(t: &DateTime<FixedOffset>) -> String {
    t.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(super) fn parse_time(s: &str, what: &str) -> Result<DateTime<FixedOffset>, Fault> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|e| Fault::Damaged(format!("{what} has the unreadable time {s:?} ({e})")))
}

pub(super) fn parse_opt_time(
    s: Option<String>,
    what: &str,
) -> Result<Option<DateTime<FixedOffset>>, Fault> {
    s.map(|s| parse_time(&s, what)).transpose()
}

pub(super) fn parse_date(s: &str, what: &str) -> Result<NaiveDate, Fault> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| Fault::Damaged(format!("{what} has the unreadable date {s:?} ({e})")))
}

pub(super) fn addresses(list: &[String]) -> String {
    // Serialising a list of strings cannot fail; the fallback keeps this
    // total without a panic path.
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_string())
}

pub(super) fn parse_addresses(s: &str, what: &str) -> Result<Vec<String>, Fault> {
    serde_json::from_str(s)
        .map_err(|e| Fault::Damaged(format!("{what} has an unreadable address list {s:?} ({e})")))
}

pub(super) fn state(s: MessageState) -> &'static str {
    match s {
        MessageState::Pending => "pending",
        MessageState::Sent => "sent",
        MessageState::Failed => "failed",
    }
}

pub(super) fn parse_state(s: &str, what: &str) -> Result<MessageState, Fault> {
    match s {
        "pending" => Ok(MessageState::Pending),
        "sent" => Ok(MessageState::Sent),
        "failed" => Ok(MessageState::Failed),
        other => Err(Fault::Damaged(format!(
            "{what} has the unknown state {other:?}"
        ))),
    }
}

pub(super) fn count(n: i64, what: &str) -> Result<u32, Fault> {
    u32::try_from(n).map_err(|_| Fault::Damaged(format!("{what} has the impossible count {n}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn a_time_keeps_its_offset() {
        assert_eq!(
            time(&t("2026-02-20T10:12:00+01:00")),
            "2026-02-20T10:12:00+01:00"
        );
        assert_eq!(
            time(&t("2026-06-20T10:12:00.5+02:00")),
            "2026-06-20T10:12:00.500+02:00"
        );
    }

    #[test]
    fn utc_keys_sort_as_instants_across_offsets() {
        // 09:30 in Copenhagen summer time is 07:30 UTC: earlier than 08:00Z.
        let summer = utc_key(&t("2026-06-01T09:30:00+02:00"));
        let utc = utc_key(&t("2026-06-01T08:00:00Z"));
        assert_eq!(summer, "2026-06-01T07:30:00.000000000Z");
        assert!(summer < utc);
        assert_eq!(summer.len(), utc.len());
    }

    #[test]
    fn damaged_values_are_reported_not_panicked_on() {
        assert!(
            matches!(parse_time("yesterday", "completion 1"), Err(Fault::Damaged(m)) if m.contains("\"yesterday\""))
        );
        assert!(matches!(
            parse_date("2026-02-30", "task x"),
            Err(Fault::Damaged(_))
        ));
        assert!(matches!(
            parse_addresses("a@b", "message 3"),
            Err(Fault::Damaged(_))
        ));
        assert!(matches!(
            parse_state("lost", "message 3"),
            Err(Fault::Damaged(_))
        ));
        assert!(matches!(count(-1, "message 3"), Err(Fault::Damaged(_))));
    }
}
