//! A world for scripted days: a wheel in a scratch directory, a real SMTP
//! server the binary delivers to, and the real router on the binary's
//! database. Shared by the end-to-end and the deputy tests.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Copenhagen;

use super::router::{self, Served};
use super::smtp::{Received, SmtpServer};
use super::{Run, Scratch};

/// A scratch directory holding a wheel, and a test SMTP server on a
/// multi-threaded runtime, so it answers while the test thread waits for
/// the binary.
pub struct MailWorld {
    pub scratch: Scratch,
    pub runtime: tokio::runtime::Runtime,
    pub smtp: SmtpServer,
    /// Set for every run after the SMTP settings (see [`MailWorld::with_env`]).
    env: Vec<(String, String)>,
}

impl MailWorld {
    pub fn new(schedule: &str) -> MailWorld {
        let scratch = Scratch::new(schedule);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let smtp = runtime.block_on(SmtpServer::start());
        MailWorld {
            scratch,
            runtime,
            smtp,
            env: Vec::new(),
        }
    }

    /// Sets `key=value` for every run of the binary in this world.
    pub fn with_env(mut self, key: &str, value: &str) -> MailWorld {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs `arshjul ARGS` in the scratch directory with SMTP delivery to
    /// the test server (and the variables given to [`MailWorld::with_env`]).
    pub fn run(&self, args: &[&str]) -> Run {
        let mut env = super::smtp::env(self.smtp.port());
        env.extend(self.env.iter().cloned());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.scratch.run_env(args, &env)
    }

    /// Runs `arshjul ARGS` as [`MailWorld::run`] does, but delivering to a
    /// port where nothing listens (every delivery is deferred), with a 1 s
    /// SMTP timeout.
    pub fn run_unreachable(&self, args: &[&str]) -> Run {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let mut env = super::smtp::env(port);
        env.push(("ARSHJUL_MAIL__SMTP__TIMEOUT_SECS".into(), "1".into()));
        env.extend(self.env.iter().cloned());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.scratch.run_env(args, &env)
    }

    /// Ticks at 08:00 Copenhagen time on `day` (+01:00 or +02:00 as the
    /// season has it) and returns the messages that tick delivered.
    pub fn tick(&self, day: NaiveDate) -> Vec<Received> {
        self.tick_with(day, &[])
    }

    /// `tick` with more arguments (`--accept-burst` for a test that jumps
    /// months ahead on purpose).
    pub fn tick_with(&self, day: NaiveDate, more: &[&str]) -> Vec<Received> {
        let before = self.smtp.received().len();
        let now = eight_o_clock(day).to_rfc3339();
        let mut args = vec!["tick", "--now", &now];
        args.extend_from_slice(more);
        let run = self.run(&args);
        assert_eq!(
            run.code(),
            0,
            "tick --now {now} exited {}\nstdout:\n{}\nstderr:\n{}",
            run.code(),
            run.stdout(),
            run.stderr()
        );
        self.smtp.received()[before..].to_vec()
    }

    /// Starts the real router on 127.0.0.1:0 on the binary's database and
    /// secret file, with the clock at 08:00 on `day`.
    pub fn serve(&self, day: NaiveDate) -> Served {
        self.serve_at(eight_o_clock(day).with_timezone(&Utc))
    }

    /// [`MailWorld::serve`] with the clock at `now`.
    pub fn serve_at(&self, now: DateTime<Utc>) -> Served {
        router::serve(&self.runtime, self.scratch.path(), now)
    }
}

/// 08:00 in Copenhagen on `day`.
pub fn eight_o_clock(day: NaiveDate) -> DateTime<chrono_tz::Tz> {
    Copenhagen
        .from_local_datetime(&day.and_hms_opt(8, 0, 0).unwrap())
        .single()
        .expect("08:00 exists on every day in Copenhagen")
}
