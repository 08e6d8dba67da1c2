//! Children and the police identities linked to them (R7.1).

use chrono::NaiveDate;
use sqlx::PgConnection;

use super::ChildId;

/// What the queue needs to know about a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRow {
    pub child_id: ChildId,
    pub lcs_person_id: Option<String>,
    pub record_revision: Option<i32>,
    pub vemt_active: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
}

/// The child's row, locked until the transaction ends, so that two units of
/// work never evaluate one child at once.
pub async fn lock(conn: &mut PgConnection, child_id: ChildId) -> sqlx::Result<ChildRow> {
    sqlx::query_as!(
        ChildRow,
        r#"SELECT child_id, lcs_person_id, record_revision, vemt_active,
                  record->>'given_name' AS given_name,
                  record->>'family_name' AS family_name,
                  (record->>'date_of_birth')::date AS date_of_birth
           FROM children WHERE child_id = $1 FOR UPDATE"#,
        child_id
    )
    .fetch_one(conn)
    .await
}

/// Police persons no LCS child is linked to yet, for operations (R7.1).
pub async fn unmatched_police_persons(conn: &mut PgConnection) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "SELECT p.police_person_id FROM police_persons p JOIN children c USING (child_id)
         WHERE c.lcs_person_id IS NULL ORDER BY p.police_person_id"
    )
    .fetch_all(conn)
    .await
}

/// Children with an episode still open: the sweep looks at them (R1.6, R1.7).
pub async fn with_live_episodes(conn: &mut PgConnection) -> sqlx::Result<Vec<ChildId>> {
    sqlx::query_scalar!(
        "SELECT DISTINCT p.child_id AS \"child_id!\" FROM episodes e JOIN police_persons p USING (police_person_id)
         WHERE e.status = 'open' ORDER BY 1"
    )
    .fetch_all(conn)
    .await
}
