//! Who a message is about (R7.1). Police know a child by police person ids,
//! LCS by one LCS person id; the LCS record's list of police ids is the
//! authority on links. These are the decisions over what is held; the
//! service (on PostgreSQL) and `simulate` (in memory) carry them out.

use super::ids::LcsPersonId;

/// What is held about a police person: the child they are linked to, and
/// that child's LCS id (`None` for an unmatched child).
pub type Link<'a, C> = Option<(C, Option<&'a str>)>;

/// The child a police episode report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedChild<'a, C> {
    /// The child the police person is linked to. `overruled`: the report
    /// names another LCS person than the LCS record links, and the LCS link
    /// is kept.
    Linked { child: C, overruled: bool },
    /// An unmatched child that the report names an LCS id for: joined to
    /// the child of that id (or given it, when the id is new).
    Join { unmatched: C, lcs: &'a LcsPersonId },
    /// A police person new to the service, reported with an LCS id: linked
    /// to the child of that id (found, or new).
    LinkToLcs(&'a LcsPersonId),
    /// Neither linked nor named: kept as an unmatched child, and operations
    /// told once.
    NewUnmatched,
}

pub fn reported_child<'a, C>(
    linked: Link<'_, C>,
    lcs: Option<&'a LcsPersonId>,
) -> ReportedChild<'a, C> {
    match (linked, lcs) {
        (Some((child, _)), None) => ReportedChild::Linked {
            child,
            overruled: false,
        },
        (Some((child, Some(held))), Some(lcs)) => ReportedChild::Linked {
            child,
            overruled: held != lcs.as_str(),
        },
        (Some((unmatched, None)), Some(lcs)) => ReportedChild::Join { unmatched, lcs },
        (None, Some(lcs)) => ReportedChild::LinkToLcs(lcs),
        (None, None) => ReportedChild::NewUnmatched,
    }
}

/// What an LCS record listing a police person does to that person's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordLink<C> {
    /// Not held yet: link them to the record's child.
    New,
    /// Already linked to the record's child.
    Same,
    /// Held as an unmatched child: that child is the record's child, so it
    /// is absorbed (episodes and agenda items move over).
    Absorb(C),
    /// Linked to another LCS child: the link moves, and that child is looked
    /// at again.
    MoveFrom(C),
}

pub fn record_link<C: PartialEq>(target: &C, linked: Link<'_, C>) -> RecordLink<C> {
    match linked {
        None => RecordLink::New,
        Some((child, _)) if child == *target => RecordLink::Same,
        Some((child, None)) => RecordLink::Absorb(child),
        Some((child, Some(_))) => RecordLink::MoveFrom(child),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcs(raw: &str) -> LcsPersonId {
        LcsPersonId::parse(raw).unwrap()
    }

    // R7.1: every combination of what is held and what the report names.
    #[test]
    fn r7_1_reported_child_follows_the_lcs_link() {
        let named = lcs("LCS-1");
        assert_eq!(
            reported_child(Some((7, Some("LCS-1"))), None),
            ReportedChild::Linked {
                child: 7,
                overruled: false
            }
        );
        assert_eq!(
            reported_child(Some((7, Some("LCS-1"))), Some(&named)),
            ReportedChild::Linked {
                child: 7,
                overruled: false
            }
        );
        assert_eq!(
            reported_child(Some((7, Some("LCS-2"))), Some(&named)),
            ReportedChild::Linked {
                child: 7,
                overruled: true
            },
            "the LCS record's link wins over the report's"
        );
        assert_eq!(
            reported_child(Some((7, None)), None),
            ReportedChild::Linked {
                child: 7,
                overruled: false
            }
        );
        assert_eq!(
            reported_child(Some((7, None)), Some(&named)),
            ReportedChild::Join {
                unmatched: 7,
                lcs: &named
            }
        );
        assert_eq!(
            reported_child::<i64>(None, Some(&named)),
            ReportedChild::LinkToLcs(&named)
        );
        assert_eq!(
            reported_child::<i64>(None, None),
            ReportedChild::NewUnmatched
        );
    }

    // R7.1: a record's police ids link, absorb unmatched children, or move.
    #[test]
    fn r7_1_record_links_absorb_unmatched_children_and_move_matched_ones() {
        assert_eq!(record_link(&1, None), RecordLink::New);
        assert_eq!(record_link(&1, Some((1, Some("LCS-1")))), RecordLink::Same);
        assert_eq!(record_link(&1, Some((1, None))), RecordLink::Same);
        assert_eq!(record_link(&1, Some((2, None))), RecordLink::Absorb(2));
        assert_eq!(
            record_link(&1, Some((2, Some("LCS-2")))),
            RecordLink::MoveFrom(2)
        );
    }
}
