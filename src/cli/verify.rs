//! `lifeboat verify [--read-data]`: check the repository.

use anyhow::{Result, bail};
use lifeboat::ops::verify::{VerifyOptions, verify};
use lifeboat::util::human_bytes;

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also decrypt, decompress and hash every blob of every pack.
    #[arg(long)]
    pub read_data: bool,
    /// Read only slice N of M of the packs (e.g. 3/7), to spread reading over runs.
    #[arg(long, value_name = "N/M")]
    pub read_data_subset: Option<String>,
}

fn parse_subset(s: &str) -> Result<(u32, u32)> {
    let (n, m) = s
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("--read-data-subset wants N/M, like 2/7"))?;
    let (n, m): (u32, u32) = (n.trim().parse()?, m.trim().parse()?);
    if m == 0 || n == 0 || n > m {
        bail!("--read-data-subset {s}: need 1 <= N <= M");
    }
    Ok((n, m))
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let repo = g.open()?;
    let subset = a
        .read_data_subset
        .as_deref()
        .map(parse_subset)
        .transpose()?;
    let opts = VerifyOptions {
        read_data: a.read_data || subset.is_some(),
        subset,
    };
    let bar = g.progress();
    let r = verify(&repo, &opts, &bar)?;
    if g.json {
        print_json(&r)?;
    } else {
        for w in &r.warnings {
            super::log::warn(&w.to_string());
        }
        for e in &r.errors {
            super::log::error(&e.to_string());
        }
        if !g.quiet {
            println!(
                "checked {} snapshots, {} index files, {} packs, {} blobs{}",
                r.snapshots,
                r.index_files,
                r.packs,
                r.blobs,
                if opts.read_data {
                    format!(
                        "; read {} packs ({})",
                        r.packs_read,
                        human_bytes(r.bytes_read)
                    )
                } else {
                    String::new()
                }
            );
            if r.ok() {
                println!("no errors found");
            } else {
                println!("{} error(s) found", r.errors.len());
            }
        }
    }
    Ok(if r.ok() {
        Exit::Success
    } else {
        Exit::Integrity
    })
}
