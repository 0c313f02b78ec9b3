//! Champion/challenger comparisons: starting one (of two metrics jobs, or of
//! two versions on the same labeled data, which queues both jobs), and
//! reading them. The verdict is decided by the executor once both jobs have
//! finished, never on a read.

use keel_api_model as api;
use keel_metrics::Metric;
use keel_store::NewComparison;
use keel_store::formats::ComparePolicy;
use keel_types::{ComparisonId, JobId, JobKind, Permission};

use crate::registry::page;
use crate::{Error, Keel, Principal, Result, views};

/// The most bootstrap resamples a comparison may ask for.
const MAX_RESAMPLES: u32 = 100_000;

/// Checks a policy and turns it into the record the store keeps.
fn policy(p: &api::ComparePolicy) -> Result<ComparePolicy> {
    let name = p.metric.trim();
    let metric: Metric = name.parse().map_err(|_: keel_metrics::Error| {
        let known: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
        Error::InvalidArgument(format!(
            "Keel cannot compare on '{name}'; set `metric` to one of: {}.",
            known.join(", ")
        ))
    })?;
    if !(p.confidence > 0.0 && p.confidence < 1.0) {
        return Err(Error::InvalidArgument(format!(
            "`confidence` must be between 0 and 1, such as 0.95, not {}.",
            p.confidence
        )));
    }
    if !(1..=MAX_RESAMPLES).contains(&p.resamples) {
        return Err(Error::InvalidArgument(format!(
            "`resamples` must be between 1 and {MAX_RESAMPLES}, not {}.",
            p.resamples
        )));
    }
    if !p.min_delta.is_finite() {
        return Err(Error::InvalidArgument(
            "`min_delta` must be a number.".into(),
        ));
    }
    Ok(ComparePolicy {
        metric: metric.as_str().to_string(),
        min_delta: p.min_delta,
        confidence: p.confidence,
        resamples: p.resamples,
        seed: p.seed,
    })
}

impl Keel {
    /// Starts a comparison: of two finished (or running) metrics jobs, or of
    /// two model versions on the same labeled data (two metrics jobs are
    /// queued). The verdict comes once both jobs have finished.
    pub async fn create_comparison(
        &self,
        by: &Principal,
        req: api::CreateComparison,
    ) -> Result<api::Comparison> {
        by.require(Permission::Write, "start comparisons")?;
        let policy = policy(&req.policy)?;
        let (champion_job, challenger_job) = match (
            req.champion_job,
            req.challenger_job,
            &req.champion,
            &req.challenger,
        ) {
            (Some(a), Some(b), None, None) => {
                for id in [a, b] {
                    let job = self.job_record(id.into()).await?;
                    if job.kind != JobKind::Metrics {
                        return Err(Error::InvalidArgument(format!(
                            "Job {id} is a {} job; a comparison needs two metrics jobs.",
                            job.kind
                        )));
                    }
                }
                (JobId::from(a), JobId::from(b))
            }
            (None, None, Some(champion), Some(challenger)) => {
                let input = req.input.clone().ok_or_else(|| {
                    Error::InvalidArgument(
                        "Comparing two versions needs the labeled data to run both on (`input`)."
                            .into(),
                    )
                })?;
                let metrics = Some(req.metrics.clone().unwrap_or_default());
                let mut ids = Vec::new();
                for model in [champion, challenger] {
                    let job = self
                        .create_job(
                            by,
                            api::CreateJob {
                                kind: JobKind::Metrics,
                                model: model.clone(),
                                input: input.clone(),
                                output: None,
                                format: req.format,
                                workers: None,
                                max_runtime_seconds: None,
                                max_attempts: None,
                                schema_check: None,
                                metrics: metrics.clone(),
                                baseline: None,
                            },
                        )
                        .await?;
                    ids.push(JobId::from(job.id));
                }
                (ids[0], ids[1])
            }
            _ => {
                return Err(Error::InvalidArgument(
                    "Name either two model versions (`champion` and `challenger`, with the \
                     `input`) or two metrics jobs (`champion_job` and `challenger_job`), not a mix."
                        .into(),
                ));
            }
        };
        let rec = self
            .stores
            .comparisons
            .create_comparison(
                &NewComparison {
                    champion_job,
                    challenger_job,
                    policy,
                },
                &by.actor(),
            )
            .await?;
        self.exec.wake();
        Ok(views::comparison(&rec))
    }

    /// A comparison, as decided so far.
    pub async fn comparison(&self, id: ComparisonId) -> Result<api::Comparison> {
        let rec = self
            .stores
            .comparisons
            .comparison(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no comparison with id {id}.")))?;
        Ok(views::comparison(&rec))
    }

    /// Comparisons, newest first.
    pub async fn list_comparisons(&self, q: &api::PageQuery) -> Result<api::Page<api::Comparison>> {
        let got = self.stores.comparisons.list_comparisons(&page(q)?).await?;
        Ok(api::Page {
            items: got.items.iter().map(views::comparison).collect(),
            next_page_token: got.next_cursor,
        })
    }

    /// Decides the comparisons whose jobs have finished, in this process
    /// (the CLI's embedded mode runs no job loop that would).
    pub async fn settle_comparisons(&self) -> Result<usize> {
        Ok(self.exec.settle_comparisons().await?)
    }
}
