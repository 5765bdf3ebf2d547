//! The årshjul as a picture: one year of the wheel as an SVG document,
//! built by hand with the escaping writer of [`xml`]. Pure: the caller
//! gives the wheel, the year's occurrences with their states
//! ([`crate::planner::marks`]) and today's local date.
//!
//! The picture (A4 portrait proportions, 1000 × 1414 user units and
//! longer with many tasks; no fixed size: it takes the width it is given,
//! a page's column or a printed sheet):
//! - twelve month sectors, 1 January at the top, clockwise, month names in
//!   the wheel's language; a tick at every Monday;
//! - one ring per category (the tasks' `category`) when any task has one,
//!   else per owner (the owners' names); rings are lettered A, B, … from
//!   the outside in;
//! - each occurrence a mark at its due date ([`crate::dial`]) carrying its
//!   task's number; its state is told by colour, by shape and by a sign:
//!   done (green disc and ✓), overdue (red diamond and !), open (amber
//!   square), upcoming (hollow circle). Marks that would overlap on a ring
//!   are moved apart along it, in date order;
//! - a "today" hand when today falls in the year;
//! - a legend: the four states, the rings, and the tasks numbered (the
//!   numbers are keyed to the marks, so no label overlaps another);
//! - `<title>` and `<desc>` for screen readers: the desc lists every task
//!   with its ring and each due date with its state.
//!
//! No JavaScript, no external resources.
//!
//! A large wheel (more than [`AGGREGATE_TASKS`] tasks, or a ring with more
//! marks than fit around it) is drawn by `aggregate` instead: one mark per
//! ring and month, at most five rings, no numbered legend, large type.

mod aggregate;
pub mod xml;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use crate::dial;
use crate::planner::{Mark, MarkState};
use crate::wheel::{Language, Task, Wheel};
use xml::Xml;

const WIDTH: f64 = 1000.0;
const CX: f64 = 500.0;
const CY: f64 = 500.0;
/// The month names' band lies between these radii.
const R_OUTER: f64 = 435.0;
const R_MONTHS: f64 = 397.0;
/// The rings lie between the hub and the week ticks.
const R_TICKS: f64 = 379.0;
const R_HUB: f64 = 115.0;
/// Where the legend starts, and each of its lines' height.
const LEGEND_TOP: f64 = 1000.0;
const LINE: f64 = 26.0;
/// The longest title shown in the legend; the desc has it whole.
const LEGEND_TITLE_CHARS: usize = 42;

const DONE: &str = "#1a7f37";
const OVERDUE: &str = "#c62828";
const OPEN: &str = "#a15c00";
const UPCOMING: &str = "#37474f";
const INK: &str = "#1f2328";
const FAINT: &str = "#8c959f";

/// The texts of the picture, per language.
struct Words {
    title: &'static str,
    today: &'static str,
    legend: &'static str,
    states: &'static str,
    rings: &'static str,
    tasks: &'static str,
    ring: &'static str,
    none: &'static str,
}

fn words(language: Language) -> Words {
    match language {
        Language::Da => Words {
            title: "Årshjul",
            today: "I dag",
            legend: "Tegnforklaring",
            states: "Status",
            rings: "Ringe (udefra og ind)",
            tasks: "Opgaver (numrene står i mærkerne)",
            ring: "ring",
            none: "ingen frister i året",
        },
        Language::En => Words {
            title: "Compliance calendar",
            today: "Today",
            legend: "Legend",
            states: "State",
            rings: "Rings (outside in)",
            tasks: "Tasks (the numbers are in the marks)",
            ring: "ring",
            none: "nothing due in the year",
        },
    }
}

fn state_word(language: Language, state: MarkState) -> &'static str {
    match (language, state) {
        (Language::Da, MarkState::Done) => "udført",
        (Language::Da, MarkState::Overdue) => "overskredet",
        (Language::Da, MarkState::Open) => "åben",
        (Language::Da, MarkState::Upcoming) => "kommende",
        (Language::En, MarkState::Done) => "done",
        (Language::En, MarkState::Overdue) => "overdue",
        (Language::En, MarkState::Open) => "open",
        (Language::En, MarkState::Upcoming) => "upcoming",
    }
}

/// The sign drawn beside a mark, also in the legend and the desc.
fn state_sign(state: MarkState) -> &'static str {
    match state {
        MarkState::Done => "✓",
        MarkState::Overdue => "!",
        MarkState::Open | MarkState::Upcoming => "",
    }
}

/// The ring a task is drawn on: its category, or its owners' names.
fn ring_of(wheel: &Wheel, task: &Task, by_category: bool) -> String {
    if by_category {
        return task.category.clone().unwrap_or_else(|| "—".to_string());
    }
    task.owners
        .iter()
        .map(|k| wheel.person(k).map_or(k.as_str(), |p| p.name.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn letter(i: usize) -> String {
    let mut n = i;
    let mut s = String::new();
    loop {
        s.insert(0, char::from(b'A' + (n % 26) as u8));
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s
}

/// A straight line from `from` to `to`.
fn line(x: &mut Xml, from: (f64, f64), to: (f64, f64), stroke: &str, width: &str) {
    x.leaf(
        "line",
        &[
            ("x1", &num(from.0)),
            ("y1", &num(from.1)),
            ("x2", &num(to.0)),
            ("y2", &num(to.1)),
            ("stroke", stroke),
            ("stroke-width", width),
        ],
    );
}

/// A line of the legend at (`px`, `py`).
fn legend_text(x: &mut Xml, px: f64, py: f64, text: &str) {
    x.text_element(
        "text",
        &[
            ("x", &num(px)),
            ("y", &num(py)),
            ("font-size", "16"),
            ("fill", INK),
        ],
        text,
    );
}

/// A heading of the legend at (`px`, `py`).
fn legend_heading(x: &mut Xml, px: f64, py: f64, text: &str) {
    x.text_element(
        "text",
        &[
            ("x", &num(px)),
            ("y", &num(py)),
            ("font-size", "16"),
            ("font-weight", "bold"),
            ("fill", INK),
        ],
        text,
    );
}

fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// The turn that lays a month's name along its band at `degrees` (about
/// its centre `(x, y)`): upright at the top, head up in the lower half,
/// so that no name, however long, sticks out of the band as a level one
/// does at three and nine o'clock.
fn label_turn(degrees: f64, x: f64, y: f64) -> String {
    let turn = if degrees > 90.0 && degrees < 270.0 {
        degrees - 180.0
    } else {
        degrees
    };
    format!("rotate({} {} {})", num(turn), num(x), num(y))
}

/// The title shown in the legend: cut at [`LEGEND_TITLE_CHARS`] with `…`,
/// and isolated (FSI … PDI), so that a title in a right-to-left script
/// keeps its `…` at its own end and leaves the number before it and the
/// ring letter after it where they are.
fn short(text: &str) -> String {
    let cut = if text.chars().count() <= LEGEND_TITLE_CHARS {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(LEGEND_TITLE_CHARS - 1).collect();
        s.push('…');
        s
    };
    format!("\u{2068}{cut}\u{2069}")
}

/// The SVG picture of `year` as a standalone document (`arshjul wheel`).
/// `marks` are the occurrences to draw (those due outside `year` are left
/// out); `today` is the local date now.
pub fn svg(wheel: &Wheel, year: i32, marks: &[Mark], today: NaiveDate) -> String {
    format!(
        "{}{}",
        xml::DECLARATION,
        svg_element(wheel, year, marks, today)
    )
}

/// More tasks than this, and the picture aggregates ([`aggregate`]):
/// the numbered legend of so many would run to more lines than the wheel
/// is tall, and its text would be too small to read on a phone.
pub const AGGREGATE_TASKS: usize = 60;

/// The rings, in order of first appearance in the wheel, and each task's
/// ring.
fn rings_of(wheel: &Wheel) -> (Vec<String>, BTreeMap<&str, usize>) {
    let by_category = wheel.tasks.iter().any(|t| t.category.is_some());
    let mut rings: Vec<String> = Vec::new();
    let mut task_ring: BTreeMap<&str, usize> = BTreeMap::new();
    for task in &wheel.tasks {
        let name = ring_of(wheel, task, by_category);
        let i = match rings.iter().position(|r| *r == name) {
            Some(i) => i,
            None => {
                rings.push(name);
                rings.len() - 1
            }
        };
        task_ring.insert(task.id.as_str(), i);
    }
    (rings, task_ring)
}

/// Whether the picture of `year` aggregates its marks: more than
/// [`AGGREGATE_TASKS`] tasks, or a ring with more marks in the year than
/// fit around it one by one (they would wrap past the year's end).
fn aggregated(
    wheel: &Wheel,
    year: i32,
    marks: &[Mark],
    rings: &[String],
    task_ring: &BTreeMap<&str, usize>,
) -> bool {
    if wheel.tasks.len() > AGGREGATE_TASKS {
        return true;
    }
    let band = band(rings.len());
    let mark_r = (band * 0.36).clamp(6.0, 12.0);
    let mut per_ring = vec![0usize; rings.len()];
    for m in marks.iter().filter(|m| m.due.year() == year) {
        if let Some(&ring) = task_ring.get(m.task.as_str()) {
            per_ring[ring] += 1;
        }
    }
    per_ring.iter().enumerate().any(|(i, &n)| {
        let r = ring_radius(band, i);
        let gap = ((2.0 * mark_r + 2.0) / r).to_degrees();
        n as f64 * gap > 360.0
    })
}

/// Whether [`svg_element`] draws `wheel`'s `year` with these marks
/// aggregated (one mark per ring and month, no numbered task legend): the
/// overview page then groups its status table, which is the legend.
pub fn aggregates(wheel: &Wheel, year: i32, marks: &[Mark]) -> bool {
    let (rings, task_ring) = rings_of(wheel);
    aggregated(wheel, year, marks, &rings, &task_ring)
}

/// [`svg`] without the XML declaration: the `<svg>` element alone, to put
/// inside an HTML page (its `<title>` and `<desc>` have the ids
/// `wheel-title` and `wheel-desc`, so one wheel per page).
pub fn svg_element(wheel: &Wheel, year: i32, marks: &[Mark], today: NaiveDate) -> String {
    let lang = wheel.organisation.language;
    let w = words(lang);
    let (rings, task_ring) = rings_of(wheel);
    if aggregated(wheel, year, marks, &rings, &task_ring) {
        return aggregate::svg_element(wheel, year, marks, today, &rings, &task_ring);
    }
    let number: BTreeMap<&str, usize> = wheel
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i + 1))
        .collect();
    let marks: Vec<&Mark> = marks.iter().filter(|m| m.due.year() == year).collect();

    let columns = 2;
    let rows = wheel.tasks.len().div_ceil(columns);
    let legend_rings_rows = rings.len().div_ceil(2);
    let tasks_top = LEGEND_TOP + 3.0 * LINE + (legend_rings_rows as f64 + 1.0) * LINE;
    let height = (tasks_top + (rows as f64 + 1.0) * LINE + 20.0).max(1414.0);

    let title = format!("{} {year} — {}", w.title, wheel.organisation.name);
    let desc = describe(wheel, year, &marks, &rings, &task_ring, &number, today);

    let mut x = open_svg(height, lang, (&title, &desc), None);

    dial_face(&mut x, year, lang, "20");

    // Rings: guide circles and their letters at the top.
    let band = band(rings.len());
    let ring_radius = |i: usize| ring_radius(band, i);
    let mark_r = (band * 0.36).clamp(6.0, 12.0);
    ring_guides(&mut x, rings.len(), ring_radius, ("14", 4.0));

    // Hub: the year and the organisation.
    hub_year(&mut x, year, 4.0);
    x.text_element(
        "text",
        &[
            ("x", &num(CX)),
            ("y", &num(CY + 36.0)),
            ("text-anchor", "middle"),
            ("font-size", "16"),
            ("fill", INK),
            ("aria-hidden", "true"),
        ],
        &short_name(&wheel.organisation.name, 24),
    )
    .newline();

    // Today's hand, under the marks.
    if today.year() == year {
        today_hand(&mut x, today, lang, &w, ("16", 6.0), true);
    }

    // Marks, per ring in date order, moved apart where they would overlap.
    let mut per_ring: BTreeMap<usize, Vec<&Mark>> = BTreeMap::new();
    for m in &marks {
        if let Some(&ring) = task_ring.get(m.task.as_str()) {
            per_ring.entry(ring).or_default().push(m);
        }
    }
    x.open("g", &[("class", "marks"), ("aria-hidden", "true")]);
    for (ring, mut ms) in per_ring {
        ms.sort_by_key(|m| (m.due, number.get(m.task.as_str()).copied()));
        let r = ring_radius(ring);
        let gap = ((2.0 * mark_r + 2.0) / r).to_degrees();
        let wanted: Vec<f64> = ms.iter().map(|m| dial::angle(m.due)).collect();
        let placed = spread(&wanted, gap);
        for ((m, a), true_a) in ms.into_iter().zip(placed).zip(wanted) {
            let n = number.get(m.task.as_str()).copied().unwrap_or(0);
            draw_mark(&mut x, m, r, (a, true_a), mark_r, n);
        }
    }
    x.close().newline();
    if marks.is_empty() {
        empty_year(&mut x, year, lang, "24");
    }

    legend(&mut x, wheel, &w, &rings, &task_ring, tasks_top);
    x.finish()
}

/// A year without a single due date (before the wheel's start, say) says
/// so on the picture itself, in the rings below the hub, not only in the
/// `<desc>`: an empty wheel would otherwise look like a drawing error.
fn empty_year(x: &mut Xml, year: i32, lang: Language, font: &str) {
    let text = match lang {
        Language::Da => format!("Ingen frister i {year}"),
        Language::En => format!("Nothing due in {year}"),
    };
    x.text_element(
        "text",
        &[
            ("x", &num(CX)),
            ("y", &num(CY + (R_HUB + R_TICKS) / 2.0 + 8.0)),
            ("text-anchor", "middle"),
            ("font-size", font),
            ("font-weight", "bold"),
            ("fill", INK),
            ("stroke", "#ffffff"),
            ("stroke-width", "6"),
            ("paint-order", "stroke"),
            ("class", "empty-year"),
        ],
        &text,
    )
    .newline();
}

/// The width of one ring's band when `rings` rings share the space
/// between the hub and the week ticks (at least one, so never a division
/// by zero).
fn band(rings: usize) -> f64 {
    (R_TICKS - 10.0 - R_HUB - 10.0) / rings.max(1) as f64
}

/// The radius of ring `i` (0 outermost) in bands of width `band`.
fn ring_radius(band: f64, i: usize) -> f64 {
    R_TICKS - 10.0 - (i as f64 + 0.5) * band
}

/// The year in large type in the hub, its baseline `dy` below the centre.
fn hub_year(x: &mut Xml, year: i32, dy: f64) {
    x.text_element(
        "text",
        &[
            ("x", &num(CX)),
            ("y", &num(CY + dy)),
            ("text-anchor", "middle"),
            ("font-size", "44"),
            ("font-weight", "bold"),
            ("fill", INK),
            ("aria-hidden", "true"),
        ],
        &year.to_string(),
    );
}

/// The picture's `<svg>` element opened, `height` units tall (1000
/// wide), with its `<title>` and `<desc>` (ids `wheel-title` and
/// `wheel-desc`) and a white background; `class` marks the aggregated
/// picture.
fn open_svg(height: f64, lang: Language, (title, desc): (&str, &str), class: Option<&str>) -> Xml {
    let mut x = Xml::new();
    let vb = format!("0 0 {} {}", num(WIDTH), num(height));
    let mut attributes = vec![
        ("xmlns", "http://www.w3.org/2000/svg"),
        ("viewBox", vb.as_str()),
        ("width", "100%"),
        ("role", "img"),
        ("aria-labelledby", "wheel-title wheel-desc"),
        ("xml:lang", lang.code()),
        ("font-family", "DejaVu Sans, Verdana, Arial, sans-serif"),
    ];
    if let Some(class) = class {
        attributes.push(("class", class));
    }
    x.open("svg", &attributes).newline();
    x.text_element("title", &[("id", "wheel-title")], title)
        .newline();
    x.text_element("desc", &[("id", "wheel-desc")], desc)
        .newline();
    x.leaf(
        "rect",
        &[("width", "100%"), ("height", "100%"), ("fill", "#ffffff")],
    )
    .newline();
    x
}

/// The dial: month sectors, alternately shaded, with their names in
/// `month_font`, a tick at every Monday, and the circles that bound the
/// bands.
fn dial_face(x: &mut Xml, year: i32, lang: Language, month_font: &str) {
    x.open("g", &[("aria-hidden", "true")]);
    for month in 1..=12u32 {
        let a0 = dial::month_start(year, month);
        let a1 = if month == 12 {
            360.0
        } else {
            dial::month_start(year, month + 1)
        };
        let fill = if month % 2 == 1 { "#eef2f6" } else { "#f8fafc" };
        x.leaf(
            "path",
            &[("d", &sector(R_HUB, R_OUTER, a0, a1)), ("fill", fill)],
        );
        let mid = (a0 + a1) / 2.0;
        let (lx, ly) = dial::point(CX, CY, (R_MONTHS + R_OUTER) / 2.0, mid);
        let name = lang.month_name(month);
        x.text_element(
            "text",
            &[
                ("x", &num(lx)),
                ("y", &num(ly + 7.0)),
                ("text-anchor", "middle"),
                ("font-size", month_font),
                ("fill", INK),
                ("transform", &label_turn(mid, lx, ly)),
            ],
            name,
        );
        let (ox, oy) = dial::point(CX, CY, R_OUTER, a0);
        let (ix, iy) = dial::point(CX, CY, R_HUB, a0);
        line(x, (ix, iy), (ox, oy), FAINT, "1.5");
    }
    x.newline();
    // Week ticks: one per Monday.
    for monday in dial::mondays(year) {
        let a = dial::start_angle(monday);
        let (x1, y1) = dial::point(CX, CY, R_TICKS, a);
        let (x2, y2) = dial::point(CX, CY, R_MONTHS, a);
        line(x, (x1, y1), (x2, y2), FAINT, "1");
    }
    for r in [R_HUB, R_TICKS, R_MONTHS, R_OUTER] {
        x.leaf(
            "circle",
            &[
                ("cx", &num(CX)),
                ("cy", &num(CY)),
                ("r", &num(r)),
                ("fill", "none"),
                ("stroke", FAINT),
                ("stroke-width", "1.5"),
            ],
        );
    }
    x.close().newline();
}

/// The rings' dashed guide circles at `radius(i)`, each lettered at the
/// top in `letter_font` (none when empty), its end `letter_gap` left of
/// the top line.
fn ring_guides(
    x: &mut Xml,
    n: usize,
    radius: impl Fn(usize) -> f64,
    (letter_font, letter_gap): (&str, f64),
) {
    x.open("g", &[("aria-hidden", "true")]);
    for i in 0..n {
        let r = radius(i);
        x.leaf(
            "circle",
            &[
                ("cx", &num(CX)),
                ("cy", &num(CY)),
                ("r", &num(r)),
                ("fill", "none"),
                ("stroke", "#c8d1dc"),
                ("stroke-width", "1"),
                ("stroke-dasharray", "4 4"),
            ],
        );
        if letter_font.is_empty() {
            continue;
        }
        x.text_element(
            "text",
            &[
                ("x", &num(CX - letter_gap)),
                ("y", &num(CY - r + 5.0)),
                ("text-anchor", "end"),
                ("font-size", letter_font),
                ("font-weight", "bold"),
                ("fill", INK),
            ],
            &letter(i),
        );
    }
    x.close().newline();
}

/// The "today" hand at `today`, labelled in `label_font` (its baseline
/// `label_drop` below the label's point; no label when the font is
/// empty); with `date_line`, today's date under the year in the hub too.
fn today_hand(
    x: &mut Xml,
    today: NaiveDate,
    lang: Language,
    w: &Words,
    (label_font, label_drop): (&str, f64),
    date_line: bool,
) {
    let a = dial::angle(today);
    let (x1, y1) = dial::point(CX, CY, R_HUB, a);
    let (x2, y2) = dial::point(CX, CY, R_OUTER + 8.0, a);
    x.open("g", &[("class", "today")]);
    x.leaf(
        "line",
        &[
            ("x1", &num(x1)),
            ("y1", &num(y1)),
            ("x2", &num(x2)),
            ("y2", &num(y2)),
            ("stroke", INK),
            ("stroke-width", "3"),
            ("stroke-dasharray", "10 5"),
        ],
    );
    if !label_font.is_empty() {
        let (tx, ty) = dial::point(CX, CY, R_OUTER + 20.0, a);
        let anchor = if !(20.0..=340.0).contains(&a) || (160.0..200.0).contains(&a) {
            "middle"
        } else if a < 180.0 {
            "start"
        } else {
            "end"
        };
        x.text_element(
            "text",
            &[
                ("x", &num(tx)),
                ("y", &num(ty + label_drop)),
                ("text-anchor", anchor),
                ("font-size", label_font),
                ("font-weight", "bold"),
                ("fill", INK),
            ],
            w.today,
        );
    }
    if date_line {
        x.text_element(
            "text",
            &[
                ("x", &num(CX)),
                ("y", &num(CY + 62.0)),
                ("text-anchor", "middle"),
                ("font-size", "15"),
                ("fill", INK),
            ],
            &format!("{}: {}", w.today, lang.long_date(today)),
        );
    }
    x.close().newline();
}

/// Angles for marks wanted at `wanted` (ascending, in degrees) on one
/// ring, at least `gap` apart and inside `gap/2 ..= 360 - gap/2`, so that
/// neither neighbours nor the last days of December and the first of
/// January overlap: pushed forward where they crowd, then back from the
/// year's end. A ring fuller than it can hold keeps the forward spacing.
fn spread(wanted: &[f64], gap: f64) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::with_capacity(wanted.len());
    for &a in wanted {
        let low = out.last().map_or(gap / 2.0, |prev| prev + gap);
        out.push(a.max(low));
    }
    let mut high = 360.0 - gap / 2.0;
    for a in out.iter_mut().rev() {
        if *a <= high {
            break;
        }
        *a = high;
        high -= gap;
    }
    // Pulled back so far that the first crosses the top: keep forward.
    if out.first().is_some_and(|&a| a < gap / 2.0 - 1e-9) {
        let mut a = gap / 2.0;
        for slot in &mut out {
            *slot = a;
            a += gap;
        }
    }
    out
}

fn short_name(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

/// The path of an annular sector between `r0` and `r1`, from `a0` to `a1`.
fn sector(r0: f64, r1: f64, a0: f64, a1: f64) -> String {
    let (x0, y0) = dial::point(CX, CY, r1, a0);
    let (x1, y1) = dial::point(CX, CY, r1, a1);
    let (x2, y2) = dial::point(CX, CY, r0, a1);
    let (x3, y3) = dial::point(CX, CY, r0, a0);
    let large = if a1 - a0 > 180.0 { 1 } else { 0 };
    format!(
        "M{} {} A{} {} 0 {large} 1 {} {} L{} {} A{} {} 0 {large} 0 {} {} Z",
        num(x0),
        num(y0),
        num(r1),
        num(r1),
        num(x1),
        num(y1),
        num(x2),
        num(y2),
        num(r0),
        num(r0),
        num(x3),
        num(y3)
    )
}

/// The shape of a state at `(px, py)`, size `s`.
fn shape(x: &mut Xml, px: f64, py: f64, s: f64, state: MarkState) {
    match state {
        MarkState::Done => {
            x.leaf(
                "circle",
                &[
                    ("cx", &num(px)),
                    ("cy", &num(py)),
                    ("r", &num(s)),
                    ("fill", DONE),
                ],
            );
        }
        MarkState::Overdue => {
            let d = s * 1.3;
            let points = format!(
                "{},{} {},{} {},{} {},{}",
                num(px),
                num(py - d),
                num(px + d),
                num(py),
                num(px),
                num(py + d),
                num(px - d),
                num(py)
            );
            x.leaf("polygon", &[("points", &points), ("fill", OVERDUE)]);
        }
        MarkState::Open => {
            x.leaf(
                "rect",
                &[
                    ("x", &num(px - s)),
                    ("y", &num(py - s)),
                    ("width", &num(2.0 * s)),
                    ("height", &num(2.0 * s)),
                    ("fill", OPEN),
                ],
            );
        }
        MarkState::Upcoming => {
            x.leaf(
                "circle",
                &[
                    ("cx", &num(px)),
                    ("cy", &num(py)),
                    ("r", &num(s - 1.0)),
                    ("fill", "#ffffff"),
                    ("stroke", UPCOMING),
                    ("stroke-width", "2"),
                ],
            );
        }
    }
}

fn state_colour(state: MarkState) -> &'static str {
    match state {
        MarkState::Done => DONE,
        MarkState::Overdue => OVERDUE,
        MarkState::Open => OPEN,
        MarkState::Upcoming => UPCOMING,
    }
}

/// One mark: at angle `a` (its true date's angle is `true_a`) on the ring
/// of radius `r`, size `s`, carrying number `n`. The group names the task
/// and the due date (`data-task`, `data-due`) for tests and tools.
fn draw_mark(x: &mut Xml, m: &Mark, r: f64, (a, true_a): (f64, f64), s: f64, n: usize) {
    let state = m.state;
    let (px, py) = dial::point(CX, CY, r, a);
    let due = m.due.to_string();
    x.open(
        "g",
        &[
            ("class", &format!("mark {}", state.as_str())),
            ("data-task", &m.task),
            ("data-due", &due),
        ],
    );
    if (a - true_a).abs() > 0.01 {
        // Moved along the ring: a thin line back to its true date.
        let (tx, ty) = dial::point(CX, CY, r, true_a);
        line(x, (tx, ty), (px, py), FAINT, "1");
    }
    shape(x, px, py, s, state);
    let text_fill = if state == MarkState::Upcoming {
        INK
    } else {
        "#ffffff"
    };
    let font = if n >= 10 { s * 1.0 } else { s * 1.25 };
    x.text_element(
        "text",
        &[
            ("x", &num(px)),
            ("y", &num(py + font * 0.36)),
            ("text-anchor", "middle"),
            ("font-size", &num(font)),
            ("font-weight", "bold"),
            ("fill", text_fill),
        ],
        &n.to_string(),
    );
    let sign = state_sign(state);
    if !sign.is_empty() {
        let (sx, sy) = dial::point(CX, CY, r + s * 1.9, a);
        x.text_element(
            "text",
            &[
                ("x", &num(sx)),
                ("y", &num(sy + s * 0.5)),
                ("text-anchor", "middle"),
                ("font-size", &num(s * 1.4)),
                ("font-weight", "bold"),
                ("fill", state_colour(state)),
            ],
            sign,
        );
    }
    x.close();
}

fn legend(
    x: &mut Xml,
    wheel: &Wheel,
    w: &Words,
    rings: &[String],
    task_ring: &BTreeMap<&str, usize>,
    tasks_top: f64,
) {
    let lang = wheel.organisation.language;
    let left = 40.0;
    let col = 470.0;
    x.open("g", &[("class", "legend"), ("aria-hidden", "true")]);
    x.text_element(
        "text",
        &[
            ("x", &num(left)),
            ("y", &num(LEGEND_TOP)),
            ("font-size", "22"),
            ("font-weight", "bold"),
            ("fill", INK),
        ],
        w.legend,
    );
    // The states, in one row.
    let y = LEGEND_TOP + LINE * 1.5;
    legend_heading(x, left, y + 6.0, &format!("{}:", w.states));
    let states = [
        MarkState::Done,
        MarkState::Overdue,
        MarkState::Open,
        MarkState::Upcoming,
    ];
    for (i, state) in states.into_iter().enumerate() {
        let sx = left + 110.0 + i as f64 * 200.0;
        shape(x, sx, y, 10.0, state);
        let sign = state_sign(state);
        let label = if sign.is_empty() {
            state_word(lang, state).to_string()
        } else {
            format!("{} {sign}", state_word(lang, state))
        };
        legend_text(x, sx + 18.0, y + 6.0, &label);
    }
    // The rings, two to a line.
    let y = LEGEND_TOP + LINE * 3.0;
    legend_heading(x, left, y, &format!("{}:", w.rings));
    for (i, ring) in rings.iter().enumerate() {
        let rx = left + (i % 2) as f64 * col;
        let ry = y + LINE * (1.0 + (i / 2) as f64);
        legend_text(x, rx, ry, &format!("{} = {}", letter(i), short(ring)));
    }
    // The tasks, numbered, in two columns.
    legend_heading(x, left, tasks_top, &format!("{}:", w.tasks));
    let rows = wheel.tasks.len().div_ceil(2).max(1);
    for (i, task) in wheel.tasks.iter().enumerate() {
        let tx = left + (i / rows) as f64 * col;
        let ty = tasks_top + LINE * (1.0 + (i % rows) as f64);
        let ring = task_ring.get(task.id.as_str()).copied().unwrap_or(0);
        x.text_element(
            "text",
            &[
                ("x", &num(tx)),
                ("y", &num(ty)),
                ("font-size", "15"),
                ("fill", INK),
            ],
            &format!("{}. {} ({})", i + 1, short(&task.title), letter(ring)),
        );
    }
    x.close().newline();
}

/// The desc: the picture in words, for screen readers.
fn describe(
    wheel: &Wheel,
    year: i32,
    marks: &[&Mark],
    rings: &[String],
    task_ring: &BTreeMap<&str, usize>,
    number: &BTreeMap<&str, usize>,
    today: NaiveDate,
) -> String {
    let lang = wheel.organisation.language;
    let w = words(lang);
    let mut out = format!("{} {year}, {}.", w.title, wheel.organisation.name);
    if today.year() == year {
        out.push_str(&format!(" {}: {}.", w.today, lang.long_date(today)));
    }
    for task in &wheel.tasks {
        let n = number.get(task.id.as_str()).copied().unwrap_or(0);
        let ring = task_ring
            .get(task.id.as_str())
            .and_then(|&i| rings.get(i))
            .map_or("", String::as_str);
        let dates: Vec<String> = marks
            .iter()
            .filter(|m| m.task == task.id)
            .map(|m| format!("{} {}", lang.long_date(m.due), state_word(lang, m.state)))
            .collect();
        let dates = if dates.is_empty() {
            w.none.to_string()
        } else {
            dates.join("; ")
        };
        out.push_str(&format!(
            "\n{n}. {} ({} {ring}): {dates}.",
            task.title, w.ring
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crowded_marks_are_spread_and_never_cross_the_top() {
        let gap = 4.0;
        // Apart already: unchanged.
        assert_eq!(spread(&[10.0, 20.0], gap), vec![10.0, 20.0]);
        // Three on one day: pushed forward, 4° apart.
        assert_eq!(
            spread(&[100.0, 100.0, 100.0], gap),
            vec![100.0, 104.0, 108.0]
        );
        // 1 January is kept off the top line.
        assert_eq!(spread(&[0.5], gap), vec![2.0]);
        // 31 December, crowded: pulled back from the end, not wrapped
        // onto 1 January.
        let placed = spread(&[359.0, 359.0, 359.0], gap);
        assert_eq!(placed, vec![350.0, 354.0, 358.0]);
        let with_january = spread(&[0.5, 359.0, 359.0], gap);
        assert_eq!(with_january, vec![2.0, 354.0, 358.0]);
    }

    #[test]
    fn a_legend_title_is_isolated_so_a_right_to_left_one_keeps_its_ellipsis_at_its_end() {
        let arabic = "مراجعة سياسة أمن المعلومات السنوية ".repeat(3);
        let cut = short(&arabic);
        // FSI … PDI: the `…` stays inside the title's own (right-to-left)
        // run, not beside the ring letter that follows it.
        assert!(cut.starts_with('\u{2068}'), "{cut:?}");
        assert!(cut.ends_with("…\u{2069}"), "{cut:?}");
        assert_eq!(cut.chars().count(), LEGEND_TITLE_CHARS + 2);
        assert_eq!(short("Kort"), "\u{2068}Kort\u{2069}");
    }

    #[test]
    fn month_names_lie_along_their_band_and_never_upside_down() {
        // January, at the top: as it is; March, at three o'clock: along
        // the rim, read top to bottom; July, at the bottom: level again,
        // not upside down; October, at nine o'clock: read bottom to top.
        assert_eq!(label_turn(15.0, 1.0, 2.0), "rotate(15 1 2)");
        assert_eq!(label_turn(75.0, 1.0, 2.0), "rotate(75 1 2)");
        assert_eq!(label_turn(195.0, 1.0, 2.0), "rotate(15 1 2)");
        assert_eq!(label_turn(285.0, 1.0, 2.0), "rotate(285 1 2)");
    }

    #[test]
    fn rings_are_lettered_like_spreadsheet_columns() {
        assert_eq!(letter(0), "A");
        assert_eq!(letter(25), "Z");
        assert_eq!(letter(26), "AA");
        assert_eq!(letter(27), "AB");
    }

    #[test]
    fn numbers_are_short_and_exact() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.26), "1.3");
        assert_eq!(num(-0.04), "0");
    }
}
