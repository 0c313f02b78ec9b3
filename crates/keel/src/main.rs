//! The `keel` command: the CLI, working either on a local data directory
//! (embedded mode, the default) or against a server (`KEEL_URL`), and the
//! server itself (`keel server`).
//!
//! Exit codes: 0 ok, 1 error, 2 usage, 6 the job failed or stopped, 7 a
//! monitor's constraints are violated.

mod access;
mod backend;
mod client;
mod flags;
mod git;
mod inference;
mod monitor;
mod output;
mod quality;
mod quickstart;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use keel_api_model as api;
use keel_core::LogStart;
use keel_types::{DataFormat, JobKind, JobStatus};

use crate::backend::{Backend, Fetched, job_id};
use crate::output::Format;

/// Exit code for a job that ended FAILED or STOPPED.
pub(crate) const EXIT_JOB_FAILED: i32 = 6;

#[derive(Parser)]
#[command(
    name = "keel",
    version,
    about = "Keel: register models, run batch jobs on them, keep the results."
)]
struct Cli {
    /// Output format of read commands.
    #[arg(
        id = "output_format",
        short = 'o',
        long = "output",
        global = true,
        value_enum,
        default_value = "table",
        env = "KEEL_OUTPUT"
    )]
    output: Format,
    /// Talk to this Keel server instead of the local data directory.
    #[arg(long, global = true, env = "KEEL_URL")]
    url: Option<String>,
    /// The local data directory (embedded mode).
    #[arg(long, global = true, env = "KEEL_HOME", default_value = ".keel")]
    home: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Models: inspect, register, list, show, versions, aliases, sync.
    #[command(subcommand)]
    Model(ModelCmd),
    /// Batch jobs: create, list, show, logs, wait, cancel, result.
    #[command(subcommand)]
    Job(JobCmd),
    /// Computes model-quality metrics over a file that already holds predictions.
    Metrics(quality::MetricsArgs),
    /// Data drift of every column between a baseline and a current file.
    Drift(quality::DriftArgs),
    /// Champion vs challenger: both versions on the same labeled data (or two
    /// finished metrics jobs), metrics side by side and a tested verdict.
    Compare(quality::CompareArgs),
    /// Model-quality monitoring in SageMaker Model Monitor's files:
    /// baseline (statistics and suggested constraints), check.
    #[command(subcommand)]
    Monitor(monitor::MonitorCmd),
    /// Alerts monitors opened: list, ack, resolve.
    #[command(subcommand)]
    Alert(monitor::AlertCmd),
    /// Comparisons made before: list, show.
    #[command(subcommand)]
    Comparison(ComparisonCmd),
    /// Runs the Keel server (REST API and job runner) on the data directory.
    Server {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7878")]
        bind: String,
        /// Jobs this server runs at the same time; 0 serves the API only and
        /// leaves the jobs to `keel worker` processes.
        #[arg(long, visible_alias = "workers", default_value_t = 2)]
        jobs: usize,
        /// A directory, or an S3 prefix (s3://BUCKET/PREFIX), whose files
        /// clients may name as job inputs and outputs (repeatable; also
        /// KEEL_DATA_ROOTS). Without one, clients use uploads and embedded
        /// outputs only.
        #[arg(long = "data-root", value_name = "DIR|S3_PREFIX")]
        data_roots: Vec<PathBuf>,
        /// Serve on a non-loopback address although Keel has no users yet,
        /// so anyone who reaches the address can run code as this server.
        #[arg(long)]
        insecure_no_auth: bool,
    },
    /// Runs queued jobs from the data directory's database, serving no API:
    /// add as many as the queue needs, on any machine that reaches the
    /// database and the artifact store.
    Worker {
        /// Jobs this worker runs at the same time.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
    /// Checks an API token against the server (KEEL_URL) and keeps it for
    /// later commands; the token is read from standard input unless given.
    Login {
        /// The token (default: read from standard input).
        #[arg(long)]
        token: Option<String>,
    },
    /// Forgets the token kept for the server.
    Logout,
    /// Shows who the CLI acts as: the user, role and groups.
    Whoami,
    /// API tokens (admins): create, list, revoke. Run on the data
    /// directory, `keel token create` makes the first admin.
    #[command(subcommand)]
    Token(access::TokenCmd),
    /// Users (admins): list, show, set role and groups.
    #[command(subcommand)]
    User(access::UserCmd),
    /// The audit log (admins): who changed what, when and from where.
    #[command(subcommand)]
    Audit(access::AuditCmd),
    /// Runs a job described in a YAML file: seed 003's InferenceJob
    /// (inputs, outputs, alias_or_version), and says when it ends with the
    /// output's shape.
    Run {
        /// The job file.
        file: PathBuf,
        /// The model (default: the file's `model:`, else the only one registered).
        #[arg(long)]
        model: Option<String>,
    },
    /// Trains a scikit-learn model, registers it and runs scoring, metrics and training jobs on it.
    Quickstart {
        /// Where to write the example model, data and data directory.
        #[arg(long, default_value = "keel-quickstart")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ModelCmd {
    /// Shows the functions, schemas, attachments and platform found in a model directory.
    Inspect {
        dir: PathBuf,
        /// Extra files to attach.
        #[arg(long)]
        attach: Vec<PathBuf>,
    },
    /// Registers a model directory as a new version (unchanged directories create none).
    Register {
        /// The model directory, or a git source: git+URL[#REF][:SUBDIR].
        dir: PathBuf,
        /// The model's name (default: keel.toml's name, else the directory's).
        #[arg(long)]
        name: Option<String>,
        /// Extra files to attach (archives are extracted into the working directory).
        #[arg(long)]
        attach: Vec<PathBuf>,
    },
    /// Lists the registered models.
    #[command(alias = "ls")]
    List(PageArgs),
    /// Shows a version: NAME, NAME:3, NAME@champion or a UUID.
    Show { model: String },
    /// Lists a model's versions.
    Versions {
        model: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Points an alias (champion, challenger, ...) at a version; the move is recorded.
    Alias {
        model: String,
        alias: String,
        version: u32,
    },
    /// Lists a model's aliases and the history of their moves.
    Aliases { model: String },
    /// Registers a new version from git if the branch or tag that the
    /// model's latest git-backed version follows has moved.
    Sync { model: String },
}

#[derive(Subcommand)]
enum ComparisonCmd {
    /// Lists comparisons, newest first.
    #[command(alias = "ls")]
    List(PageArgs),
    /// Shows a comparison and its verdict.
    Show { id: String },
}

#[derive(Args, Clone)]
pub(crate) struct PageArgs {
    /// How many to list.
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// Continue from this page token.
    #[arg(long)]
    pub(crate) page_token: Option<String>,
}

impl PageArgs {
    fn query(&self) -> api::PageQuery {
        api::PageQuery {
            max_results: self.limit,
            page_token: self.page_token.clone(),
        }
    }
}

#[derive(Subcommand)]
enum JobCmd {
    /// Creates a job: KIND is scoring|metrics|training (or batchjob|testjob|trainingjob).
    Create(Box<CreateArgs>),
    /// Lists jobs, newest first.
    #[command(alias = "ls")]
    List {
        #[arg(long)]
        status: Option<JobStatus>,
        #[arg(long)]
        kind: Option<JobKind>,
        #[arg(long)]
        model: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Shows a job.
    Show { id: String },
    /// Prints a job's log; -f follows it until the job ends. Lines start
    /// with `keel:` (Keel's notes), `model:` or `model N:` (what the model
    /// wrote) or `setup:` (building its environment); on a terminal, control
    /// characters a model wrote are shown escaped.
    Logs {
        id: String,
        #[arg(short = 'f', long)]
        follow: bool,
        /// Start with the log's last BYTES bytes (from the first whole line in them).
        #[arg(long, value_name = "BYTES")]
        tail: Option<u64>,
    },
    /// Waits for a job to end; exits 6 if it failed or stopped.
    Wait {
        id: String,
        /// Give up after this many seconds (exit 1).
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Cancels a job.
    Cancel { id: String },
    /// Prints or downloads a job's output (or its rejected records).
    Result {
        id: String,
        /// Write to this file instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The rejected records instead of the output.
        #[arg(long)]
        rejected: bool,
    },
}

#[derive(Args)]
struct CreateArgs {
    /// scoring | metrics | training (aliases: batchjob, testjob, trainingjob).
    kind: JobKind,
    /// NAME, NAME:VERSION, NAME@ALIAS, or a model's or version's UUID.
    model: String,
    /// The input file (CSV, JSON lines, JSON array or Parquet).
    input: String,
    /// The output: a bare file name is kept by Keel; a path is written there.
    output: Option<String>,
    /// The input format when the extension does not tell.
    #[arg(long)]
    format: Option<DataFormat>,
    /// Worker processes for a scoring job (default: number of cores).
    #[arg(long)]
    workers: Option<u32>,
    /// Stop the job after this many seconds.
    #[arg(long = "max-runtime")]
    max_runtime: Option<u64>,
    /// How many attempts may be lost to a runner that died before the job
    /// fails (1 to 10, default 3).
    #[arg(long)]
    max_attempts: Option<u32>,
    /// Do not check records against the model's schemas.
    #[arg(long)]
    no_schema_check: bool,
    /// Metrics jobs whose metrics function takes two data sets
    /// (`metrics(df_baseline, df_sample)`): the baseline to compare the input with.
    #[arg(long)]
    baseline: Option<String>,
    /// Wait for the job to end, with a progress bar; exit 6 if it fails.
    #[arg(long)]
    wait: bool,
    /// Built-in metrics (metrics jobs): which columns are the label, the
    /// probability, the prediction and the protected attributes.
    #[command(flatten)]
    roles: quality::RoleArgs,
}

fn main() {
    let code = match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", flags::for_cli(&format!("{e:#}")));
            1
        }
    };
    std::process::exit(code);
}

fn run() -> anyhow::Result<i32> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let fmt = cli.output;
    match cli.command {
        // Inspecting needs no data directory, so none is opened (or created).
        Command::Model(ModelCmd::Inspect { dir, attach }) => inspect(fmt, &dir, &attach),
        Command::Server {
            bind,
            jobs,
            data_roots,
            insecure_no_auth,
        } => {
            if cli.url.is_some() {
                bail!("`keel server` serves the local data directory; unset KEEL_URL");
            }
            let access = Access {
                data_roots,
                insecure_no_auth,
            };
            serve(&cli.home, &bind, jobs, access).await
        }
        Command::Worker { jobs } => {
            if cli.url.is_some() {
                bail!(
                    "`keel worker` runs the jobs of the data directory's database; unset KEEL_URL"
                );
            }
            work(&cli.home, jobs).await
        }
        Command::Quickstart { dir } => quickstart::run(&dir).await,
        Command::Run { file, model } => {
            let b = Backend::open(cli.url, cli.home).await?;
            inference::run(&b, fmt, &file, model).await
        }
        Command::Login { token } => access::login(cli.url.as_deref(), token).await,
        Command::Logout => access::logout(cli.url.as_deref()),
        Command::Whoami => access::whoami(&Backend::open(cli.url, cli.home).await?, fmt).await,
        Command::Token(cmd) => {
            let b = Backend::open(cli.url, cli.home).await?;
            access::token_cmd(&b, fmt, cmd).await
        }
        Command::User(cmd) => {
            let b = Backend::open(cli.url, cli.home).await?;
            access::user_cmd(&b, fmt, cmd).await
        }
        Command::Audit(cmd) => {
            let b = Backend::open(cli.url, cli.home).await?;
            access::audit_cmd(&b, fmt, cmd).await
        }
        // Metrics and drift over files need no data directory either.
        Command::Metrics(a) => quality::metrics(fmt, a),
        Command::Drift(a) => quality::drift(fmt, a),
        Command::Monitor(cmd) if monitor::on_files(&cmd) => monitor::run_files(fmt, cmd),
        Command::Monitor(cmd) => {
            let b = Backend::open(cli.url, cli.home).await?;
            monitor::run_managed(&b, fmt, cmd).await
        }
        Command::Alert(cmd) => {
            let b = Backend::open(cli.url, cli.home).await?;
            monitor::alert_cmd(&b, fmt, cmd).await
        }
        Command::Compare(a) => {
            let b = Backend::open(cli.url, cli.home).await?;
            quality::compare(&b, fmt, a).await
        }
        Command::Comparison(cmd) => {
            let b = Backend::open(cli.url, cli.home).await?;
            match cmd {
                ComparisonCmd::List(page) => {
                    output::comparisons(fmt, &b.list_comparisons(&page.query()).await?)?
                }
                ComparisonCmd::Show { id } => {
                    let id: uuid::Uuid = id.trim().parse().with_context(|| {
                        format!("'{id}' is not a comparison id (a UUID such as `keel comparison list` prints)")
                    })?;
                    output::comparison(fmt, &b.comparison(id).await?)?
                }
            }
            Ok(0)
        }
        Command::Model(cmd) => {
            let b = Backend::open(cli.url, cli.home).await?;
            model_cmd(&b, fmt, cmd).await
        }
        Command::Job(cmd) => {
            let b = Backend::open(cli.url, cli.home).await?;
            job_cmd(&b, fmt, cmd).await
        }
    }
}

/// What a server lets its clients reach.
struct Access {
    data_roots: Vec<PathBuf>,
    insecure_no_auth: bool,
}

async fn serve(home: &Path, bind: &str, jobs: usize, access: Access) -> anyhow::Result<i32> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    tracing::info!("opening {}", home.display());
    let keel = keel_core::Keel::open(backend::server_config(home, &access.data_roots)?).await?;
    if keel.auth_enabled().await? {
        tracing::info!("clients need an API token (Authorization: Bearer ...)");
    } else if !addr.ip().is_loopback() {
        if !access.insecure_no_auth {
            bail!(
                "refusing to serve on {addr}: Keel has no users or tokens yet, so anyone who \
                 reaches a non-loopback address could register models and run their code as this \
                 server's user. Make the first admin with `keel token create --user NAME --role \
                 admin` on this data directory (auth is on once a user exists), bind a loopback \
                 address (127.0.0.1), or pass --insecure-no-auth to serve it anyway"
            );
        }
        tracing::warn!(
            "serving on {addr} without authentication (--insecure-no-auth): anyone who reaches \
             it can run code as this server's user"
        );
    } else {
        eprintln!(
            "keel server: no users yet, so it runs open as a single-user tool on {addr}: every \
             request acts as {} (admin). `keel token create --user NAME --role admin` turns \
             authentication on.",
            keel.config().local_user
        );
    }
    let limits = backend::server_limits(&addr)?;
    match &keel.config().data_access {
        keel_core::DataAccess::Roots(roots) if !roots.is_empty() => {
            let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
            tracing::info!(
                "clients may read and write files under {}",
                roots.join(", ")
            );
        }
        _ => tracing::info!(
            "clients may name no server paths: they upload inputs (--data-root allows a directory)"
        ),
    }
    if !keel.config().s3_roots.is_empty() {
        tracing::info!(
            "clients may read and write S3 objects under {}",
            keel.config().s3_roots.join(", ")
        );
    }
    // Jobs left IN_PROGRESS by a runner that died go back to the queue once
    // their lease runs out; the job loop keeps sweeping for them.
    keel.expire_leases().await?;
    // What crashed runs left: working directories with the model's files,
    // and half-written outputs' temporary files.
    let swept = keel
        .sweep_leftovers(std::time::Duration::from_secs(60))
        .await?;
    if swept != keel_core::Swept::default() {
        tracing::info!(
            work_dirs = swept.work_dirs,
            temp_files = swept.temp_files,
            "removed what crashed runs left behind"
        );
    }
    tracing::info!("{}", keel.containment().describe());
    eprintln!(
        "keel server listening on http://{addr} (data directory {})",
        home.display()
    );
    eprintln!("  export KEEL_URL=http://{addr}");
    keel_server::serve(keel, listener, jobs, limits, shutdown_signal()).await?;
    Ok(0)
}

/// `keel worker`: the job loop of a server without its API. It stops on
/// Ctrl-C or SIGTERM like a server: running jobs get the grace period to
/// finish, and the rest go back to the queue.
async fn work(home: &Path, jobs: usize) -> anyhow::Result<i32> {
    if jobs == 0 {
        bail!("`keel worker --jobs` must be at least 1: a worker that runs no jobs does nothing");
    }
    let keel = keel_core::Keel::open(backend::server_config(home, &[])?).await?;
    keel.expire_leases().await?;
    tracing::info!("{}", keel.containment().describe());
    eprintln!(
        "keel worker {} running up to {jobs} jobs at a time (data directory {})",
        keel.config().runner_name,
        home.display()
    );
    keel.run_queue(jobs, shutdown_signal()).await;
    eprintln!("keel worker {} stopped", keel.config().runner_name);
    Ok(0)
}

/// Completes on Ctrl-C or SIGTERM, so that a service manager's stop lets a
/// server or worker finish its jobs or give them back to the queue.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            // Without a SIGTERM handler only Ctrl-C stops the server.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

async fn model_cmd(b: &Backend, fmt: Format, cmd: ModelCmd) -> anyhow::Result<i32> {
    match cmd {
        ModelCmd::Inspect { dir, attach } => {
            inspect(fmt, &dir, &attach)?;
        }
        ModelCmd::Register { dir, name, attach } => {
            if let Some(source) = dir.to_str().filter(|d| keel_core::git::is_spec(d)) {
                return git::register(b, fmt, source, name.as_deref(), &attach).await;
            }
            let reg = b.register(&dir, name.as_deref(), &attach).await?;
            output::registration(fmt, &reg)?;
        }
        ModelCmd::List(page) => output::models(fmt, &b.list_models(&page.query()).await?)?,
        ModelCmd::Show { model } => output::version(fmt, &b.version(&model).await?)?,
        ModelCmd::Versions { model, page } => {
            output::versions(fmt, &b.list_versions(&model, &page.query()).await?)?
        }
        ModelCmd::Alias {
            model,
            alias,
            version,
        } => output::alias(fmt, &b.set_alias(&model, &alias, version).await?)?,
        ModelCmd::Sync { model } => return git::sync(b, fmt, &model).await,
        ModelCmd::Aliases { model } => {
            let aliases = b.list_aliases(&model).await?;
            let history = b.alias_history(&model).await?;
            output::aliases(fmt, &aliases, &history)?
        }
    }
    Ok(0)
}

fn inspect(fmt: Format, dir: &Path, attach: &[PathBuf]) -> anyhow::Result<i32> {
    output::inspect(fmt, &keel_core::Keel::inspect(dir, attach)?)?;
    Ok(0)
}

async fn job_cmd(b: &Backend, fmt: Format, cmd: JobCmd) -> anyhow::Result<i32> {
    match cmd {
        JobCmd::Create(a) => create_job(b, fmt, *a).await,
        JobCmd::List {
            status,
            kind,
            model,
            page,
        } => {
            let q = api::JobQuery {
                status,
                kind,
                model,
                max_results: page.limit,
                page_token: page.page_token,
            };
            output::jobs(fmt, &b.list_jobs(&q).await?)?;
            Ok(0)
        }
        JobCmd::Show { id } => {
            output::job(fmt, &b.job(job_id(&id)?).await?)?;
            Ok(0)
        }
        JobCmd::Logs { id, follow, tail } => {
            let id = job_id(&id)?;
            let mut from = match tail {
                Some(bytes) => LogStart::Tail(bytes),
                None => LogStart::Offset(0),
            };
            loop {
                let chunk = b.logs(id, from).await?;
                output::out_untrusted(&chunk.content);
                from = LogStart::Offset(chunk.next_offset);
                if !follow || chunk.finished {
                    break;
                }
                if chunk.content.is_empty() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            Ok(0)
        }
        JobCmd::Wait { id, timeout } => {
            let id = job_id(&id)?;
            let job = wait(b, id, timeout.map(Duration::from_secs), false).await?;
            output::job(fmt, &job)?;
            Ok(exit_for(&job))
        }
        JobCmd::Cancel { id } => {
            let job = b.cancel(job_id(&id)?).await?;
            output::job(fmt, &job)?;
            Ok(0)
        }
        JobCmd::Result { id, out, rejected } => {
            let id = job_id(&id)?;
            let mut fetched = b.result(id, rejected).await?;
            // An output in a bucket is printed as its URI, and downloaded
            // (through the server in remote mode) only when asked to.
            if out.is_some()
                && matches!(&fetched, Fetched::External(uri) if uri.starts_with("s3://"))
            {
                fetched = b.download(id).await?;
            }
            match fetched {
                Fetched::External(uri) => output::out(&format!("{uri}\n")),
                Fetched::File { path, name, temp } => {
                    let r = match &out {
                        Some(dest) => std::fs::copy(&path, dest)
                            .map(|_| ())
                            .with_context(|| format!("cannot write {}", dest.display())),
                        None => output::print_file(&path, &name),
                    };
                    if temp {
                        let _ = std::fs::remove_file(&path);
                    }
                    r?;
                    if let Some(dest) = out {
                        eprintln!("wrote {}", dest.display());
                    }
                }
            }
            Ok(0)
        }
    }
}

pub(crate) fn exit_for(job: &api::Job) -> i32 {
    match job.status {
        JobStatus::Failed | JobStatus::Stopped => EXIT_JOB_FAILED,
        _ => 0,
    }
}

/// Builds the job request from the command line: a bare output name is
/// embedded, anything else is an external path (made absolute, so that it
/// means the same to a server on this machine).
fn create_request(a: &CreateArgs) -> anyhow::Result<api::CreateJob> {
    let input = input_of(&a.input)?;
    let output = a.output.as_ref().map(|o| {
        if o.contains("://") {
            Ok(api::Output::External { uri: o.clone() })
        } else if !o.contains('/') && !o.contains('\\') {
            Ok(api::Output::Embedded { name: o.clone() })
        } else {
            absolute(Path::new(o)).map(|p| api::Output::External {
                uri: p.to_string_lossy().into_owned(),
            })
        }
    });
    Ok(api::CreateJob {
        kind: a.kind,
        model: a.model.clone(),
        input,
        output: output.transpose()?,
        format: a.format,
        workers: a.workers,
        max_runtime_seconds: a.max_runtime,
        max_attempts: a.max_attempts,
        schema_check: if a.no_schema_check { Some(false) } else { None },
        metrics: a.roles.options()?,
        baseline: a.baseline.as_deref().map(input_of).transpose()?,
    })
}

/// A job input from the command line: a URI as it is, a local file made
/// absolute (so it means the same to a server on this machine).
pub(crate) fn input_of(input: &str) -> anyhow::Result<api::Input> {
    if input.contains("://") {
        return Ok(api::Input::Path {
            uri: input.to_string(),
        });
    }
    let p = Path::new(input);
    if !p.is_file() {
        bail!("the input {} does not exist or is not a file", p.display());
    }
    Ok(api::Input::Path {
        uri: absolute(p)?.to_string_lossy().into_owned(),
    })
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

async fn create_job(b: &Backend, fmt: Format, a: CreateArgs) -> anyhow::Result<i32> {
    let req = create_request(&a)?;
    if !b.is_local() && !a.wait {
        let job = b.create_job(req).await?;
        output::job(fmt, &job)?;
        return Ok(0);
    }
    let job = submit(b, req, a.wait).await?;
    output::job(fmt, &job)?;
    Ok(exit_for(&job))
}

/// Creates a job and sees it to its end: in embedded mode it runs here
/// (Ctrl-C cancels it); against a server it is waited for. `progress`
/// draws a bar on a terminal.
pub(crate) async fn submit(
    b: &Backend,
    req: api::CreateJob,
    progress: bool,
) -> anyhow::Result<api::Job> {
    let job = b.create_job(req).await?;
    let id = job_id(&job.id.to_string())?;
    if !b.is_local() {
        return wait(b, id, None, !progress).await;
    }
    // Embedded mode has no server: the job runs here, now. Ctrl-C cancels it.
    eprintln!("job {id} created; running it here");
    let bar = Bar::new(!progress);
    let runner = b.run_local(id);
    tokio::pin!(runner);
    let job = loop {
        tokio::select! {
            j = &mut runner => break j?,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("cancelling job {id}");
                b.cancel(id).await?;
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                if progress && let Ok(job) = b.job(id).await {
                    bar.show(&job);
                }
            }
        }
    };
    bar.done();
    Ok(job)
}

/// Polls a job until it ends, drawing a progress bar on a terminal (hidden
/// otherwise) unless `quiet`.
async fn wait(
    b: &Backend,
    id: keel_types::JobId,
    timeout: Option<Duration>,
    quiet: bool,
) -> anyhow::Result<api::Job> {
    let start = std::time::Instant::now();
    let bar = Bar::new(quiet);
    // Short jobs (a warm server scores a million rows in under a second)
    // are seen to end soon after they do; long ones are polled every 250 ms.
    let mut pause = Duration::from_millis(25);
    loop {
        b.expire_leases().await?;
        let mut job = b.job(id).await?;
        // Embedded mode has no server: a job waiting in the queue (one whose
        // runner died and was put back) runs here.
        if b.is_local() && job.status == JobStatus::Pending {
            job = b.run_local(id).await?;
        }
        bar.show(&job);
        if job.status.is_terminal() {
            bar.done();
            return Ok(job);
        }
        if let Some(t) = timeout
            && start.elapsed() > t
        {
            bar.done();
            bail!("job {id} is still {} after {}s", job.status, t.as_secs());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// The `--wait` progress line on stderr: records, records/s. indicatif hides
/// it when stderr is not a terminal, so pipes and logs get no escape codes.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(hidden: bool) -> Bar {
        if hidden {
            return Bar(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        Bar(bar)
    }

    fn show(&self, job: &api::Job) {
        let rate = job
            .records_per_second
            .map(|r| format!("({r:.0} records/s)"))
            .unwrap_or_default();
        self.0.set_message(format!(
            "{} {}: {} read, {} written, {} rejected {rate}",
            job.kind, job.status, job.counts.read, job.counts.written, job.counts.rejected
        ));
        self.0.tick();
    }

    fn done(&self) {
        self.0.finish_and_clear();
    }
}
