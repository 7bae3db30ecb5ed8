//! What can stop a container update, rollback or recovery (`ops/update/`). Library errors
//! carry data, not CLI advice: the CLI adds which command repairs each. Re-exported as
//! `ops::update::UpdateError`; shown as they are by [`crate::Error::Update`].

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Another update or rollback holds the container's lock file.
    #[error("docker: an update or rollback of {container} is running (it holds {})", lock.display())]
    Busy { container: String, lock: PathBuf },

    #[error("docker: another lifeboat update of {0} is running")]
    AlreadyRunning(String),

    /// An update of the container was interrupted and its journal is still there; `state_dir`
    /// is the state directory a rollback was given (an update names only the journal).
    #[error("docker: an interrupted update of {container} is recorded in {}", journal.display())]
    Interrupted {
        container: String,
        journal: PathBuf,
        state_dir: Option<PathBuf>,
    },

    /// The pre-update snapshot did not include the container (`label` excludes it).
    #[error(
        "docker: container {container} could not be snapshotted (labelled {label}=true?): no {tag} snapshot, nothing changed"
    )]
    NotSnapshotted {
        container: String,
        label: &'static str,
        tag: String,
    },

    #[error("docker: no container named {0} (see `docker ps -a`)")]
    NoSuchContainer(String),

    /// The container is the old one an update renamed aside.
    #[error("docker: {0} is an old container set aside by an update")]
    SetAside(String),

    #[error("docker: {0} is a lifeboat helper container, not something to update")]
    Helper(String),

    #[error("docker: container {0} records no image reference")]
    NoImageReference(String),

    #[error("docker: image {0} is not on this engine")]
    ImageNotPresent(String),

    /// Other containers join the container's network, IPC or PID namespace.
    #[error(
        "docker: {} share(s) a namespace of {container} (--network/--ipc/--pid container:{container}) and would be left attached to the removed container: recreate them after updating it, or update them together with their compose project; nothing was changed",
        dependents.join(", ")
    )]
    SharedNamespace {
        container: String,
        dependents: Vec<String>,
    },

    /// The container or image changed under the update before anything was changed
    /// (`what`: "container web vanished", "container web changed image", "image x vanished").
    #[error("docker: {0} during the update; nothing was changed")]
    ChangedMeanwhile(String),

    /// The new container failed and the old one could not be put back; the journal is kept.
    #[error(
        "docker: the update of {container} failed ({reason}) and putting the old container back failed too: {cause}; the journal is kept"
    )]
    PutBackFailed {
        container: String,
        reason: String,
        cause: String,
    },

    /// After putting the old container back it does not run.
    #[error("docker: {0}")]
    NotRunning(String),

    /// Recovery found neither container: only the pre-update snapshot (`snapshot`, a short
    /// ID) can bring it back.
    #[error("docker: neither the old container {old} nor a new {container} exists")]
    BothGone {
        container: String,
        old: String,
        snapshot: String,
    },

    /// A rollback's snapshot holds no Docker deployment.
    #[error("snapshot {0} holds no containers")]
    NoContainers(String),

    #[error("container {container} is not in snapshot {snapshot}")]
    NotInSnapshot { container: String, snapshot: String },

    /// A file in the journal directory is not a journal, or not the one its name says.
    #[error("{}: {reason}; look at it and remove it", path.display())]
    BadJournal { path: PathBuf, reason: String },
}
