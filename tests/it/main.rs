//! The integration tests, as one binary: every module links the crate and
//! its dependencies once, so a change to `src/` costs one link, not twelve.

mod support;

mod architecture;
mod brake_clock;
mod bundle_attacks;
mod bundle_crash;
mod bundle_mail;
mod bundle_race;
mod bundle_status;
mod bundle_store;
mod calendar_props;
mod chain_attacks;
mod chain_evidence;
mod chain_upload;
mod check_defence;
mod check_settings;
mod cli;
mod daemon;
mod deputy_away;
mod docs;
mod done_cli;
mod e2e;
mod faults;
mod feeds_calendar;
mod mail;
mod mail_m365;
mod ops_install;
mod ops_journal;
mod overview_digest;
mod overview_mailbox;
mod overview_page;
mod overview_scale;
mod picture_wheel;
mod planner;
mod polish_bidi;
mod props;
mod report_term;
mod scale_batches;
mod store;
mod trust_links;
mod walk_mails;
mod web;
mod wheel_parse;
