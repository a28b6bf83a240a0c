//! Writes what an installation of ipcbox puts under PREFIX/share, generated
//! from the command line's clap definition (src/cli.rs), so that it says
//! what `--help` says:
//!
//! ```text
//! DIR/man/man1/ipcbox.1, and ipcbox-SUBCOMMAND.1 for each subcommand
//! DIR/bash-completion/completions/ipcbox
//! DIR/zsh/site-functions/_ipcbox
//! DIR/fish/vendor_completions.d/ipcbox.fish
//! ```
//!
//! scripts/install.sh runs it as
//! `cargo run --release -p ipcbox-cli --example share -- DIR`. It is an
//! example rather than part of ipcbox so that the installed binary carries
//! neither generator, and the completions offer no subcommand of theirs.

// The example reads the definition only; the fields are main's to read.
#[allow(dead_code)]
#[path = "../src/cli.rs"]
mod cli;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{roman, Roff};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [dir] = &args[..] else {
        eprintln!("usage: cargo run --release -p ipcbox-cli --example share -- DIR");
        return ExitCode::from(2);
    };
    match write_share(Path::new(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("share: cannot write into {}: {e}", Path::new(dir).display());
            ExitCode::FAILURE
        }
    }
}

fn write_share(dir: &Path) -> std::io::Result<()> {
    let mut command = cli::Cli::command();
    command.build();
    let man = dir.join("man/man1");
    std::fs::create_dir_all(&man)?;
    // `ipcbox help SUBCOMMAND` works, but needs no page of its own.
    let mut pages = cli::Cli::command().disable_help_subcommand(true);
    pages.build();
    write_man(&pages, &man)?;
    for (shell, path) in [
        (Shell::Bash, "bash-completion/completions/ipcbox"),
        (Shell::Zsh, "zsh/site-functions/_ipcbox"),
        (Shell::Fish, "fish/vendor_completions.d/ipcbox.fish"),
    ] {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a path under DIR"))?;
        let mut file = std::fs::File::create(&path)?;
        clap_complete::generate(shell, &mut command.clone(), "ipcbox", &mut file);
    }
    Ok(())
}

/// The page of `command`, named by its display name (ipcbox, ipcbox-run,
/// ...), and those of its subcommands: clap_mangen's sections, but the
/// text after the options (`after_help`), whose lines such as "Examples:"
/// head blocks in --help, becomes sections of those names.
fn write_man(command: &clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_man(sub, dir)?;
    }
    let man = clap_mangen::Man::new(command.clone())
        .date(date())
        .source(format!("ipcbox {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if command.get_arguments().any(|arg| !arg.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if command.get_subcommands().any(|sub| !sub.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    let mut roff = Roff::new();
    if let Some(text) = command.get_after_long_help().or(command.get_after_help()) {
        after_help_sections(&text.to_string(), &mut roff);
    }
    if command.get_name() != "ipcbox" {
        roff.control("SH", ["SEE ALSO"]).text([roman("ipcbox(1)")]);
    }
    roff.to_writer(&mut out)?;
    if command.get_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    std::fs::write(dir.join(man.get_filename()), out)
}

/// The pages' date: that of $SOURCE_DATE_EPOCH (the reproducible-builds
/// convention; scripts/install.sh sets it to the last commit's time), else
/// today's, as YYYY-MM-DD.
fn date() -> String {
    let seconds =
        std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
        });
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = seconds.div_euclid(86400) + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// "Heading:" lines (not indented) become sections; the lines under each,
/// one indentation level less, are set as they are.
fn after_help_sections(text: &str, roff: &mut Roff) {
    let mut open = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_suffix(':').filter(|h| !h.is_empty() && !h.starts_with(' ')) {
            if open {
                roff.control("fi", []);
            }
            roff.control("SH", [heading.to_uppercase().as_str()]).control("nf", []);
            open = true;
            continue;
        }
        if !open {
            roff.control("SH", ["NOTES"]).control("nf", []);
            open = true;
        }
        roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
    }
    if open {
        roff.control("fi", []);
    }
}
