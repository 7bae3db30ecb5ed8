//! Which owner a restored object gets. An entry records its numeric uid/gid and, when the
//! snapshot's host knew them, the user and group names (`walk.rs`). On another host the same
//! name often has another number (a fresh install creates its users in another order), so a
//! restore gives an object the id its recorded *name* has on this host, and falls back to the
//! recorded number when the name is unknown here or was never recorded (restic#3572, GNU
//! tar's default). `--numeric-owner` keeps the numbers, as Docker volume data always does:
//! container uids are not this host's users.

use std::collections::HashMap;

use crate::snapshot::entry::Entry;

/// Name lookups of one restore, each made once (through the system's NSS, as the snapshot's
/// walk resolved ids to names).
#[derive(Debug, Default)]
pub struct Owners {
    users: HashMap<String, Option<u32>>,
    groups: HashMap<String, Option<u32>>,
}

impl Owners {
    /// Give `e` the ids its recorded names have here; true when that changed either id.
    pub fn map(&mut self, e: &mut Entry) -> bool {
        let uid = e.user.as_deref().and_then(|n| self.uid(n));
        let gid = e.group.as_deref().and_then(|n| self.gid(n));
        let before = (e.uid, e.gid);
        e.uid = uid.unwrap_or(e.uid);
        e.gid = gid.unwrap_or(e.gid);
        before != (e.uid, e.gid)
    }

    fn uid(&mut self, name: &str) -> Option<u32> {
        if name.is_empty() {
            return None;
        }
        *self
            .users
            .entry(name.to_string())
            .or_insert_with(|| uzers::get_user_by_name(name).map(|u| u.uid()))
    }

    fn gid(&mut self, name: &str) -> Option<u32> {
        if name.is_empty() {
            return None;
        }
        *self
            .groups
            .entry(name.to_string())
            .or_insert_with(|| uzers::get_group_by_name(name).map(|g| g.gid()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::entry::Kind;

    #[test]
    fn names_known_here_win_and_unknown_names_keep_the_number() {
        let mut o = Owners::default();
        let mut e = Entry::new(b"/f".to_vec(), Kind::File);
        // `root` is uid/gid 0 on every Linux host.
        e.user = Some("root".into());
        e.group = Some("root".into());
        e.uid = 4242;
        e.gid = 4343;
        assert!(o.map(&mut e));
        assert_eq!((e.uid, e.gid), (0, 0));
        e.user = Some("lifeboat-no-such-user-x7".into());
        e.group = None;
        e.uid = 4242;
        e.gid = 4343;
        assert!(!o.map(&mut e));
        assert_eq!((e.uid, e.gid), (4242, 4343));
        e.user = Some(String::new());
        assert!(!o.map(&mut e));
    }
}
