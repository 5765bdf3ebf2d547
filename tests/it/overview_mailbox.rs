//! A person's viewer links are bound to their mailbox: a key removed from
//! the wheel and given to someone else (a new address) does not reopen the
//! old holder's overview link or calendar feed; the same address given
//! back reopens them; a token naming another mailbox is refused. Real HTTP
//! to the real router, links printed by the real binary.

use chrono::{DateTime, Utc};

use arshjul::link::{self, MailboxTag, Secret, Viewer, ViewerClaims, ViewerKind};

use crate::support::{router, Scratch};

const SHIPPED: &str = include_str!("../../schedule.toml");
const OLD: &str = "email = \"digitaliseringschef@ballerup.example\"";
const NEW: &str = "email = \"ny.digitaliseringschef@ballerup.example\"";

/// The digitalisation chief's overview and calendar links, printed.
fn links(s: &Scratch) -> (String, String) {
    let overview = s
        .run(&["link", "overview", "--for", "digitaliseringschef"])
        .expect(0)
        .stdout();
    let calendar = s
        .run(&["link", "calendar", "--for", "digitaliseringschef"])
        .expect(0)
        .stdout();
    (router::path_of(&overview), router::path_of(&calendar))
}

fn status(s: &Scratch, rt: &tokio::runtime::Runtime, path: &str) -> u16 {
    let now: DateTime<Utc> = "2027-05-10T10:00:00Z".parse().unwrap();
    let served = router::serve(rt, s.path(), now);
    served.get(path).status
}

#[test]
fn a_key_given_to_a_new_mailbox_does_not_reopen_the_old_links_and_the_old_mailbox_does() {
    assert!(SHIPPED.contains(OLD), "the shipped wheel changed");
    let s = Scratch::new(SHIPPED);
    s.run(&["--now", "2027-03-05", "tick"]).expect(0);
    let rt = router::runtime();
    let (old_overview, old_calendar) = links(&s);
    assert_eq!(status(&s, &rt, &old_overview), 200);
    assert_eq!(status(&s, &rt, &old_calendar), 200);

    // The chief leaves: the key is taken out of the wheel…
    let removed = SHIPPED.replace(
        "[people.digitaliseringschef]",
        "[people.digitaliseringschef-fratraadt]",
    );
    let removed = removed.replace(
        "\"digitaliseringschef\"",
        "\"digitaliseringschef-fratraadt\"",
    );
    std::fs::write(s.file("schedule.toml"), &removed).unwrap();
    assert_eq!(status(&s, &rt, &old_overview), 404);
    assert_eq!(status(&s, &rt, &old_calendar), 404);

    // …and later given to the successor, with their own mailbox: the old
    // holder's links stay closed; the successor's new links work.
    std::fs::write(s.file("schedule.toml"), SHIPPED.replace(OLD, NEW)).unwrap();
    assert_eq!(status(&s, &rt, &old_overview), 404);
    assert_eq!(status(&s, &rt, &old_calendar), 404);
    let (new_overview, new_calendar) = links(&s);
    assert_ne!(new_overview, old_overview);
    assert_ne!(new_calendar, old_calendar);
    assert_eq!(status(&s, &rt, &new_overview), 200);
    assert_eq!(status(&s, &rt, &new_calendar), 200);

    // The same mailbox given back (written with other capitals): it is the
    // same person again, and their old links work again; the successor's
    // do not.
    let back = SHIPPED.replace(OLD, "email = \"Digitaliseringschef@Ballerup.EXAMPLE\"");
    std::fs::write(s.file("schedule.toml"), back).unwrap();
    assert_eq!(status(&s, &rt, &old_overview), 200);
    assert_eq!(status(&s, &rt, &old_calendar), 200);
    assert_eq!(status(&s, &rt, &new_overview), 404);
    assert_eq!(status(&s, &rt, &new_calendar), 404);
}

#[test]
fn a_token_bound_to_another_mailbox_is_refused() {
    let s = Scratch::new(SHIPPED);
    s.run(&["--now", "2027-03-05", "tick"]).expect(0);
    let rt = router::runtime();
    let (overview, calendar) = links(&s);
    let secret = Secret::load_or_create(&s.file("arshjul.secret")).unwrap();
    for (kind, genuine) in [
        (ViewerKind::Overview, &overview),
        (ViewerKind::Calendar, &calendar),
    ] {
        assert_eq!(status(&s, &rt, genuine), 200);
        // Signed with the right secret, for the right key and version, but
        // bound to another mailbox.
        let claims = ViewerClaims {
            kind,
            viewer: Viewer::Person("digitaliseringschef".into()),
            mailbox: Some(MailboxTag::of("someone.else@ballerup.example")),
            version: 0,
        };
        let other = link::viewer_url("http://x", &secret, &claims);
        assert_eq!(status(&s, &rt, &router::path_of(&other)), 404, "{kind:?}");
        // The same claims with the wheel's mailbox: the genuine token.
        let right = ViewerClaims {
            mailbox: Some(MailboxTag::of("digitaliseringschef@ballerup.example")),
            ..claims
        };
        assert_eq!(
            router::path_of(&link::viewer_url("http://x", &secret, &right)),
            *genuine
        );
    }
}
