//! The tags of the snapshots lifeboat takes for itself: the way back of an update, of a
//! rollback and of a host apply. They are part of the format (a snapshot's group and whether it
//! may be `latest` follow from them, FORMAT.md §8), so each is defined once, here.

/// Tag of the snapshot taken before an update (what `lifeboat rollback` goes back to).
pub const PRE_UPDATE_TAG: &str = "pre-update";
/// Tag of the snapshot taken before `rollback --volumes` overwrites volume data.
pub const PRE_ROLLBACK_TAG: &str = "pre-rollback";
/// Tag of the snapshots that hold what a host apply replaced.
pub const HOST_UNDO_TAG: &str = "host-undo";

/// Every internal tag. A snapshot with one of them is in a group of its own kind, is never
/// anyone's plain `latest`, and is never the parent of a regular snapshot.
pub const INTERNAL_TAGS: [&str; 3] = [PRE_UPDATE_TAG, PRE_ROLLBACK_TAG, HOST_UNDO_TAG];

/// The internal tag of a snapshot with these tags, if any (the first in [`INTERNAL_TAGS`]).
pub fn internal(tags: &[String]) -> Option<&'static str> {
    INTERNAL_TAGS
        .iter()
        .find(|t| tags.iter().any(|x| x == *t))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_internal_tag_of_a_snapshot_names_its_kind() {
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert_eq!(internal(&tags(&["nightly"])), None);
        assert_eq!(internal(&tags(&["x", "host-undo"])), Some(HOST_UNDO_TAG));
        assert_eq!(
            internal(&tags(&["pre-rollback", "pre-update"])),
            Some(PRE_UPDATE_TAG)
        );
        assert_eq!(internal(&tags(&["Pre-Update"])), None, "tags are exact");
    }
}
