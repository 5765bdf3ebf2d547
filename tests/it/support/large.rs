//! A large wheel as a coordinator with hundreds of tasks has one: tasks in
//! categories of very different sizes (a few big ones, a long tail),
//! dozens of owners, yearly, quarterly and monthly tasks spread over the
//! year, and most past occurrences done (recorded through the store, as
//! `done` would, but in one process: a thousand runs of the binary would
//! take minutes).

use std::fmt::Write as _;
use std::path::Path;

use arshjul::planner;
use arshjul::store::{NewCompletion, Store, Via};
use chrono::{DateTime, NaiveDate, Utc};

/// The categories, biggest first; task `i` falls in the one its weight
/// picks, so the first few hold most tasks and the last hold a handful.
const CATEGORIES: [(&str, usize); 14] = [
    ("Informationssikkerhed", 22),
    ("Databeskyttelse (GDPR)", 18),
    ("Økonomi og regnskab", 14),
    ("Arbejdsmiljø", 10),
    ("Beredskab", 8),
    ("Leverandørtilsyn", 7),
    ("Personale og HR", 6),
    ("Byggeri og ejendomme", 4),
    ("Skole og dagtilbud", 3),
    ("Ældreområdet", 3),
    ("Teknik og miljø", 2),
    ("Kultur og fritid", 1),
    ("Borgerservice", 1),
    ("Politisk betjening", 1),
];

fn category(i: usize) -> &'static str {
    let total: usize = CATEGORIES.iter().map(|c| c.1).sum();
    let mut slot = (i * 37) % total;
    for (name, weight) in CATEGORIES {
        if slot < weight {
            return name;
        }
        slot -= weight;
    }
    CATEGORIES[0].0
}

/// The wheel's text: `n` tasks (half yearly, a quarter quarterly, a
/// quarter monthly), 40 owners, the shipped defaults for reminders,
/// repeats and escalation, `start` on 1 January 2027.
pub fn wheel(n: usize) -> String {
    let mut s = String::from(
        "[organisation]\nname = \"Storkøbing Kommune\"\nstart = 2027-01-01\n\n\
         [defaults]\nremind = [\"30d\", \"7d\", \"1d\"]\nrepeat = \"7d\"\n\
         escalate = [ { after = \"7d\", to = \"chef\" }, { after = \"30d\", to = \"direktor\" } ]\n\n\
         [people.chef]\nname = \"Digitaliseringschefen\"\nemail = \"chef@storkoebing.example\"\n\n\
         [people.direktor]\nname = \"Kommunaldirektøren\"\nemail = \"direktor@storkoebing.example\"\n\n",
    );
    for p in 0..40 {
        writeln!(
            s,
            "[people.ejer-{p}]\nname = \"Medarbejder {p}\"\nemail = \"ejer{p}@storkoebing.example\"\n"
        )
        .unwrap();
    }
    for i in 0..n {
        let (every, due) = match i % 4 {
            0 | 1 => ("year", format!("\"{:02}-{:02}\"", i % 12 + 1, i % 28 + 1)),
            2 => (
                "quarter",
                format!("{{ month = {}, day = {} }}", i % 3 + 1, i % 28 + 1),
            ),
            _ => ("month", format!("{}", i % 28 + 1)),
        };
        writeln!(
            s,
            "[[task]]\nid = \"opgave-{i}\"\ntitle = \"Opgave {i}: kontrol af {}\"\n\
             category = \"{}\"\nowner = \"ejer-{}\"\nevery = \"{every}\"\ndue = {due}\n",
            category(i).to_lowercase(),
            category(i),
            i % 40
        )
        .unwrap();
    }
    s
}

/// Records a completion, the day before it was due, for about nine in ten
/// of the occurrences of `dir`'s wheel due before `now` (the rest stay
/// overdue), in the database at `dir/arshjul.db` (created if missing).
pub fn complete_most(dir: &Path, now: DateTime<Utc>) {
    let wheel = arshjul::config::read_wheel(&dir.join("schedule.toml")).expect("the wheel parses");
    let mut store = Store::open(&dir.join("arshjul.db"), true).expect("the database opens");
    let from = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    let today = now.date_naive();
    let history = store
        .history_at(&wheel, now, |h| {
            planner::periods_between(&wheel, h, now, from, today)
        })
        .expect("the history reads");
    let marks = planner::marks(&wheel, &history, now, from, today);
    for (k, m) in marks.iter().enumerate() {
        if m.due >= today || k % 10 == 3 {
            continue;
        }
        let day = m.due.pred_opt().unwrap();
        let at = day.and_hms_opt(10, 0, 0).unwrap().and_utc().fixed_offset();
        store
            .record_completion(&NewCompletion {
                task: m.task.clone(),
                period: m.period.clone(),
                at,
                by: format!("ejer{}@storkoebing.example", k % 40),
                via: Via::Cli,
                note: None,
                client_addr: None,
                user_agent: None,
                recorded_at: at,
            })
            .expect("the completion is recorded");
    }
}
