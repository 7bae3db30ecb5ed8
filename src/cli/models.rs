//! `lifeboat models verify|list`: check the model files live on this host against a snapshot,
//! and list the models a snapshot holds.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use lifeboat::escape::text as esc;
use lifeboat::models;
use lifeboat::models::safetensors::{TensorSummary, safetensors_summary};
use lifeboat::models::verify::{Status, verify_live};
use lifeboat::snapshot::content::ContentReader;
use lifeboat::snapshot::select::{self, Need};
use lifeboat::util::human_bytes;
use rayon::prelude::*;

use super::{Exit, Global, print_json};

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Re-hash the live model files at their original paths and compare them with a snapshot.
    ///
    /// Each recorded model is reported unchanged, modified or missing; model files present in
    /// the models' directories but not in the snapshot are reported new. Exit 3 when anything
    /// differs.
    Verify(VerifyArgs),
    /// List a snapshot's model files: path, size, SHA-256, and for .safetensors the dtypes and
    /// tensor count from the stored header.
    List(ListArgs),
}

#[derive(clap::Args, Debug)]
pub struct Select {
    /// Only files under this absolute directory are models, whatever their extension
    /// (repeatable). Default: the configuration's models.dirs, else files named *.safetensors, *.gguf, *.onnx, *.bin, *.pt, *.pth,
    /// *.ckpt, *.h5, *.tflite.
    #[arg(long = "models", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

impl Select {
    /// The directories given, or the configuration's `models.dirs`.
    fn normalized(&self, g: &Global) -> Result<Vec<Vec<u8>>> {
        let configured = g
            .cfg()
            .map(|c| c.models.dirs.as_slice())
            .unwrap_or_default();
        let dirs = if self.dirs.is_empty() {
            configured
        } else {
            &self.dirs
        };
        dirs.iter()
            .map(|d| {
                lifeboat::util::normalize_abs(d.as_os_str().as_bytes()).map_err(anyhow::Error::msg)
            })
            .collect()
    }
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// `latest`, or an ID prefix of at least 8 hex digits.
    #[arg(value_name = "SNAPSHOT", default_value = "latest")]
    pub snapshot: String,
    #[command(flatten)]
    pub select: Select,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// `latest`, or an ID prefix of at least 8 hex digits.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    #[command(flatten)]
    pub select: Select,
}

pub fn run(g: &Global, c: &Cmd) -> Result<Exit> {
    match c {
        Cmd::Verify(a) => verify(g, a),
        Cmd::List(a) => list(g, a),
    }
}

fn verify(g: &Global, a: &VerifyArgs) -> Result<Exit> {
    let dirs = a.select.normalized(g)?;
    let repo = g.open()?.indexed()?;
    let (id, snap) = select::resolve(&repo, &a.snapshot, &g.filter(&[], &[]), &Need::files())?;
    let recorded = models::recorded_models(&repo, &snap, &dirs)?;
    let scan = models::scan_dirs(&recorded, &dirs);
    let bar = g.progress();
    let started = Instant::now();
    let r = verify_live(&recorded, &scan, &bar)?;
    let secs = started.elapsed().as_secs_f64();
    let exit = if r.ok() { Exit::Success } else { Exit::Partial };
    if g.json {
        print_json(&serde_json::json!({
            "snapshot": id.to_hex(),
            "ok": r.ok(),
            "seconds": secs,
            "report": r,
        }))?;
        return Ok(exit);
    }
    if g.quiet {
        for m in r.models.iter().filter(|m| m.status != Status::Unchanged) {
            println!("{:<10} {}", m.status.label(), esc(&m.path));
        }
        for n in &r.new {
            println!("{:<10} {}", "new", esc(&n.path));
        }
        return Ok(exit);
    }
    println!(
        "snapshot {} of {} at {}: {} model file(s), {}",
        id.short(),
        snap.hostname,
        snap.time,
        r.counts.models,
        human_bytes(r.models.iter().map(|m| m.size).sum())
    );
    for m in &r.models {
        match &m.detail {
            Some(d) => println!("{:<10} {}  ({})", m.status.label(), esc(&m.path), esc(d)),
            None => println!("{:<10} {}", m.status.label(), esc(&m.path)),
        }
    }
    for n in &r.new {
        println!("{:<10} {}  ({})", "new", esc(&n.path), human_bytes(n.size));
    }
    let c = &r.counts;
    let mut parts = vec![
        format!("{} unchanged", c.unchanged),
        format!("{} modified", c.modified),
        format!("{} missing", c.missing),
        format!("{} new", c.new),
    ];
    if c.unreadable > 0 {
        parts.push(format!("{} unreadable", c.unreadable));
    }
    println!(
        "{}; hashed {} in {:.2} s ({}/s)",
        parts.join(", "),
        human_bytes(r.bytes_hashed),
        secs,
        human_bytes((r.bytes_hashed as f64 / secs.max(1e-9)) as u64)
    );
    if snap.hostname != lifeboat::util::hostname() {
        eprintln!(
            "warning: the snapshot was taken on {}, this is {}",
            snap.hostname,
            lifeboat::util::hostname()
        );
    }
    Ok(exit)
}

#[derive(serde::Serialize)]
struct Listed {
    path: String,
    size: u64,
    sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    safetensors: Option<TensorSummary>,
    /// Why a .safetensors header could not be summarised.
    #[serde(skip_serializing_if = "Option::is_none")]
    header_error: Option<String>,
}

fn list(g: &Global, a: &ListArgs) -> Result<Exit> {
    let dirs = a.select.normalized(g)?;
    let repo = g.open()?.indexed()?;
    let (id, snap) = select::resolve(&repo, &a.snapshot, &g.filter(&[], &[]), &Need::files())?;
    let recorded = models::recorded_models(&repo, &snap, &dirs)?;
    let mut exit = Exit::Success;
    let listed: Vec<(Listed, bool)> = recorded
        .par_iter()
        .map(|e| {
            let content = e.content.as_ref().expect("recorded models have content");
            let mut l = Listed {
                path: lifeboat::escape::lossy(&e.path),
                size: e.size,
                sha256: hex::encode(content.sha256),
                safetensors: None,
                header_error: None,
            };
            let mut repo_error = false;
            if e.path.to_ascii_lowercase().ends_with(b".safetensors") {
                let reader = ContentReader::new(&repo, content, e.size, l.path.clone());
                match safetensors_summary(reader) {
                    Ok(Some(s)) => l.safetensors = Some(s),
                    Ok(None) => l.header_error = Some("unreadable header".into()),
                    Err(err) => {
                        repo_error = true;
                        l.header_error = Some(format!("unreadable header: {err}"));
                    }
                }
            }
            (l, repo_error)
        })
        .collect();
    for (l, repo_error) in &listed {
        if *repo_error {
            super::log::warn(&format!(
                "{}: {}",
                esc(&l.path),
                l.header_error.as_deref().unwrap_or_default()
            ));
            exit = Exit::Integrity;
        }
    }
    let listed: Vec<Listed> = listed.into_iter().map(|(l, _)| l).collect();
    if g.json {
        print_json(&serde_json::json!({
            "snapshot": id.to_hex(),
            "models": listed,
        }))?;
        return Ok(exit);
    }
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in &listed {
        let info = match (&l.safetensors, &l.header_error) {
            (Some(s), _) => {
                let dtypes: Vec<&str> = s.dtypes.keys().map(String::as_str).collect();
                format!(
                    "  [{} tensors, {}, {} parameters]",
                    s.tensors,
                    dtypes.join("+"),
                    s.parameters
                )
            }
            (None, Some(e)) => format!("  [{}]", esc(e)),
            (None, None) => String::new(),
        };
        writeln!(
            out,
            "{}  {:>10}  {}{}",
            l.sha256,
            human_bytes(l.size),
            esc(&l.path),
            info
        )?;
    }
    out.flush()?;
    Ok(exit)
}
