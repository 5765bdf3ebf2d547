//! The årshjul of a large wheel (more than [`super::AGGREGATE_TASKS`]
//! tasks, or a ring with more marks than fit around it): one mark per ring
//! and month instead of one per occurrence, at most [`MAX_RINGS`] rings,
//! and every text at least [`TEXT`] user units high, which is 9.5 CSS px
//! when the 1000-unit-wide picture is shown 316 px wide (the overview's
//! column on a 390 px phone).
//!
//! - Rings: the [`MAX_RINGS`] biggest (by tasks); when there are more,
//!   the biggest `MAX_RINGS - 1` and an "Øvrige"/"Other" ring with the
//!   rest; the biggest outside, where the circle is longest.
//! - A mark per ring and month with occurrences due: the number due, and
//!   the most pressing state among them (overdue, then open, then
//!   upcoming, then done) by colour, by shape and by its sign, as the
//!   small picture's marks. A month, not a week: at 390 px a week of the
//!   innermost ring is 6 px of arc, too little for a readable number, and
//!   a month never straddles two years as ISO week 2026-W53 does.
//! - The legend keeps the states, the rings (with their tasks' count) and
//!   today's date; the tasks one by one are in the overview's status table
//!   and `arshjul status` (listed in the legend only while there are at
//!   most [`super::AGGREGATE_TASKS`] of them, as in the small picture).
//! - The desc gives each ring's months with their counts by state.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::xml::Xml;
use super::{
    band, dial_face, empty_year, hub_year, letter, num, open_svg, ring_guides, ring_radius, shape,
    short, short_name, state_sign, state_word, today_hand, AGGREGATE_TASKS, CX, CY, INK,
    LEGEND_TOP,
};
use crate::dial;
use crate::planner::{Mark, MarkState};
use crate::wheel::{Language, Wheel};

/// The most rings drawn; the rest share the innermost.
pub const MAX_RINGS: usize = 5;
/// The smallest text, in user units: 9.5 CSS px where the picture is
/// 316 px wide (the overview's column on a 390 px phone).
pub const TEXT: f64 = 30.0;
/// A legend line's height.
const LINE: f64 = 42.0;
/// The size of a mark's shape.
const MARK: f64 = 12.0;
/// Room kept clear on each side of the top line for the ring letters.
const LETTER_ROOM: f64 = 14.0;

/// The words only this picture needs.
struct Words {
    legend: &'static str,
    states: &'static str,
    explain: [&'static str; 3],
    rings: &'static str,
    other: &'static str,
    one_task: &'static str,
    tasks: &'static str,
    smaller_rings: &'static str,
    rings_word: &'static str,
    ring: &'static str,
    one_by_one: [&'static str; 2],
    list: &'static str,
    summary: &'static str,
    none: &'static str,
}

fn words(language: Language) -> Words {
    match language {
        Language::Da => Words {
            legend: "Tegnforklaring",
            states: "Status",
            explain: [
                "Et mærke samler en rings frister i en måned.",
                "Tallet er antallet; form og farve viser",
                "den mest presserende status blandt dem.",
            ],
            rings: "Ringe (udefra og ind)",
            other: "Øvrige",
            one_task: "opgave",
            tasks: "opgaver",
            smaller_rings: "mindre ringe",
            rings_word: "ringe",
            ring: "Ring",
            one_by_one: [
                "Hver opgave for sig: se statustabellen",
                "på oversigtssiden eller »arshjul status«.",
            ],
            list: "Opgaver",
            summary: "hvert mærke samler en rings frister i en måned",
            none: "ingen frister i året",
        },
        Language::En => Words {
            legend: "Legend",
            states: "State",
            explain: [
                "A mark gathers one ring's due dates in a month.",
                "The number is how many; shape and colour",
                "show the most pressing state among them.",
            ],
            rings: "Rings (outside in)",
            other: "Other",
            one_task: "task",
            tasks: "tasks",
            smaller_rings: "smaller rings",
            rings_word: "rings",
            ring: "Ring",
            one_by_one: [
                "Each task on its own: see the overview's",
                "status table or “arshjul status”.",
            ],
            list: "Tasks",
            summary: "each mark gathers one ring's due dates in a month",
            none: "nothing due in the year",
        },
    }
}

/// How pressing a state is: the mark of a month shows the most pressing.
fn urgency(state: MarkState) -> u8 {
    match state {
        MarkState::Overdue => 3,
        MarkState::Open => 2,
        MarkState::Upcoming => 1,
        MarkState::Done => 0,
    }
}

/// One drawn ring: its name, how many tasks it has and, for "Other", how
/// many rings it gathers.
struct Ring {
    name: String,
    tasks: usize,
    gathers: usize,
}

/// The drawn rings and each original ring's place among them: the
/// biggest, the rest in "Other" when there are more than [`MAX_RINGS`],
/// ordered by size (biggest outside; equal sizes keep the wheel's order).
fn choose(
    rings: &[String],
    task_ring: &BTreeMap<&str, usize>,
    other: &str,
) -> (Vec<Ring>, Vec<usize>) {
    let mut size = vec![0usize; rings.len()];
    for &r in task_ring.values() {
        size[r] += 1;
    }
    let mut order: Vec<usize> = (0..rings.len()).collect();
    // Stable: equal sizes keep the wheel's order.
    order.sort_by(|a, b| size[*b].cmp(&size[*a]));
    let kept = if rings.len() > MAX_RINGS {
        MAX_RINGS - 1
    } else {
        rings.len()
    };
    let mut drawn: Vec<Ring> = order[..kept]
        .iter()
        .map(|&i| Ring {
            name: rings[i].clone(),
            tasks: size[i],
            gathers: 1,
        })
        .collect();
    let mut place = vec![kept; rings.len()];
    for (p, &i) in order[..kept].iter().enumerate() {
        place[i] = p;
    }
    if kept < rings.len() {
        drawn.push(Ring {
            name: other.to_string(),
            tasks: order[kept..].iter().map(|&i| size[i]).sum(),
            gathers: rings.len() - kept,
        });
    }
    // "Other" too takes its place by size: the biggest ring outside,
    // where the circle is longest and numbers have room.
    let mut by_size: Vec<usize> = (0..drawn.len()).collect();
    by_size.sort_by(|a, b| drawn[*b].tasks.cmp(&drawn[*a].tasks));
    let mut moved = vec![0; drawn.len()];
    for (new, &old) in by_size.iter().enumerate() {
        moved[old] = new;
    }
    let place = place.into_iter().map(|p| moved[p]).collect();
    let mut slots: Vec<Option<Ring>> = drawn.into_iter().map(Some).collect();
    let drawn = by_size.iter().filter_map(|&i| slots[i].take()).collect();
    (drawn, place)
}

/// A month's mark on one ring: how many are due, by state.
#[derive(Default, Clone)]
struct Cell {
    by_state: BTreeMap<MarkState, usize>,
}

impl Cell {
    fn count(&self) -> usize {
        self.by_state.values().sum()
    }

    fn worst(&self) -> MarkState {
        self.by_state
            .keys()
            .copied()
            .max_by_key(|s| urgency(*s))
            .unwrap_or(MarkState::Upcoming)
    }
}

fn tasks_word(w: &Words, n: usize) -> &'static str {
    if n == 1 {
        w.one_task
    } else {
        w.tasks
    }
}

/// The aggregated picture (see the module's text); `rings` and
/// `task_ring` as the small picture finds them.
pub(super) fn svg_element(
    wheel: &Wheel,
    year: i32,
    marks: &[Mark],
    today: NaiveDate,
    rings: &[String],
    task_ring: &BTreeMap<&str, usize>,
) -> String {
    let lang = wheel.organisation.language;
    let big = super::words(lang);
    let w = words(lang);
    let (drawn, place) = choose(rings, task_ring, w.other);

    // cells[ring][month - 1]
    let mut cells = vec![vec![Cell::default(); 12]; drawn.len()];
    for m in marks {
        let (Some(month), Some(&ring)) = (
            dial::month_cell(year, m.due),
            task_ring.get(m.task.as_str()),
        ) else {
            continue;
        };
        *cells[place[ring]][month as usize - 1]
            .by_state
            .entry(m.state)
            .or_default() += 1;
    }

    let list = wheel.tasks.len() <= AGGREGATE_TASKS;
    let list_rows = if list {
        wheel.tasks.len().div_ceil(2) + 1
    } else {
        0
    };
    // Heading, two rows of states, two lines of explanation, the rings'
    // heading and lines, today, the note; then the task list if any.
    let lines = 1 + 2 + 3 + 1 + drawn.len() + 1 + 2;
    let list_top = LEGEND_TOP + (lines as f64 + 0.5) * LINE;
    let height = (list_top + list_rows as f64 * 26.0 + 30.0).max(1414.0);

    let title = format!("{} {year} — {}", big.title, wheel.organisation.name);
    let desc = describe(wheel, year, today, &drawn, &cells, &w);

    let mut x = open_svg(height, lang, (&title, &desc), Some("aggregated"));

    dial_face(&mut x, year, lang, &num(TEXT));

    let band = band(drawn.len());
    let ring_radius = |i: usize| ring_radius(band, i);
    ring_guides(&mut x, drawn.len(), ring_radius, ("", 0.0));

    // Hub: the year alone (the organisation is in the title, today's date
    // in the legend).
    hub_year(&mut x, year, 15.0);
    x.newline();

    if today.year() == year {
        // Unlabelled: a label in large type at the hand's end would leave
        // the picture at three o'clock; the legend explains the hand.
        today_hand(&mut x, today, lang, &big, ("", 0.0), false);
    }

    x.open("g", &[("class", "marks"), ("aria-hidden", "true")]);
    for (ring, months) in cells.iter().enumerate() {
        for (i, cell) in months.iter().enumerate() {
            if cell.count() == 0 {
                continue;
            }
            let month = i as u32 + 1;
            let a = dial::month_middle(year, month);
            draw_cell(
                &mut x,
                ring_radius(ring),
                a,
                cell,
                &letter(ring),
                year,
                month,
            );
        }
    }
    x.close().newline();
    if cells.iter().flatten().all(|cell| cell.count() == 0) {
        empty_year(&mut x, year, lang, &num(TEXT));
    }
    // The ring letters on the top line, over the marks, with a white halo.
    x.open("g", &[("aria-hidden", "true")]);
    for i in 0..drawn.len() {
        x.text_element(
            "text",
            &[
                ("x", &num(CX)),
                ("y", &num(CY - ring_radius(i) + 9.0)),
                ("text-anchor", "middle"),
                ("font-size", &num(TEXT)),
                ("font-weight", "bold"),
                ("fill", INK),
                ("stroke", "#ffffff"),
                ("stroke-width", "6"),
                ("paint-order", "stroke"),
            ],
            &letter(i),
        );
    }
    x.close().newline();

    legend(&mut x, wheel, today, year, &drawn, &w, list_top, list);
    x.finish()
}

/// One month's mark on the ring of radius `r` at angle `a`: the state's
/// shape with its sign, then the number, one after the other along the
/// ring (clockwise) and centred together on the month's middle, so that
/// neighbouring rings never meet, at three o'clock as at twelve. The
/// group names ring, month and count (`data-ring`, `data-month`,
/// `data-count`) for tests and tools.
fn draw_cell(x: &mut Xml, r: f64, a: f64, cell: &Cell, ring: &str, year: i32, month: u32) {
    let state = cell.worst();
    let count = cell.count().to_string();
    // The number's box, and how long it is along the ring here.
    let text_w = count.chars().count() as f64 * 0.62 * TEXT;
    let text_h = 0.75 * TEXT;
    let rad = a.to_radians();
    let along = text_w * rad.cos().abs() + text_h * rad.sin().abs();
    let length = 2.0 * MARK + 6.0 + along;
    // Inside its month where it fits, and clear of the ring letters on
    // the top line.
    let deg = |units: f64| (units / r).to_degrees();
    let lo = dial::month_start(year, month) + deg(if month == 1 { LETTER_ROOM } else { 3.0 });
    let hi = if month == 12 {
        360.0 - deg(LETTER_ROOM)
    } else {
        dial::month_start(year, month + 1) - deg(3.0)
    };
    let half = deg(length / 2.0);
    let a = if hi - lo >= 2.0 * half {
        a.clamp(lo + half, hi - half)
    } else {
        (lo + hi) / 2.0
    };
    let shape_at = a + deg(MARK - length / 2.0);
    let text_at = a + deg(length / 2.0 - along / 2.0);
    let (sx, sy) = dial::point(CX, CY, r, shape_at);
    let (tx, ty) = dial::point(CX, CY, r, text_at);
    x.open(
        "g",
        &[
            ("class", &format!("cell {}", state.as_str())),
            ("data-ring", ring),
            ("data-month", &format!("{year}-{month:02}")),
            ("data-count", &count),
        ],
    );
    shape(x, sx, sy, MARK, state);
    sign_mark(x, sx, sy, state);
    x.text_element(
        "text",
        &[
            ("x", &num(tx)),
            ("y", &num(ty + TEXT * 0.36)),
            ("text-anchor", "middle"),
            ("font-size", &num(TEXT)),
            ("font-weight", "bold"),
            ("fill", INK),
        ],
        &count,
    );
    x.close();
}

/// The state's sign inside a mark's shape, drawn (not text, so that it
/// may be smaller than [`TEXT`]): a tick in a done disc, an exclamation
/// mark in an overdue diamond.
fn sign_mark(x: &mut Xml, px: f64, py: f64, state: MarkState) {
    let d = match state {
        MarkState::Done => format!(
            "M{} {} L{} {} L{} {}",
            num(px - 6.0),
            num(py),
            num(px - 1.5),
            num(py + 5.0),
            num(px + 6.5),
            num(py - 5.5)
        ),
        MarkState::Overdue => format!(
            "M{} {} L{} {} M{} {} L{} {}",
            num(px),
            num(py - 8.0),
            num(px),
            num(py + 2.5),
            num(px),
            num(py + 6.0),
            num(px),
            num(py + 8.0)
        ),
        MarkState::Open | MarkState::Upcoming => return,
    };
    x.leaf(
        "path",
        &[
            ("d", &d),
            ("fill", "none"),
            ("stroke", "#ffffff"),
            ("stroke-width", "3"),
        ],
    );
}

fn text(x: &mut Xml, px: f64, py: f64, size: f64, bold: bool, content: &str) {
    let size = num(size);
    let mut attrs = vec![
        ("x", num(px)),
        ("y", num(py)),
        ("font-size", size),
        ("fill", INK.to_string()),
    ];
    if bold {
        attrs.push(("font-weight", "bold".to_string()));
    }
    let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    x.text_element("text", &attrs, content);
}

#[allow(clippy::too_many_arguments)]
fn legend(
    x: &mut Xml,
    wheel: &Wheel,
    today: NaiveDate,
    year: i32,
    drawn: &[Ring],
    w: &Words,
    list_top: f64,
    list: bool,
) {
    let lang = wheel.organisation.language;
    let big = super::words(lang);
    let left = 40.0;
    let mut y = LEGEND_TOP;
    x.open("g", &[("class", "legend"), ("aria-hidden", "true")]);
    text(x, left, y, 34.0, true, w.legend);
    // The states, two to a row.
    let states = [
        MarkState::Overdue,
        MarkState::Open,
        MarkState::Upcoming,
        MarkState::Done,
    ];
    y += LINE;
    text(x, left, y, TEXT, true, &format!("{}:", w.states));
    for (i, state) in states.into_iter().enumerate() {
        let sx = left + 150.0 + (i % 2) as f64 * 380.0;
        let sy = y + (i / 2) as f64 * LINE;
        shape(x, sx, sy - 10.0, 13.0, state);
        let sign = state_sign(state);
        let label = if sign.is_empty() {
            state_word(lang, state).to_string()
        } else {
            format!("{} {sign}", state_word(lang, state))
        };
        text(x, sx + 24.0, sy, TEXT, false, &label);
    }
    y += LINE;
    for line in w.explain {
        y += LINE;
        text(x, left, y, TEXT, false, line);
    }
    y += LINE;
    text(x, left, y, TEXT, true, &format!("{}:", w.rings));
    for (i, ring) in drawn.iter().enumerate() {
        y += LINE;
        let count = format!("{} {}", ring.tasks, tasks_word(w, ring.tasks));
        let line = if ring.gathers > 1 {
            format!(
                "{} = {} ({} {}, {count})",
                letter(i),
                ring.name,
                ring.gathers,
                w.smaller_rings
            )
        } else {
            format!(
                "{} = {} ({count})",
                letter(i),
                short(&short_name(&ring.name, 30))
            )
        };
        text(x, left, y, TEXT, false, &line);
    }
    if today.year() == year {
        y += LINE;
        x.leaf(
            "line",
            &[
                ("x1", &num(left)),
                ("y1", &num(y - 10.0)),
                ("x2", &num(left + 60.0)),
                ("y2", &num(y - 10.0)),
                ("stroke", INK),
                ("stroke-width", "3"),
                ("stroke-dasharray", "10 5"),
            ],
        );
        text(
            x,
            left + 75.0,
            y,
            TEXT,
            false,
            &format!("{}: {}", big.today, lang.long_date(today)),
        );
    }
    for line in w.one_by_one {
        y += LINE;
        text(x, left, y, TEXT, false, line);
    }
    if list {
        // Few tasks (the marks were too many to draw one by one): listed
        // with their ring, as the small picture's legend lists them.
        let (_, task_ring) = super::rings_of(wheel);
        let (_, place) = choose(&super::rings_of(wheel).0, &task_ring, w.other);
        text(x, left, list_top, 16.0, true, &format!("{}:", w.list));
        let rows = wheel.tasks.len().div_ceil(2).max(1);
        for (i, task) in wheel.tasks.iter().enumerate() {
            let ring = task_ring.get(task.id.as_str()).map_or(0, |&r| place[r]);
            x.text_element(
                "text",
                &[
                    ("x", &num(left + (i / rows) as f64 * 470.0)),
                    ("y", &num(list_top + 26.0 * (1.0 + (i % rows) as f64))),
                    ("font-size", "15"),
                    ("fill", INK),
                ],
                &format!("{} ({})", short(&task.title), letter(ring)),
            );
        }
    }
    x.close().newline();
}

/// The desc: each ring's months with their counts by state.
fn describe(
    wheel: &Wheel,
    year: i32,
    today: NaiveDate,
    drawn: &[Ring],
    cells: &[Vec<Cell>],
    w: &Words,
) -> String {
    let lang = wheel.organisation.language;
    let big = super::words(lang);
    let mut out = format!("{} {year}, {}.", big.title, wheel.organisation.name);
    if today.year() == year {
        out.push_str(&format!(" {}: {}.", big.today, lang.long_date(today)));
    }
    let n = wheel.tasks.len();
    out.push_str(&format!(
        " {n} {}, {} {}; {}.",
        tasks_word(w, n),
        drawn.len(),
        w.rings_word,
        w.summary
    ));
    for (i, (ring, months)) in drawn.iter().zip(cells).enumerate() {
        let parts: Vec<String> = months
            .iter()
            .enumerate()
            .filter(|(_, c)| c.count() > 0)
            .map(|(m, c)| {
                let states: Vec<String> = c
                    .by_state
                    .iter()
                    .rev()
                    .map(|(s, k)| format!("{k} {}", state_word(lang, *s)))
                    .collect();
                format!(
                    "{} {} ({})",
                    lang.month_name(m as u32 + 1),
                    c.count(),
                    states.join(", ")
                )
            })
            .collect();
        let parts = if parts.is_empty() {
            w.none.to_string()
        } else {
            parts.join("; ")
        };
        out.push_str(&format!(
            "\n{} {}, {} ({} {}): {parts}.",
            w.ring,
            letter(i),
            ring.name,
            ring.tasks,
            tasks_word(w, ring.tasks)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("r{i}")).collect()
    }

    #[test]
    fn the_biggest_rings_are_kept_outside_and_the_rest_gathered_inside() {
        let rings = names(8);
        // Ring r0 has 1 task, r1 2, … r7 8.
        let ids: Vec<String> = (0..8)
            .flat_map(|r| (0..=r).map(move |k| format!("t{r}-{k}")))
            .collect();
        let mut task_ring = BTreeMap::new();
        for id in &ids {
            let r: usize = id[1..id.find('-').unwrap()].parse().unwrap();
            task_ring.insert(id.as_str(), r);
        }
        let (drawn, place) = choose(&rings, &task_ring, "Øvrige");
        let shown: Vec<(&str, usize, usize)> = drawn
            .iter()
            .map(|r| (r.name.as_str(), r.tasks, r.gathers))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("Øvrige", 1 + 2 + 3 + 4, 4),
                ("r7", 8, 1),
                ("r6", 7, 1),
                ("r5", 6, 1),
                ("r4", 5, 1),
            ]
        );
        assert_eq!(place, vec![0, 0, 0, 0, 4, 3, 2, 1]);
        // Five or fewer: all kept, biggest first, nothing gathered.
        let (drawn, _) = choose(
            &names(2),
            &BTreeMap::from([("a", 1), ("b", 1), ("c", 0)]),
            "x",
        );
        assert_eq!(drawn.len(), 2);
        assert_eq!(drawn[0].name, "r1");
        assert!(drawn.iter().all(|r| r.gathers == 1));
    }

    #[test]
    fn a_month_shows_its_count_and_its_most_pressing_state() {
        let mut c = Cell::default();
        c.by_state.insert(MarkState::Done, 9);
        assert_eq!((c.count(), c.worst()), (9, MarkState::Done));
        c.by_state.insert(MarkState::Upcoming, 2);
        assert_eq!(c.worst(), MarkState::Upcoming);
        c.by_state.insert(MarkState::Open, 1);
        assert_eq!(c.worst(), MarkState::Open);
        c.by_state.insert(MarkState::Overdue, 1);
        assert_eq!((c.count(), c.worst()), (13, MarkState::Overdue));
    }
}
