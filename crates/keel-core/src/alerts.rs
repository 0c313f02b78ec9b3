//! Alerts: listing what monitors found, and acknowledging and resolving
//! alerts by hand (a later execution back within the constraints resolves
//! them by itself).

use keel_api_model as api;
use keel_store::AlertRecord;
use keel_types::{AlertId, AlertStatus, Permission};

use crate::registry::page;
use crate::{Error, Keel, Principal, Result};

impl Keel {
    /// Alerts, newest first.
    pub async fn list_alerts(&self, q: &api::AlertQuery) -> Result<api::Page<api::Alert>> {
        let status = q
            .status
            .as_deref()
            .map(|s| {
                s.parse::<AlertStatus>()
                    .map_err(|e| Error::InvalidArgument(format!("`status`: {e}.")))
            })
            .transpose()?;
        let p = page(&api::PageQuery {
            max_results: q.max_results,
            page_token: q.page_token.clone(),
        })?;
        let got = self
            .stores
            .alerts
            .list_alerts(status, q.schedule.as_deref(), &p)
            .await?;
        Ok(api::Page {
            items: got.items.iter().map(view).collect(),
            next_page_token: got.next_cursor,
        })
    }

    /// Acknowledges an open alert: someone is on it.
    pub async fn acknowledge_alert(&self, by: &Principal, id: AlertId) -> Result<api::Alert> {
        by.require(Permission::Write, "acknowledge alerts")?;
        let a = self
            .stores
            .alerts
            .acknowledge_alert(id, &by.actor())
            .await?;
        Ok(view(&a))
    }

    /// Resolves an alert by hand.
    pub async fn resolve_alert(&self, by: &Principal, id: AlertId) -> Result<api::Alert> {
        by.require(Permission::Write, "resolve alerts")?;
        let a = self.stores.alerts.resolve_alert(id, &by.actor()).await?;
        Ok(view(&a))
    }
}

fn view(a: &AlertRecord) -> api::Alert {
    api::Alert {
        id: a.id.0,
        schedule: a.schedule.clone(),
        metric: a.metric.clone(),
        status: a.status,
        opened_at: a.opened_at,
        updated_at: a.updated_at,
        resolved_at: a.resolved_at,
        last_execution: a.last_execution.0,
        description: a.last_description.clone(),
        occurrences: a.occurrences,
        acknowledged_by: a.acknowledged_by.clone(),
        resolved_by: a.resolved_by.clone(),
    }
}
