//! What can go wrong talking to the Docker Engine or restoring a deployment (`docker/`). A
//! leaf of the error module so the top-level [`crate::Error`] can wrap it without the error
//! module depending on `docker/`; `docker::DockerError` re-exports it.

/// A Docker failure. Shown after `docker: ` by [`crate::Error::Docker`].
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine refused a request or could not be reached: what was asked, and its answer
    /// (with the HTTP status when there was one).
    #[error("{what}: {reason}")]
    Engine { what: String, reason: String },

    /// A request did not finish in time.
    #[error("{what}: timed out after {secs}s")]
    TimedOut { what: String, secs: u64 },

    #[error("no container named {0} (see `docker ps -a`)")]
    NoSuchContainer(String),

    /// A container, image or volume that was there a moment ago is gone (`what` names it:
    /// "container web", "volume data").
    #[error("{what} vanished{when}")]
    Vanished { what: String, when: &'static str },

    /// A container's recorded or live settings cannot be turned into a create request.
    #[error("container {container}: {reason}")]
    Spec { container: String, reason: String },

    #[error("pre-snapshot command of {container} exited with {code}: {output}")]
    PreSnapshotCommand {
        container: String,
        code: String,
        output: String,
    },

    #[error("saving image {image}: {reason}")]
    SaveImage { image: String, reason: String },

    /// The snapshot records only an image's reference and the engine does not have it.
    #[error(
        "image {id} ({tags}) is not on this engine and the snapshot holds only its reference: pull or load it first"
    )]
    ImageNotSaved { id: String, tags: String },

    #[error("loading the archive of image {0} did not produce that image")]
    ImageNotLoaded(String),

    /// A step of putting a container aside, back or in place failed (the message says which
    /// and what state it left).
    #[error("{0}")]
    Step(String),

    /// Volume data could not be written in full.
    #[error("volume {volume}: {count} object(s) could not be restored; first: {first}")]
    VolumeIncomplete {
        volume: String,
        count: usize,
        first: String,
    },

    #[error("volume {volume}: no image to create the helper container from ({image} is missing)")]
    NoHelperImage { volume: String, image: String },

    #[error("container {container}: no volume mounted at {destination} after create")]
    NoVolumeMounted {
        container: String,
        destination: String,
    },
}
