//! `arshjul wheel`: the årshjul as SVG, read back with a real XML parser
//! (roxmltree) and rendered by headless Chromium.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use crate::support::Scratch;

const SHIPPED: &str = include_str!("../../schedule.toml");

fn parse(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML ({e}):\n{svg}"))
}

/// (task, due) of every mark in the picture.
fn marks(doc: &roxmltree::Document<'_>) -> BTreeSet<(String, String, String)> {
    doc.descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("mark ")))
        .map(|n| {
            (
                n.attribute("data-task").unwrap().to_string(),
                n.attribute("data-due").unwrap().to_string(),
                n.attribute("class").unwrap()["mark ".len()..].to_string(),
            )
        })
        .collect()
}

fn element_text(doc: &roxmltree::Document<'_>, tag: &str) -> String {
    doc.descendants()
        .find(|n| n.has_tag_name(tag))
        .and_then(|n| n.text())
        .unwrap_or_else(|| panic!("no <{tag}>"))
        .to_string()
}

#[test]
fn the_shipped_wheel_is_well_formed_and_has_every_due_date_of_the_year() {
    let s = Scratch::new(SHIPPED);
    let svg = s
        .run(&["--now", "2027-05-10", "wheel", "--year", "2027"])
        .expect(0)
        .stdout();
    let doc = parse(&svg);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("role"), Some("img"));
    assert!(!svg.contains("<script"), "no JavaScript in the picture");
    assert_eq!(
        element_text(&doc, "title"),
        "Årshjul 2027 — Ballerup Kommune"
    );

    // Every due date of 2027, as `plan` lists them, is a mark.
    let plan = s
        .run(&[
            "plan",
            "--from",
            "2027-01-01",
            "--to",
            "2027-12-31",
            "--json",
        ])
        .expect(0)
        .json();
    let expected: BTreeSet<(String, String)> = plan["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["due"].as_str().unwrap().starts_with("2027-"))
        .map(|e| {
            (
                e["task"].as_str().unwrap().to_string(),
                e["due"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let got: BTreeSet<(String, String)> = marks(&doc).into_iter().map(|(t, d, _)| (t, d)).collect();
    assert_eq!(got, expected);
    assert!(expected.len() >= 10, "{expected:?}");

    // The desc names every task, whole, for a screen reader.
    let desc = element_text(&doc, "desc");
    for line in SHIPPED.lines() {
        if let Some(title) = line.strip_prefix("title = \"") {
            let title = title.trim_end_matches('"');
            assert!(desc.contains(title), "{title} not in the desc:\n{desc}");
        }
    }
    assert!(desc.contains("1. marts 2027 overskredet"), "{desc}");
    // Danish month names on the dial; the today hand on 10 May.
    for month in ["januar", "marts", "december"] {
        assert!(
            doc.descendants().any(|n| n.text() == Some(month)),
            "{month}"
        );
    }
    assert!(svg.contains("I dag: 10. maj 2027"));
}

#[test]
fn states_follow_the_history_and_the_hand_only_shows_in_its_year() {
    let s = Scratch::new(SHIPPED);
    s.run(&["--now", "2027-03-05", "tick"]).expect(0);
    s.run(&[
        "--now",
        "2027-03-05",
        "done",
        "policy-review",
        "--period",
        "2027",
        "--by",
        "Test",
    ])
    .expect(0);
    let svg = s.run(&["--now", "2027-03-05", "wheel"]).expect(0).stdout();
    let marks = marks(&parse(&svg));
    assert!(marks.contains(&("policy-review".into(), "2027-03-01".into(), "done".into())));
    // Another task due on 1 March and not done is overdue on 5 March.
    assert!(
        marks
            .iter()
            .any(|(t, d, c)| t != "policy-review" && d == "2027-03-01" && c == "overdue"),
        "{marks:?}"
    );
    assert!(marks.iter().any(|(_, _, c)| c == "upcoming"), "{marks:?}");
    assert!(svg.contains("class=\"today\""));
    // A year that is not today's: no hand.
    let svg = s
        .run(&["--now", "2027-03-05", "wheel", "--year", "2028"])
        .expect(0)
        .stdout();
    parse(&svg);
    assert!(!svg.contains("class=\"today\""));
}

#[test]
fn titles_and_categories_with_markup_and_right_to_left_text_are_escaped() {
    // Arabic, as written: a right-to-left title needs no control character
    // (`check` refuses U+202E and the other bidi controls; `picture::xml`
    // would write one as a reference).
    let title = "Tom & \\\"Jerry\\\" <script>alert(1)</script> مراجعة";
    let schedule = SHIPPED.replacen(
        "title = \"Årlig gennemgang af informationssikkerhedspolitikken\"",
        &format!("title = \"{title}\"\ncategory = \"R&D <b>\""),
        1,
    );
    assert_ne!(schedule, SHIPPED, "the shipped title moved");
    let s = Scratch::new(&schedule);
    s.run(&["check"]).expect(0);
    let out = s.file("wheel.svg");
    s.run(&[
        "--now",
        "2027-05-10",
        "wheel",
        "--out",
        out.to_str().unwrap(),
    ])
    .expect(0);
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = parse(&svg);
    assert!(!svg.contains("<script>"));
    assert!(svg.contains("&lt;script&gt;"), "the markup is escaped");
    assert!(
        svg.contains("&lt;/script&gt; مراجعة"),
        "the Arabic is written as it is"
    );
    let desc = element_text(&doc, "desc");
    assert!(
        desc.contains("Tom & \"Jerry\" <script>alert(1)</script> مراجعة"),
        "{desc}"
    );
    // The calendar feed carries it as CATEGORIES; a task without one has none.
    let ics = s
        .run(&["--now", "2027-05-10", "calendar"])
        .expect(0)
        .stdout();
    assert_eq!(
        ics.matches("\r\nCATEGORIES:R&D <b>\r\n").count(),
        3,
        "{ics}"
    );
    assert_eq!(ics.matches("CATEGORIES").count(), 3);
    // `status --json` carries the category.
    let status = s
        .run(&["--now", "2027-05-10", "status", "--json"])
        .expect(0)
        .json();
    let row = status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "policy-review")
        .unwrap()
        .clone();
    assert_eq!(row["category"], "R&D <b>");
    assert!(status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["category"].is_null()));
    // Rings by category: the category appears in the legend.
    assert!(
        doc.descendants()
            .any(|n| n.text().is_some_and(|t| t.contains("R&D <b>"))),
        "{svg}"
    );
}

#[test]
fn a_category_is_checked_like_a_title() {
    let schedule = SHIPPED.replacen(
        "title = \"Årlig gennemgang af informationssikkerhedspolitikken\"",
        "title = \"Årlig gennemgang af informationssikkerhedspolitikken\"\ncategory = \"a\\u0007b\"",
        1,
    );
    let s = Scratch::new(&schedule);
    let run = s.run(&["check"]).expect(2);
    assert!(
        run.stderr().contains("schedule.toml:") && run.stderr().contains("the category"),
        "{}",
        run.stderr()
    );
    let long = SHIPPED.replacen(
        "title = \"Årlig gennemgang af informationssikkerhedspolitikken\"",
        &format!(
            "title = \"Årlig gennemgang af informationssikkerhedspolitikken\"\ncategory = \"{}\"",
            "x".repeat(201)
        ),
        1,
    );
    let run = Scratch::new(&long).run(&["check"]).expect(2);
    assert!(
        run.stderr().contains("the category is 201 characters long"),
        "{}",
        run.stderr()
    );
}

#[test]
fn an_english_wheel_has_english_month_names() {
    let schedule = SHIPPED.replacen("language = \"da\"", "language = \"en\"", 1);
    let s = Scratch::new(&schedule);
    let svg = s.run(&["--now", "2027-05-10", "wheel"]).expect(0).stdout();
    let doc = parse(&svg);
    assert!(doc.descendants().any(|n| n.text() == Some("March")));
    assert!(svg.contains("Today: 10 May 2027"));
    assert!(element_text(&doc, "desc").contains("1 March 2027 overdue"));
}

/// Whether Chromium is here; under CI its absence fails the test.
fn chromium_ready() -> bool {
    if Path::new("/usr/bin/chromium").exists() {
        return true;
    }
    let message = "the picture test needs /usr/bin/chromium (apt-get install -y chromium)";
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    let notice = format!("\n!!! SKIPPED: {message}\n!!! (under CI, with CI set, this fails)\n\n");
    let _ = std::io::stderr().write_all(notice.as_bytes());
    false
}

#[test]
fn chromium_renders_the_shipped_wheel_to_a_picture_that_is_not_blank() {
    if !chromium_ready() {
        return;
    }
    let s = Scratch::new(SHIPPED);
    let svg = s.file("wheel.svg");
    s.run(&[
        "--now",
        "2027-05-10",
        "wheel",
        "--out",
        svg.to_str().unwrap(),
    ])
    .expect(0);
    let png = s.file("wheel.png");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1000,1414",
            &format!("file://{}", svg.display()),
        ])
        .output()
        .expect("run chromium");
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()].chunks(channels);
    let (mut dark, mut red, mut total) = (0usize, 0usize, 0usize);
    for p in pixels {
        total += 1;
        let (r, g, b) = (p[0], p[1], p[2]);
        if u32::from(r) + u32::from(g) + u32::from(b) < 300 {
            dark += 1;
        }
        // The overdue marks' red (#c62828).
        if r > 150 && g < 80 && b < 80 {
            red += 1;
        }
    }
    assert!(total > 500_000, "{total} pixels");
    assert!(
        dark > total / 200,
        "almost nothing drawn: {dark} dark of {total}"
    );
    assert!(red > 100, "no overdue mark seen: {red} red pixels");
}

/// The shipped wheel's organisation and people with `tasks` instead of its own.
fn with_tasks(tasks: &str) -> String {
    let head = &SHIPPED[..SHIPPED.find("\n[[task]]").expect("a task") + 1];
    format!("{head}{tasks}")
}

#[test]
fn thirty_crowded_tasks_keep_their_marks_apart_and_all_get_a_legend_line() {
    let owners = [
        "digitalisering",
        "digitaliseringschef",
        "it-forsyningen",
        "linjeledere",
        "centerchef-borgerservice",
        "centerchef-hr",
    ];
    // Crowded on purpose: many on the same days, and on 31 December and
    // 1 January, either side of the top.
    let days = ["12-31", "01-01", "03-01", "06-30", "12-30"];
    let mut tasks = String::new();
    for n in 0..30 {
        tasks.push_str(&format!(
            "[[task]]\nid = \"task-{n}\"\ntitle = \"Opgave {n} med en lang titel, som bliver afkortet i tegnforklaringen\"\n\
             owner = \"{}\"\nevery = \"year\"\ndue = \"{}\"\n\n",
            owners[n % 3],
            days[n % days.len()]
        ));
    }
    let s = Scratch::new(&with_tasks(&tasks));
    s.run(&["check"]).expect(0);
    let svg = s.run(&["--now", "2027-06-10", "wheel"]).expect(0).stdout();
    let doc = parse(&svg);
    let centres: Vec<(f64, f64)> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("mark ")))
        .map(|g| {
            let t = g
                .children()
                .find(|c| c.has_tag_name("text"))
                .expect("a number");
            let x: f64 = t.attribute("x").unwrap().parse().unwrap();
            let y: f64 = t.attribute("y").unwrap().parse().unwrap();
            (x, y)
        })
        .collect();
    assert_eq!(centres.len(), 30);
    for (i, a) in centres.iter().enumerate() {
        for b in &centres[i + 1..] {
            let d = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
            assert!(d >= 20.0, "marks at {a:?} and {b:?} overlap ({d:.1} apart)");
        }
    }
    for n in 1..=30 {
        // The title is isolated (FSI … PDI) for right-to-left titles.
        let prefix = format!("{n}. \u{2068}Opgave {}", n - 1);
        assert!(
            doc.descendants()
                .any(|t| t.text().is_some_and(|x| x.starts_with(&prefix))),
            "no legend line {prefix}"
        );
    }
}

/// The visible text elements of the picture (not `<title>`/`<desc>`).
fn visible_texts(svg: &str) -> Vec<String> {
    let doc = parse(svg);
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            n.descendants()
                .filter(|t| t.is_text())
                .filter_map(|t| t.text())
                .collect()
        })
        .collect()
}

/// A year with no due date (the shipped wheel starts in 2027) says so on
/// the picture, small wheel and aggregated alike; a year with due dates
/// does not.
#[test]
fn a_year_without_due_dates_says_so_on_the_picture() {
    for (what, wheel) in [
        ("the shipped wheel", SHIPPED.to_string()),
        ("300 tasks", crate::support::large::wheel(300)),
    ] {
        let s = Scratch::new(&wheel);
        let empty = s
            .run(&["--now", "2027-05-10", "wheel", "--year", "2026"])
            .expect(0)
            .stdout();
        assert!(
            visible_texts(&empty).contains(&"Ingen frister i 2026".to_string()),
            "{what}: {:?}",
            visible_texts(&empty)
        );
        let full = s
            .run(&["--now", "2027-05-10", "wheel", "--year", "2027"])
            .expect(0)
            .stdout();
        assert!(
            !visible_texts(&full)
                .iter()
                .any(|t| t.starts_with("Ingen frister")),
            "{what}"
        );
    }
}
