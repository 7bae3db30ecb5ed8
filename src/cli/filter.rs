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
    /// The filter, preferring this host's snapshots for `latest` as every command does.
    pub fn filter(&self, g: &super::Global) -> Filter {
        Filter {
            paths: self.paths.clone(),
            ..g.filter(&self.hostnames, &self.tags)
        }
    }
}
