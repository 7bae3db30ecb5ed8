//! The snapshot filters `find`, `stats` and `tag` share (`--hostname`, `--tag`, `--path`), so
//! they read the same way in every command that picks snapshots.

use lifeboat::snapshot::select::Filter;

#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Snapshot filters")]
pub struct FilterArgs {
    /// Only snapshots taken on this host (repeatable: any of them).
    #[arg(long = "hostname", value_name = "HOST")]
    pub hostnames: Vec<String>,
    /// Only snapshots with this tag (repeatable: all of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only snapshots of this path (repeatable: all of them).
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<String>,
}

impl FilterArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            hosts: self.hostnames.clone(),
            tags: self.tags.clone(),
            paths: self.paths.clone(),
        }
    }
}
