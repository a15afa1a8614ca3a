//! The SQL surface a guest may use: how large a query may be, which plan nodes and which functions
//! it may contain.
//!
//! Everything here is an allowlist. A query is checked three times before anything runs:
//!
//! 1. [`check_size`], on the text, before the parser builds a tree: at most [`MAX_SQL_TOKENS`]
//!    tokens. A long chain like `1+1+…+1` parses into a tree as deep as it is long, and planning
//!    such a tree recursed deep enough to overflow the guest thread's stack (about 32,000 terms)
//!    or ran for minutes (20,000 terms).
//! 2. [`check_statement`], on the parsed statement: one query (`SELECT`/`WITH`/`VALUES`), nothing
//!    else (`EXPLAIN`, `DESCRIBE`, `SHOW`, …), and expressions nested at most [`MAX_NESTING`] deep.
//! 3. [`check_plan`], on the logical plan *before* optimization (the optimizer folds `now()` into
//!    a constant, so a check after it could not see the clock): every node of the plan and of its
//!    subqueries must be of an allowed kind, and every function called must be on the allowlist.
//!
//! The session itself also carries only allowed functions ([`restrict_registry`]), so a forbidden
//! function fails to plan by name; the plan check catches the ones SQL syntax plans directly
//! (`OVERLAY(… PLACING …)`, struct access) and anything a DataFusion upgrade adds.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, WindowFunctionDefinition};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Statement, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// Most tokens (words, literals, operators; whitespace and comments not counted) in one query.
/// Bounds the size of the parsed tree and so the work of planning it.
pub(crate) const MAX_SQL_TOKENS: usize = 4096;

/// Deepest nesting of expressions and subqueries in one query: `a + b + c` is 2 deep (the
/// parser nests left-associative chains), `f(g(x))` 3, a subquery adds one.
pub(crate) const MAX_NESTING: usize = 64;

/// Scalar functions a guest may call. Each one's output is at most a small constant times the
/// size of its inputs, it reads neither clock nor randomness nor anything outside its arguments,
/// and its work per row is linear in its inputs.
pub(crate) const ALLOWED_SCALAR: &[&str] = &[
    // conditionals and comparisons
    "nullif",
    "nvl",
    "nvl2",
    "coalesce",
    "greatest",
    "least",
    "arrow_typeof",
    // strings: each output is at most its inputs' size (case mapping: at most 3x, and not again)
    "ascii",
    "bit_length",
    "btrim",
    "ltrim",
    "rtrim",
    "character_length",
    "chr",
    "concat",
    "concat_ws",
    "contains",
    "starts_with",
    "ends_with",
    "find_in_set",
    "initcap",
    "left",
    "right",
    "lower",
    "upper",
    "octet_length",
    "reverse",
    "split_part",
    "strpos",
    "substr",
    "substr_index",
    "to_hex",
    // dates and times: conversions of their arguments, never of the clock
    "date_bin",
    "date_part",
    "date_trunc",
    "from_unixtime",
    "make_date",
    "make_time",
    "to_char",
    "to_date",
    "to_local_time",
    "to_time",
    "to_timestamp",
    "to_timestamp_seconds",
    "to_timestamp_millis",
    "to_timestamp_micros",
    "to_timestamp_nanos",
    "to_unixtime",
    // arithmetic
    "abs",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "cbrt",
    "ceil",
    "cos",
    "cosh",
    "cot",
    "degrees",
    "exp",
    "factorial",
    "floor",
    "gcd",
    "isnan",
    "iszero",
    "lcm",
    "ln",
    "log",
    "log2",
    "log10",
    "nanvl",
    "pi",
    "power",
    "radians",
    "signum",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "round",
    "trunc",
];

/// Scalar functions DataFusion registers that a guest may not call, and why.
pub const DENIED_SCALAR: &[&str] = &[
    // The clock: a main run could signal its partition runs through it, and the ABI promises
    // none (`CURRENT_DATE`, `CURRENT_TIME`, `CURRENT_TIMESTAMP`, `today()` are aliases).
    "now",
    "current_date",
    "current_time",
    // Randomness: the ABI promises none.
    "random",
    "uuid",
    // Output sized by an argument, not by the data: `repeat(x, 2147483647)` allocates rows × 2 GiB.
    "repeat",
    "lpad",
    "rpad",
    // Output grows as matches × replacement: quadratic, and compounding through nesting.
    "replace",
    "regexp_replace",
    "overlay",
    // Output up to 2x (hex) / 4x (ASCII to 4-byte characters) of the input on every call:
    // nesting compounds it exponentially.
    "encode",
    "decode",
    "translate",
    // Work of length × length inside one call, never interrupted.
    "levenshtein",
    // A pattern per row compiles a regular expression per row; `regexp_match` returns lists.
    "regexp_count",
    "regexp_instr",
    "regexp_like",
    "regexp_match",
    // Facts about the host, not the data: file paths, physical row positions, the engine version.
    "input_file_name",
    "file_row_index",
    "version",
    // Arrow field metadata (Parquet key-value metadata can travel in it).
    "arrow_metadata",
    "with_metadata",
    "arrow_field",
    // Casts to any Arrow type, beyond SQL's `CAST` (lists, views, dictionaries).
    "arrow_cast",
    "arrow_try_cast",
    "cast_to_type",
    "try_cast_to_type",
    // Nested types the ABI does not carry.
    "named_struct",
    "struct",
    "get_field",
    "union_extract",
    "union_tag",
];

/// Aggregate functions a guest may call: each keeps state bounded by the memory pool and returns
/// one scalar per group.
pub(crate) const ALLOWED_AGGREGATE: &[&str] = &[
    "any_value",
    "first_value",
    "last_value",
    "covar_samp",
    "covar_pop",
    "corr",
    "sum",
    "max",
    "min",
    "median",
    "count",
    "regr_slope",
    "regr_intercept",
    "regr_count",
    "regr_r2",
    "regr_avgx",
    "regr_avgy",
    "regr_sxx",
    "regr_syy",
    "regr_sxy",
    "var",
    "var_pop",
    "stddev",
    "stddev_pop",
    "approx_median",
    "approx_distinct",
    "approx_percentile_cont",
    "approx_percentile_cont_with_weight",
    "percentile_cont",
    "bit_and",
    "bit_or",
    "bit_xor",
    "bool_and",
    "bool_or",
    "avg",
    "grouping",
    "nth_value",
];

/// Aggregate functions DataFusion registers that a guest may not call, and why.
pub const DENIED_AGGREGATE: &[&str] = &[
    // Accumulate a whole group into one value (a list, a string as large as the data), which
    // the string functions could then grow further.
    "array_agg",
    "string_agg",
];

/// Window functions a guest may call (all of DataFusion's: each returns one value per row).
pub(crate) const ALLOWED_WINDOW: &[&str] = &[
    "cume_dist",
    "row_number",
    "lead",
    "lag",
    "rank",
    "dense_rank",
    "percent_rank",
    "ntile",
    "first_value",
    "last_value",
    "nth_value",
];

/// Window functions DataFusion registers that a guest may not call (none today).
pub const DENIED_WINDOW: &[&str] = &[];

/// Table functions a guest may call: none.
pub(crate) const ALLOWED_TABLE: &[&str] = &[];

/// Table functions DataFusion registers that a guest may not call, and why.
pub const DENIED_TABLE: &[&str] = &[
    // Conjure rows out of nothing: a cheap way to make a query run forever.
    "generate_series",
    "range",
];

/// Removes from the session every function that is not on an allowlist, so that a forbidden
/// function fails to plan by name ("Invalid function").
pub(crate) fn restrict_registry(ctx: &SessionContext) {
    let state = ctx.state();
    let scalar: BTreeSet<String> = state
        .scalar_functions()
        .values()
        .map(|f| f.name().to_string())
        .collect();
    for name in scalar
        .iter()
        .filter(|n| !ALLOWED_SCALAR.contains(&n.as_str()))
    {
        ctx.deregister_udf(name);
    }
    let aggregate: BTreeSet<String> = state
        .aggregate_functions()
        .values()
        .map(|f| f.name().to_string())
        .collect();
    for name in aggregate
        .iter()
        .filter(|n| !ALLOWED_AGGREGATE.contains(&n.as_str()))
    {
        ctx.deregister_udaf(name);
    }
    let window: BTreeSet<String> = state
        .window_functions()
        .values()
        .map(|f| f.name().to_string())
        .collect();
    for name in window
        .iter()
        .filter(|n| !ALLOWED_WINDOW.contains(&n.as_str()))
    {
        ctx.deregister_udwf(name);
    }
    let table: BTreeSet<String> = state.table_functions().keys().cloned().collect();
    for name in table
        .iter()
        .filter(|n| !ALLOWED_TABLE.contains(&n.as_str()))
    {
        ctx.deregister_udtf(name);
    }
}

/// Refuses a query text with more than [`MAX_SQL_TOKENS`] tokens. Tokenizing is a flat loop,
/// so this runs before anything that recurses over the query.
pub(crate) fn check_size(sql: &str) -> Result<(), String> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map_err(|e| e.to_string())?;
    let count = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .count();
    if count > MAX_SQL_TOKENS {
        return Err(format!(
            "the query has {count} tokens; the limit is {MAX_SQL_TOKENS} (limit: sql_tokens)"
        ));
    }
    Ok(())
}

/// Accepts one query statement whose expressions nest at most [`MAX_NESTING`] deep. `sql` is
/// the statement's text, whose first word names a refused statement.
pub(crate) fn check_statement(statement: &DfStatement, sql: &str) -> Result<(), String> {
    let inner = match statement {
        DfStatement::Statement(inner) => inner.as_ref(),
        DfStatement::Explain(_) => return Err(explain_refused(&first_word(sql))),
        _ => return Err(not_a_query(sql)),
    };
    match inner {
        Statement::Query(_) => {}
        Statement::Explain { .. } | Statement::ExplainTable { .. } => {
            return Err(explain_refused(&first_word(sql)))
        }
        _ => return Err(not_a_query(sql)),
    }
    let mut depth = NestingDepth::default();
    match inner.visit(&mut depth) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(message) => Err(message),
    }
}

/// The statement's first word, upper-cased and cut short: a refusal never echoes more of it.
fn first_word(sql: &str) -> String {
    sql.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .take(16)
        .collect::<String>()
        .to_ascii_uppercase()
}

fn not_a_query(sql: &str) -> String {
    format!(
        "only one SELECT or WITH query is allowed, not {}",
        first_word(sql)
    )
}

fn explain_refused(what: &str) -> String {
    format!(
        "{what} is not allowed: plans show statistics of the data (minimum and maximum values, row counts)"
    )
}

/// Tracks the nesting of expressions and queries, stopping at the first level past the limit so
/// that the walk itself never recurses deeper than that.
#[derive(Default)]
struct NestingDepth {
    depth: usize,
}

impl NestingDepth {
    fn enter(&mut self) -> ControlFlow<String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return ControlFlow::Break(format!(
                "expressions and subqueries nest deeper than {MAX_NESTING} levels (limit: sql_nesting)"
            ));
        }
        ControlFlow::Continue(())
    }

    fn leave(&mut self) -> ControlFlow<String> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

impl Visitor for NestingDepth {
    type Break = String;

    fn pre_visit_query(
        &mut self,
        _query: &datafusion::sql::sqlparser::ast::Query,
    ) -> ControlFlow<String> {
        self.enter()
    }

    fn post_visit_query(
        &mut self,
        _query: &datafusion::sql::sqlparser::ast::Query,
    ) -> ControlFlow<String> {
        self.leave()
    }

    fn pre_visit_expr(
        &mut self,
        _expr: &datafusion::sql::sqlparser::ast::Expr,
    ) -> ControlFlow<String> {
        self.enter()
    }

    fn post_visit_expr(
        &mut self,
        _expr: &datafusion::sql::sqlparser::ast::Expr,
    ) -> ControlFlow<String> {
        self.leave()
    }
}

/// Checks the unoptimized logical plan: only the node kinds of a read-only query, and only
/// allowed functions (plus `internal`, the host's own functions inside the granted views, which
/// a guest cannot name because they are not registered).
pub(crate) fn check_plan(plan: &LogicalPlan, internal: &[&str]) -> Result<(), String> {
    let mut refusal: Option<String> = None;
    let walk = plan.apply_with_subqueries(|node| {
        if let Some(message) = refused_node(node) {
            refusal = Some(message);
            return Ok(TreeNodeRecursion::Stop);
        }
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Some(message) = refused_expr(e, internal) {
                    refusal = Some(message);
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    if let Err(e) = walk {
        return Err(format!("the query could not be checked: {e}"));
    }
    match refusal {
        Some(message) => Err(message),
        None => Ok(()),
    }
}

/// Why a plan node is refused, if it is: an allowlist of the nodes a read-only query plans into.
fn refused_node(node: &LogicalPlan) -> Option<String> {
    match node {
        LogicalPlan::Projection(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::Window(_)
        | LogicalPlan::Aggregate(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Join(_)
        | LogicalPlan::Union(_)
        | LogicalPlan::TableScan(_)
        | LogicalPlan::EmptyRelation(_)
        | LogicalPlan::Subquery(_)
        | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::Values(_)
        | LogicalPlan::Distinct(_) => None,
        LogicalPlan::Explain(_) => Some(explain_refused("EXPLAIN")),
        LogicalPlan::Analyze(_) => Some(explain_refused("EXPLAIN ANALYZE")),
        LogicalPlan::DescribeTable(_) => Some(explain_refused("DESCRIBE")),
        LogicalPlan::Statement(_)
        | LogicalPlan::Dml(_)
        | LogicalPlan::Ddl(_)
        | LogicalPlan::Copy(_) => {
            Some("only read-only queries are allowed: no DDL, DML, COPY or statements".into())
        }
        LogicalPlan::RecursiveQuery(_) => Some("recursive queries are not allowed".into()),
        other => Some(format!(
            "the query plans into a {} node, which is not allowed",
            node_kind(other)
        )),
    }
}

/// The variant name of a plan node (its `Display` would print the node's expressions).
fn node_kind(node: &LogicalPlan) -> &'static str {
    match node {
        LogicalPlan::Repartition(_) => "Repartition",
        LogicalPlan::Extension(_) => "Extension",
        LogicalPlan::Unnest(_) => "Unnest",
        _ => "unsupported",
    }
}

/// Why an expression is refused, if it is.
fn refused_expr(expr: &Expr, internal: &[&str]) -> Option<String> {
    let allowed = |name: &str, list: &[&str]| list.contains(&name) || internal.contains(&name);
    match expr {
        Expr::ScalarFunction(f) => {
            let name = f.func.name();
            (!allowed(name, ALLOWED_SCALAR)).then(|| function_refused(name))
        }
        Expr::AggregateFunction(f) => {
            let name = f.func.name();
            (!allowed(name, ALLOWED_AGGREGATE)).then(|| function_refused(name))
        }
        Expr::WindowFunction(w) => match &w.fun {
            WindowFunctionDefinition::AggregateUDF(f) => {
                let name = f.name();
                (!allowed(name, ALLOWED_AGGREGATE)).then(|| function_refused(name))
            }
            WindowFunctionDefinition::WindowUDF(f) => {
                let name = f.name();
                (!allowed(name, ALLOWED_WINDOW)).then(|| function_refused(name))
            }
        },
        Expr::HigherOrderFunction(f) => Some(function_refused(f.func.name())),
        Expr::Lambda(_) | Expr::LambdaVariable(_) => Some("lambdas are not allowed".into()),
        Expr::ScalarVariable(..) => Some("session variables are not allowed".into()),
        Expr::Placeholder(_) => Some("query parameters ($1) are not allowed".into()),
        Expr::Unnest(_) => Some("UNNEST is not allowed".into()),
        _ => None,
    }
}

fn function_refused(name: &str) -> String {
    format!("function {name} is not allowed in guest queries (see the ABI's function list)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    fn names<T>(
        map: &std::collections::HashMap<String, T>,
        name: impl Fn(&T) -> String,
    ) -> BTreeSet<String> {
        map.values().map(name).collect()
    }

    /// A kind of function, the names registered, its allowlist and its denylist.
    type Listing<'a> = (&'a str, BTreeSet<String>, &'a [&'a str], &'a [&'a str]);

    /// Every function DataFusion registers is either allowed or denied with a reason, so that a
    /// DataFusion upgrade that adds one fails here instead of widening the guest's surface.
    #[test]
    fn every_registered_function_is_allowed_or_denied_explicitly() {
        let state = SessionContext::new().state();
        let mut unknown = Vec::new();
        let lists: [Listing<'_>; 4] = [
            (
                "scalar",
                names(state.scalar_functions(), |f| f.name().to_string()),
                ALLOWED_SCALAR,
                DENIED_SCALAR,
            ),
            (
                "aggregate",
                names(state.aggregate_functions(), |f| f.name().to_string()),
                ALLOWED_AGGREGATE,
                DENIED_AGGREGATE,
            ),
            (
                "window",
                names(state.window_functions(), |f| f.name().to_string()),
                ALLOWED_WINDOW,
                DENIED_WINDOW,
            ),
            (
                "table",
                state.table_functions().keys().cloned().collect(),
                ALLOWED_TABLE,
                DENIED_TABLE,
            ),
        ];
        for (kind, registered, allowed, denied) in &lists {
            for name in registered {
                if !allowed.contains(&name.as_str()) && !denied.contains(&name.as_str()) {
                    unknown.push(format!("{kind} {name}"));
                }
            }
            for name in allowed.iter().chain(denied.iter()) {
                assert!(
                    !(allowed.contains(name) && denied.contains(name)),
                    "{kind} {name} is on both lists"
                );
                // A listed name that is no function's canonical name would be a silent no-op.
                if !registered.contains(*name) {
                    unknown.push(format!("{kind} {name} (listed, not registered)"));
                }
            }
        }
        assert!(
            unknown.is_empty(),
            "functions on neither list (decide and document each): {unknown:?}"
        );
    }

    #[test]
    fn the_restricted_registry_holds_only_allowed_functions() {
        let ctx = SessionContext::new();
        restrict_registry(&ctx);
        let state = ctx.state();
        for f in state.scalar_functions().values() {
            assert!(ALLOWED_SCALAR.contains(&f.name()), "scalar {}", f.name());
        }
        for f in state.aggregate_functions().values() {
            assert!(
                ALLOWED_AGGREGATE.contains(&f.name()),
                "aggregate {}",
                f.name()
            );
        }
        for f in state.window_functions().values() {
            assert!(ALLOWED_WINDOW.contains(&f.name()), "window {}", f.name());
        }
        assert!(state.table_functions().is_empty());
        for name in ["now", "random", "uuid", "repeat", "current_date"] {
            assert!(!state.scalar_functions().contains_key(name), "{name}");
        }
        // Aliases go with their function.
        assert!(!state.scalar_functions().contains_key("current_timestamp"));
        assert!(!state.scalar_functions().contains_key("today"));
    }

    /// The unoptimized plan of `sql` in a session with every DataFusion function (so that only
    /// the plan check stands in the way).
    fn unchecked_plan(sql: &str) -> LogicalPlan {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime
            .block_on(SessionContext::new().state().create_logical_plan(sql))
            .expect("plans")
    }

    #[test]
    fn the_plan_check_refuses_explain_and_describe_nodes() {
        for sql in [
            "EXPLAIN VERBOSE SELECT 1",
            "EXPLAIN ANALYZE SELECT 1",
            "DESCRIBE (SELECT 1 AS a)",
        ] {
            let plan = unchecked_plan(sql);
            let message = check_plan(&plan, &[]).unwrap_err();
            assert!(message.contains("statistics"), "{sql}: {message}");
        }
    }

    #[test]
    fn the_plan_check_sees_functions_in_subqueries_filters_and_joins_before_folding() {
        for (sql, function) in [
            ("SELECT (SELECT now())", "now"),
            ("SELECT 1 WHERE EXISTS (SELECT 1 WHERE random() > 0.5)", "random"),
            ("SELECT 1 WHERE 1 IN (SELECT length(uuid()))", "uuid"),
            ("SELECT a.x FROM (SELECT 1 AS x) a JOIN (SELECT 1 AS y) b ON a.x = b.y AND date_part('second', now()) > 1", "now"),
            ("SELECT sum(1) OVER (ORDER BY random())", "random"),
            ("SELECT string_agg('a', ',')", "string_agg"),
        ] {
            let plan = unchecked_plan(sql);
            let message = check_plan(&plan, &[]).unwrap_err();
            assert!(message.contains(function), "{sql}: {message}");
        }
        let plan = unchecked_plan("SELECT upper('a'), count(*), row_number() OVER ()");
        assert_eq!(check_plan(&plan, &[]), Ok(()));
    }

    #[test]
    fn size_counts_tokens_not_bytes() {
        assert!(check_size("SELECT 1").is_ok());
        let spaced = format!("SELECT 1{}", " ".repeat(60_000));
        assert!(check_size(&spaced).is_ok());
        let long = format!("SELECT 1{}", "+1".repeat(MAX_SQL_TOKENS));
        let message = check_size(&long).unwrap_err();
        assert!(message.contains("sql_tokens"), "{message}");
    }
}
