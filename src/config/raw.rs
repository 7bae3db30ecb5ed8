//! The configuration file as read: serde structs that mirror the TOML, every value as written
//! (durations and fractions still strings). [`super::Config`] turns them into typed values once,
//! with every default; nothing else reads these.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Job name: labels metrics and run records (default `default`).
    #[serde(default)]
    pub name: Option<String>,
    /// Hostname recorded in snapshots (default: the machine's).
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub repository: RepositoryConfig,
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    #[serde(default)]
    pub containers: ContainersConfig,
    #[serde(default)]
    pub host: HostConfig,
    #[serde(default)]
    pub models: ModelsConfig,
    #[serde(default)]
    pub hooks: HooksConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub prune: PruneConfig,
    #[serde(default)]
    pub verify: VerifyConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub monitoring: MonitoringConfig,
    #[serde(default)]
    pub update: UpdateConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// A directory, or `s3:ENDPOINT/BUCKET/PREFIX`.
    pub path: Option<String>,
    /// Signing region of an S3 repository (else AWS_REGION, else us-east-1).
    pub s3_region: Option<String>,
    /// Virtual-host addressing (`bucket.host`); default: only on amazonaws.com.
    pub s3_virtual_host: Option<bool>,
    /// A shared credentials file (`[profile]` with aws_access_key_id ...); never a key inline.
    pub s3_credentials_file: Option<PathBuf>,
    /// The profile in that file (else AWS_PROFILE, else `default`).
    pub s3_profile: Option<String>,
    /// Uploads in flight at once (default 8).
    pub s3_connections: Option<usize>,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    /// A write-only host key file instead of a password (FORMAT.md §13).
    pub key_file: Option<PathBuf>,
    /// How long to wait for another lifeboat's lock (`5m`).
    pub lock_wait: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub exclude_caches: bool,
    #[serde(default)]
    pub one_file_system: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainersConfig {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub compose_projects: Vec<String>,
    #[serde(default)]
    pub all: bool,
    /// Store image content (default true).
    pub images: Option<bool>,
    #[serde(default)]
    pub volumes_via_api: bool,
    /// Capture the sources of the containers' bind mounts (default true).
    pub bind_data: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Capture the host profile with every snapshot of the job.
    #[serde(default)]
    pub enabled: bool,
    pub root: Option<PathBuf>,
    /// Added to the built-in profile (`*` matches one name).
    #[serde(default)]
    pub include: Vec<String>,
    /// Removed from it (a profile item or a path).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Run the live-state tools (default true).
    pub commands: Option<bool>,
    /// Longest `sshd -t` and the firewall tools may run during `restore --host --apply` and
    /// `--undo` (default 60s: [`crate::child::DEFAULT_TIMEOUT`]).
    pub tool_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Model directories: snapshotted, and every file in them counts as a model.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// Published checksum lists to check the snapshot against.
    #[serde(default)]
    pub expect_sha256: Vec<PathBuf>,
    #[serde(default)]
    pub allow_mismatch: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// Shell commands run before the snapshot; a failure stops the job.
    #[serde(default)]
    pub before: Vec<String>,
    /// Run after a successful job.
    #[serde(default)]
    pub after: Vec<String>,
    /// Run after a failed job (with LIFEBOAT_ERROR set).
    #[serde(default)]
    pub on_error: Vec<String>,
    /// Longest a hook may run (default 5m).
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    pub keep_within: Option<String>,
    #[serde(default)]
    pub keep_tags: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneConfig {
    /// Prune when the last prune is older than this (default 7d); `0` never prunes.
    pub every: Option<String>,
    /// How long a pack a prune marked unused stays before a later prune deletes it
    /// (default 23h; FORMAT.md §11).
    pub grace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Packs read back per run, as `N%` or `1/N` (default `1/30`: everything once a month).
    pub read_data_subset: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// systemd OnCalendar (default `daily`).
    pub on_calendar: Option<String>,
    pub randomized_delay: Option<String>,
    /// `status` warns when the newest snapshot is older than this (default 26h for daily).
    pub max_age: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// node_exporter textfile to write after each run.
    pub metrics_file: Option<PathBuf>,
    /// Where run records live (default /var/lib/lifeboat).
    pub state_dir: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Without a healthcheck: running without a restart this long counts as healthy (30s).
    pub healthy_after: Option<String>,
    /// Longest wait for healthy (default 5m).
    pub health_timeout: Option<String>,
}
