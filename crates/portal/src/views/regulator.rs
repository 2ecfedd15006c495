//! The regulator's pages (S2-state supervision): organisations by state with the transitions
//! the regulator may make, an organisation's activity, the licences and the revocation list
//! (S3-register, S3-revoke), and every break-glass request (S3-emergency). Only the key the
//! genesis document names as regulator sees them; the chain refuses anyone else's state
//! change anyway (`NotRegulator`), so the check here only saves a useless transaction.

use crate::{
    charts::{self, Bar, Chart},
    error::PortalError,
    layout::{self, View},
    reader::{Reader, Who},
    server::App,
    views::{
        Done,
        explorer::{events, org_facts, org_members, read_org},
        links,
    },
};
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    response::Response,
    routing::{get, post},
};
use maud::{Markup, html};
use medchain_client::{ListQuery, StateQuery, build};
use medchain_state::values::{Licence, Org};
use medchain_types::{Address, Event, OrgKind, OrgName, OrgState, TxId};
use serde::Deserialize;
use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

/// This audience's routes.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/regulator/orgs", get(orgs))
        .route("/regulator/orgs/{name}", get(activity))
        .route("/regulator/orgs/{name}/{action}", post(change_state))
        .route("/regulator/licences", get(licences))
        .route("/regulator/break-glass", get(break_glass))
}

/// Refuses a key that is not the genesis regulator's.
fn regulator_only(who: &Who) -> Result<(), PortalError> {
    if who.regulator {
        Ok(())
    } else {
        Err(not_regulator())
    }
}

fn not_regulator() -> PortalError {
    PortalError::BadInput(
        "this key is not the regulator's: these pages supervise organisations for the account the genesis document names as regulator. Start `medchain portal --key` with the regulator's key file, or use the Explorer"
            .into(),
    )
}

/// What the regulator can do to an organisation (S2-state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OrgAction {
    Approve,
    Suspend,
    Reinstate,
}

impl OrgAction {
    const ALL: [Self; 3] = [Self::Approve, Self::Suspend, Self::Reinstate];

    /// The word in the form's URL and on its button.
    fn name(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Suspend => "suspend",
            Self::Reinstate => "reinstate",
        }
    }

    /// What it makes of an organisation, for messages.
    fn outcome(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Suspend => "suspended",
            Self::Reinstate => "reinstated",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.name() == text)
    }

    /// The state it sets.
    fn target(self) -> OrgState {
        match self {
            Self::Approve | Self::Reinstate => OrgState::Audited,
            Self::Suspend => OrgState::Suspended,
        }
    }

    /// Whether it applies to an organisation in `state`. The chain accepts any change to
    /// another state; the portal offers the ones that mean something: approve a pending
    /// organisation, suspend a pending or audited one, reinstate a suspended one.
    fn applies_to(self, state: OrgState) -> bool {
        match self {
            Self::Approve => state == OrgState::ToAudit,
            Self::Suspend => matches!(state, OrgState::ToAudit | OrgState::Audited),
            Self::Reinstate => state == OrgState::Suspended,
        }
    }

    /// The actions offered for an organisation in `state`.
    fn offered(state: OrgState) -> impl Iterator<Item = Self> {
        Self::ALL
            .into_iter()
            .filter(move |action| action.applies_to(state))
    }
}

/// `?state=&kind=`: the organisations list's filters.
#[derive(Debug, Default, Deserialize)]
struct OrgFilter {
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
}

impl OrgFilter {
    fn keeps(&self, org: &Org) -> bool {
        (self.state.is_empty() || self.state == links::org_state(org.state))
            && (self.kind.is_empty() || self.kind == links::word(&org.kind))
    }
}

/// `/regulator/orgs`: every organisation, by state, with the actions each allows.
async fn orgs(
    State(app): State<Arc<App>>,
    Query(done): Query<Done>,
    Query(filter): Query<OrgFilter>,
) -> Response {
    app.page(done.tx(), move |reader, who, app| {
        regulator_only(who)?;
        let orgs = reader.all(&ListQuery::orgs())?;
        let kept: Vec<&Org> = orgs
            .iter()
            .map(|listed| &listed.value)
            .filter(|org| filter.keeps(org))
            .collect();
        let csrf = app.session.csrf();
        let mut sections = Vec::new();
        for state in [OrgState::ToAudit, OrgState::Audited, OrgState::Suspended] {
            let in_state: Vec<&Org> = kept.iter().copied().filter(|o| o.state == state).collect();
            if !in_state.is_empty() {
                sections.push(org_section(reader, app, csrf, state, &in_state)?);
            }
        }
        Ok(View::new(
            "Organisations",
            html! {
                (org_filter_form(&filter))
                p { (kept.len()) " of " (orgs.len()) " organisations." }
                @for section in sections { (section) }
            },
        ))
    })
    .await
}

fn org_filter_form(filter: &OrgFilter) -> Markup {
    let states = ["pending", "audited", "suspended"];
    let kinds: Vec<String> = OrgKind::ALL.iter().map(links::word).collect();
    html! {
        form class="filters" method="get" action="/regulator/orgs" {
            label for="filter-state" { "State" }
            select id="filter-state" name="state" {
                option value="" { "any" }
                @for state in states { option value=(state) selected[filter.state == state] { (state) } }
            }
            label for="filter-kind" { "Kind" }
            select id="filter-kind" name="kind" {
                option value="" { "any" }
                @for kind in &kinds { option value=(kind) selected[&filter.kind == kind] { (kind) } }
            }
            button type="submit" { "Filter" }
        }
    }
}

fn org_section(
    reader: &Reader<'_>,
    app: &App,
    csrf: &str,
    state: OrgState,
    orgs: &[&Org],
) -> Result<Markup, PortalError> {
    let name = links::org_state(state);
    let mut rows = Vec::with_capacity(orgs.len());
    for org in orgs {
        let registered = reader.cached_block(&app.blocks, org.registered_at)?;
        rows.push(html! {
            tr data-org=(org.name.as_str()) data-org-state=(name) {
                td { a href=(activity_href(&org.name)) { (org.name.as_str()) } }
                td { (links::word(&org.kind)) }
                td { (org.members) }
                td { (layout::time(registered.block.at.header.timestamp_ms)) " (block " (links::block(org.registered_at)) ")" }
                td { @for action in OrgAction::offered(org.state) { (action_form(csrf, &org.name, action)) " " } }
            }
        });
    }
    Ok(html! {
        section aria-labelledby={ "orgs-" (name) } {
            h2 id={ "orgs-" (name) } class={ "state-" (name) } { (name) " (" (orgs.len()) ")" }
            table {
                thead { tr {
                    th scope="col" { "Organisation" } th scope="col" { "Kind" } th scope="col" { "Members" }
                    th scope="col" { "Registered" } th scope="col" { "Actions" }
                } }
                tbody { @for row in rows { (row) } }
            }
        }
    })
}

fn activity_href(name: &OrgName) -> String {
    format!("/regulator/orgs/{}", links::org_segment(name))
}

/// One state-change button; a suspension asks for confirmation (its members stop acting).
fn action_form(csrf: &str, name: &OrgName, action: OrgAction) -> Markup {
    let confirm = (action == OrgAction::Suspend).then(|| {
        format!(
            "Suspend {name}? Its members can no longer act on the chain until it is reinstated."
        )
    });
    html! {
        form class="inline" method="post"
            action={ (activity_href(name)) "/" (action.name()) } data-confirm=[confirm] {
            (layout::csrf_field(csrf))
            button type="submit" aria-label={ (action.name()) " " (name.as_str()) } { (action.name()) }
        }
    }
}

/// A form that carries only the session's `csrf` (missing is refused like a wrong one).
#[derive(Debug, Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /regulator/orgs/{name}/{approve|suspend|reinstate}`.
async fn change_state(
    State(app): State<Arc<App>>,
    Path((name, action)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    app.act(&form.csrf, "/regulator/orgs".into(), move |reader, who| {
        let action = OrgAction::parse(&action).ok_or_else(|| {
            PortalError::BadInput(format!(
                "{action:?} is not an organisation action: use approve, suspend or reinstate"
            ))
        })?;
        if !who.regulator {
            return Err(not_regulator());
        }
        let org = read_org(reader, &name)?;
        if !action.applies_to(org.state) {
            return Err(PortalError::BadInput(format!(
                "{} is {}: it cannot be {}. Reload the organisations page to see what it allows",
                org.name,
                links::org_state(org.state),
                action.outcome()
            )));
        }
        Ok(build::set_org_state(org.name, action.target()))
    })
    .await
}

/// `?blocks=`: how many of the newest blocks the activity view scans.
#[derive(Debug, Deserialize)]
struct Scan {
    blocks: Option<u64>,
}

/// Blocks scanned by default, and at most.
const ACTIVITY_BLOCKS: u64 = 500;
const MAX_ACTIVITY_BLOCKS: u64 = 5_000;
/// Receipts read per scan at most (each is a request to the node).
const RECEIPT_BUDGET: usize = 2_000;

/// A transaction that named the organisation or a member.
struct Activity {
    height: u64,
    timestamp_ms: u64,
    tx: TxId,
    events: Vec<Event>,
}

/// `/regulator/orgs/{name}`: the organisation, its members, and what the newest blocks'
/// verified receipts say they did.
async fn activity(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(scan): Query<Scan>,
) -> Response {
    app.page(None, move |reader, who, app| {
        regulator_only(who)?;
        let org = read_org(reader, &name)?;
        let members = org_members(reader, &org)?;
        let member_set: HashSet<Address> = members.iter().map(|m| m.id).collect();
        let wanted = scan
            .blocks
            .unwrap_or(ACTIVITY_BLOCKS)
            .clamp(1, MAX_ACTIVITY_BLOCKS);
        let tip = reader.newest_cached(&app.blocks)?.block.at.header.height;
        let mut found = Vec::new();
        let mut budget = RECEIPT_BUDGET;
        let mut oldest = tip + 1;
        for height in (tip.saturating_sub(wanted - 1)..=tip).rev() {
            let cached = reader.cached_block(&app.blocks, height)?;
            if cached.block.tx_ids.len() > budget {
                break;
            }
            budget -= cached.block.tx_ids.len();
            oldest = height;
            if cached.block.tx_ids.is_empty() {
                continue;
            }
            for receipt in reader.receipts(&cached)?.iter() {
                let events: Vec<Event> = receipt
                    .events
                    .iter()
                    .filter(|event| names(event, &org.name, &member_set))
                    .cloned()
                    .collect();
                if !events.is_empty() {
                    found.push(Activity {
                        height,
                        timestamp_ms: cached.block.at.header.timestamp_ms,
                        tx: receipt.tx,
                        events,
                    });
                }
            }
        }
        let facts = org_facts(reader, app, &org, &members)?;
        Ok(View::new(
            format!("Activity of {}", org.name),
            html! {
                (facts)
                h2 { "Activity" }
                p id="scanned" data-from=(oldest) data-to=(tip) {
                    "Scanned blocks " (links::block(oldest)) "–" (links::block(tip))
                    " (" (tip + 1 - oldest) " blocks, newest first"
                    @if tip + 1 - oldest < wanted.min(tip + 1) { "; stopped early: too many transactions to read in one page" }
                    "). A block lists transaction ids, not senders, so a transaction counts here when its verified receipt names "
                    (org.name.as_str()) " or one of its " (members.len()) " members. "
                    a href={ (activity_href(&org.name)) "?blocks=" (MAX_ACTIVITY_BLOCKS) } { "Scan the last " (MAX_ACTIVITY_BLOCKS) " blocks" }
                }
                (activity_chart(&found))
                @if found.is_empty() {
                    p { "Nothing in these blocks names the organisation or its members." }
                } @else {
                    table id="activity" {
                        thead { tr { th scope="col" { "Block" } th scope="col" { "Time" } th scope="col" { "Transaction" } th scope="col" { "What it did" } } }
                        tbody {
                            @for item in &found {
                                tr {
                                    td { (links::block(item.height)) }
                                    td { (layout::time(item.timestamp_ms)) }
                                    td { (links::tx(&item.tx)) }
                                    td { (events(&item.events)) }
                                }
                            }
                        }
                    }
                }
            },
        ))
    })
    .await
}

/// Events per kind over the scanned blocks.
fn activity_chart(found: &[Activity]) -> Markup {
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for event in found.iter().flat_map(|item| &item.events) {
        *kinds.entry(event_kind(event)).or_default() += 1;
    }
    let bars: Vec<Bar> = kinds
        .into_iter()
        .map(|(kind, count)| Bar::new(kind, count as f64))
        .collect();
    charts::bar_chart(
        &Chart {
            id: "org-activity",
            title: "Events by kind in the scanned blocks",
            unit: "events",
        },
        &bars,
    )
}

/// An event's kind in words (`record released`).
fn event_kind(event: &Event) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|value| {
            value
                .get("event")?
                .as_str()
                .map(|kind| kind.replace('_', " "))
        })
        .unwrap_or_else(|| "event".into())
}

/// Whether `event` names organisation `org` or one of its `members`.
fn names(event: &Event, org: &OrgName, members: &HashSet<Address>) -> bool {
    let (addresses, named_org): (Vec<&Address>, Option<&OrgName>) = match event {
        Event::OrgRegistered { name, founder, .. } => (vec![founder], Some(name)),
        Event::OrgStateChanged { name, .. } => (vec![], Some(name)),
        Event::MemberJoined {
            name,
            member,
            endorser,
        } => (vec![member, endorser], Some(name)),
        Event::RecordReleased {
            patient,
            doctor,
            hospital,
            ..
        } => (vec![patient, doctor], Some(hospital)),
        Event::ConsentGranted {
            patient, grantee, ..
        } => (vec![patient, grantee], None),
        Event::AccessDecided { requester, .. } => (vec![requester], None),
        Event::IdentityEnrolled { address, .. } | Event::VouchingKeySet { address } => {
            (vec![address], None)
        }
        Event::DoctorRevoked { by, .. } | Event::RevocationLifted { by, .. } => (vec![by], None),
        Event::DealerLogRecorded { dealer, .. } => (vec![dealer], None),
        Event::EntryFiled { patient, .. } => (vec![patient], None),
        Event::EmergencyFiled {
            patient, doctor, ..
        } => (vec![patient, doctor], None),
        Event::RewardPaid { patient, payer, .. } => (vec![patient, payer], None),
        Event::EscrowOpened { payer, payee, .. } => (vec![payer, payee], None),
        Event::EscrowSettled { to, .. } => (vec![to], None),
        Event::CandidateRegistered {
            candidate,
            org: name,
        } => (vec![candidate], Some(name)),
        Event::Delegated {
            candidate,
            delegator,
            ..
        }
        | Event::Undelegated {
            candidate,
            delegator,
            ..
        }
        | Event::Withdrawn {
            candidate,
            delegator,
            ..
        } => (vec![candidate, delegator], None),
        Event::Slashed { offender, .. } => (vec![offender], None),
        Event::NullifierKeySet { patient } => (vec![patient], None),
        Event::ProxyRegistered { proxy } | Event::Reencrypted { proxy, .. } => (vec![proxy], None),
        Event::RewardClaimed { payee, .. } => (vec![payee], None),
        Event::CircuitRegistered { .. }
        | Event::RecordAttested { .. }
        | Event::StudyPublished { .. }
        | Event::StudyFunded { .. }
        | Event::Enrolled { .. }
        | Event::StudyRefunded { .. }
        | Event::EnrolmentAcknowledged { .. }
        | Event::EnrolmentDisputed { .. }
        | Event::DisputeResolved { .. }
        | Event::MedReleaseRefused { .. }
        | Event::MedEntryRefused { .. } => (vec![], None),
        Event::Transferred { .. }
        | Event::RecordStored { .. }
        | Event::ConsentRevoked { .. }
        | Event::LicenceIssued { .. }
        | Event::LicenceRenewed { .. }
        | Event::PkgReady { .. } => (vec![], None),
    };
    named_org == Some(org) || addresses.into_iter().any(|a| members.contains(a))
}

/// Whether a licence is valid, expired or revoked at a verified header's time.
/// `revoked`, `expired`, `inactive` (its organisation is not audited: the chain refuses the
/// doctor's releases even with an unexpired, unrevoked licence) or `valid`.
fn licence_state(licence: &Licence, revoked: bool, org_audited: bool, now_ms: u64) -> &'static str {
    if revoked {
        "revoked"
    } else if licence.expires_at_ms <= now_ms {
        "expired"
    } else if !org_audited {
        "inactive"
    } else {
        "valid"
    }
}

/// `/regulator/licences`: every licence with its revocation status, all read at one height,
/// and the revocation list.
async fn licences(State(app): State<Arc<App>>) -> Response {
    app.page(None, |reader, who, app| {
        regulator_only(who)?;
        let (licences, at) = reader.all_at(&ListQuery::licences())?;
        let height = at.header.height;
        let mut rows = Vec::with_capacity(licences.len());
        let mut audited = BTreeMap::new();
        for listed in licences {
            let revocation =
                reader.read(&StateQuery::revocation(&listed.id).at_height(height))?;
            if !audited.contains_key(&listed.value.org) {
                let org = reader.read(&StateQuery::org(&listed.value.org).at_height(height))?;
                let is_audited = org.is_some_and(|org| org.state == OrgState::Audited);
                audited.insert(listed.value.org.clone(), is_audited);
            }
            rows.push((listed.value, revocation));
        }
        let mut revoked = Vec::new();
        for (licence, revocation) in &rows {
            if let Some(revocation) = revocation {
                let block = reader.cached_block(&app.blocks, revocation.at)?;
                revoked.push((licence, revocation, block.block.at.header.timestamp_ms));
            }
        }
        let regulator = reader.client().light.genesis().regulator;
        Ok(View::new(
            "Licences",
            html! {
                p { (rows.len()) " licences, with their revocation status, as of block " (links::block(height))
                    " (" (layout::time(at.header.timestamp_ms)) "): expiry is judged at that block's time." }
                table id="licences" {
                    thead { tr {
                        th scope="col" { "Doctor" } th scope="col" { "Issued by" } th scope="col" { "Organisation" }
                        th scope="col" { "Expires" } th scope="col" { "Issued" } th scope="col" { "Status" }
                    } }
                    tbody {
                        @for (licence, revocation) in &rows {
                            @let org_audited = audited.get(&licence.org).copied().unwrap_or(false);
                            @let state = licence_state(licence, revocation.is_some(), org_audited, at.header.timestamp_ms);
                            tr data-licence=(licence.doctor.as_str()) data-licence-state=(state) {
                                td { (identity_link(licence.doctor.as_str())) }
                                td { (identity_link(licence.hospital.as_str())) }
                                td { (links::org(&licence.org)) }
                                td class=[(state == "expired").then_some("state-expired")] { (layout::time(licence.expires_at_ms)) }
                                td { "block " (links::block(licence.issued_at)) }
                                td class={ "state-" (state) } {
                                (state)
                                @if state == "inactive" { " (organisation not audited)" }
                            }
                            }
                        }
                    }
                }
                section aria-labelledby="revocation-list" {
                    h2 id="revocation-list" { "Revocation list (" (revoked.len()) ")" }
                    @if revoked.is_empty() {
                        p { "No licensed doctor is revoked." }
                    } @else {
                        table id="revocations" {
                            thead { tr { th scope="col" { "Doctor" } th scope="col" { "Revoked by" } th scope="col" { "When" } } }
                            tbody {
                                @for (licence, revocation, timestamp_ms) in &revoked {
                                    tr data-revoked=(licence.doctor.as_str()) {
                                        td { (identity_link(licence.doctor.as_str())) }
                                        td {
                                            (links::account(&revocation.by))
                                            @if revocation.by == regulator { " (the regulator)" }
                                        }
                                        td { (layout::time(*timestamp_ms)) " (block " (links::block(revocation.at)) ")" }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        ))
    })
    .await
}

/// An identity name, linked to the search that finds its account.
fn identity_link(name: &str) -> Markup {
    html! { a href={ "/explorer/search?q=" (links::segment(name)) } { (name) } }
}

/// `/regulator/break-glass`: every emergency request the chain holds.
async fn break_glass(State(app): State<Arc<App>>) -> Response {
    app.page(None, |reader, who, _| {
        regulator_only(who)?;
        let emergencies = reader.all(&ListQuery::emergencies())?;
        Ok(View::new(
            "Break-glass requests",
            html! {
                p { (emergencies.len()) " emergency requests, oldest first. Each was vouched for by the treating doctor and its hospital; "
                    "the record's holder may serve it without consent for a short window, and the patient is notified. "
                    "Who was actually served is in each patient's access log, which is theirs to read." }
                table id="break-glass" {
                    thead { tr {
                        th scope="col" { "Filed" } th scope="col" { "Doctor" } th scope="col" { "Hospital" }
                        th scope="col" { "Patient" } th scope="col" { "Record" } th scope="col" { "Request" }
                    } }
                    tbody {
                        @for listed in &emergencies {
                            @let request = &listed.value;
                            tr data-emergency=(listed.id) data-access-kind="break_glass" {
                                td { (layout::time(request.timestamp_ms)) " (block " (links::block(request.filed_at)) ")" }
                                td { (identity_link(request.doctor.as_str())) " " (links::account(&request.doctor_address)) }
                                td { (identity_link(request.hospital.as_str())) " of " (links::org(&request.org)) }
                                td { (links::account(&request.patient)) }
                                td { (links::record(&request.record)) }
                                td { code { (layout::short(&listed.id.to_string())) "…" } (layout::copy_button(&listed.id.to_string())) }
                            }
                        }
                    }
                }
            },
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::{address, record_id};
    use medchain_types::{IdentityName, Purpose};

    #[test]
    fn only_meaningful_transitions_are_offered_and_each_changes_the_state() {
        let offered = |state| OrgAction::offered(state).collect::<Vec<_>>();
        assert_eq!(
            offered(OrgState::ToAudit),
            vec![OrgAction::Approve, OrgAction::Suspend]
        );
        assert_eq!(offered(OrgState::Audited), vec![OrgAction::Suspend]);
        assert_eq!(offered(OrgState::Suspended), vec![OrgAction::Reinstate]);
        // The chain refuses a "change" to the same state (StateUnchanged): never offer one.
        for state in [OrgState::ToAudit, OrgState::Audited, OrgState::Suspended] {
            for action in OrgAction::offered(state) {
                assert_ne!(action.target(), state, "{action:?} from {state:?}");
            }
        }
    }

    #[test]
    fn actions_are_parsed_from_their_url_word_only() {
        for action in OrgAction::ALL {
            assert_eq!(OrgAction::parse(action.name()), Some(action));
        }
        assert_eq!(OrgAction::parse("Suspend"), None);
        assert_eq!(OrgAction::parse("delete"), None);
    }

    #[test]
    fn suspension_asks_for_confirmation_and_names_are_encoded() {
        let name = OrgName::new("Seoul General").unwrap();
        let form = action_form("c", &name, OrgAction::Suspend).into_string();
        assert!(
            form.contains(r#"action="/regulator/orgs/Seoul%20General/suspend""#),
            "{form}"
        );
        assert!(form.contains("data-confirm="));
        assert!(form.contains(r#"name="csrf" value="c""#));
        let form = action_form("c", &name, OrgAction::Approve).into_string();
        assert!(!form.contains("data-confirm"));
    }

    #[test]
    fn activity_counts_events_naming_the_organisation_or_a_member() {
        let org = OrgName::new("Seoul General").unwrap();
        let other = OrgName::new("Busan").unwrap();
        let members: HashSet<Address> = [address(1)].into();
        let access = |requester| Event::AccessDecided {
            record: record_id(1),
            requester,
            purpose: Purpose::Treatment,
            decision: medchain_types::AccessDecision::Allowed { consent: None },
        };
        assert!(names(&access(address(1)), &org, &members));
        assert!(!names(&access(address(2)), &org, &members));
        let changed = |name: &OrgName| Event::OrgStateChanged {
            name: name.clone(),
            from: OrgState::ToAudit,
            to: OrgState::Audited,
        };
        assert!(names(&changed(&org), &org, &members));
        assert!(!names(&changed(&other), &org, &members));
        let lic = Event::LicenceIssued {
            doctor: IdentityName::new("dr-kim").unwrap(),
            hospital: IdentityName::new("desk").unwrap(),
            expires_at_ms: 1,
        };
        assert!(!names(&lic, &org, &members));
        assert_eq!(event_kind(&changed(&org)), "org state changed");
    }

    #[test]
    fn licences_are_revoked_expired_or_valid() {
        let licence = Licence {
            doctor: IdentityName::new("dr-kim").unwrap(),
            hospital: IdentityName::new("desk").unwrap(),
            org: OrgName::new("Seoul General").unwrap(),
            expires_at_ms: 1_000,
            issued_at: 3,
        };
        assert_eq!(licence_state(&licence, false, true, 999), "valid");
        assert_eq!(licence_state(&licence, false, true, 1_000), "expired");
        assert_eq!(licence_state(&licence, true, true, 999), "revoked");
        assert_eq!(licence_state(&licence, false, false, 999), "inactive");
        assert_eq!(licence_state(&licence, true, false, 999), "revoked");
    }

    #[test]
    fn filters_keep_matching_state_and_kind() {
        let org = Org {
            name: OrgName::new("Seoul General").unwrap(),
            kind: OrgKind::Hospital,
            state: OrgState::ToAudit,
            founder: address(1),
            members: 1,
            registered_at: 2,
        };
        let filter = |state: &str, kind: &str| OrgFilter {
            state: state.into(),
            kind: kind.into(),
        };
        assert!(filter("", "").keeps(&org));
        assert!(filter("pending", "hospital").keeps(&org));
        assert!(!filter("audited", "").keeps(&org));
        assert!(!filter("", "cloud").keeps(&org));
    }
}
