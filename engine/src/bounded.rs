//! A size bound on every value a guest's query computes.
//!
//! The allowlist ([`super::surface`]) keeps out functions whose output an argument sizes, but
//! even allowed ones compose: `s || s` doubles a string, and a chain of thirty CTEs, each
//! concatenating the previous one's column with itself, asks for 2^30 times the input in a few
//! hundred tokens, and arrow allocates the result in one piece (the process aborts when it
//! cannot). So before optimization [`bound_plan`] rewrites the plan: every scalar function call
//! is wrapped so that it refuses inputs larger than [`MAX_CALL_BYTES`] in total, and the operands
//! of every `||` pass through a guard with the same bound. Each evaluation then allocates at most
//! a small multiple of [`MAX_CALL_BYTES`]; a query that needs more fails (`QUERY_FAILED`).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{exec_err, plan_err, Result as DfResult};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Documentation, Expr, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Most bytes of input one evaluation of a scalar function (or one operand of `||`) may take:
/// all arguments of one batch together, a constant argument counted once per row.
pub(crate) const MAX_CALL_BYTES: usize = 64 << 20;

/// The name of the `||` operands' guard (never registered: a guest cannot call it).
const GUARD_NAME: &str = "shuyu_size_guard";

/// Wraps every scalar function call of `plan` (subqueries and inlined views included) in a
/// size-checking wrapper and guards the operands of every `||`. Names, types and
/// nullability of every expression stay as they were, so the plan's schemas do not change.
pub(crate) fn bound_plan(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|expr| expr.transform_up(bound_expr))
    })
    .map(|t| t.data)
}

/// Whether `expr` is already a guarded value: a plan is bounded once, and what a simplification
/// hands back is bounded again without stacking guards.
fn is_guard(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.func.name() == GUARD_NAME)
}

fn bound_expr(expr: Expr) -> DfResult<Transformed<Expr>> {
    match expr {
        Expr::ScalarFunction(f)
            if f.func.inner().as_any_bounded().is_none() && f.func.name() != GUARD_NAME =>
        {
            let func = Arc::new(ScalarUDF::new_from_impl(Bounded {
                inner: f.func.clone(),
            }));
            Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
                func,
                args: f.args,
            })))
        }
        Expr::BinaryExpr(b)
            if b.op == Operator::StringConcat && !(is_guard(&b.left) && is_guard(&b.right)) =>
        {
            let guard = Arc::new(ScalarUDF::new_from_impl(SizeGuard::new()));
            let wrap = |e: Box<Expr>| {
                if is_guard(&e) {
                    return e;
                }
                Box::new(Expr::ScalarFunction(ScalarFunction {
                    func: guard.clone(),
                    args: vec![*e],
                }))
            };
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left: wrap(b.left),
                op: b.op,
                right: wrap(b.right),
            })))
        }
        other => Ok(Transformed::no(other)),
    }
}

/// Tells a [`Bounded`] wrapper from any other function, so that a plan is wrapped only once.
trait AsBounded {
    fn as_any_bounded(&self) -> Option<&Bounded>;
}

impl AsBounded for Arc<dyn ScalarUDFImpl> {
    fn as_any_bounded(&self) -> Option<&Bounded> {
        let any: &dyn std::any::Any = self.as_ref();
        any.downcast_ref::<Bounded>()
    }
}

/// Bytes a call's arguments occupy for `rows` rows.
fn input_bytes(args: &[ColumnarValue], rows: usize) -> DfResult<usize> {
    let mut total = 0usize;
    for arg in args {
        let bytes = match arg {
            ColumnarValue::Array(array) => array.to_data().get_slice_memory_size()?,
            ColumnarValue::Scalar(scalar) => scalar.size().saturating_mul(rows.max(1)),
        };
        total = total.saturating_add(bytes);
    }
    Ok(total)
}

fn check(what: &str, bytes: usize) -> DfResult<()> {
    if bytes > MAX_CALL_BYTES {
        return exec_err!(
            "{what} would handle {bytes} bytes in one batch; the limit is {MAX_CALL_BYTES}"
        );
    }
    Ok(())
}

/// A scalar function that refuses oversized inputs and outputs, otherwise its inner function.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> DfResult<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        check(self.name(), input_bytes(&args.args, rows)?)?;
        let output = self.inner.invoke_with_args(args)?;
        check(
            self.name(),
            input_bytes(std::slice::from_ref(&output), rows)?,
        )?;
        Ok(output)
    }

    /// Some functions exist only to be simplified (`coalesce` and `nvl2` become `CASE`), and a
    /// simplification may build fresh, unbounded calls (`concat` merges its literals into a new
    /// `concat`): whatever comes back is bounded again.
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        match self.inner.simplify(args, info)? {
            ExprSimplifyResult::Simplified(expr) => Ok(ExprSimplifyResult::Simplified(
                expr.transform_up(bound_expr)?.data,
            )),
            original => Ok(original),
        }
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.conditional_arguments(args)
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> DfResult<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> DfResult<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> DfResult<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// The identity on one value that refuses it when it is larger than [`MAX_CALL_BYTES`]: the
/// operands of `||`. Its name in schemas is its argument's, so column names do not change.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SizeGuard {
    signature: Signature,
}

impl SizeGuard {
    fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for SizeGuard {
    fn name(&self) -> &str {
        GUARD_NAME
    }

    fn schema_name(&self, args: &[Expr]) -> DfResult<String> {
        match args {
            [arg] => Ok(arg.schema_name().to_string()),
            _ => plan_err!("shuyu_size_guard takes one argument"),
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types {
            [t] => Ok(t.clone()),
            _ => plan_err!("shuyu_size_guard takes one argument"),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        match args.arg_fields {
            [field] => Ok(field.clone()),
            _ => plan_err!("shuyu_size_guard takes one argument"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        check("||", input_bytes(&args.args, args.number_rows)?)?;
        match args.args.into_iter().next() {
            Some(value) => Ok(value),
            None => exec_err!("shuyu_size_guard takes one argument"),
        }
    }
}
