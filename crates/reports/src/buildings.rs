//! The CQD building file in the collector's database (`report_building_file`, one active file
//! as CQD keeps): imported after `callhook-quality` validated it, parsed again when a report
//! runs.

use callhook_collector::Store;
use callhook_quality::BuildingFile;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::sql::{fetch_all, with_pool, Bind, Sql};

const ACTIVE: &str = "active";

/// What an import stored.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub networks: usize,
    pub buildings: usize,
    pub inside_corp: usize,
    pub vpn: usize,
}

/// Validates `content` (CQD's format: no header, 14 or 15 columns; every error is reported by
/// line) and makes it the active building file.
pub async fn import(
    store: &Store,
    content: &str,
    source: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Imported> {
    let file = BuildingFile::parse(content).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    with_pool!(&store.db, pool => {
        sqlx::query(
            "INSERT INTO report_building_file (name, imported_at, source, content) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET imported_at = excluded.imported_at, \
             source = excluded.source, content = excluded.content",
        )
        .bind(ACTIVE)
        .bind(now)
        .bind(source)
        .bind(content)
        .execute(pool)
        .await?;
    });
    let mut names: Vec<&str> = file
        .networks
        .iter()
        .map(|n| n.building_name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    Ok(Imported {
        networks: file.networks.len(),
        buildings: names.len(),
        inside_corp: file.networks.iter().filter(|n| n.inside_corp).count(),
        vpn: file.networks.iter().filter(|n| n.vpn).count(),
    })
}

/// The active building file, if one was imported.
pub async fn load(store: &Store) -> anyhow::Result<Option<BuildingFile>> {
    let mut sql = Sql::new("SELECT content FROM report_building_file WHERE name = ");
    let p = sql.bind(Bind::Text(ACTIVE.into()));
    sql.push(&p);
    let content: Option<String> = with_pool!(&store.db, pool => {
        let rows = fetch_all!(sql, pool)?;
        match rows.first() {
            Some(r) => Some(sqlx::Row::try_get(r, 0)?),
            None => None,
        }
    });
    match content {
        Some(c) => {
            Ok(Some(BuildingFile::parse(&c).map_err(|e| {
                anyhow::anyhow!("stored building file: {e}")
            })?))
        }
        None => Ok(None),
    }
}

/// The networks of the active file as rows (`callhook report buildings show`).
pub async fn networks(store: &Store) -> anyhow::Result<Vec<NetworkRow>> {
    Ok(load(store)
        .await?
        .map(|f| {
            f.networks
                .iter()
                .map(|n| NetworkRow {
                    network: format!("{}/{}", n.network_ip, n.network_range),
                    network_name: n.network_name.clone(),
                    building: n.building_name.clone(),
                    city: n.city.clone(),
                    country: n.country.clone(),
                    region: n.region.clone(),
                    inside_corp: n.inside_corp,
                    vpn: n.vpn,
                })
                .collect()
        })
        .unwrap_or_default())
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRow {
    pub network: String,
    pub network_name: String,
    pub building: String,
    pub city: String,
    pub country: String,
    pub region: String,
    pub inside_corp: bool,
    pub vpn: bool,
}
