//! The registry aggregate: models, their immutable versions, and aliases with
//! their history.

use async_trait::async_trait;
use keel_types::{ModelId, VersionId};

use crate::error::Result;
use crate::page::{Page, Paged};
use crate::records::{Actor, AliasEvent, AliasRecord, ModelRecord, NewVersion, VersionRecord};

/// Models, versions and aliases. Every method is safe to call from several
/// processes sharing one database.
#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// Registers a new model with no versions. Fails with `AlreadyExists` when
    /// the name is taken and `InvalidArgument` when it is not a valid name.
    async fn create_model(&self, name: &str, by: &Actor) -> Result<ModelRecord>;
    /// The model with this name.
    async fn model_by_name(&self, name: &str) -> Result<Option<ModelRecord>>;
    /// The model with this id.
    async fn model_by_id(&self, id: ModelId) -> Result<Option<ModelRecord>>;
    /// Models ordered by name.
    async fn list_models(&self, page: &Page) -> Result<Paged<ModelRecord>>;

    /// Registers the next version of a model, numbered latest + 1 atomically.
    async fn create_version(&self, new: &NewVersion, by: &Actor) -> Result<VersionRecord>;
    /// The newest version of a model with this content hash.
    async fn version_by_hash(
        &self,
        model_id: ModelId,
        content_hash: &str,
    ) -> Result<Option<VersionRecord>>;
    /// The version with this id.
    async fn version_by_id(&self, id: VersionId) -> Result<Option<VersionRecord>>;
    /// The version of a model with this number.
    async fn version_by_number(
        &self,
        model_id: ModelId,
        number: u32,
    ) -> Result<Option<VersionRecord>>;
    /// The highest-numbered version of a model.
    async fn latest_version(&self, model_id: ModelId) -> Result<Option<VersionRecord>>;
    /// A model's versions in ascending number order.
    async fn list_versions(&self, model_id: ModelId, page: &Page) -> Result<Paged<VersionRecord>>;

    /// Points an alias at a version of the same model and records the move.
    /// Setting an alias to the version it already points to records nothing
    /// and returns an event with equal `from_version` and `to_version`.
    async fn set_alias(
        &self,
        model_id: ModelId,
        alias: &str,
        version_id: VersionId,
        by: &Actor,
    ) -> Result<AliasEvent>;
    /// Where an alias points now.
    async fn alias(&self, model_id: ModelId, alias: &str) -> Result<Option<AliasRecord>>;
    /// All aliases of a model, ordered by alias name.
    async fn list_aliases(&self, model_id: ModelId) -> Result<Vec<AliasRecord>>;
    /// Removes an alias and records an event with `to_version: None`; false
    /// when the alias did not exist.
    async fn delete_alias(&self, model_id: ModelId, alias: &str, by: &Actor) -> Result<bool>;
    /// Every alias move of a model, oldest first.
    async fn alias_history(&self, model_id: ModelId) -> Result<Vec<AliasEvent>>;
}
