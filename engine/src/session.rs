//! A job's DataFusion session over granted, pseudonymized views.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::datasource::MemTable;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{
    cast, ident, DataFrame, ParquetReadOptions, SQLOptions, SessionConfig, SessionContext,
};
use futures::StreamExt;

use super::partition::{
    ByteBudget, PartitionKey, PartitionRouter, PartitionTable, PartitionedTables, SplitError,
};
use super::{bounded, surface, EngineError, EntityKeys, Pseudonymizer};
use shuyu_catalog::Dataset;

/// Resource settings for a job's session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Parallelism of one query. Default 2.
    pub target_partitions: usize,
    /// Memory DataFusion may use for one job (hash tables, sorts). Default 1 GiB.
    pub memory_limit: usize,
    /// Rows per batch handed to the guest (the ABI promises at most 8,192).
    pub batch_size: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            target_partitions: 2,
            memory_limit: 1 << 30,
            batch_size: 8192,
        }
    }
}

/// A job's session. Cheap to clone.
#[derive(Clone)]
pub struct EngineSession {
    ctx: SessionContext,
    /// Names of the host's own functions inside the granted views (pseudonyms): allowed in a
    /// plan, though a guest cannot name them (they are not registered).
    internal: Vec<String>,
    /// For each view whose entity column (always an identifier) is granted: the same rows and
    /// columns with that column raw, for [`EngineSession::scan_by_entity`]. Never registered:
    /// no SQL reaches them.
    by_entity: Arc<HashMap<String, EntityFrame>>,
}

/// A view's rows with its entity column raw.
#[derive(Clone)]
struct EntityFrame {
    frame: DataFrame,
    pseudonymizer: Pseudonymizer,
}

/// Every row of a granted view for grouping by entity ([`EngineSession::scan_by_entity`]).
pub struct EntityScan {
    /// The rows: the view's columns, in its order, the entity column raw.
    pub stream: SendableRecordBatchStream,
    /// What turns a raw entity identifier into its key, the pseudonym the view shows.
    pub keys: EntityKeys,
}

/// The columns of a dataset a scenario grants. The engine knows datasets and column names, not
/// the scenario file that lists them (a `[[grant]]` is governance's type).
pub trait GrantedColumns {
    /// The granted column names, in the view's order.
    fn granted_columns(&self) -> &[String];
}

impl GrantedColumns for Vec<String> {
    fn granted_columns(&self) -> &[String] {
        self
    }
}

impl EngineSession {
    /// Builds the session: one view per granted dataset, exposing only the granted columns.
    pub async fn open(
        grants: &[(Dataset, impl GrantedColumns)],
        pseudonymizer: &Pseudonymizer,
        options: &SessionOptions,
    ) -> Result<Self, EngineError> {
        let ctx = context(options)?;
        let udf = pseudonymizer.udf();
        let internal = vec![udf.name().to_string()];
        let mut by_entity = HashMap::new();
        for (dataset, grant) in grants {
            let path = dataset.data_path.to_str().ok_or_else(|| {
                EngineError::setup_message(format!(
                    "{}: path is not UTF-8",
                    dataset.data_path.display()
                ))
            })?;
            let scan = ctx
                .read_parquet(path, ParquetReadOptions::default())
                .await
                .map_err(|e| EngineError::setup(dataset.name(), e))?;
            let granted = grant.granted_columns();
            let entity = dataset.manifest.dataset.entity_column.as_str();
            let mut columns = Vec::with_capacity(granted.len());
            let mut raw_entity = Vec::with_capacity(granted.len());
            let mut entity_granted = false;
            for column in granted {
                let identifier = dataset.identifier_columns().any(|c| c == column);
                let viewed = if identifier {
                    udf.call(vec![ident(column)]).alias(column)
                } else {
                    ident(column)
                };
                raw_entity.push(if identifier && column == entity {
                    entity_granted = true;
                    // The UDF's own input: the value as a string.
                    cast(ident(column), DataType::Utf8).alias(column)
                } else {
                    viewed.clone()
                });
                columns.push(viewed);
            }
            if entity_granted {
                let frame = scan
                    .clone()
                    .select(raw_entity)
                    .map_err(|e| EngineError::setup(dataset.name(), e))?;
                by_entity.insert(
                    dataset.name().to_string(),
                    EntityFrame {
                        frame,
                        pseudonymizer: pseudonymizer.clone(),
                    },
                );
            }
            // Columns only, never rows: a per-entity release completes the identifier universe
            // with the entity values its grouping reads through these views (job/universe.rs),
            // which must be every value of the column.
            let view = scan
                .select(columns)
                .map_err(|e| EngineError::setup(dataset.name(), e))?
                .into_view();
            ctx.register_table(dataset.name(), view)
                .map_err(|e| EngineError::setup(dataset.name(), e))?;
        }
        Ok(Self {
            ctx,
            internal,
            by_entity: Arc::new(by_entity),
        })
    }

    /// Builds the session of one partition run of `release_vector`: each granted name is an
    /// in-memory table holding only that partition's rows of the granted view, with the view's
    /// schema (granted columns, identifiers as pseudonyms). Queries go through the same checks
    /// as in any session ([`EngineSession::plan`]); no host function is allowed in their plans,
    /// since the tables hold data already pseudonymized.
    pub fn open_partition(
        tables: Vec<PartitionTable>,
        options: &SessionOptions,
    ) -> Result<Self, EngineError> {
        let ctx = context(options)?;
        for table in tables {
            let provider = MemTable::try_new(table.schema, vec![table.batches])
                .map_err(|e| EngineError::setup(&table.name, e))?;
            ctx.register_table(table.name.as_str(), Arc::new(provider))
                .map_err(|e| EngineError::setup(&table.name, e))?;
        }
        Ok(Self {
            ctx,
            internal: Vec::new(),
            by_entity: Arc::default(),
        })
    }

    /// Reads every granted view named in `tables` (name, entity column) once and splits its rows
    /// into `partitions` partitions by `key` (`engine::partition`): the one pass behind all the
    /// partition runs of a vector release. `stop` is asked between batches; once it says yes the
    /// split ends with [`SplitError::Cancelled`]. The copies are bounded by `max_bytes`.
    pub async fn split(
        &self,
        tables: &[(&str, &str)],
        key: &PartitionKey,
        partitions: u32,
        max_bytes: usize,
        stop: &dyn Fn() -> bool,
    ) -> Result<PartitionedTables, SplitError> {
        let batch_size = self.ctx.state().config().batch_size();
        let mut budget = ByteBudget::new(max_bytes);
        let mut routed = Vec::with_capacity(tables.len());
        for &(table, entity) in tables {
            let read = |e: datafusion::error::DataFusionError| SplitError::Read {
                table: table.to_string(),
                message: e.to_string(),
            };
            let frame = self.ctx.table(table).await.map_err(read)?;
            let mut stream = frame.execute_stream().await.map_err(read)?;
            let mut router =
                PartitionRouter::new(table, stream.schema(), entity, key, partitions, batch_size)?;
            while let Some(batch) = stream.next().await {
                if stop() {
                    return Err(SplitError::Cancelled);
                }
                router.push(&batch.map_err(read)?, &mut budget)?;
            }
            routed.push(router.finish(&mut budget)?);
        }
        Ok(PartitionedTables::new(partitions, routed, budget.peak()))
    }

    /// Plans one read-only query, checking it against the guest's SQL surface
    /// ([`surface`]) at every step: its size before parsing, its statement kind and nesting
    /// after parsing, its plan nodes and functions before optimization. Nothing runs and no data
    /// is read before all checks pass, so a rejection's message is about the SQL text and the
    /// granted schema only.
    pub async fn plan(&self, sql: &str) -> Result<DataFrame, EngineError> {
        surface::check_size(sql).map_err(EngineError::Rejected)?;
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state
            .sql_to_statement(sql, &dialect)
            .map_err(|e| EngineError::Rejected(rejection_message(&e)))?;
        surface::check_statement(&statement, sql).map_err(EngineError::Rejected)?;
        let plan = state
            .statement_to_plan(statement)
            .await
            .map_err(|e| EngineError::Rejected(rejection_message(&e)))?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| EngineError::Rejected(rejection_message(&e)))?;
        let internal: Vec<&str> = self.internal.iter().map(String::as_str).collect();
        surface::check_plan(&plan, &internal).map_err(EngineError::Rejected)?;
        let plan =
            bounded::bound_plan(plan).map_err(|e| EngineError::Rejected(rejection_message(&e)))?;
        self.ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| EngineError::Rejected(rejection_message(&e)))
    }

    /// Every row of the granted view `table` for grouping it by entity, for the host's own use
    /// (`release_entities`, services): the view's rows and columns, except that the entity
    /// column comes raw, so that the host pseudonymizes each entity once ([`EntityKeys::values`])
    /// instead of every row (a table such as `tax_payments` has a dozen rows per entity). The
    /// raw values stay on the host: what a run sees is the key, the pseudonym the view gives.
    ///
    /// # Errors
    /// [`EngineError::Rejected`] when `table` is not a granted view whose entity column is
    /// granted (a per-entity release needs every entity column; scenarios are checked for it);
    /// [`EngineError::Failed`] when the scan cannot start.
    pub async fn scan_by_entity(&self, table: &str) -> Result<EntityScan, EngineError> {
        let Some(entity) = self.by_entity.get(table) else {
            return Err(EngineError::Rejected(format!(
                "{table}: no granted view with its entity column granted"
            )));
        };
        let stream = entity
            .frame
            .clone()
            .execute_stream()
            .await
            .map_err(|e| EngineError::failed(table, e))?;
        Ok(EntityScan {
            stream,
            keys: EntityKeys(entity.pseudonymizer.clone()),
        })
    }

    /// Plans and starts a query, returning its stream of batches. Dropping the stream cancels it
    /// (DataFusion aborts the tasks it spawned for the query when their handles drop).
    ///
    /// Errors after the plan checks (optimization, physical planning, which reads Parquet
    /// metadata and statistics) are [`EngineError::Failed`]: their text may quote data, so the
    /// guest gets a generic message and the audit log the text.
    pub async fn execute(&self, sql: &str) -> Result<SendableRecordBatchStream, EngineError> {
        let frame = self.plan(sql).await?;
        frame
            .execute_stream()
            .await
            .map_err(|e| EngineError::failed("", e))
    }
}

/// A session context with the guest's configuration and SQL surface, and no tables yet.
fn context(options: &SessionOptions) -> Result<SessionContext, EngineError> {
    let mut config = SessionConfig::new()
        .with_target_partitions(options.target_partitions.max(1))
        .with_batch_size(options.batch_size.clamp(1, 8192))
        .with_information_schema(false);
    {
        let opts = config.options_mut();
        // The ABI promises plain Utf8 strings; view types would also surprise guest readers.
        opts.execution.parquet.schema_force_view_types = false;
        opts.sql_parser.map_string_types_to_utf8view = false;
        opts.execution.enable_recursive_ctes = false;
    }
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(options.memory_limit, 1.0)
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()
        .map_err(|e| EngineError::setup("", e))?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    surface::restrict_registry(&ctx);
    Ok(ctx)
}

/// DataFusion's error text without its category prefixes, which mean nothing to an operator.
fn rejection_message(error: &datafusion::error::DataFusionError) -> String {
    let text = error.to_string();
    let mut rest = text.as_str();
    for prefix in [
        "Error during planning: ",
        "SQL error: ",
        "Schema error: ",
        "This feature is not implemented: ",
    ] {
        if let Some(stripped) = rest.strip_prefix(prefix) {
            rest = stripped;
        }
    }
    rest.to_string()
}
