//! A job's DataFusion session over granted, pseudonymized views.

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{
    ident, DataFrame, ParquetReadOptions, SQLOptions, SessionConfig, SessionContext,
};

use super::{bounded, surface, EngineError, PartitionFilter, Pseudonymizer};
use crate::catalog::Dataset;
use crate::governance::Grant;

/// Resource settings for a job's session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Parallelism of one query. Default 2.
    pub target_partitions: usize,
    /// Memory DataFusion may use for one job (hash tables, sorts). Default 1 GiB.
    pub memory_limit: usize,
    /// Rows per batch handed to the guest (the ABI promises at most 8,192).
    pub batch_size: usize,
    /// For a partition run of `release_vector`: keep only this partition's entities in every
    /// view. Every grant must then include its dataset's entity column. Default none.
    pub partition: Option<PartitionFilter>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            target_partitions: 2,
            memory_limit: 1 << 30,
            batch_size: 8192,
            partition: None,
        }
    }
}

/// A job's session. Cheap to clone.
#[derive(Clone)]
pub struct EngineSession {
    ctx: SessionContext,
    /// Names of the host's own functions inside the granted views (pseudonyms, partition
    /// filter): allowed in a plan, though a guest cannot name them (they are not registered).
    internal: Vec<String>,
}

impl EngineSession {
    /// Builds the session: one view per granted dataset, exposing only the granted columns.
    pub async fn open(
        grants: &[(Dataset, Grant)],
        pseudonymizer: &Pseudonymizer,
        options: &SessionOptions,
    ) -> Result<Self, EngineError> {
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
            .map_err(|e| EngineError::Setup(e.to_string()))?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        surface::restrict_registry(&ctx);
        let udf = pseudonymizer.udf();
        let partition_udf = options.partition.as_ref().map(PartitionFilter::udf);
        let mut internal = vec![udf.name().to_string()];
        if let Some(in_partition) = &partition_udf {
            internal.push(in_partition.name().to_string());
        }
        for (dataset, grant) in grants {
            let path = dataset.data_path.to_str().ok_or_else(|| {
                EngineError::Setup(format!(
                    "{}: path is not UTF-8",
                    dataset.data_path.display()
                ))
            })?;
            let scan = ctx
                .read_parquet(path, ParquetReadOptions::default())
                .await
                .map_err(|e| EngineError::Setup(format!("{}: {e}", dataset.name())))?;
            let scan = match &partition_udf {
                None => scan,
                Some(in_partition) => {
                    let entity = dataset.manifest.dataset.entity_column.as_str();
                    // The scenario check refuses such grants already; a view that cannot be
                    // partitioned must never be served whole to a partition run.
                    if !grant.columns.iter().any(|c| c == entity) {
                        return Err(EngineError::Setup(entity_column_missing(
                            dataset.name(),
                            entity,
                        )));
                    }
                    // Filter the raw scan, before the pseudonymizing projection: the guest's
                    // view never holds another partition's rows.
                    scan.filter(in_partition.call(vec![ident(entity)]))
                        .map_err(|e| EngineError::Setup(format!("{}: {e}", dataset.name())))?
                }
            };
            let mut columns = Vec::with_capacity(grant.columns.len());
            for column in &grant.columns {
                let identifier = dataset.identifier_columns().any(|c| c == column);
                columns.push(if identifier {
                    udf.call(vec![ident(column)]).alias(column)
                } else {
                    ident(column)
                });
            }
            let view = scan
                .select(columns)
                .map_err(|e| EngineError::Setup(format!("{}: {e}", dataset.name())))?
                .into_view();
            ctx.register_table(dataset.name(), view)
                .map_err(|e| EngineError::Setup(format!("{}: {e}", dataset.name())))?;
        }
        Ok(Self { ctx, internal })
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

    /// Every row of the granted view `table`, for the host's own use (grouping rows by entity
    /// for `release_entities`): no guest SQL is involved, so the surface checks do not apply.
    pub async fn scan_view(&self, table: &str) -> Result<SendableRecordBatchStream, EngineError> {
        let frame = self
            .ctx
            .table(table)
            .await
            .map_err(|e| EngineError::Failed(format!("{table}: {e}")))?;
        frame
            .execute_stream()
            .await
            .map_err(|e| EngineError::Failed(format!("{table}: {e}")))
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
            .map_err(|e| EngineError::Failed(e.to_string()))
    }
}

/// The refusal when a granted table cannot be partitioned by entity.
pub fn entity_column_missing(dataset: &str, entity_column: &str) -> String {
    format!(
        "release_vector needs every granted table to carry its entity column; {dataset} does not grant {entity_column}"
    )
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
