//! Module `entity-cost` (not hostile; it lives here because this workspace is built for tests and
//! benches only): the three steps of an SDK entity run, so that `runtime/benches/entity_runs.rs
//! --sdk-module` can measure each. By release name:
//!
//! - `nothing`: asks the release's name and contributes nothing (the SDK's fixed cost);
//! - `read`: also reads this entity's rows of table `t` as record batches (`Entity::rows`) and
//!   sums their `amount`;
//! - `read in place`: the same with `Entity::table`;
//! - anything else: also contributes one row `[district] [tax]`, reading in place when the name
//!   ends with `in place`.

use shuyu_sdk::arrow_array::Array;
use shuyu_sdk::entity::{Contributions, Entity};
use shuyu_sdk::{BatchExt, Result};

shuyu_sdk::entry!(main_run);
shuyu_sdk::contribute!(one_entity);

fn main_run() -> Result<()> {
    Ok(())
}

fn one_entity(entity: &Entity) -> Result<Contributions> {
    let release = entity.release()?.to_string();
    if release == "nothing" {
        return Contributions::new(&[], &[]);
    }
    let mut total = 0.0;
    if release.ends_with("in place") {
        total = entity
            .table("t")?
            .f64_lossy("amount")?
            .iter()
            .flatten()
            .sum::<f64>();
    } else {
        for batch in entity.rows("t")? {
            let amounts = batch.f64_lossy("amount")?;
            total += (0..batch.num_rows())
                .filter(|&i| amounts.is_valid(i))
                .map(|i| amounts.value(i))
                .sum::<f64>();
        }
    }
    if release.starts_with("read") {
        return Contributions::new(&[], &[]);
    }
    let mut out = Contributions::new(&["district"], &["tax"])?;
    out.push(&["西湖区"], &[total])?;
    Ok(out)
}
