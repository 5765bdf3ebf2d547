//! arshjul: a compliance calendar (årshjul) that runs itself.
//!
//! # Layout
//!
//! Dependencies run one way, `cli → daemon → engine → {store, mail, link,
//! web} → planner → {recurrence, calendar} → wheel`, with `settings`,
//! `config` and `logging` beside them, `view` (the templates' shared
//! layout) below `mail` and `web`, and `report` between `cli` and `store`;
//! `tests/it/architecture.rs` checks it
//! (see ARCHITECTURE.md).
//!
//! The pure core (no I/O, no clock):
//! - [`wheel`]: `schedule.toml` text → validated [`wheel::Wheel`], errors as `file:line:col`.
//! - [`calendar`]: working days, Danish holidays, send instants across DST, local time.
//! - [`recurrence`]: occurrences, due dates and periods ([`recurrence::Period`]) of a task.
//! - [`planner`]: (wheel, history, now) → notifications to send, and `plan` ranges.
//! - [`dial`]: the picture's geometry: a date's angle on the wheel of its year.
//!
//! The edges:
//! - [`settings`]: figment layering of defaults, file and environment.
//! - [`config`]: loads settings and reads the wheel's file ([`config::Config::load`]).
//! - [`store`]: SQLite: occurrences, completions, the outbox, link requests, absences.
//! - [`view`]: the one layout (minijinja) of mail HTML and pages, its blocks and the pages' texts.
//! - [`mail`]: templates and delivery (file, SMTP with password or OAuth,
//!   Microsoft Graph, sendmail).
//! - [`picture`]: the årshjul as an SVG picture (pure; its XML writer escapes all text).
//! - [`feed`]: iCalendar feeds of the occurrences (pure; written by hand).
//! - [`link`]: completion-link tokens, the secret, link URLs and their expiry.
//! - [`web`]: the completion-link routes and their listener (`web::listener`).
//! - [`report`]: the term report: (wheel, store's records, now, chain) → model → HTML, Markdown, JSON.
//! - [`engine`]: one pass: brake → plan → render → record → deliver; typed reports.
//! - [`daemon`]: `arshjul run`: the loop, signals, systemd notify, the listener.
//! - [`cli`]: the commands, printing, exit codes.
//! - `logging` (private): the tracing subscriber (plain under journald).

pub mod calendar;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dial;
pub mod engine;
pub mod feed;
pub mod link;
mod logging;
pub mod mail;
pub mod picture;
pub mod planner;
pub mod recurrence;
pub mod report;
pub mod settings;
pub mod store;
pub mod view;
pub mod web;
pub mod wheel;
