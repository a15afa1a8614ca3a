//! The engine's read-only, granted-only session, driven directly.

use arrow::array::Array;
use futures::StreamExt;
use shuyu::engine::pseudonym::is_pseudonym_shaped;
use shuyu::engine::{
    EngineError, EngineSession, PartitionKey, Pseudonymizer, SessionOptions, SplitError,
    MAX_PARTITIONED_BYTES,
};
use shuyu::governance::Grant;

use crate::support::TestDomain;

fn session(t: &TestDomain, grants: &[(&str, &[&str])], key: u8) -> EngineSession {
    let catalog = t.domain.catalog().unwrap();
    let grants: Vec<_> = grants
        .iter()
        .map(|(name, columns)| {
            let dataset = catalog.get(name).unwrap().clone();
            let grant = Grant {
                dataset: name.to_string(),
                columns: columns.iter().map(|c| c.to_string()).collect(),
            };
            (dataset, grant)
        })
        .collect();
    let p = Pseudonymizer::new(&[key; 32]);
    t.domain
        .runtime()
        .block_on(EngineSession::open(&grants, &p, &SessionOptions::default()))
        .unwrap()
}

fn rejected(t: &TestDomain, s: &EngineSession, sql: &str) -> String {
    match t.domain.runtime().block_on(s.execute(sql)) {
        Err(EngineError::Rejected(message)) => message,
        Err(other) => panic!("{sql}: expected a rejection, got {other}"),
        Ok(_) => panic!("{sql}: expected a rejection, it ran"),
    }
}

fn first_string(t: &TestDomain, s: &EngineSession, sql: &str) -> String {
    t.domain.runtime().block_on(async {
        let mut stream = s.execute(sql).await.unwrap();
        let batch = stream.next().await.unwrap().unwrap();
        let col = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        col.as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .value(0)
            .to_string()
    })
}

#[test]
fn writes_ddl_copy_and_file_access_are_rejected_at_plan_level() {
    let t = TestDomain::new();
    let s = session(&t, &[("enterprise_registry", &["usci", "district"])], 1);
    for sql in [
        "CREATE TABLE x AS SELECT * FROM enterprise_registry",
        "CREATE EXTERNAL TABLE y STORED AS PARQUET LOCATION '/etc/'",
        "INSERT INTO enterprise_registry VALUES ('a', 'b')",
        "COPY enterprise_registry TO '/tmp/leak.csv'",
        "DROP TABLE enterprise_registry",
        "SET datafusion.execution.batch_size = 1",
        "SELECT * FROM generate_series(1, 1000000000)",
        "SELECT * FROM '/etc/passwd'",
        "SELECT 1; SELECT 2",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
    ] {
        rejected(&t, &s, sql);
    }
}

#[test]
fn tables_and_columns_not_granted_are_named_in_the_rejection() {
    let t = TestDomain::new();
    let s = session(&t, &[("enterprise_registry", &["usci", "district"])], 1);
    let message = rejected(&t, &s, "SELECT legal_rep_id FROM enterprise_registry");
    assert!(message.contains("legal_rep_id"), "{message}");
    let message = rejected(&t, &s, "SELECT * FROM residents");
    assert!(message.contains("residents"), "{message}");
    let message = rejected(&t, &s, "SELECT shuyu_pseudonym('330106199001011234')");
    assert!(message.contains("shuyu_pseudonym"), "{message}");
}

#[test]
fn identifiers_arrive_as_pseudonyms_that_differ_between_scenarios() {
    let t = TestDomain::new();
    let sql = "SELECT usci FROM enterprise_registry ORDER BY district, usci LIMIT 1";
    let a = first_string(
        &t,
        &session(&t, &[("enterprise_registry", &["usci", "district"])], 1),
        sql,
    );
    let b = first_string(
        &t,
        &session(&t, &[("enterprise_registry", &["usci", "district"])], 2),
        sql,
    );
    for p in [&a, &b] {
        assert_eq!(p.len(), 32, "{p}");
        assert!(!shuyu_datasets::ids::usci_is_valid(p));
    }
    assert_ne!(a, b);
    // Joins on pseudonyms work within a scenario.
    let s = session(
        &t,
        &[
            ("enterprise_registry", &["usci", "district"]),
            ("tax_payments", &["usci", "amount"]),
        ],
        3,
    );
    let n = first_string(&t, &s, "SELECT CAST(COUNT(*) AS VARCHAR) FROM enterprise_registry r JOIN tax_payments t ON r.usci = t.usci");
    assert!(n.parse::<u64>().unwrap() > 0);
}

#[test]
fn explain_and_describe_are_refused_before_anything_runs() {
    let t = TestDomain::new();
    let s = session(&t, &[("residents", &["citizen_id", "district", "age"])], 1);
    for sql in [
        "EXPLAIN SELECT citizen_id FROM residents",
        "EXPLAIN VERBOSE SELECT min(age), max(age) FROM residents",
        "EXPLAIN ANALYZE SELECT count(*) FROM residents",
        "DESCRIBE residents",
        "SHOW TABLES",
    ] {
        let message = rejected(&t, &s, sql);
        // The refusal is a fixed sentence: it quotes neither the plan nor its statistics.
        assert!(message.len() < 160, "{sql}: {message}");
        assert!(!message.contains("residents"), "{sql}: {message}");
    }
}

#[test]
fn functions_off_the_allowlist_are_refused_even_when_sql_syntax_plans_them() {
    let t = TestDomain::new();
    let s = session(&t, &[("residents", &["citizen_id", "district", "age"])], 1);
    // Planned from syntax, not looked up by name: only the plan check sees them.
    for (sql, function) in [
        (
            "SELECT OVERLAY(district PLACING 'x' FROM 1 FOR 1) FROM residents",
            "overlay",
        ),
        (
            "SELECT named_struct('a', age) FROM residents",
            "named_struct",
        ),
        ("SELECT version()", "version"),
        ("SELECT input_file_name() FROM residents", "input_file_name"),
        ("SELECT * FROM range(10)", "range"),
    ] {
        let message = rejected(&t, &s, sql);
        assert!(message.contains(function), "{sql}: {message}");
    }
    // Allowed functions still work.
    let n = first_string(
        &t,
        &s,
        "SELECT CAST(count(*) AS VARCHAR) FROM residents WHERE upper(district) IS NOT NULL AND substr(citizen_id, 1, 4) <> ''",
    );
    assert!(n.parse::<u64>().unwrap() > 0);
}

#[test]
fn size_and_nesting_limits_are_named_in_the_rejection() {
    let t = TestDomain::new();
    let s = session(&t, &[("residents", &["age"])], 1);
    let message = rejected(&t, &s, &format!("SELECT 1{}", "+1".repeat(5000)));
    assert!(
        message.contains("4096") && message.contains("sql_tokens"),
        "{message}"
    );
    let message = rejected(
        &t,
        &s,
        &format!("SELECT age{} FROM residents", "+1".repeat(64)),
    );
    assert!(
        message.contains("64") && message.contains("sql_nesting"),
        "{message}"
    );
    // Just inside the limit still plans.
    let deep = format!(
        "SELECT CAST(age{} AS VARCHAR) FROM residents",
        "+1".repeat(50)
    );
    first_string(&t, &s, &deep);
}

#[test]
fn bounded_functions_and_operators_compute_as_before_under_their_own_names() {
    let t = TestDomain::new();
    let s = session(&t, &[("residents", &["citizen_id", "district", "age"])], 1);
    // coalesce and nvl2 run only once simplified into CASE; concat merges its literals.
    let value = first_string(
        &t,
        &s,
        "SELECT COALESCE(NULL, 'a') || nvl2(NULL, 'x', 'b') || concat('c', 'd', upper(district)) FROM residents WHERE district IS NOT NULL LIMIT 1",
    );
    assert!(value.starts_with("abcd"), "{value}");
    // The size guards leave no trace in column names.
    let schema = t.domain.runtime().block_on(async {
        s.execute("SELECT district || 'x', upper(district), age + 1 FROM residents")
            .await
            .unwrap()
            .schema()
    });
    for field in schema.fields() {
        assert!(!field.name().contains("shuyu"), "{}", field.name());
    }
    assert!(
        schema.field(1).name().contains("upper"),
        "{}",
        schema.field(1).name()
    );
}

/// Rows of a query's first column, as strings.
fn strings(t: &TestDomain, s: &EngineSession, sql: &str) -> Vec<String> {
    t.domain.runtime().block_on(async {
        let mut stream = s.execute(sql).await.unwrap();
        let mut out = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.unwrap();
            let col =
                arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
            let col = col
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            out.extend((0..col.len()).map(|i| col.value(i).to_string()));
        }
        out
    })
}

/// The arrow schema a query's plan gives (names, types).
fn schema_of(t: &TestDomain, s: &EngineSession, sql: &str) -> Vec<(String, String)> {
    let frame = t.domain.runtime().block_on(s.plan(sql)).unwrap();
    frame
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect()
}

/// The sessions of a vector release's partition runs, from one split of the granted views: each
/// holds only its partition's rows under the granted names, with the views' schema, identifiers
/// as pseudonyms, joins across tables within the partition, and the same SQL surface.
#[test]
fn partition_sessions_split_the_views_once_and_keep_the_surface() {
    let t = TestDomain::new();
    let grants: &[(&str, &[&str])] = &[
        (
            "enterprise_registry",
            &["usci", "district", "registered_capital"],
        ),
        ("tax_payments", &["usci", "amount"]),
    ];
    let s = session(&t, grants, 1);
    let key = PartitionKey::from_bytes(&[9; 32]);
    let tables = [("enterprise_registry", "usci"), ("tax_payments", "usci")];
    let mut split = t
        .domain
        .runtime()
        .block_on(s.split(&tables, &key, 4, MAX_PARTITIONED_BYTES, &|| false))
        .expect("split");
    let enterprises: u64 = first_string(&t, &s, "SELECT COUNT(*) FROM enterprise_registry")
        .parse()
        .unwrap();
    let join = "SELECT COUNT(*) FROM tax_payments t JOIN enterprise_registry r ON t.usci = r.usci";
    let joined: u64 = first_string(&t, &s, join).parse().unwrap();
    assert_eq!(split.tables()[0].rows(), enterprises);
    assert!(split.peak_bytes() > 0);

    let mut seen = std::collections::HashSet::new();
    let (mut routed, mut routed_joined) = (0u64, 0u64);
    for index in 0..4 {
        let p = EngineSession::open_partition(split.take(index), &SessionOptions::default())
            .expect("partition session");
        for table in ["enterprise_registry", "tax_payments"] {
            let sql = format!("SELECT * FROM {table}");
            assert_eq!(schema_of(&t, &p, &sql), schema_of(&t, &s, &sql), "{table}");
        }
        let ids = strings(&t, &p, "SELECT usci FROM enterprise_registry");
        for id in &ids {
            assert!(is_pseudonym_shaped(id), "{id}");
            assert_eq!(key.partition_of_pseudonym(id, 4), Some(index), "{id}");
            assert!(seen.insert(id.clone()), "{id} in two partitions");
        }
        routed += ids.len() as u64;
        routed_joined += first_string(&t, &p, join).parse::<u64>().unwrap();
        // The same surface as the main session's.
        rejected(&t, &p, "COPY enterprise_registry TO '/tmp/leak.csv'");
        rejected(&t, &p, "SELECT * FROM '/etc/passwd'");
        let message = rejected(&t, &p, "SELECT shuyu_pseudonym('330106199001011234')");
        assert!(message.contains("shuyu_pseudonym"), "{message}");
        let message = rejected(&t, &p, "SELECT random() FROM enterprise_registry");
        assert!(message.contains("random"), "{message}");
    }
    assert_eq!(
        routed, enterprises,
        "every enterprise in exactly one partition"
    );
    // Every joined row is within one partition: an entity's rows share its partition.
    assert_eq!(routed_joined, joined);
    assert!(split.take(0).iter().all(|table| table.batches.is_empty()));
}

#[test]
fn a_split_stops_when_cancelled_or_over_its_byte_bound() {
    let t = TestDomain::new();
    let s = session(&t, &[("enterprise_registry", &["usci", "district"])], 1);
    let key = PartitionKey::from_bytes(&[9; 32]);
    let tables = [("enterprise_registry", "usci")];
    let run = |limit: usize, stop: &dyn Fn() -> bool| {
        t.domain
            .runtime()
            .block_on(s.split(&tables, &key, 4, limit, stop))
    };
    assert!(matches!(
        run(MAX_PARTITIONED_BYTES, &|| true),
        Err(SplitError::Cancelled)
    ));
    match run(4_096, &|| false) {
        Err(e @ SplitError::TooLarge { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("4096") && text.contains("enterprise_registry"),
                "{text}"
            );
        }
        other => panic!("expected TooLarge: {other:?}"),
    }
    assert!(
        run(MAX_PARTITIONED_BYTES, &|| false).is_ok(),
        "within the bound"
    );
    let other = [("enterprise_registry", "legal_rep_id")];
    let error = t
        .domain
        .runtime()
        .block_on(s.split(&other, &key, 4, MAX_PARTITIONED_BYTES, &|| false))
        .expect_err("no such column in the view");
    assert!(
        error
            .to_string()
            .contains("enterprise_registry does not grant legal_rep_id"),
        "{error}"
    );
}

#[test]
fn the_identifier_universe_knows_every_identifier_once_and_which_are_entities() {
    use shuyu::engine::IdentifierUniverse;
    use shuyu::guard::IdentifierOracle;

    let t = TestDomain::new();
    let catalog = t.domain.catalog().unwrap();
    let datasets: Vec<_> = catalog.datasets().cloned().collect();
    let p = Pseudonymizer::new(&[4; 32]);
    let universe = t
        .domain
        .runtime()
        .block_on(IdentifierUniverse::build(&datasets, &p))
        .unwrap();

    // The raw files, read directly: every entity column's distinct values, and a sample.
    let (entities, usci, name, citizen) = t.domain.runtime().block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        for d in &datasets {
            ctx.register_parquet(d.name(), d.data_path.to_str().unwrap(), Default::default())
                .await
                .unwrap();
        }
        let one = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap()
            }
        };
        let entities = one(
            "SELECT CAST(COUNT(DISTINCT v) AS VARCHAR) FROM (\
             SELECT usci AS v FROM enterprise_registry UNION ALL SELECT usci FROM tax_payments \
             UNION ALL SELECT usci FROM social_insurance UNION ALL SELECT citizen_id FROM residents \
             UNION ALL SELECT citizen_id FROM clinic_visits)",
        )
        .await;
        (
            entities.parse::<usize>().unwrap(),
            one("SELECT usci FROM enterprise_registry ORDER BY usci LIMIT 1").await,
            one("SELECT name FROM enterprise_registry ORDER BY usci LIMIT 1").await,
            one("SELECT citizen_id FROM residents ORDER BY citizen_id LIMIT 1").await,
        )
    });
    assert_eq!(universe.entity_count(), entities);
    assert!(universe.is_entity(&p.pseudonym(&usci)));
    assert!(universe.is_entity(&p.pseudonym(&citizen)));
    // The guard asks by the decoded bytes: the same answers.
    let key = |text: &str| shuyu::guard::parse_pseudonym(&p.pseudonym(text)).expect("a pseudonym");
    assert!(universe.is_entity_key(&key(&usci)));
    assert!(!universe.is_entity_key(&key(&name)));
    // An enterprise's name is an identifier, not an entity.
    assert!(!universe.is_entity(&p.pseudonym(&name)));
    assert!(universe.is_pseudonym(&p.pseudonym(&name)));
    assert!(universe.is_raw_identifier(&usci));
    assert!(universe.is_raw_identifier(&name));
    assert!(universe.is_raw_identifier_folded(&shuyu::guard::fold(&usci)));
    assert!(!universe.is_raw_identifier("91330000000000000X"));
    assert!(!universe.is_entity(&p.pseudonym("91330000000000000X")));
    // Under another key, the same values are not recognized as pseudonyms.
    let other = Pseudonymizer::new(&[5; 32]);
    assert!(!universe.is_entity(&other.pseudonym(&usci)));
}

/// Every row of a stream as text, each cell rendered, column `entity_at` mapped through `key`.
/// Sorted, since two partitions interleave in no fixed order.
fn rendered_rows(
    t: &TestDomain,
    mut stream: datafusion::execution::SendableRecordBatchStream,
    entity_at: usize,
    key: &dyn Fn(&str) -> String,
) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    t.domain.runtime().block_on(async {
        while let Some(batch) = stream.next().await {
            let batch = batch.unwrap();
            let columns: Vec<_> = batch
                .columns()
                .iter()
                .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).unwrap())
                .collect();
            for row in 0..batch.num_rows() {
                let mut cells = Vec::new();
                for (i, column) in columns.iter().enumerate() {
                    let text = column
                        .as_any()
                        .downcast_ref::<arrow::array::StringArray>()
                        .unwrap();
                    let cell = (!text.is_null(row)).then(|| text.value(row).to_string());
                    cells.push(match cell {
                        Some(value) if i == entity_at => Some(key(&value)),
                        cell => cell,
                    });
                }
                rows.push(cells);
            }
        }
    });
    rows.sort();
    rows
}

#[test]
fn a_scan_by_entity_gives_the_views_rows_with_each_entity_keyed_as_the_view_shows_it() {
    let t = TestDomain::new();
    // citizen_id is the entity column; employer_usci another identifier, which stays a pseudonym.
    let columns: &[&str] = &["district", "citizen_id", "employer_usci", "income"];
    let s = session(&t, &[("residents", columns)], 9);
    let view = t
        .domain
        .runtime()
        .block_on(s.execute("SELECT district, citizen_id, employer_usci, income FROM residents"))
        .unwrap();
    let expected = rendered_rows(&t, view, 1, &|v| v.to_string());
    assert!(!expected.is_empty());
    let scan = t
        .domain
        .runtime()
        .block_on(s.scan_by_entity("residents"))
        .unwrap();
    assert_eq!(scan.stream.schema().field(1).name(), "citizen_id");
    let raw = rendered_rows(&t, scan.stream, 1, &|v| v.to_string());
    assert!(
        raw.iter()
            .all(|r| r[1].as_deref().is_some_and(|c| !is_pseudonym_shaped(c))),
        "the entity column comes raw"
    );
    assert!(
        raw.iter()
            .all(|r| r[2].as_deref().is_none_or(is_pseudonym_shaped)),
        "other identifiers stay pseudonyms"
    );
    let scan = t
        .domain
        .runtime()
        .block_on(s.scan_by_entity("residents"))
        .unwrap();
    let keys = scan.keys;
    let key = |raw: &str| keys.values(vec![Box::from(raw)], 1).keys()[0].to_string();
    let keyed = rendered_rows(&t, scan.stream, 1, &key);
    assert_eq!(
        keyed, expected,
        "keys are exactly the view's pseudonyms, row for row"
    );

    // Without its entity column granted, a view cannot be grouped by entity.
    let s = session(&t, &[("residents", &["district", "income"])], 9);
    match t.domain.runtime().block_on(s.scan_by_entity("residents")) {
        Err(EngineError::Rejected(message)) => assert!(message.contains("entity column")),
        Err(other) => panic!("expected a rejection, got {other}"),
        Ok(_) => panic!("a view without its entity column was scanned by entity"),
    }
}

#[test]
fn a_universe_completed_with_the_grouped_entity_values_is_the_universe_built_whole() {
    use shuyu::engine::{EntityKeys, IdentifierUniverse};

    let t = TestDomain::new();
    let catalog = t.domain.catalog().unwrap();
    let datasets: Vec<_> = catalog.datasets().cloned().collect();
    let p = Pseudonymizer::new(&[4; 32]);
    let rt = t.domain.runtime();
    let whole = rt
        .block_on(IdentifierUniverse::build(&datasets, &p))
        .unwrap();
    let partial = || {
        rt.block_on(IdentifierUniverse::build_without_entities(&datasets, &p))
            .unwrap()
    };
    // The keys a grouping gets from its scan, under the session's key.
    let keys = |key: u8| -> EntityKeys {
        let s = session(&t, &[("residents", &["citizen_id"])], key);
        rt.block_on(s.scan_by_entity("residents")).unwrap().keys
    };
    // Every distinct value of every entity column, read from the raw files.
    let raw: Vec<Box<str>> = rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        let mut union = Vec::new();
        for d in &datasets {
            ctx.register_parquet(d.name(), d.data_path.to_str().unwrap(), Default::default())
                .await
                .unwrap();
            union.push(format!(
                "SELECT CAST({} AS VARCHAR) AS v FROM {}",
                d.manifest.dataset.entity_column,
                d.name()
            ));
        }
        let sql = format!(
            "SELECT DISTINCT v FROM ({}) WHERE v IS NOT NULL",
            union.join(" UNION ALL ")
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        batches
            .iter()
            .flat_map(|b| {
                let column =
                    arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
                let column = arrow::array::AsArray::as_string::<i32>(&column);
                (0..column.len())
                    .map(|i| Box::from(column.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    assert_eq!(raw.len(), whole.entity_count());

    let values = keys(4).values(raw.clone(), 2);
    let completed = partial().with_entities(&values, 3).unwrap();
    assert!(completed == whole, "{completed:?} against {whole:?}");
    let scanned = rt.block_on(partial().scan_entities(&datasets)).unwrap();
    assert!(scanned == whole, "{scanned:?} against {whole:?}");

    // One entity short is another universe: the comparison can fail.
    let fewer = keys(4).values(raw[1..].to_vec(), 1);
    let short = partial().with_entities(&fewer, 1).unwrap();
    assert!(short != whole);
    assert_eq!(short.entity_count() + 1, whole.entity_count());
    // Values pseudonymized under another scenario's key are refused, not merged.
    let error = partial()
        .with_entities(&keys(5).values(raw, 2), 2)
        .unwrap_err();
    assert!(error.to_string().contains("another key"), "{error}");
}
