//! The child's LCS record (`lcs.child.v1`) and return home interviews.

use chrono::{DateTime, NaiveDate, Utc};

use super::episode::Gender;
use super::ids::{EhmId, EpisodeId, LcsPersonId, PolicePersonId, RhiId, WorkerId};

wire_enum!(VemtStatus {
    None = "none",
    Referred = "referred",
    Deferred = "deferred",
    Active = "active",
    Closed = "closed",
});

wire_enum!(VemtCategory {
    Cse = "cse",
    Cce = "cce",
    Missing = "missing",
    Trafficking = "trafficking",
    Other = "other",
});

wire_enum!(VemtRiskLevel {
    High = "high",
    Medium = "medium",
    Low = "low",
});

wire_enum!(ProfessionalRole {
    SocialWorker = "social_worker",
    TeamManager = "team_manager",
    EarlyHelpWorker = "early_help_worker",
    EarlyHelpManager = "early_help_manager",
    Iro = "iro",
    LeadProfessional = "lead_professional",
});

wire_enum!(RhiStatus {
    Offered = "offered",
    Completed = "completed",
    Declined = "declined",
    NotOffered = "not_offered",
});

#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Vemt {
    pub status: VemtStatus,
    pub category: Option<VemtCategory>,
    pub risk_level: Option<VemtRiskLevel>,
}

/// Read back from the stored record too (the people a trigger plan goes to).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Professional {
    pub role: ProfessionalRole,
    pub worker_id: WorkerId,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// The current state of a child's LCS record. Only what the process needs
/// is kept (R7.2): no address, no GP.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChildRecord {
    pub lcs_person_id: LcsPersonId,
    pub revision: u32,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub gender: Option<Gender>,
    pub police_person_ids: Vec<PolicePersonId>,
    pub ehm_id: Option<EhmId>,
    pub vemt: Vemt,
    pub professionals: Vec<Professional>,
}

impl ChildRecord {
    pub fn vemt_active(&self) -> bool {
        self.vemt.status == VemtStatus::Active
    }
}

/// A return home interview (`lcs.return-home-interview.v1`). The free-text
/// summary is not kept: the agenda shows status and dates only (R7.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReturnHomeInterview {
    pub rhi_id: RhiId,
    pub episode_id: EpisodeId,
    pub lcs_person_id: Option<LcsPersonId>,
    pub status: RhiStatus,
    pub offered_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}
