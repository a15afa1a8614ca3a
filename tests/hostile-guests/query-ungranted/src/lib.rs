//! Hostile module `query-ungranted`: asks for data its scenario does not grant. Runs under the
//! `district-stats` scenario, which grants `enterprise_registry(usci, district, industry,
//! registered_capital)` and `tax_payments(usci, amount)` only.
//!
//! It tries a table that is not granted (`residents`), a column of a granted table that is not
//! granted (`legal_rep_id`), and `SELECT *` on the granted table, hoping the hidden column comes
//! along.
//!
//! Must happen: the first two fail with `QUERY_REJECTED` (-2) and `SELECT *` returns only the
//! granted columns; the module then returns 0. It returns 66 if the host ever handed it rows of
//! an ungranted table or an ungranted column.

use shuyu_sdk::{log, query, Error, Result};

shuyu_sdk::entry!(run);

/// Queries that must not yield ungranted data.
const ATTEMPTS: [&str; 3] = [
    "SELECT citizen_id, income FROM residents",
    "SELECT legal_rep_id FROM enterprise_registry",
    "SELECT * FROM enterprise_registry",
];

fn run() -> Result<()> {
    let mut leaked = false;
    for sql in ATTEMPTS {
        let rows = match query(sql) {
            Ok(rows) => rows,
            Err(e) => {
                log!("refused: {sql} -> code {:?}: {e}", e.host_code());
                continue;
            }
        };
        for batch in rows {
            match batch {
                Ok(batch) => {
                    let schema = batch.schema();
                    let forbidden = schema.fields().iter().any(|f| {
                        matches!(f.name().as_str(), "legal_rep_id" | "citizen_id" | "income")
                    });
                    if forbidden && batch.num_rows() > 0 {
                        log!("LEAK: {sql} returned {} rows", batch.num_rows());
                        leaked = true;
                    }
                }
                Err(e) => log!("failed while running: {sql} -> {e}"),
            }
        }
    }
    if leaked {
        return Err(Error::guest(66, "the host returned ungranted data"));
    }
    Ok(())
}
