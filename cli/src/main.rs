//! The `shuyu` command: the domain's server and command line.
//!
//! Exit codes: 0 success, 1 refused or blocked by policy (the reason printed), 2 bad input or usage.
//!
//! Two kinds of commands: local ones act on a data directory (`--data-dir`, the server machine's
//! or a developer's), workflow ones act on a running server (`--server URL --token T`) as the
//! identity the token belongs to. `datasets list|show` and `audit show|verify` do either, by
//! whether `--server` is given.

mod admin;
mod agreement;
mod audit;
mod budget;
mod client;
mod datasets;
mod dates;
mod demo;
mod demo_service;
mod domain;
mod job;
mod logging;
mod mock;
mod module;
mod objection;
mod operator;
mod output;
mod product;
mod quality;
mod review;
mod run;
mod scenario;
mod serve;
mod service;
mod whoami;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use client::{Client, ServerUrl};

/// shuyu (数域): run operators' analysis modules on public data that never leaves the domain.
#[derive(Debug, Parser)]
#[command(name = "shuyu", version, about, long_about = None)]
struct Cli {
    /// The domain's data directory (keys, database, datasets, products).
    #[arg(
        long,
        global = true,
        default_value = "./shuyu-data",
        env = "SHUYU_DATA_DIR"
    )]
    data_dir: PathBuf,
    /// A running shuyu server to act on, as http://HOST:PORT (TLS, if any, ends at a reverse
    /// proxy in front of it).
    #[arg(long, global = true, env = "SHUYU_SERVER", value_name = "URL")]
    server: Option<String>,
    /// Your bearer token for the server (never printed; prefer the environment variable, which
    /// stays out of the shell history and the process list).
    #[arg(
        long,
        global = true,
        env = "SHUYU_TOKEN",
        hide_env_values = true,
        value_name = "T"
    )]
    token: Option<String>,
    /// Print the server's JSON instead of a summary.
    #[arg(long, global = true)]
    json: bool,
    /// The domain's time zone (a tz database name): where review deadlines end (`serve`), how
    /// bare dates (`--until 2026-12-31`) are read and how times are shown.
    #[arg(
        long,
        global = true,
        env = "SHUYU_TIME_ZONE",
        default_value = shuyu::time_zone::DEFAULT_TIME_ZONE,
        value_name = "ZONE"
    )]
    time_zone: shuyu::time_zone::DomainZone,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load the bundled datasets, build and run the district-stats example, verify its product.
    Demo(demo::DemoArgs),
    /// Run a module under a scenario file and print the product directory or the block reason.
    Run(run::RunArgs),
    /// Serve the HTTP API and run submitted jobs.
    Serve(serve::ServeArgs),
    /// Identities, tokens, the maintainer and the review calendar (on the server machine).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Show who the token belongs to (server).
    Whoami,
    /// The domain's public key (server or data directory).
    #[command(subcommand)]
    Domain(domain::DomainCommand),
    /// Generate, import, list and show datasets; register and withdraw them on a server.
    #[command(subcommand)]
    Datasets(datasets::DatasetsCommand),
    /// Authorization agreements: create, list, show, terminate (server).
    #[command(subcommand)]
    Agreement(agreement::AgreementCommand),
    /// Suspend, restore or terminate an operator (server, bureau).
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Upload analysis modules (server, operator).
    #[command(subcommand)]
    Module(module::ModuleCommand),
    /// Scenario applications: apply, list, show, suspend, restore, revoke (server).
    #[command(subcommand)]
    Scenario(scenario::ScenarioCommand),
    /// Review scenario applications (server, bureau and providers).
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// Objections against datasets: file, list, resolve (server).
    #[command(subcommand)]
    Objection(objection::ObjectionCommand),
    /// Data-quality requests: file, list, answer (server).
    #[command(subcommand)]
    Quality(quality::QualityCommand),
    /// Consents to services: grant, revoke, list (server).
    #[command(subcommand)]
    Consent(service::ConsentCommand),
    /// Verification and data services: call, calls about a subject, usage (server).
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Mock runs: any module against mock twins, without approval (server or this machine).
    #[command(subcommand)]
    Mock(mock::MockCommand),
    /// Jobs on the server: submit, status, list, cancel, wait.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Verify product packages; download them from a server.
    #[command(subcommand)]
    Product(product::ProductCommand),
    /// Verify, show and search the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Privacy budgets: what a scenario and its datasets have left, and its debits.
    #[command(subcommand)]
    Budget(budget::BudgetCommand),
    /// Runs one job for `shuyu serve` (internal: request on stdin, report on stdout).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
}

/// A failure with its exit code: policy refusals and server failures exit 1, bad input 2.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Refused or blocked by policy (exit 1).
    Refused(String),
    /// The server failed or could not authenticate the caller (exit 1).
    Failed(String),
    /// Bad input, usage, or an environment problem (exit 2).
    Error(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self::Error(error.into())
    }
}

pub(crate) type CliResult = Result<(), Failure>;

/// The global options every command sees.
#[derive(Debug)]
pub(crate) struct Globals {
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--server`.
    server: Option<String>,
    /// `--token` (never printed).
    token: Option<String>,
    /// `--json`.
    pub json: bool,
    /// `--time-zone`.
    pub zone: shuyu::time_zone::DomainZone,
}

impl Globals {
    /// `--server`, if given.
    pub(crate) fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    /// `--token`, if given and not blank.
    pub(crate) fn token(&self) -> Option<String> {
        self.token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    }

    /// Whether `--server` was given (commands that work both ways pick the server then).
    pub(crate) fn remote(&self) -> bool {
        self.server.is_some()
    }

    /// A client for `--server` with `--token`; `command` names the command in the error when
    /// either is missing.
    pub(crate) fn client(&self, command: &str) -> Result<Client, Failure> {
        let Some(server) = &self.server else {
            return Err(anyhow::anyhow!(
                "`shuyu {command}` acts on a server: give --server URL (or set SHUYU_SERVER)"
            )
            .into());
        };
        let Some(token) = self.token.as_ref().filter(|t| !t.trim().is_empty()) else {
            return Err(anyhow::anyhow!(
                "`shuyu {command}` needs your token: give --token T (or set SHUYU_TOKEN)"
            )
            .into());
        };
        Ok(Client::new(
            ServerUrl::parse(server)?,
            Some(token.trim().to_string()),
        )?)
    }

    /// Prints `value` as pretty JSON (for `--json`).
    pub(crate) fn print_json(&self, value: &serde_json::Value) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(_) => println!("{value}"),
        }
    }
}

/// Parses the command line, runs it, and maps the outcome to an exit code.
fn run() -> ExitCode {
    let cli = Cli::parse();
    let globals = Globals {
        data_dir: cli.data_dir,
        server: cli.server.filter(|s| !s.trim().is_empty()),
        token: cli.token,
        json: cli.json,
        zone: cli.time_zone,
    };
    dates::set_zone(globals.zone);
    let result = match cli.command {
        Command::Demo(args) => demo::run(&globals.data_dir, args),
        Command::Run(args) => run::run(&globals.data_dir, args),
        Command::Serve(args) => serve::run(&globals, args),
        Command::Admin(cmd) => admin::run(&globals, cmd),
        Command::Whoami => whoami::run(&globals),
        Command::Domain(cmd) => domain::run(&globals, cmd),
        Command::Datasets(cmd) => datasets::run(&globals, cmd),
        Command::Agreement(cmd) => agreement::run(&globals, cmd),
        Command::Operator(cmd) => operator::run(&globals, cmd),
        Command::Module(cmd) => module::run(&globals, cmd),
        Command::Mock(cmd) => mock::run(&globals, cmd),
        Command::Scenario(cmd) => scenario::run(&globals, cmd),
        Command::Review(cmd) => review::run(&globals, cmd),
        Command::Objection(cmd) => objection::run(&globals, cmd),
        Command::Quality(cmd) => quality::run(&globals, cmd),
        Command::Consent(cmd) => service::run_consent(&globals, cmd),
        Command::Service(cmd) => service::run_service(&globals, cmd),
        Command::Job(cmd) => job::run(&globals, cmd),
        Command::Product(cmd) => product::run(&globals, cmd),
        Command::Audit(cmd) => audit::run(&globals, cmd),
        Command::Budget(cmd) => budget::run(&globals, cmd),
        Command::Worker(args) => worker::run(&globals, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(reason)) => {
            eprintln!("refused: {reason}");
            ExitCode::from(1)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Error(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    run()
}

/// `shuyu ... | head` closes stdout early; Rust ignores SIGPIPE, so the next `println!` panics
/// with a backtrace. End quietly instead, with the status a process killed by SIGPIPE has (141),
/// as other command-line tools do. Every other panic keeps the default report.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
