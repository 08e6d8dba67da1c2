//! Meeting outcomes (R5, R4.3) and action updates (R5.5). An outcome is
//! applied once per child and meeting, whatever its CloudEvent id; one for
//! a child the service does not know is refused (dead-lettered) with
//! nothing kept. The outcome's free text is never logged.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{Intake, Outcome, Refused};
use crate::contract::inbound::Rejection;
use crate::domain::effects::Effect;
use crate::domain::outcome::{self, ActionUpdate, NoteTemplates, OutcomeChild, ReviewOutcome};
use crate::domain::queue::RequestSubject;
use crate::store::{self, children, outcomes};

/// The rule an outcome for an unknown child breaks.
pub const UNKNOWN_CHILD_RULE: &str = "must be a child the service knows (send lcs.child.v1 first)";
/// The rule an update of an unknown action breaks.
pub const UNKNOWN_ACTION_RULE: &str =
    "must be an action of a recorded meeting outcome (send meeting.review-outcome.v1 first)";

impl Intake {
    pub(super) async fn apply_review_outcome(
        &self,
        conn: &mut PgConnection,
        review: &ReviewOutcome,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> anyhow::Result<Outcome> {
        store::lock_keys(conn, vec![format!("lcs:{}", review.lcs_person_id)]).await?;
        let Some(known) = outcomes::known_child(conn, &review.lcs_person_id).await? else {
            return Err(Refused(Rejection {
                path: "$.data.lcs_person_id".to_owned(),
                rule: UNKNOWN_CHILD_RULE.to_owned(),
            })
            .into());
        };
        let row = children::lock(conn, known.child_id).await?;
        if !outcomes::record(conn, review, now).await? {
            tracing::info!(
                lcs_person_id = %review.lcs_person_id,
                meeting_date = %review.meeting_date,
                "meeting outcome already recorded; ignored"
            );
            return Ok(Outcome::AlreadyRecorded);
        }
        let police = match &review.trigger_plan {
            None => None,
            Some(_) => {
                let wanted = store::batch::Wanted {
                    children: [known.child_id].into(),
                    ..Default::default()
                };
                let state = store::batch::load(conn, &wanted).await?;
                let child_episodes = state.episodes_of(known.child_id);
                match crate::process::request_subject(&state, known.child_id, &child_episodes) {
                    Some(subject) => Some(subject),
                    None => match (
                        known.police_person_ids.first(),
                        &row.given_name,
                        &row.family_name,
                        row.date_of_birth,
                    ) {
                        (Some(police), Some(given), Some(family), Some(dob)) => {
                            Some(RequestSubject {
                                police_person_id: police.clone(),
                                lcs_person_id: Some(review.lcs_person_id.clone()),
                                given_name: given.clone(),
                                family_name: family.clone(),
                                date_of_birth: dob,
                            })
                        }
                        _ => None,
                    },
                }
            }
        };
        if review.trigger_plan.is_some() && police.is_none() {
            tracing::warn!(
                lcs_person_id = %review.lcs_person_id,
                meeting_date = %review.meeting_date,
                "meeting asked for a trigger plan but no police person of the child is known; no request sent"
            );
        }
        let child = OutcomeChild {
            lcs_person_id: review.lcs_person_id.clone(),
            vemt_active: known.vemt_active,
            ehm_id: known.ehm_id,
            professionals: known.professionals,
            police,
        };
        effects.extend(outcome::on_outcome(
            review,
            &child,
            NoteTemplates {
                outcome: &self.templates.review_outcome,
                plan_request: &self.templates.trigger_plan_requested,
            },
        ));
        tracing::info!(
            lcs_person_id = %review.lcs_person_id,
            meeting_date = %review.meeting_date,
            actions = review.actions.len(),
            refer_to_vpg = review.refer_to_vpg,
            trigger_plan = ?review.trigger_plan.as_ref().map(|p| p.request),
            "meeting outcome recorded"
        );
        Ok(Outcome::Applied)
    }

    pub(super) async fn apply_action_update(
        &self,
        conn: &mut PgConnection,
        update: &ActionUpdate,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Outcome> {
        if !outcomes::update_action(conn, update, now).await? {
            return Err(Refused(Rejection {
                path: "$.data.action_id".to_owned(),
                rule: UNKNOWN_ACTION_RULE.to_owned(),
            })
            .into());
        }
        tracing::info!(action_id = %update.action_id, status = update.status.as_str(), "action updated");
        Ok(Outcome::Applied)
    }
}
