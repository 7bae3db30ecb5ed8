//! Standard output for the commands. `println!` and `print!` in every command module are the
//! ones defined in `cli/mod.rs`, which write through [`write`]: a closed pipe
//! (`lifeboat ls ... | head`) ends the command quietly and successfully, with its locks
//! released, instead of the standard macros' panic (exit 101).

use std::io::Write;

/// Why stdout could not be written: the payload [`write`] unwinds with, caught in
/// [`super::main`] (a closed pipe is success there, anything else an error).
#[derive(Debug)]
pub struct Unwritable(pub std::io::Error);

/// Write formatted text to stdout. On failure, unwinds to `main` with an [`Unwritable`]
/// payload (no panic message: `resume_unwind` skips the panic hook), so destructors (locks,
/// temporary files) run on the way.
pub fn write(args: std::fmt::Arguments<'_>) {
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        std::panic::resume_unwind(Box::new(Unwritable(e)));
    }
}

/// Write bytes to stdout, returning the error (for commands that produce their output whole).
pub fn write_all(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
