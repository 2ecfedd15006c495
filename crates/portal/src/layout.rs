//! The page shell and the small pieces every view uses: verified-at line, error panel,
//! dates, ids with copy buttons, forms with the session's `csrf` value.
//!
//! HTML is built with `maud`, which escapes every interpolated value: chain data (organisation
//! names, identities, purposes) is attacker-chosen text and must never become markup.

use crate::{error::PortalError, reader::Seen, reader::Who};
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{DOCTYPE, Markup, html};
use medchain_client::FinalizedHeader;
use std::time::SystemTime;

/// A page's content: its title and body.
pub(crate) struct View {
    pub title: String,
    pub body: Markup,
}

impl View {
    pub(crate) fn new(title: impl Into<String>, body: Markup) -> Self {
        Self {
            title: title.into(),
            body,
        }
    }
}

/// A verified page: navigation for the key's roles, the body, and the heights its data was
/// verified at (`main[data-verified-height]`, `#verified-at`).
pub(crate) fn verified_page(who: &Who, seen: &Seen, outcome: Option<Markup>, view: View) -> Markup {
    let height = seen.range().map(|(_, high)| high.header.height);
    shell(
        Some(who),
        &view.title,
        html! {
            main data-verified-height=[height] {
                h1 { (view.title) }
                @if let Some(warning) = seen.range().and_then(|(_, newest)| staleness(newest, now_ms())) { (warning) }
                @if let Some(cut) = seen.cut() {
                    div id="partial-list" class="panel warning" role="status" data-shown=(cut.shown) data-total=(cut.total) {
                        "A list on this page holds " (cut.total) " entries; only the newest " (cut.shown)
                        " are shown, each verified."
                    }
                }
                @if let Some(outcome) = outcome { (outcome) }
                (view.body)
                (verified_at(seen))
            }
        },
    )
}

/// How far behind this machine's clock a page's newest block may be before the page says so.
/// Validators propose a block every few seconds even with nothing to carry, so a newest block
/// this old means the node is behind, the chain has stopped, or the node answers from an old
/// state on purpose (it cannot forge a newer one, but it can withhold it).
const STALE_AFTER_MS: u64 = 5 * 60 * 1_000;

/// A warning when `newest`, the newest block a page's data was verified at, is long past.
fn staleness(newest: &FinalizedHeader, now_ms: u64) -> Option<Markup> {
    let behind = now_ms.checked_sub(newest.header.timestamp_ms)?;
    (behind > STALE_AFTER_MS).then(|| {
        html! {
            div id="stale-answer" class="panel warning" role="status" data-behind-ms=(behind) {
                strong { "These values may be out of date. " }
                "They are verified as of block " (newest.header.height) ", finalized "
                (time(newest.header.timestamp_ms)) ", about " (behind / 60_000) " minutes ago: "
                "anything done on the chain since is not shown (a consent revoked since may show as active). "
                "The node may be behind or stopped, or withholding newer blocks; try another node with "
                code { "--node URL" } "."
            }
        }
    })
}

/// A page that failed: the reason, and nothing read for it.
pub(crate) fn error_page(who: Option<&Who>, title: &str, error: &PortalError) -> Markup {
    shell(
        who,
        title,
        html! {
            main {
                h1 { (title) }
                (error_panel(error))
            }
        },
    )
}

/// The error panel: `#verification-error` for an answer that failed verification (the tests
/// and the user rely on telling it apart), `#error` otherwise.
pub(crate) fn error_panel(error: &PortalError) -> Markup {
    let id = match error {
        PortalError::Verification(_) => "verification-error",
        _ => "error",
    };
    html! {
        div id=(id) class="panel error" role="alert" {
            h2 { (error.heading()) }
            p { (said(error)) }
            @if let PortalError::Verification(_) = error {
                p { "The node (or something between it and this portal) sent an answer that does not match what the validators finalized. Nothing from it is shown. Try another node with " code { "--node URL" } "." }
            }
        }
    }
}

/// The most characters of an error's text a page shows. A refusal can carry the node's own
/// message, which a hostile node may make as long as its answers may be.
const MAX_SAID_CHARS: usize = 1_000;

/// What an error says, cut to [`MAX_SAID_CHARS`].
pub(crate) fn said(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    match text.char_indices().nth(MAX_SAID_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The outcome of an action, shown above the page it returned to.
pub(crate) fn outcome(ok: bool, message: Markup) -> Markup {
    html! {
        div id="action-result" class={ "panel " (if ok { "ok" } else { "error" }) }
            data-outcome=(if ok { "ok" } else { "failed" }) role="status" {
            (message)
        }
    }
}

fn verified_at(seen: &Seen) -> Markup {
    html! {
        footer {
            @match seen.range() {
                Some((low, high)) if low.header.height == high.header.height => {
                    p id="verified-at" {
                        "Verified at finalized height " strong { (high.header.height) }
                        " (block " (short(&hex::encode(high.digest))) ", " (time(high.header.timestamp_ms)) ", "
                        (finality(high)) ")."
                    }
                }
                Some((low, high)) => {
                    p id="verified-at" {
                        "Verified at finalized heights " strong { (low.header.height) "–" (high.header.height) }
                        " (newest: block " (short(&hex::encode(high.digest))) ", " (time(high.header.timestamp_ms)) ", "
                        (finality(high)) ")."
                    }
                }
                None => p id="verified-at" { "Nothing on this page comes from the chain." }
            }
        }
    }
}

fn finality(at: &FinalizedHeader) -> String {
    match at.finality {
        medchain_client::Finality::Genesis => "block 0, recomputed from the genesis".into(),
        medchain_client::Finality::Certificate {
            signers,
            validators,
        } => format!("signed by {signers} of {validators} validators"),
    }
}

pub(crate) fn shell(who: Option<&Who>, title: &str, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · medchain" }
                link rel="stylesheet" href="/assets/portal.css";
                script src="/assets/portal.js" defer {}
            }
            body {
                a class="skip" href="#content" { "Skip to content" }
                header {
                    a class="brand" href="/" { "medchain" }
                    @if let Some(who) = who { (nav(who)) }
                }
                div id="content" { (main) }
            }
        }
    }
}

fn nav(who: &Who) -> Markup {
    html! {
        nav aria-label="Main" {
            ul {
                @if who.is_patient() {
                    li { a href="/patient/records" { "My records" } }
                    li { a href="/patient/consents" { "My consents" } }
                    li { a href="/patient/history" { "Access history" } }
                    li { a href="/patient/notifications" { "Notifications" } }
                }
                @if who.is_clinician() {
                    li { a href="/clinician" { "My licence" } }
                    li { a href="/clinician/shared" { "Shared with me" } }
                    li { a href="/clinician/emergency" { "Emergency access" } }
                }
                @if who.regulator {
                    li { a href="/regulator/orgs" { "Organisations" } }
                    li { a href="/regulator/licences" { "Licences" } }
                    li { a href="/regulator/break-glass" { "Break-glass" } }
                }
                li { a href="/explorer" { "Explorer" } }
            }
            form class="search" action="/explorer/search" method="get" role="search" {
                label for="q" class="visually-hidden" { "Search by id, unique prefix, height, address or organisation" }
                input id="q" name="q" type="search" placeholder="id, prefix, height, address, organisation";
                button type="submit" { "Search" }
            }
            p class="whoami" {
                @if let Some(label) = who.label() { (label) " · " }
                (short(&who.address.to_string()))
            }
        }
    }
}

/// A timestamp: UTC on the server, rewritten to the reader's locale by `portal.js`.
pub(crate) fn time(ms: u64) -> Markup {
    // A deadline set as "never" (u64::MAX) is past any calendar date: say so, not 1970.
    let Some(at) = i64::try_from(ms)
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
    else {
        return html! { span class="never" { "never (beyond the calendar)" } };
    };
    html! {
        time datetime=(at.to_rfc3339_opts(SecondsFormat::Secs, true)) data-ms=(ms) {
            (at.format("%Y-%m-%d %H:%M:%S UTC"))
        }
    }
}

/// Unix milliseconds by this machine's clock (a consent's duration counts from here; a page
/// compares its newest block's time with it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The first 12 hex digits of an id, for tables (links and copy buttons carry the whole id).
pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// An id linked to its page, shortened, with a copy button for the whole id.
pub(crate) fn id_link(href: &str, id: &str) -> Markup {
    html! {
        span class="id" {
            a href=(href) title=(id) { code { (short(id)) "…" } }
            (copy_button(id))
        }
    }
}

/// An id with no page of its own, shortened (the whole id in its title), with a copy button.
pub(crate) fn id_copy(id: &str) -> Markup {
    html! {
        code title=(id) { (short(id)) "…" }
        (copy_button(id))
    }
}

/// A button that copies `value` (handled by `portal.js`; without scripts the full value is in
/// the link's title).
pub(crate) fn copy_button(value: &str) -> Markup {
    html! {
        button type="button" class="copy" data-copy=(value) aria-label={ "Copy " (value) } { "Copy" }
    }
}

/// The hidden field every form carries (see `session`).
pub(crate) fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A table: a header row of `columns` (each `th scope=col`) over `rows`.
pub(crate) fn table(columns: &[&str], rows: Markup) -> Markup {
    html! {
        table {
            thead { tr { @for column in columns { th scope="col" { (column) } } } }
            tbody { (rows) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{Seen, fixtures};
    use medchain_types::Address;

    fn seen_at(timestamp_ms: u64) -> Seen {
        Seen::at(&fixtures::finalized(7, timestamp_ms))
    }

    fn page(seen: &Seen) -> String {
        let who = Who {
            address: Address::from_bytes([1; 32]),
            regulator: false,
            identity: None,
        };
        verified_page(&who, seen, None, View::new("T", html! {})).into_string()
    }

    /// A node's refusal is its own text: a page shows a bounded part of it, never megabytes.
    #[test]
    fn an_error_shows_a_bounded_part_of_what_the_node_said() {
        let said = format!("{}{}", "é".repeat(MAX_SAID_CHARS), "tail");
        let panel = error_panel(&PortalError::Node(said)).into_string();
        assert!(panel.len() < 4 * MAX_SAID_CHARS, "{} bytes", panel.len());
        assert!(!panel.contains("tail") && panel.contains("é…"), "{panel}");
        let short = error_panel(&PortalError::Node("no route".into())).into_string();
        assert!(short.contains("<p>no route</p>"), "{short}");
    }

    /// A node may answer from an old finalized state (it cannot forge a newer one): a page
    /// whose newest block is long past says so, beside the values it shows.
    #[test]
    fn an_answer_from_a_block_long_past_is_flagged() {
        let old = page(&seen_at(now_ms() - 3_600_000));
        assert!(old.contains(r#"id="stale-answer""#), "{old}");
        assert!(old.contains("data-verified-height=\"7\""), "{old}");
        let fresh = page(&seen_at(now_ms() - 1_000));
        assert!(!fresh.contains("stale-answer"), "{fresh}");
    }
}
