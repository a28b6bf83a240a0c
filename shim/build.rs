//! Links the unwinder that Rust's standard library refers to statically
//! (gcc's libgcc_eh), so that libipcbox.so does not make every process of a
//! box load libgcc_s.so as well: a second library per exec is most of what
//! the shim costs a program that never uses System V IPC. Libraries named
//! here come before the standard library's own on the link line, so the
//! symbols are found here first and `--as-needed` drops libgcc_s.
use std::process::Command;

fn main() {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let found = Command::new(&cc).arg("-print-file-name=libgcc_eh.a").output().ok().and_then(|out| {
        let path = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        path.is_absolute().then_some(path)
    });
    if let Some(dir) = found.as_deref().and_then(|p| p.parent()) {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=static=gcc_eh");
    }
}
