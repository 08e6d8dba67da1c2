//! `vemt simulate`: a JSONL file of inbound CloudEvents in; the Wednesday
//! agendas and the effects the service would produce out. For trying the
//! criteria (3 or 4 in 30 days, say) on past data, with no database, broker
//! or wall clock.
//!
//! Events are read with the service's own parser and applied in order of
//! their `time` (file order breaks ties), so exports of several systems can
//! be concatenated. The clock follows the events; between them it runs what
//! the service's timers would: at each collation time, collation (R3.1) and
//! then the sweep of live episodes; and the sweep a second after a live
//! episode passes the 72-hour line (R1.6), which the service notices within
//! `sweep.interval_seconds`. At the end it runs them up to the last event's
//! time, or `--until`.
//!
//! The units of work are the service's own (`process`), over a state kept
//! wholly in memory: the same code the service runs on each batch.
//! Handled: `police.missing-episode.v1`, `lcs.child.v1`,
//! `lcs.return-home-interview.v1`, `police.trigger-plan.v1`. Other types
//! are counted as not simulated, and so have no effect: a review outcome
//! does not count as a review here.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::config::{Settings, SettingsError};
use crate::contract::inbound::{InboundEvent, Limits, Rejection, parse_inbound};
use crate::contract::outbound::{self, Cause};
use crate::domain::agenda::{self, Agenda};
use crate::domain::calendar::{Meeting, MeetingCalendar};
use crate::domain::criteria::{Criterion, Thresholds};
use crate::domain::effects::Effect;
use crate::domain::ids::{EpisodeId, LcsPersonId, PolicePersonId};
use crate::process::{self, Rules, State};
use crate::templates::Templates;

/// What a run needs from the settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub thresholds: Thresholds,
    pub calendar: MeetingCalendar,
    /// The service's CloudEvents `source`, for the effects' events.
    pub source: String,
    /// Run the timers up to here; by default, the last event's time.
    pub until: Option<DateTime<Utc>>,
    /// The case notes' wording (R4.2, R5, R6).
    pub templates: Templates,
}

impl Options {
    /// The criteria, calendar and wording the service would run with.
    pub fn from_settings(
        settings: &Settings,
        templates: &Templates,
    ) -> Result<Self, SettingsError> {
        Ok(Self {
            thresholds: settings.criteria,
            calendar: settings.calendar()?,
            source: settings.service.source.clone(),
            until: None,
            templates: templates.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulateError {
    #[error("--until: must not be before the last event's time, {last}")]
    UntilBeforeLastEvent { last: String },
}

/// A line the service would dead-letter, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedLine {
    pub line: usize,
    pub reason: Rejection,
}

/// A meeting's agenda: frozen at collation, or a preview of one whose
/// collation time the run did not reach.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingAgenda {
    pub agenda: Agenda,
    pub collated: bool,
}

/// One effect, when it happened and what caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Produced {
    pub at: DateTime<Utc>,
    pub cause: Cause,
    pub effect: Effect,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    pub thresholds: Thresholds,
    /// Non-blank lines read.
    pub lines: usize,
    pub applied: usize,
    /// Not newer than what was held (an old revision): ignored.
    pub ignored: usize,
    /// Seen before (same `source` and `id`).
    pub duplicates: usize,
    pub refused: Vec<RefusedLine>,
    /// A meeting outcome or VPG decision already recorded for that child
    /// and meeting (under another event id): ignored.
    pub already_recorded: usize,
    /// The clock's first and last instants (`None` with no event).
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Instants at which the timers ran, in order.
    pub ticks: Vec<DateTime<Utc>>,
    /// Every meeting collated, then those with children still open, by date.
    pub agendas: Vec<MeetingAgenda>,
    /// Every effect but the agendas, in the order produced.
    pub effects: Vec<Produced>,
}

/// Runs the events of a JSONL text. Refused lines are reported, not fatal.
pub fn simulate(text: &str, options: &Options) -> Result<Simulation, SimulateError> {
    let limits = Limits::default();
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| !line.trim().is_empty())
        .collect();
    let times: Vec<Option<DateTime<Utc>>> = lines.iter().map(|(_, l)| event_time(l)).collect();
    // Only for lines whose time cannot be read: the parser then names what
    // is wrong with them.
    let fallback = times
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(DateTime::UNIX_EPOCH);
    let mut refused = Vec::new();
    let mut events = Vec::new();
    for (&(line, raw), time) in lines.iter().zip(&times) {
        match parse_inbound(raw.as_bytes(), time.unwrap_or(fallback), &limits) {
            Ok(event) => match event.envelope.time {
                Some(time) => events.push((time, line, event)),
                None => refused.push(RefusedLine {
                    line,
                    reason: Rejection {
                        path: "$.time".into(),
                        rule: "is required by simulate: its clock follows each event's time".into(),
                    },
                }),
            },
            Err(reason) => refused.push(RefusedLine { line, reason }),
        }
    }
    events.sort_by_key(|(time, line, _)| (*time, *line));

    let last = events.last().map(|(time, _, _)| *time);
    let end = match (options.until, last) {
        (Some(until), Some(last)) if until < last => {
            return Err(SimulateError::UntilBeforeLastEvent { last: stamp(last) });
        }
        (until, last) => until.or(last),
    };
    let mut world = World::new(options);
    let mut run = Simulation {
        thresholds: options.thresholds,
        lines: lines.len(),
        applied: 0,
        ignored: 0,
        duplicates: 0,
        refused,
        already_recorded: 0,
        from: events.first().map(|(time, _, _)| *time),
        until: end,
        ticks: Vec::new(),
        agendas: Vec::new(),
        effects: Vec::new(),
    };
    for (time, line, event) in &events {
        world.run_timers(*time);
        world.clock = world.clock.max(*time);
        match world.handle(event, *time) {
            Ok(Handled::Applied) => run.applied += 1,
            Ok(Handled::Ignored) => run.ignored += 1,
            Ok(Handled::AlreadyRecorded) => run.already_recorded += 1,
            Ok(Handled::Duplicate) => run.duplicates += 1,
            Err(reason) => run.refused.push(RefusedLine {
                line: *line,
                reason,
            }),
        }
    }
    run.refused.sort_by_key(|r| r.line);
    if let Some(end) = end {
        world.run_timers(end);
    }
    run.ticks = std::mem::take(&mut world.ticks);
    run.agendas = world.agendas(end);
    run.effects = world
        .produced
        .into_iter()
        .filter(|p| !matches!(p.effect, Effect::MissingReviewAgenda(_)))
        .collect();
    Ok(run)
}

/// The `time` of a line, if it is a JSON object with a readable one.
fn event_time(line: &str) -> Option<DateTime<Utc>> {
    let value: Value = serde_json::from_str(line).ok()?;
    let time = value.get("time")?.as_str()?;
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

enum Handled {
    Applied,
    Ignored,
    AlreadyRecorded,
    Duplicate,
}

/// The service's state, in memory (`process::State`, every table), and what
/// the timers and the run keep besides.
struct World<'a> {
    options: &'a Options,
    clock: DateTime<Utc>,
    state: State,
    /// Agendas collated, by meeting.
    collations: BTreeMap<NaiveDate, Agenda>,
    inbox: HashSet<(String, String)>,
    first_received: Option<DateTime<Utc>>,
    produced: Vec<Produced>,
    ticks: Vec<DateTime<Utc>>,
}

impl<'a> World<'a> {
    fn new(options: &'a Options) -> Self {
        Self {
            options,
            clock: DateTime::UNIX_EPOCH,
            state: State::in_memory(),
            collations: BTreeMap::new(),
            inbox: HashSet::new(),
            first_received: None,
            produced: Vec::new(),
            ticks: Vec::new(),
        }
    }

    fn thresholds(&self) -> &'a Thresholds {
        &self.options.thresholds
    }

    fn calendar(&self) -> &'a MeetingCalendar {
        &self.options.calendar
    }

    fn rules(&self) -> Rules<'a> {
        Rules {
            thresholds: &self.options.thresholds,
            calendar: &self.options.calendar,
            templates: &self.options.templates,
        }
    }

    fn record(&mut self, effects: Vec<Effect>, cause: &Cause, at: DateTime<Utc>) {
        self.produced
            .extend(effects.into_iter().map(|effect| Produced {
                at,
                cause: cause.clone(),
                effect,
            }));
    }

    /// The unit of work: the inbox, then the rules of `process` over the
    /// state, as the service runs them.
    /// `Err` for an event the service would dead-letter (an outcome for a
    /// child it does not know, say): nothing of it is kept, its id included.
    fn handle(&mut self, event: &InboundEvent, now: DateTime<Utc>) -> Result<Handled, Rejection> {
        let envelope = &event.envelope;
        let key = (envelope.source.clone(), envelope.id.clone());
        if self.inbox.contains(&key) {
            return Ok(Handled::Duplicate);
        }
        let mut effects = Vec::new();
        let rules = self.rules();
        let handled = match process::apply(&mut self.state, &rules, event, now, &mut effects) {
            Ok(handled) => handled,
            Err(err) => match err.downcast::<process::Refused>() {
                Ok(process::Refused(rejection)) => return Err(rejection),
                // Keys are counted in memory: no other failure is possible.
                Err(err) => panic!("simulate failed: {err:#}"),
            },
        };
        self.inbox.insert(key);
        self.first_received.get_or_insert(now);
        let cause = Cause::inbound(&envelope.id, envelope.correlation_id.as_deref());
        self.record(effects, &cause, now);
        Ok(match handled {
            process::Handled::Applied => Handled::Applied,
            process::Handled::Ignored => Handled::Ignored,
            process::Handled::AlreadyRecorded => Handled::AlreadyRecorded,
        })
    }

    // ---- the timers (scheduler) ------------------------------------------

    /// Runs every timer instant after the clock up to `through`.
    fn run_timers(&mut self, through: DateTime<Utc>) {
        while let Some(next) = self.next_timer().filter(|t| *t <= through) {
            self.clock = next;
            self.collate_due(next);
            self.sweep(next);
            self.ticks.push(next);
        }
    }

    /// The next instant a timer would change something: a collation, or a
    /// live episode passing the over-hours line.
    fn next_timer(&self) -> Option<DateTime<Utc>> {
        // Nothing received, nothing to time (the clock has not started).
        self.first_received?;
        let collation = self.calendar().next_open_meeting(self.clock).collation_at;
        let limit = Duration::hours(i64::from(self.thresholds().over_hours));
        let crossing = self
            .state
            .episodes
            .values()
            .filter(|h| h.episode.is_live())
            .map(|h| h.episode.reported_missing_at + limit + Duration::seconds(1))
            .filter(|at| *at > self.clock)
            .min();
        Some(crossing.map_or(collation, |c| c.min(collation)))
    }

    /// `Intake::sweep`: every child with a live episode evaluated at `now`.
    fn sweep(&mut self, now: DateTime<Utc>) {
        let meeting = self.calendar().next_open_meeting(now);
        let rules = self.rules();
        for child in process::with_live_episodes(&self.state) {
            let mut effects = Vec::new();
            if !process::evaluate(&mut self.state, &rules, child, now, &mut effects) {
                continue;
            }
            let cause = Cause::timer(&format!("sweep/{child}/{}", meeting.date));
            self.record(effects, &cause, now);
        }
    }

    /// `collation::collate_due`: meetings with children whose collation has
    /// passed, and the latest one even with none if events came before it.
    fn collate_due(&mut self, now: DateTime<Utc>) {
        let mut due: Vec<Meeting> = self
            .state
            .items
            .values()
            .filter(|held| {
                held.meeting.collation_at <= now
                    && !held.item.assessment.is_empty()
                    && !self.collations.contains_key(&held.meeting.date)
            })
            .map(|held| held.meeting)
            .collect();
        if let Some(latest) = self.calendar().latest_past_collation(now)
            && !due.iter().any(|m| m.date == latest.date)
            && !self.collations.contains_key(&latest.date)
            && self.first_received.is_some_and(|t| t < latest.collation_at)
        {
            due.push(latest);
        }
        due.sort_by_key(|m| m.date);
        due.dedup_by_key(|m| m.date);
        for meeting in due {
            let agenda = self.build(meeting, meeting.collation_at, Some(now));
            self.collations.insert(meeting.date, agenda.clone());
            self.state.collated.insert(meeting.date);
            let cause = Cause::timer(&format!("collation/{}", meeting.date));
            self.record(
                vec![Effect::MissingReviewAgenda(Box::new(agenda))],
                &cause,
                now,
            );
        }
    }

    /// `Agendas::build`: the agenda of `meeting` as it stands at `as_of`.
    fn build(
        &self,
        meeting: Meeting,
        as_of: DateTime<Utc>,
        collated_at: Option<DateTime<Utc>>,
    ) -> Agenda {
        let items = self
            .state
            .items
            .iter()
            .filter(|((date, _), held)| *date == meeting.date && !held.item.assessment.is_empty())
            .filter_map(|((_, child), held)| {
                let facts = process::item_facts(
                    &self.state,
                    *child,
                    held.item.assessment.clone(),
                    meeting.date,
                    as_of,
                    crate::domain::quality::DEFAULT_OPEN_WITHOUT_UPDATE_DAYS,
                )?;
                Some(agenda::item(facts, as_of, self.thresholds()))
            })
            .collect();
        agenda::agenda(meeting, collated_at, items)
    }

    /// The collated agendas, then previews of meetings with children whose
    /// collation the run did not reach, as of its end.
    fn agendas(&self, end: Option<DateTime<Utc>>) -> Vec<MeetingAgenda> {
        let mut all: Vec<MeetingAgenda> = self
            .collations
            .values()
            .map(|agenda| MeetingAgenda {
                agenda: agenda.clone(),
                collated: true,
            })
            .collect();
        let open: BTreeMap<NaiveDate, Meeting> = self
            .state
            .items
            .values()
            .filter(|h| {
                !h.item.assessment.is_empty() && !self.collations.contains_key(&h.meeting.date)
            })
            .map(|h| (h.meeting.date, h.meeting))
            .collect();
        for meeting in open.into_values() {
            all.push(MeetingAgenda {
                agenda: self.build(meeting, end.unwrap_or(self.clock), None),
                collated: false,
            });
        }
        all
    }
}

// ---- output -----------------------------------------------------------------

/// How the text names a child: by LCS id, else by police person id(s), so
/// that it holds no name or date of birth and can be shared.
fn child_label(lcs: Option<&LcsPersonId>, police: &[PolicePersonId]) -> String {
    match lcs {
        Some(lcs) => lcs.to_string(),
        None => {
            let ids: Vec<&str> = police.iter().map(PolicePersonId::as_str).collect();
            format!("{} (unmatched police person)", ids.join(", "))
        }
    }
}

fn window(rule: crate::domain::criteria::CountInWindow) -> String {
    format!("{} in {} days", rule.count, rule.days)
}

/// The text report: ids, criteria and counts only.
pub fn render_text(run: &Simulation) -> String {
    let th = &run.thresholds;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "criteria: top_missing {}, frequent_missing {}, frequent_no_apparent_risk {}, over_72_hours over {} hours",
        window(th.top_missing),
        window(th.frequent_missing),
        window(th.frequent_no_apparent_risk),
        th.over_hours
    );
    match (run.from, run.until) {
        (Some(from), Some(until)) => {
            let _ = writeln!(
                out,
                "clock: {} to {} (events in order of their time)",
                stamp(from),
                stamp(until)
            );
        }
        _ => out.push_str("clock: no event to run\n"),
    }
    let _ = writeln!(
        out,
        "lines: {} ({} applied, {} ignored as old revisions, {} already recorded, {} duplicates, {} refused)",
        run.lines,
        run.applied,
        run.ignored,
        run.already_recorded,
        run.duplicates,
        run.refused.len(),
    );
    for refused in &run.refused {
        let _ = writeln!(out, "  refused line {}: {}", refused.line, refused.reason);
    }

    for meeting in &run.agendas {
        let agenda = &meeting.agenda;
        let when = match (meeting.collated, agenda.collated_at) {
            (true, Some(at)) => format!("collated {}", stamp(at)),
            _ => format!(
                "open: collation {} is after the end",
                stamp(agenda.collation_at)
            ),
        };
        let _ = writeln!(
            out,
            "\nmeeting {} ({when}): {} {}",
            agenda.meeting_date,
            agenda.items.len(),
            if agenda.items.len() == 1 {
                "child"
            } else {
                "children"
            }
        );
        let mut items: Vec<(String, &agenda::AgendaItem)> = agenda
            .items
            .iter()
            .map(|i| {
                (
                    child_label(i.lcs_person_id.as_ref(), &i.police_person_ids),
                    i,
                )
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        for (label, item) in items {
            let _ = writeln!(out, "  {label}");
            for criterion in &item.criteria {
                let evidence: Vec<&str> = item
                    .evidence
                    .get(criterion)
                    .map(|ids| ids.iter().map(EpisodeId::as_str).collect())
                    .unwrap_or_default();
                let _ = writeln!(out, "    {}: {}", criterion.as_str(), evidence.join(", "));
            }
        }
    }

    let mut requests = Vec::new();
    let mut alerts = Vec::new();
    // The rest (a trigger plan passed on, R4.2): counted by type.
    let mut others: BTreeMap<&str, usize> = BTreeMap::new();
    for produced in &run.effects {
        match &produced.effect {
            Effect::TriggerPlanRequest(r) => {
                let lcs = r.lcs_person_id.as_ref();
                let label = child_label(lcs, std::slice::from_ref(&r.police_person_id));
                requests.push(format!("    {}  {label}", r.meeting_date));
            }
            Effect::UnmatchedPersonAlert(a) => {
                alerts.push(format!(
                    "    {}  {}",
                    stamp(produced.at),
                    a.police_person_id
                ));
            }
            other => *others.entry(other.event_type()).or_default() += 1,
        }
    }
    requests.sort();
    out.push_str("\neffects\n");
    let _ = writeln!(
        out,
        "  police.trigger-plan-request.v1 (copy, one per child per meeting): {}",
        requests.len()
    );
    for line in &requests {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "  lcs.alert.v1 (unmatched police person): {}",
        alerts.len()
    );
    for line in &alerts {
        let _ = writeln!(out, "{line}");
    }
    if !others.is_empty() {
        out.push_str("  trigger plans passed on (R4.2):\n");
        for (event_type, count) in &others {
            let _ = writeln!(out, "    {event_type}: {count}");
        }
    }

    let collated = run.agendas.iter().filter(|m| m.collated).count();
    let empty = run
        .agendas
        .iter()
        .filter(|m| m.collated && m.agenda.items.is_empty())
        .count();
    let items: usize = run.agendas.iter().map(|m| m.agenda.items.len()).sum();
    let children: BTreeSet<String> = run
        .agendas
        .iter()
        .flat_map(|m| &m.agenda.items)
        .map(|i| child_label(i.lcs_person_id.as_ref(), &i.police_person_ids))
        .collect();
    let _ = writeln!(
        out,
        "\ntotals: {collated} meetings collated ({empty} with no child), {} open; {items} agenda items for {}; {} trigger-plan requests; {} unmatched alerts",
        run.agendas.len() - collated,
        match children.len() {
            1 => "1 child".to_owned(),
            n => format!("{n} children"),
        },
        requests.len(),
        alerts.len()
    );
    out
}

/// The JSON report: the agendas as `agenda.missing-review.v1` data, the
/// other effects as their outbound events' type, time and data. Holds
/// children's names and dates of birth, as the agendas do.
pub fn render_json(run: &Simulation, source: &str) -> serde_json::Result<Value> {
    let agendas = run
        .agendas
        .iter()
        .map(|m| serde_json::to_value(&m.agenda))
        .collect::<Result<Vec<_>, _>>()?;
    let effects = run
        .effects
        .iter()
        .map(|p| {
            let event = outbound::build(&p.effect, &p.cause, source, p.at)?;
            Ok(json!({
                "type": event.event_type,
                "time": event.body["time"],
                "data": event.body["data"],
            }))
        })
        .collect::<serde_json::Result<Vec<_>>>()?;
    let refused: Vec<Value> = run
        .refused
        .iter()
        .map(|r| json!({ "line": r.line, "reason": r.reason.to_string() }))
        .collect();
    Ok(json!({
        "criteria": run.thresholds,
        "from": run.from,
        "until": run.until,
        "lines": run.lines,
        "applied": run.applied,
        "ignored": run.ignored,
        "duplicates": run.duplicates,
        "refused": refused,
        "already_recorded": run.already_recorded,
        "agendas": agendas,
        "effects": effects,
    }))
}

/// Criteria met on a meeting's agenda per child (by the text's label): what
/// the service's agendas are compared with.
pub fn criteria_by_child(agenda: &Agenda) -> BTreeMap<String, Vec<Criterion>> {
    agenda
        .items
        .iter()
        .map(|i| {
            (
                child_label(i.lcs_person_id.as_ref(), &i.police_person_ids),
                i.criteria.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn options() -> Options {
        Options {
            thresholds: Thresholds::default(),
            calendar: MeetingCalendar::default(),
            source: "urn:vemt:test".into(),
            until: None,
            templates: Templates::load(&root().join("config")).expect("shipped templates load"),
        }
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn event(id: &str, event_type: &str, time: &str, data: Value) -> String {
        json!({
            "specversion": "1.0", "id": id, "source": "urn:test", "type": event_type,
            "time": time, "data": data,
        })
        .to_string()
    }

    /// A low-risk episode reported at `reported`, back `hours` later (still
    /// open when `None`), sent at `time`.
    fn episode(
        id: &str,
        police: &str,
        lcs: Option<&str>,
        reported: &str,
        hours: Option<i64>,
        time: &str,
    ) -> String {
        let mut person = json!({
            "police_person_id": police, "given_name": "Secretgiven",
            "family_name": "Secretfamily", "date_of_birth": "2011-03-04",
        });
        if let Some(lcs) = lcs {
            person["lcs_person_id"] = json!(lcs);
        }
        let returned = hours.map(|h| stamp(utc(reported) + Duration::hours(h)));
        event(
            &format!("{id}-{time}"),
            "police.missing-episode.v1",
            time,
            json!({
                "episode_id": id, "revision": if hours.is_some() { 2 } else { 1 },
                "person": person,
                "status": if hours.is_some() { "returned" } else { "open" },
                "reported_missing_at": reported, "returned_at": returned, "risk_level": "low",
            }),
        )
    }

    fn record(lcs: &str, revision: u32, police: &[&str], vemt: &str, time: &str) -> String {
        event(
            &format!("{lcs}-{revision}"),
            "lcs.child.v1",
            time,
            json!({
                "lcs_person_id": lcs, "revision": revision, "given_name": "Recordgiven",
                "family_name": "Recordfamily", "date_of_birth": "2010-05-06",
                "police_person_ids": police, "vemt": { "status": vemt },
            }),
        )
    }

    fn run(lines: &[String], options: &Options) -> Simulation {
        simulate(&lines.join("\n"), options).expect("runs")
    }

    /// Each meeting's children (text labels) and their criteria.
    fn agendas(run: &Simulation) -> Vec<(String, BTreeMap<String, Vec<&'static str>>)> {
        run.agendas
            .iter()
            .map(|m| {
                let children = criteria_by_child(&m.agenda)
                    .into_iter()
                    .map(|(child, c)| (child, c.iter().map(|c| c.as_str()).collect()))
                    .collect();
                (m.agenda.meeting_date.to_string(), children)
            })
            .collect()
    }

    fn readme_block(readme: &str, marker: &str) -> String {
        let start = readme
            .find(marker)
            .unwrap_or_else(|| panic!("docs/simulate.md has no {marker}"));
        let body = &readme[start..];
        let open = body
            .find("```text\n")
            .expect("a text block after the marker")
            + 8;
        let close = body[open..].find("```").expect("the block closes");
        body[open..open + close].to_owned()
    }

    // docs/simulate.md can never go stale: its two blocks are what simulate
    // prints for the shipped example with the shipped settings, and with
    // top_missing at 3 (R1.2).
    #[test]
    fn the_simulate_guide_shows_what_simulate_prints_for_the_shipped_example() {
        let settings = Settings::load(&root().join("config"), "local").expect("settings load");
        let text = std::fs::read_to_string(root().join("examples/simulate.jsonl")).unwrap();
        let readme = std::fs::read_to_string(root().join("docs/simulate.md")).unwrap();
        let templates = Templates::load(&root().join("config")).unwrap();
        let mut options = Options::from_settings(&settings, &templates).unwrap();
        let defaults = render_text(&simulate(&text, &options).unwrap());
        assert_eq!(
            defaults,
            readme_block(&readme, "<!-- simulate: defaults -->")
        );
        options.thresholds.top_missing.count = 3;
        let three = render_text(&simulate(&text, &options).unwrap());
        assert_eq!(
            three,
            readme_block(&readme, "<!-- simulate: top_missing 3 -->")
        );
        assert_ne!(defaults, three);
    }

    // R8.4: the text holds ids only, never a name or date of birth of the
    // example's children, so it can be shared.
    #[test]
    fn r8_4_the_text_names_no_child() {
        let text = std::fs::read_to_string(root().join("examples/simulate.jsonl")).unwrap();
        let out = render_text(&simulate(&text, &options()).unwrap());
        for line in text.lines() {
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let data = &value["data"];
            for field in [
                &data["given_name"],
                &data["family_name"],
                &data["date_of_birth"],
                &data["person"]["given_name"],
                &data["person"]["family_name"],
                &data["person"]["date_of_birth"],
            ] {
                if let Some(personal) = field.as_str() {
                    assert!(!out.contains(personal), "the text shows a child's data");
                }
            }
        }
        assert!(out.contains("LCS-700001"), "{out}");
    }

    // R8.1: a refused line is reported with its line number and the reason
    // the service gives; a line without `time` cannot be placed on the
    // clock; the run goes on, and blank lines keep the numbering.
    #[test]
    fn r8_1_refused_lines_are_listed_by_number_and_the_run_goes_on() {
        let good = episode(
            "E1",
            "P-1",
            None,
            "2027-01-04T10:00:00Z",
            Some(2),
            "2027-01-04T12:00:00Z",
        );
        let mut untimed: Value = serde_json::from_str(&good).unwrap();
        untimed["id"] = json!("untimed");
        untimed.as_object_mut().unwrap().remove("time");
        let lines = [
            "{not json".to_owned(),
            String::new(),
            good,
            untimed.to_string(),
        ];
        let run = run(&lines, &options());
        assert_eq!(run.lines, 3);
        assert_eq!(run.applied, 1);
        assert_eq!(
            run.refused
                .iter()
                .map(|r| (r.line, r.reason.to_string()))
                .collect::<Vec<_>>(),
            [
                (1, "$: body must be valid JSON".to_owned()),
                (
                    4,
                    "$.time: is required by simulate: its clock follows each event's time"
                        .to_owned()
                ),
            ]
        );
        assert_eq!(run.effects.len(), 1, "the unmatched alert of line 3");
    }

    // R8.2: events apply in order of their time whatever the file order,
    // a repeat (same source and id) changes nothing, and an older revision
    // is ignored.
    #[test]
    fn r8_2_file_order_and_repeats_change_nothing() {
        let open = episode(
            "E1",
            "P-1",
            Some("LCS-1"),
            "2027-01-04T10:00:00Z",
            None,
            "2027-01-04T10:30:00Z",
        );
        let back = episode(
            "E1",
            "P-1",
            Some("LCS-1"),
            "2027-01-04T10:00:00Z",
            Some(80),
            "2027-01-07T19:00:00Z",
        );
        let until = Options {
            until: Some(utc("2027-01-20T00:00:00Z")),
            ..options()
        };
        let in_order = run(&[open.clone(), back.clone()], &until);
        let reversed = run(&[back.clone(), open.clone(), back.clone()], &until);
        assert_eq!(agendas(&in_order), agendas(&reversed));
        assert_eq!(reversed.duplicates, 1);
        assert_eq!(in_order.effects.len(), reversed.effects.len());
        assert_eq!(
            agendas(&in_order)[..2],
            [
                (
                    "2027-01-06".to_owned(),
                    BTreeMap::from([("LCS-1".to_owned(), vec!["live"])])
                ),
                (
                    "2027-01-13".to_owned(),
                    BTreeMap::from([("LCS-1".to_owned(), vec!["over_72_hours", "live"])])
                ),
            ],
            "queued live at once; still missing after collation, and past 72 hours on Thursday"
        );

        // Revision 1 sent after revision 2: ignored.
        let mut late: Value = serde_json::from_str(&open).unwrap();
        late["id"] = json!("late");
        late["time"] = json!("2027-01-08T09:00:00Z");
        let run_late = run(&[open, back, late.to_string()], &until);
        assert_eq!(run_late.ignored, 1);
        assert_eq!(agendas(&run_late), agendas(&in_order));
    }

    // R1.6, R1.7: a live episode crosses 72 hours with no new message; the
    // sweep notices it before the collation that follows, and the child
    // still missing after collation is queued for the next meeting too.
    #[test]
    fn r1_6_a_live_episode_passes_72_hours_by_time_alone() {
        // Friday 8 January 2027, 18:00; 72 hours on is Monday 18:00.
        let open = episode(
            "E1",
            "P-1",
            Some("LCS-1"),
            "2027-01-08T18:00:00Z",
            None,
            "2027-01-08T18:30:00Z",
        );
        let before = Options {
            until: Some(utc("2027-01-11T18:00:00Z")),
            ..options()
        };
        let early = run(std::slice::from_ref(&open), &before);
        assert_eq!(
            agendas(&early),
            [(
                "2027-01-13".to_owned(),
                BTreeMap::from([("LCS-1".to_owned(), vec!["live"])])
            )]
        );
        assert!(
            !early.agendas[0].collated,
            "a preview: collation is Tuesday"
        );

        let after = Options {
            until: Some(utc("2027-01-12T12:00:00Z")),
            ..options()
        };
        let late = run(&[open], &after);
        assert_eq!(
            agendas(&late),
            [
                (
                    "2027-01-13".to_owned(),
                    BTreeMap::from([("LCS-1".to_owned(), vec!["over_72_hours", "live"])])
                ),
                (
                    "2027-01-20".to_owned(),
                    BTreeMap::from([("LCS-1".to_owned(), vec!["over_72_hours", "live"])])
                ),
            ]
        );
        assert!(late.agendas[0].collated);
        assert!(late.ticks.contains(&utc("2027-01-11T18:00:01Z")));
        let requests: Vec<NaiveDate> = late
            .effects
            .iter()
            .filter_map(|p| match &p.effect {
                Effect::TriggerPlanRequest(r) => Some(r.meeting_date),
                _ => None,
            })
            .collect();
        assert_eq!(
            requests.len(),
            2,
            "one request per child per meeting (R4.1)"
        );
    }

    // R2.1, R2.2, R3.1: an event after Tuesday's collation goes to the week
    // after; a reviewed child is not listed again on an old count alone.
    #[test]
    fn r2_2_after_review_an_old_count_alone_lists_no_one() {
        let lines = [
            record("LCS-1", 1, &["P-1"], "none", "2027-01-04T08:00:00Z"),
            episode(
                "E1",
                "P-1",
                None,
                "2027-01-01T20:00:00Z",
                Some(2),
                "2027-01-04T09:00:00Z",
            ),
            episode(
                "E2",
                "P-1",
                None,
                "2027-01-03T20:00:00Z",
                Some(2),
                "2027-01-04T09:01:00Z",
            ),
            // Tuesday 12:00:30, just after collation: next week's meeting.
            episode(
                "E3",
                "P-1",
                None,
                "2027-01-05T10:00:00Z",
                Some(2),
                "2027-01-05T12:00:30Z",
            ),
            // After the meeting of 13 January sat: the record changes, the
            // count of 3 in 90 days still holds, but nothing is new.
            record("LCS-1", 2, &["P-1"], "referred", "2027-01-14T09:00:00Z"),
        ];
        let until = Options {
            until: Some(utc("2027-01-26T12:00:00Z")),
            ..options()
        };
        let done = run(&lines, &until);
        assert_eq!(
            agendas(&done),
            [
                ("2027-01-06".to_owned(), BTreeMap::new()),
                (
                    "2027-01-13".to_owned(),
                    BTreeMap::from([("LCS-1".to_owned(), vec!["frequent_missing"])])
                ),
                ("2027-01-20".to_owned(), BTreeMap::new()),
                ("2027-01-27".to_owned(), BTreeMap::new()),
            ]
        );
        assert!(done.agendas.iter().all(|m| m.collated));
    }

    // R7.1: an unmatched police person is kept (one alert) and queued by
    // police id; the LCS record that links them joins them, and their items
    // carry the LCS id.
    #[test]
    fn r7_1_an_unmatched_person_is_joined_by_the_record_that_links_them() {
        let lines = [
            episode(
                "E1",
                "P-9",
                None,
                "2027-01-04T10:00:00Z",
                None,
                "2027-01-04T10:30:00Z",
            ),
            record("LCS-9", 1, &["P-9"], "active", "2027-01-04T12:00:00Z"),
        ];
        let before = run(&lines[..1], &options());
        assert_eq!(
            agendas(&before)[0].1,
            BTreeMap::from([("P-9 (unmatched police person)".to_owned(), vec!["live"])])
        );
        let joined = run(&lines, &options());
        assert_eq!(
            agendas(&joined)[0].1,
            BTreeMap::from([("LCS-9".to_owned(), vec!["active_vemt_case", "live"])])
        );
        let alerts = joined
            .effects
            .iter()
            .filter(|p| matches!(p.effect, Effect::UnmatchedPersonAlert(_)))
            .count();
        assert_eq!(alerts, 1);
        let requests = joined.effects.len() - alerts;
        assert_eq!(
            requests, 1,
            "the police are asked once for the joined child"
        );
    }

    #[test]
    fn until_before_the_last_event_is_refused_and_naming_the_option() {
        let lines = [episode(
            "E1",
            "P-1",
            None,
            "2027-01-04T10:00:00Z",
            Some(1),
            "2027-01-04T12:00:00Z",
        )];
        let early = Options {
            until: Some(utc("2027-01-04T11:00:00Z")),
            ..options()
        };
        let err = simulate(&lines.join("\n"), &early).unwrap_err().to_string();
        assert_eq!(
            err,
            "--until: must not be before the last event's time, 2027-01-04T12:00:00Z"
        );
    }

    // R5, R5.5, R8.1: outcomes and action updates run as the service runs
    // them: one for a child or an action the service does not know is
    // refused, with the service's reason, and nothing of it is kept (its
    // id applies once sent again after the record); an outcome recorded
    // again under another id changes nothing. An empty file runs.
    #[test]
    fn outcomes_and_action_updates_are_simulated_and_refused_as_the_service_would() {
        let outcome = |id: &str, time: &str| {
            event(
                id,
                "meeting.review-outcome.v1",
                time,
                json!({
                    "meeting_date": "2027-01-06", "lcs_person_id": "LCS-1",
                    "outcome": "synthetic outcome", "actions": [
                        { "action_id": "A-1", "description": "synthetic action",
                          "owner_role": "social_worker", "due_date": "2027-01-20" }
                    ],
                    "refer_to_vpg": false,
                }),
            )
        };
        let update = |id: &str, time: &str| {
            event(
                id,
                "meeting.action-updated.v1",
                time,
                json!({ "action_id": "A-1", "status": "done" }),
            )
        };
        let done = run(
            &[
                update("au-1", "2027-01-04T09:00:00Z"),
                outcome("mo-1", "2027-01-06T12:00:00Z"),
                record("LCS-1", 1, &["P-1"], "none", "2027-01-06T13:00:00Z"),
                outcome("mo-1", "2027-01-06T14:00:00Z"),
                outcome("mo-2", "2027-01-06T15:00:00Z"),
                update("au-2", "2027-01-07T09:00:00Z"),
            ],
            &options(),
        );
        let refused: Vec<(usize, String)> = done
            .refused
            .iter()
            .map(|r| (r.line, r.reason.rule.clone()))
            .collect();
        assert_eq!(
            refused,
            vec![
                (1, crate::process::UNKNOWN_ACTION_RULE.to_owned()),
                (2, crate::process::UNKNOWN_CHILD_RULE.to_owned()),
            ]
        );
        assert_eq!(
            (done.applied, done.already_recorded, done.duplicates),
            (3, 1, 0)
        );
        assert!(
            done.effects
                .iter()
                .any(|p| p.effect.event_type() == "lcs.case-note.v1"),
            "the outcome's case note"
        );
        let empty = simulate("", &options()).unwrap();
        assert_eq!(empty.lines, 0);
        assert!(empty.agendas.is_empty());
        assert!(render_text(&empty).contains("clock: no event to run"));
    }

    // The JSON carries the agendas whole and each effect's outbound data.
    #[test]
    fn the_json_holds_the_agendas_and_the_effects_data() {
        let text = std::fs::read_to_string(root().join("examples/simulate.jsonl")).unwrap();
        let done = simulate(&text, &options()).unwrap();
        let json = render_json(&done, "urn:vemt:test").unwrap();
        assert_eq!(
            json["agendas"].as_array().unwrap().len(),
            done.agendas.len()
        );
        let first_item = &json["agendas"][1]["items"][0];
        assert_eq!(first_item["lcs_person_id"], "LCS-700004");
        assert_eq!(first_item["criteria"], json!(["high_risk"]));
        assert!(first_item["given_name"].is_string(), "the agenda is whole");
        let effects = json["effects"].as_array().unwrap();
        assert_eq!(effects.len(), done.effects.len());
        assert_eq!(effects[0]["type"], "police.trigger-plan-request.v1");
        assert_eq!(effects[0]["data"]["kind"], "copy");
        assert!(effects[0]["data"]["request_id"].is_string());
        assert_eq!(json["refused"][0]["line"], 25);
    }
}
