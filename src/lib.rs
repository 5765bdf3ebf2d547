//! arshjul: a compliance calendar (årshjul) that runs itself.
//!
//! # Layout
//!
//! The pure core (no I/O, no clock):
//! - [`wheel`]: `schedule.toml` → validated [`wheel::Wheel`], errors as `file:line:col`.
//! - [`calendar`]: working days, Danish holidays, send instants across DST.
//! - [`recurrence`]: occurrences, due dates and period keys of a task.
//! - [`planner`]: (wheel, history, now) → notifications to send, and `plan` ranges.
//!
//! The edges:
//! - [`settings`]: figment layering of defaults, file and environment.
//! - [`store`]: SQLite: occurrences, completions, the outbox.
//! - [`mail`]: templates and delivery (file, SMTP with password or OAuth,
//!   Microsoft Graph, sendmail).
//! - [`cli`]: the commands, printing, exit codes.

pub mod calendar;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod link;
mod logging;
pub mod mail;
pub mod planner;
pub mod recurrence;
pub mod settings;
pub mod store;
pub mod web;
pub mod wheel;
