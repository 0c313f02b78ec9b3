//! The comparisons aggregate: champion/challenger comparisons of two metrics
//! jobs, decided once.

use async_trait::async_trait;
use keel_types::ComparisonId;

use crate::error::Result;
use crate::page::{Page, Paged};
use crate::records::{Actor, ComparisonRecord, Decided, NewComparison};

/// Comparisons.
#[async_trait]
pub trait ComparisonStore: Send + Sync {
    /// Stores a new PENDING comparison. Both jobs must exist.
    async fn create_comparison(&self, new: &NewComparison, by: &Actor) -> Result<ComparisonRecord>;
    /// The comparison with this id.
    async fn comparison(&self, id: ComparisonId) -> Result<Option<ComparisonRecord>>;
    /// Comparisons, newest first.
    async fn list_comparisons(&self, page: &Page) -> Result<Paged<ComparisonRecord>>;
    /// PENDING comparisons whose two jobs have both reached a terminal
    /// status, oldest first: the ones ready to be decided.
    async fn decidable_comparisons(&self) -> Result<Vec<ComparisonRecord>>;
    /// Moves a PENDING comparison to COMPLETED or FAILED. Returns false,
    /// changing nothing, when it was not PENDING (another process decided it
    /// first); `NotFound` when it does not exist.
    async fn decide_comparison(&self, id: ComparisonId, decided: &Decided) -> Result<bool>;
}
