//! Small commands: `unlock`, `completions`, `man`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::CommandFactory;
use lifeboat::repo::{FileType, lock};

use super::{Cli, Exit, Global};

#[derive(clap::Args, Debug)]
pub struct UnlockArgs {
    /// Remove all locks, also those of running processes (dangerous).
    #[arg(long)]
    pub remove_all: bool,
}

pub fn unlock(g: &Global, a: &UnlockArgs) -> Result<Exit> {
    let backend = g.backend_at(&g.location()?)?;
    lifeboat::repo::Repository::check_format(&*backend)?;
    let before = backend.list(FileType::Lock)?.len();
    // Reading the locks clears the stale ones.
    let live = lock::live_locks(&*backend, None)?;
    let mut removed = before - live.len();
    if a.remove_all {
        for (name, _) in &live {
            backend.remove(FileType::Lock, name)?;
            removed += 1;
        }
    } else {
        for (_, rec) in &live {
            eprintln!(
                "still held: {}",
                lifeboat::escape::controls(&rec.describe())
            );
        }
    }
    if !g.quiet {
        println!("removed {removed} lock(s)");
    }
    Ok(Exit::Success)
}

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
    pub shell: clap_complete::Shell,
}

pub fn completions(a: &CompletionsArgs) -> Result<Exit> {
    let mut cmd = Cli::command();
    // Generated whole, then written with its error returned (clap_complete panics on a
    // failed write, such as a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "lifeboat", &mut script);
    super::out::write_all(&script)?;
    Ok(Exit::Success)
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Directory to write lifeboat.1 and one page per subcommand into.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

pub fn man(a: &ManArgs) -> Result<Exit> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    clap_mangen::generate_to(Cli::command(), &a.dir)
        .with_context(|| format!("writing man pages to {}", a.dir.display()))?;
    println!("man pages written to {}", a.dir.display());
    Ok(Exit::Success)
}
