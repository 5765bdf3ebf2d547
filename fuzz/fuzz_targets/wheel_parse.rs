//! Fuzz target: any bytes as a wheel file must parse or fail cleanly, and a wheel that parses must plan a year without panicking.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(wheel) = arshjul::wheel::parse(source, "schedule.toml") else {
        return;
    };
    let (Some(from), Some(to)) = (
        NaiveDate::from_ymd_opt(2027, 1, 1),
        NaiveDate::from_ymd_opt(2027, 12, 31),
    ) else {
        return;
    };
    let _ = arshjul::planner::plan_range(&wheel, from, to);
});
