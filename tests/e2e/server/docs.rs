//! The guides are tested: every shell example in README.md and docs/*.md runs here, against a
//! real `shuyu serve` and the bundled datasets, and its output is checked. The convention (also
//! in docs/ARCHITECTURE.md, "Testing"):
//!
//! - A ```` ```console ```` block is run. A line starting with `$ ` is a command (a line ending
//!   in `\` continues it); the lines after it, up to the next command, are output that must
//!   appear, in that order, in what it printed (stdout and stderr together; lines in between
//!   are not checked, so a guide shows only the lines that matter). `...` in an expected line
//!   matches any text. `(exit N)` at the end of an expected line, or alone, is the exit code the
//!   command must end with; without it, 0.
//! - `<!-- doc-test` ... `-->` holds commands in the same form that run at that point but are not
//!   shown: the steps a guide assumes were done (by another role, on another machine) and the
//!   switch from a placeholder (`SHUYU_TOKEN=sy_...`) to a real value.
//! - A shell block that is not run (```` ```sh ````, ```` ```bash ````) must be preceded by
//!   `<!-- doc-test: skip: REASON -->`; any other shell block, or a `$ shuyu` line in a
//!   ```` ```text ```` block, fails the test.
//!
//! Each file runs in order in one bash session of its own (exported variables carry over) in a
//! scratch folder holding the bundled datasets (`./enterprise_registry`, ...),
//! `guest-examples/` and the built modules (`target/wasm-modules/`), with `shuyu` on `PATH`, a
//! fresh server on a fresh data directory (`$DOC_SERVER`, `$DOC_DATA_DIR`), and `doc-token ID`,
//! which prints a new token of identity ID.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Server;
use crate::support;

/// How a fenced block is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Run: a ```console block or a hidden `<!-- doc-test` comment.
    Run,
    /// Not run, for the reason given.
    Skipped,
}

/// One command of a guide and what it must print.
#[derive(Debug, Clone)]
struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

/// What a file holds: its steps in order, and the problems of its blocks.
#[derive(Debug, Default)]
struct Parsed {
    steps: Vec<Step>,
    problems: Vec<String>,
}

fn is_shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "shell" | "zsh")
}

/// Parses a guide. `name` is used in messages.
fn parse(name: &str, text: &str) -> Parsed {
    let lines: Vec<&str> = text.lines().collect();
    let mut parsed = Parsed::default();
    let mut i = 0;
    let mut skip_reason: Option<String> = None;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("<!-- doc-test: skip:") {
            let reason = rest.trim_end_matches("-->").trim();
            if reason.is_empty() {
                parsed
                    .problems
                    .push(format!("{name}:{}: a skip marker needs a reason", i + 1));
            }
            skip_reason = Some(reason.to_string());
            i += 1;
            continue;
        }
        if trimmed == "<!-- doc-test" {
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim() != "-->" {
                end += 1;
            }
            block(&lines, start, end, &mut parsed.steps);
            i = end + 1;
            continue;
        }
        if let Some(lang) = trimmed.strip_prefix("```") {
            let lang = lang.trim();
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && !lines[end].trim_start().starts_with("```") {
                end += 1;
            }
            let kind = match (lang, skip_reason.take()) {
                ("console", None) => Some(Kind::Run),
                (_, Some(_)) => Some(Kind::Skipped),
                (l, None) if is_shell(l) => {
                    parsed.problems.push(format!(
                        "{name}:{}: a ```{l} block is neither run (```console) nor marked \
                         `<!-- doc-test: skip: REASON -->`",
                        i + 1
                    ));
                    None
                }
                (_, None) => {
                    if let Some(offset) = lines[start..end]
                        .iter()
                        .position(|l| l.trim_start().starts_with("$ shuyu"))
                    {
                        parsed.problems.push(format!(
                            "{name}:{}: a shell example in a ```{lang} block: make it ```console",
                            start + offset + 1
                        ));
                    }
                    None
                }
            };
            if kind == Some(Kind::Run) {
                block(&lines, start, end, &mut parsed.steps);
            }
            i = end + 1;
            continue;
        }
        if !trimmed.is_empty() {
            // A skip marker applies to the block right after it only.
            skip_reason = None;
        }
        i += 1;
    }
    parsed
}

/// The steps of the console lines `lines[start..end]`.
fn block(lines: &[&str], start: usize, end: usize, steps: &mut Vec<Step>) {
    let mut i = start;
    while i < end {
        let line = lines[i];
        if let Some(first) = line.strip_prefix("$ ") {
            let mut command = first.to_string();
            let number = i + 1;
            while command.ends_with('\\') && i + 1 < end {
                i += 1;
                command.push('\n');
                command.push_str(lines[i]);
            }
            steps.push(Step {
                line: number,
                command,
                expected: Vec::new(),
                exit: 0,
            });
        } else if let Some(step) = steps.last_mut().filter(|_| !line.trim().is_empty()) {
            let mut expected = line.trim_end().to_string();
            if let Some((rest, code)) = exit_marker(&expected) {
                step.exit = code;
                expected = rest;
            }
            if !expected.trim().is_empty() && expected.trim() != "..." {
                step.expected.push(expected);
            }
        }
        i += 1;
    }
}

/// `text   (exit 1)` → (`text`, 1).
fn exit_marker(line: &str) -> Option<(String, i32)> {
    let rest = line.trim_end().strip_suffix(')')?;
    let open = rest.rfind("(exit ")?;
    let code = rest[open + "(exit ".len()..].trim().parse().ok()?;
    Some((rest[..open].trim_end().to_string(), code))
}

/// Whether `actual` matches `expected`, where `...` matches any text.
fn matches(expected: &str, actual: &str) -> bool {
    let expected = expected.trim();
    let actual = actual.trim();
    let parts: Vec<&str> = expected.split("...").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let first = parts[0];
    let last = parts[parts.len() - 1];
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The expected lines not found, in order, in `output`.
fn missing(expected: &[String], output: &str) -> Option<String> {
    let mut lines = output.lines();
    for want in expected {
        if !lines.any(|line| matches(want, line)) {
            return Some(want.clone());
        }
    }
    None
}

/// The guides: README.md and every docs/*.md, by name.
fn guides() -> Vec<PathBuf> {
    let repo = support::repo();
    let mut files = vec![repo.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The folder with the built guest modules.
fn modules_dir() -> PathBuf {
    std::env::var_os("SHUYU_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::repo().join("target").join("wasm-modules"))
}

/// A server with no identities yet on a fresh data directory, and the scratch folder.
fn session() -> (Server, tempfile::TempDir) {
    let mut server = Server {
        child: None,
        serve_args: Vec::new(),
        addr: String::new(),
        data_dir: tempfile::tempdir().expect("temp dir"),
        tokens: Default::default(),
        log: None,
    };
    // The server's log (a line per request) goes to a file in its data directory.
    server.log = Some(server.data_dir.path().join("server.log"));
    server.spawn();
    let work = tempfile::tempdir().expect("scratch dir");
    let repo = support::repo();
    for entry in std::fs::read_dir(repo.join("datasets")).expect("datasets/") {
        let path = entry.expect("entry").path();
        if path.join("dataset.toml").is_file() {
            let name = path.file_name().expect("name");
            std::os::unix::fs::symlink(&path, work.path().join(name)).expect("link dataset");
        }
    }
    std::os::unix::fs::symlink(
        repo.join("guest-examples"),
        work.path().join("guest-examples"),
    )
    .expect("link guest-examples");
    std::fs::create_dir_all(work.path().join("target")).expect("target/");
    std::os::unix::fs::symlink(
        modules_dir(),
        work.path().join("target").join("wasm-modules"),
    )
    .expect("link modules");
    let bin = work.path().join(".doc-bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let helper = bin.join("doc-token");
    std::fs::write(
        &helper,
        "#!/bin/sh\n# Prints a new token of identity $1.\nshuyu --data-dir \"$DOC_DATA_DIR\" admin token issue \"$1\" | sed -n \"s/^token for '.*': //p\"\n",
    )
    .expect("doc-token");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (server, work)
}

/// Runs one step in the file's session; returns (exit code, output).
fn run_step(server: &Server, work: &Path, state: &Path, step: &Step) -> (i32, String) {
    let script = format!(
        "exec 2>&1\n[ -f {state} ] && . {state}\n{}\n__doc_rc=$?\nexport -p > {state}.new && mv {state}.new {state}\nexit $__doc_rc\n",
        step.command,
        state = shell_quote(state),
    );
    let shuyu = PathBuf::from(env!("CARGO_BIN_EXE_shuyu"));
    let path = format!(
        "{}:{}:{}",
        work.join(".doc-bin").display(),
        shuyu.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["180", "bash", "-c", &script])
        .current_dir(work)
        .env("PATH", path)
        .env("DOC_SERVER", format!("http://{}", server.addr))
        .env("DOC_DATA_DIR", server.dir())
        .env_remove("SHUYU_SERVER")
        .env_remove("SHUYU_TOKEN")
        .env_remove("SHUYU_DATA_DIR")
        .output()
        .expect("run bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// Runs every step of one guide; returns the failures.
fn run_guide(name: &str, steps: &[Step]) -> Vec<String> {
    let (server, work) = session();
    let state = work.path().join(".doc-env");
    let mut failures = Vec::new();
    for step in steps {
        let (code, output) = run_step(&server, work.path(), &state, step);
        let mut problem = String::new();
        if code != step.exit {
            let _ = write!(problem, "exit {code}, the guide says {}", step.exit);
        }
        if let Some(line) = missing(&step.expected, &output) {
            if !problem.is_empty() {
                problem.push_str("; ");
            }
            let _ = write!(problem, "no output line matches {line:?}");
        }
        if !problem.is_empty() {
            failures.push(format!(
                "{name}:{}: $ {}\n  {problem}\n  output:\n{}",
                step.line,
                step.command,
                output
                    .lines()
                    .take(40)
                    .map(|l| format!("    | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    failures
}

#[test]
fn the_guides_examples_run_as_shown() {
    let mut problems = Vec::new();
    let mut ran = 0;
    let mut files = Vec::new();
    for path in guides() {
        let name = path
            .strip_prefix(support::repo())
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("read guide");
        let parsed = parse(&name, &text);
        problems.extend(parsed.problems);
        files.push((name, parsed.steps));
    }
    // Guides run in parallel: each has its own server and folder, and most of the time is
    // spent waiting for the server and the jobs.
    let results: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .filter(|(_, steps)| !steps.is_empty())
            .map(|(name, steps)| {
                ran += steps.len();
                scope.spawn(move || run_guide(name, steps))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("guide thread"))
            .collect()
    });
    problems.extend(results.into_iter().flatten());
    assert!(ran > 0, "no example ran");
    assert!(
        problems.is_empty(),
        "{} problem(s) in the guides' examples:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn the_convention_is_parsed_as_documented() {
    let text = "\
<!-- doc-test
$ export A=1
-->
```console
$ shuyu one \\
    --flag
first ... line
...
last   (exit 2)
$ shuyu two
```

<!-- doc-test: skip: installs a toolchain -->
```sh
rustup target add x
```

```sh
not marked
```

```text
$ shuyu three
```
";
    let parsed = parse("t.md", text);
    assert_eq!(parsed.steps.len(), 3, "{parsed:?}");
    assert_eq!(parsed.steps[0].command, "export A=1");
    assert_eq!(parsed.steps[1].command, "shuyu one \\\n    --flag");
    assert_eq!(parsed.steps[1].expected, vec!["first ... line", "last"]);
    assert_eq!(parsed.steps[1].exit, 2);
    assert_eq!(parsed.steps[2].exit, 0);
    assert_eq!(parsed.problems.len(), 2, "{:?}", parsed.problems);
    assert!(
        parsed.problems[0].contains("t.md:18"),
        "{:?}",
        parsed.problems
    );
    assert!(
        parsed.problems[1].contains("t.md:23"),
        "{:?}",
        parsed.problems
    );
    assert!(matches("first ... line", "first middle line"));
    assert!(matches("sy_...", "sy_0123"));
    assert!(!matches("first ... line", "first middle"));
    assert!(!matches("exact", "exact and more"));
    assert_eq!(
        missing(&["a".into(), "c".into()], "a\nb\nc\n"),
        None,
        "lines in between are not checked"
    );
    assert_eq!(
        missing(&["c".into(), "a".into()], "a\nb\nc\n"),
        Some("a".into()),
        "order matters"
    );
}
