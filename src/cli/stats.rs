//! `lifeboat stats [SNAPSHOT...]`: sizes of snapshots as restored, as stored, or by unique
//! contents (restic's modes).

use anyhow::Result;
use lifeboat::ops::stats::{Mode, stats};
use lifeboat::snapshot::select;
use lifeboat::util::human_bytes;

use super::filter::FilterArgs;
use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
#[command(after_help = "Modes (as restic's):
  restore-size       total size and number of the files a restore writes (hard links count as
                     files, their bytes once)
  raw-data           the blobs the snapshots reference, each counted once however many
                     snapshots share it: number, bytes stored, bytes before compression and
                     encryption, compression ratio
  files-by-contents  files with distinct contents (by SHA-256), each counted once

Every tree of a snapshot counts: its files and, for Docker snapshots, volume data and image
archives.

Examples:
  lifeboat stats                          # all snapshots, as restored
  lifeboat stats latest --mode raw-data   # what the newest snapshot occupies in the repository
  lifeboat stats --mode files-by-contents --hostname gpu-01
  lifeboat stats --json | jq .total_size")]
pub struct Args {
    /// Snapshots to count (`latest` or ID prefixes); without them, every snapshot the filters
    /// match.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// How to count: restore-size, raw-data or files-by-contents.
    #[arg(long, value_name = "MODE", default_value = "restore-size", value_parser = Mode::parse)]
    pub mode: Mode,
    #[command(flatten)]
    pub filter: FilterArgs,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let repo = g.open()?.indexed()?;
    let filter = a.filter.filter(g);
    let snapshots = select::pick(&repo, &a.snapshots, &filter)?;
    let st = stats(&repo, &snapshots, a.mode)?;
    let missing = st.missing_blobs.unwrap_or(0);
    if missing > 0 {
        super::log::warn(&format!(
            "{missing} referenced blob(s) are not in the index: their data is lost (`lifeboat verify` names them)"
        ));
    }
    if g.json {
        print_json(&st)?;
    } else {
        println!("Stats in {} mode:", st.mode);
        let row = |k: &str, v: String| println!("{k:>24}  {v}");
        row("Snapshots processed:", st.snapshots_count.to_string());
        if let Some(n) = st.total_blob_count {
            row("Total Blob Count:", n.to_string());
        }
        if let Some(n) = st.total_file_count {
            row("Total File Count:", n.to_string());
        }
        if let Some(n) = st.total_uncompressed_size {
            row("Total Uncompressed Size:", human_bytes(n));
        }
        row("Total Size:", human_bytes(st.total_size));
        if let Some(r) = st.compression_ratio {
            row("Compression Ratio:", format!("{r:.2}x"));
        }
    }
    Ok(if missing > 0 {
        Exit::Integrity
    } else {
        Exit::Success
    })
}
