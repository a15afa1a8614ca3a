//! The domain's time zone: review deadlines end at the end of a local day, bare dates on the
//! command line are local days, and the command line shows local times with their offset.
//! Stored and served times stay UTC.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{
    agreement_end, application_end, apply, client, date_from_now, days_from_now, district_scenario,
    Server,
};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("'{text}' is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// Runs a client command as `who` against `server` with `--time-zone zone`; returns the exit
/// code and stdout followed by stderr.
fn client_in(server: &Server, zone: &str, who: &str, args: &[&str]) -> (i32, String) {
    let mut full = vec!["--time-zone", zone];
    full.extend_from_slice(args);
    let (code, _, all) = client(server, who, &full);
    (code, all)
}

/// Creates an agreement from `from` to `until` with the command line's bare dates; returns its
/// JSON.
fn agreement_from_dates(server: &Server, zone: &str, from: &str, until: &str) -> Value {
    let (code, out) = client_in(
        server,
        zone,
        "bureau",
        &[
            "--json",
            "agreement",
            "create",
            "--operator",
            "op-1",
            "--mode",
            "comprehensive",
            "--max-level",
            "3",
            "--from",
            from,
            "--until",
            until,
            "--security",
            "等保三级",
            "--exit",
            "期满终止",
        ],
    );
    assert_eq!(code, 0, "{out}");
    // `--json` prints the answer alone on stdout; nothing goes to stderr on success.
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("agreement JSON ({e}): {out}"))
}

/// The review deadlines of a new application under `agreement`, as served (UTC).
fn deadlines(server: &Server, agreement: &str) -> Vec<DateTime<Utc>> {
    let module = crate::support::module("district_stats");
    let sha = server.upload("op-1", &module);
    let application = apply(
        server,
        "op-1",
        agreement,
        &district_scenario("op-1", &sha),
        &application_end(),
    );
    assert_eq!(
        application.status,
        201,
        "{}",
        String::from_utf8_lossy(&application.body)
    );
    application.json()["reviews"]
        .as_array()
        .expect("reviews")
        .iter()
        .map(|review| utc(review["deadline"].as_str().expect("deadline")))
        .collect()
}

#[test]
fn deadlines_terms_and_times_follow_the_domain_zone() {
    // The default zone: Asia/Shanghai.
    let server = Server::start();
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    // Bare dates near today (an agreement's term is at most three years).
    let (from, until) = (date_from_now(-30), date_from_now(700));
    let agreement = agreement_from_dates(&server, "Asia/Shanghai", &from, &until);
    // "until D" is the end of D in Jinan: 15:59:59.999Z that day; "from D" its first instant
    // there, 16:00Z the day before.
    assert_eq!(
        utc(agreement["term_end"].as_str().expect("term_end")),
        utc(&format!("{until}T23:59:59.999+08:00"))
    );
    assert_eq!(
        utc(agreement["term_start"].as_str().expect("term_start")),
        utc(&format!("{from}T00:00:00+08:00"))
    );
    assert_eq!(
        utc(agreement["term_start"].as_str().expect("term_start"))
            .format("%H:%M:%S")
            .to_string(),
        "16:00:00"
    );
    let id = agreement["id"].as_str().expect("agreement id").to_string();
    let due = deadlines(&server, &id);
    assert!(!due.is_empty());
    for deadline in &due {
        let local = deadline.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
        assert_eq!(
            local.format("%H:%M:%S%.3f").to_string(),
            "23:59:59.999",
            "a deadline ends a day in Jinan: {deadline}"
        );
        assert!(*deadline > Utc::now(), "{deadline}");
    }

    // The command line shows the term and the deadlines in the zone, with the offset.
    let (code, out) = client_in(
        &server,
        "Asia/Shanghai",
        "bureau",
        &["agreement", "show", &id],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{until} 23:59:59+08:00")), "{out}");
    let (code, out) = client_in(&server, "Asia/Shanghai", "op-1", &["scenario", "list"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = client_in(
        &server,
        "Asia/Shanghai",
        "op-1",
        &["scenario", "show", "app-000001"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("23:59:59+08:00"),
        "due at the end of a local day: {out}"
    );
    // Another zone on the client changes only how the same instants are shown.
    let (code, out) = client_in(&server, "UTC", "bureau", &["agreement", "show", &id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{until} 15:59:59+00:00")), "{out}");
    let (code, out) = client_in(
        &server,
        "Mars/Olympus",
        "bureau",
        &["agreement", "show", &id],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("'Mars/Olympus'"), "{out}");
    drop(server);

    // A domain configured for UTC ends its days at 23:59:59.999Z.
    let server = Server::start_with(&["--time-zone", "UTC"]);
    for dataset in ["enterprise_registry", "tax_payments"] {
        server.publish_bundled(dataset);
    }
    let body = json!({
        "operator": "op-1",
        "mode": "comprehensive",
        "scope": { "max_level": 3 },
        "term_start": days_from_now(-1),
        "term_end": agreement_end(),
        "security_requirements": "等保三级",
        "exit_conditions": "期满终止",
    });
    let agreement = server.ok("bureau", "/v1/agreements", &body, 201);
    let id = agreement["id"].as_str().expect("agreement id");
    for deadline in deadlines(&server, id) {
        assert_eq!(
            deadline.format("%H:%M:%S%.3f").to_string(),
            "23:59:59.999",
            "{deadline}"
        );
    }
}
