//! The integration tests, as one binary: every module links the crate and
//! its dependencies once, so a change to `src/` costs one link, not twelve.

mod support;

mod calendar_props;
mod cli;
mod daemon;
mod deputy_away;
mod e2e;
mod faults;
mod mail;
mod planner;
mod props;
mod store;
mod web;
mod wheel_parse;
