//! The overview and `arshjul wheel` at hundreds of tasks
//! (`support::large`): the wheel aggregates (one mark per ring and month,
//! at most five rings, no numbered legend, every text at least 30 user
//! units), the page stays under 600 kB with a complete status table
//! grouped by urgency, and in headless Chromium at 390 and 1280 px no
//! wheel text is under 9 CSS px, nothing scrolls sideways, no console
//! error, no serious axe violation. Small wheels keep the picture they
//! had (one numbered mark per occurrence).

use std::sync::OnceLock;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::support::{browser, large, router, Scratch};

/// The page's budget at 1,000 tasks.
const PAGE_BYTES: usize = 600_000;

fn now() -> DateTime<Utc> {
    "2027-05-10T10:00:00Z".parse().unwrap()
}

/// The 1,000-task wheel with most of its past done and the coordinator's
/// (the chief's) overview path; made once for the tests that share it.
fn thousand() -> &'static (Scratch, String) {
    static ONCE: OnceLock<(Scratch, String)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let s = Scratch::new(&large::wheel(1000));
        large::complete_most(s.path(), now());
        let url = s
            .run(&["link", "overview", "--for", "chef"])
            .expect(0)
            .stdout();
        let path = url[url.find("/overview/").unwrap()..].trim().to_string();
        (s, path)
    })
}

fn parse(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML ({e})"))
}

/// The text of every `text` element, as a browser reads it.
fn texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect()
}

/// Checks an aggregated picture: at most five rings, at most one mark per
/// ring and month, their counts adding up to `occurrences`, no numbered
/// mark, and no text under 30 user units.
fn assert_aggregated(svg: &str, occurrences: usize) {
    let doc = parse(svg);
    let root = doc.root_element();
    assert_eq!(root.attribute("class"), Some("aggregated"));
    let cells: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("cell ")))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    for c in &cells {
        let ring = c.attribute("data-ring").unwrap();
        let month = c.attribute("data-month").unwrap();
        assert!(["A", "B", "C", "D", "E"].contains(&ring), "ring {ring}");
        assert!(seen.insert((ring, month)), "two marks for {ring} {month}");
        total += c.attribute("data-count").unwrap().parse::<usize>().unwrap();
    }
    assert_eq!(total, occurrences, "the marks count every occurrence");
    assert!(
        !doc.descendants()
            .any(|n| n.attribute("class").is_some_and(|c| c.starts_with("mark "))),
        "no mark per occurrence"
    );
    for t in doc.descendants().filter(|n| n.has_tag_name("text")) {
        let size: f64 = t.attribute("font-size").unwrap().parse().unwrap();
        assert!(
            size >= 30.0,
            "text {:?} is {size} units, under 30",
            t.text().unwrap_or("")
        );
    }
}

#[test]
fn a_thousand_task_overview_is_light_aggregated_and_its_status_complete_and_grouped() {
    let (s, path) = thousand();
    let rt = router::runtime();
    let served = router::serve(&rt, s.path(), now());
    let started = Instant::now();
    let reply = served.get(path);
    eprintln!(
        "the 1,000-task overview: {} bytes in {:?} (debug build, one request)",
        reply.body.len(),
        started.elapsed()
    );
    assert_eq!(reply.status, 200);
    let page = &reply.body;
    assert!(
        page.len() <= PAGE_BYTES,
        "the page is {} bytes, over {PAGE_BYTES}",
        page.len()
    );

    // The wheel: 500 yearly, 250 quarterly and 250 monthly tasks, from
    // 1 January 2027: 500 + 1,000 + 3,000 occurrences in the year.
    let svg = &page[page.find("<svg").unwrap()..page.find("</svg>").unwrap() + 6];
    assert_aggregated(svg, 4500);

    // The status table: every task once, in three groups, most pressing
    // first; the rest folded, the pressing ones open.
    let rows = page.matches("<tr><th scope=\"row\">Opgave ").count();
    assert_eq!(rows, 1000, "every task has its line");
    let overdue = page.find("<details open>\n<summary>Overskredet (").unwrap();
    let soon = page
        .find("<details open>\n<summary>Åbne eller med frist inden for 30 dage (")
        .unwrap();
    let rest = page.find("<details>\n<summary>Øvrige (").unwrap();
    assert!(overdue < soon && soon < rest);
    // Most overdue first: the first line of the overdue group is due on
    // the year's first due date.
    let first = &page[overdue..];
    let first = &first[first.find("<tr><th scope=\"row\">").unwrap()..];
    let first = &first[..first.find("</tr>").unwrap()];
    assert!(first.contains("1. januar 2027"), "{first}");
    // The next 60 days, folded.
    assert!(page.contains("<summary>Vis alle "), "the next 60 days fold");
}

#[test]
fn the_thousand_task_overview_reads_on_a_phone_and_a_desktop() {
    if !browser::ready("the 1,000-task overview browser test") {
        return;
    }
    let (s, path) = thousand();
    let rt = router::runtime();
    let served = router::serve(&rt, s.path(), now());
    let url = format!("http://{}{}", served.addr, path);
    let (stdout, _) = browser::node("axe.mjs", &["--overview", &url, "9"]);
    for width in [390, 1280] {
        let line = format!("smallest wheel text of the overview at {width} px");
        assert!(stdout.contains(&line), "{line:?} missing in:\n{stdout}");
    }
}

#[test]
fn arshjul_wheel_of_three_hundred_tasks_aggregates_for_print_too() {
    let s = Scratch::new(&large::wheel(300));
    let svg = s
        .run(&["--now", "2027-05-10", "wheel", "--year", "2027"])
        .expect(0)
        .stdout();
    // 150 yearly, 75 quarterly, 75 monthly.
    assert_aggregated(&svg, 150 + 75 * 4 + 75 * 12);
    // The legend names the rings, "Øvrige" with what it gathers, and
    // today; the desc gives each ring's months by state.
    assert!(svg.contains("Øvrige (10 mindre ringe, "), "{svg}");
    assert!(svg.contains("I dag: 10. maj 2027"));
    let doc = parse(&svg);
    let desc = doc
        .descendants()
        .find(|n| n.has_tag_name("desc"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(desc.contains("300 opgaver, 5 ringe"), "{desc}");
    assert!(desc.contains("\nRing A, Øvrige ("), "{desc}");
    assert!(desc.contains("januar "), "{desc}");
}

/// A wheel of `n` yearly tasks of one owner in six categories, due on the
/// first of a month in turn.
fn yearly(n: usize) -> String {
    let mut s = String::from(
        "[organisation]\nname = \"Lille Kommune\"\nstart = 2027-01-01\n\n\
         [people.anna]\nname = \"Anna\"\nemail = \"anna@lille.example\"\n\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "[[task]]\nid = \"t{i}\"\ntitle = \"Opgave {i}\"\ncategory = \"Område {}\"\nowner = \"anna\"\nevery = \"year\"\ndue = \"{:02}-01\"\n\n",
            i % 6,
            i % 12 + 1
        ));
    }
    s
}

#[test]
fn sixty_yearly_tasks_keep_one_numbered_mark_each_and_sixty_one_aggregate() {
    for (n, aggregated) in [(60, false), (61, true)] {
        let s = Scratch::new(&yearly(n));
        let svg = s
            .run(&["--now", "2027-05-10", "wheel", "--year", "2027"])
            .expect(0)
            .stdout();
        let doc = parse(&svg);
        let marks = doc
            .descendants()
            .filter(|d| d.attribute("class").is_some_and(|c| c.starts_with("mark ")))
            .count();
        if aggregated {
            assert_aggregated(&svg, n);
        } else {
            assert_eq!(marks, n, "one mark per occurrence");
            let last = format!("{n}. \u{2068}Opgave {}\u{2069} (", n - 1);
            assert!(
                texts(&doc).iter().any(|t| t.starts_with(&last)),
                "numbered legend"
            );
        }
    }
}

#[test]
fn a_few_tasks_with_more_marks_than_their_ring_holds_aggregate_and_keep_their_list() {
    // Ten monthly tasks on one ring: 120 marks, more than fit around it
    // one by one (they used to wrap past the year's end).
    let mut wheel = yearly(0);
    for i in 0..10 {
        wheel.push_str(&format!(
            "[[task]]\nid = \"m{i}\"\ntitle = \"Månedlig kontrol {i}\"\ncategory = \"Drift\"\nowner = \"anna\"\nevery = \"month\"\ndue = {}\n\n",
            i + 1
        ));
    }
    let s = Scratch::new(&wheel);
    let svg = s
        .run(&["--now", "2027-05-10", "wheel", "--year", "2027"])
        .expect(0)
        .stdout();
    let doc = parse(&svg);
    assert_eq!(doc.root_element().attribute("class"), Some("aggregated"));
    let counts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("data-count"))
        .collect();
    assert_eq!(counts, vec!["10"; 12], "ten a month on the one ring");
    // With so few tasks the legend still lists them, with their ring.
    let texts = texts(&doc);
    for i in 0..10 {
        let line = format!("\u{2068}Månedlig kontrol {i}\u{2069} (A)");
        assert!(texts.contains(&line), "{line:?} in {texts:?}");
    }
}
