//! `lifeboat init`: create a repository.

use anyhow::Result;
use lifeboat::crypto::KdfParams;
use lifeboat::repo::Repository;

use super::{Exit, Global, password, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Argon2id memory per key derivation, in MiB (8..=1024).
    #[arg(
        long,
        default_value_t = 64,
        value_name = "MIB",
        value_parser = clap::value_parser!(u32).range(8..=1024),
        help_heading = "Key derivation"
    )]
    pub kdf_memory: u32,
    /// Argon2id passes (1..=64).
    #[arg(
        long,
        default_value_t = 3,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=64),
        help_heading = "Key derivation"
    )]
    pub kdf_iterations: u32,
    /// Argon2id lanes (1..=16).
    #[arg(
        long,
        default_value_t = 2,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=16),
        help_heading = "Key derivation"
    )]
    pub kdf_parallelism: u32,
}

pub fn kdf(memory_mib: u32, iterations: u32, parallelism: u32) -> KdfParams {
    KdfParams::new(memory_mib.saturating_mul(1024), iterations, parallelism)
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let location = g.location()?;
    let backend = g.backend_at(&location)?;
    if backend.exists()? {
        return Err(lifeboat::Error::RepositoryExists(location.to_string()).into());
    }
    let params = kdf(a.kdf_memory, a.kdf_iterations, a.kdf_parallelism);
    params.check_bounds("--kdf-* options")?;
    let pw = password::new_password(g, None)?;
    let repo = Repository::init(backend, &pw, params)?;
    let id = hex::encode(&repo.config().id);
    if g.json {
        print_json(&serde_json::json!({ "repository": location.to_string(), "id": id }))?;
    } else if !g.quiet {
        println!("created lifeboat repository {id} at {location}");
        println!("keep the password safe: without it the data cannot be recovered");
    }
    Ok(Exit::Success)
}
