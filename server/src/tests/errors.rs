//! Every unreadable request gets the API's error shape.

use axum::body::Body;
use axum::http::{header, Method, Request};
use serde_json::json;

use super::{TestApi, User};
use shuyu::governance::model::Role;

fn bureau(api: &TestApi) -> User {
    api.user("bureau-1", Role::Bureau, None, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_needs_no_token() {
    let api = TestApi::new(1);
    let answer = api.get("/v1/health", None).await;
    assert_eq!(answer.ok(200)["status"], "ok");
    assert_eq!(answer.json["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_json_404() {
    let api = TestApi::new(1);
    let message = api
        .get("/v1/nothing-here", None)
        .await
        .error(404, "not_found");
    assert!(message.contains("/v1/nothing-here"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_are_json_405() {
    let api = TestApi::new(1);
    let answer = api.call(Method::DELETE, "/v1/jobs", None, None).await;
    answer.error(405, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_unknown_tokens_are_401() {
    let api = TestApi::new(1);
    let answer = api.get("/v1/whoami", None).await;
    let message = answer.error(401, "unauthenticated");
    assert!(message.contains("Bearer"), "{message}");
    assert_eq!(
        answer
            .headers
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let stranger = User {
        token: "sy_0000".into(),
    };
    api.get("/v1/whoami", Some(&stranger))
        .await
        .error(401, "unauthenticated");
    // A body is not read before the caller is known.
    api.call(Method::POST, "/v1/agreements", None, Some(json!({})))
        .await
        .error(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_answers_the_identity() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    let answer = api.get("/v1/whoami", Some(&bureau)).await;
    assert_eq!(answer.ok(200)["id"], "bureau-1");
    assert_eq!(answer.json["role"], "bureau");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/agreements")
        .header(header::AUTHORIZATION, format!("Bearer {}", bureau.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"operator\": "))
        .unwrap();
    let message = api.send(request).await.error(400, "bad_request");
    assert!(message.contains("malformed JSON"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_of_the_wrong_shape_is_422_naming_the_field() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    let message = api
        .post("/v1/agreements", &bureau, json!({ "operator": "op-1" }))
        .await
        .error(422, "invalid");
    assert!(message.contains("mode"), "{message}");
    let message = api
        .post(
            "/v1/objections",
            &bureau,
            json!({ "dataset": "d", "reason": "r", "extra": 1 }),
        )
        .await
        .error(422, "invalid");
    assert!(message.contains("extra"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_types_are_415() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/agreements")
        .header(header::AUTHORIZATION, format!("Bearer {}", bureau.token))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let message = api.send(request).await.error(415, "unsupported_media_type");
    assert!(message.contains("application/json"), "{message}");

    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/modules")
        .header(header::AUTHORIZATION, format!("Bearer {}", bureau.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let message = api.send(request).await.error(415, "unsupported_media_type");
    assert!(message.contains("application/wasm"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_naming_the_limit() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    let big = format!("{{\"reason\": \"{}\"}}", "x".repeat(1 << 20));
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/agreements/agr-1/terminate")
        .header(header::AUTHORIZATION, format!("Bearer {}", bureau.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .unwrap();
    let message = api.send(request).await.error(413, "payload_too_large");
    assert!(message.contains("1 MiB"), "{message}");

    // Modules may be larger than 1 MiB: a 2 MiB upload passes the limit and reaches governance,
    // which judges the bytes.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/modules")
        .header(header::AUTHORIZATION, format!("Bearer {}", bureau.token))
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Body::from(vec![0u8; 2 << 20]))
        .unwrap();
    let answer = api.send(request).await;
    assert_ne!(answer.status.as_u16(), 413, "{}", answer.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_path_and_query_parameters_are_400() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    let message = api
        .post(
            "/v1/datasets/enterprise_registry/versions/first/withdraw",
            &bureau,
            json!({ "reason": "r" }),
        )
        .await
        .error(400, "bad_request");
    assert!(message.contains("first"), "{message}");
    for query in ["limit=0", "limit=many", "limt=5"] {
        api.get(&format!("/v1/datasets?{query}"), Some(&bureau))
            .await
            .error(400, "bad_request");
    }
    let page = api.get("/v1/datasets?limit=10", Some(&bureau)).await;
    assert!(page.ok(200)["items"].is_array(), "{}", page.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governance_refusals_keep_their_status() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    let message = api
        .get("/v1/agreements/agr-nope", Some(&bureau))
        .await
        .error(404, "not_found");
    assert!(message.contains("agr-nope"), "{message}");
    let provider = api.user("p-market", Role::Provider, None, Some(super::MARKET));
    api.get("/v1/agreements", Some(&provider))
        .await
        .error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_for_reviewers_and_the_bureau() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    let reviewer = api.user("rev-1", Role::Reviewer, None, None);
    let provider = api.user("p-market", Role::Provider, None, Some(super::MARKET));
    let message = api
        .get("/v1/audit", Some(&provider))
        .await
        .error(403, "forbidden");
    assert!(message.contains("reviewer"), "{message}");
    api.get("/v1/audit/verify", Some(&provider))
        .await
        .error(403, "forbidden");

    // Adding identities is audited: there are entries to page through.
    let first = api.get("/v1/audit?limit=1", Some(&reviewer)).await;
    let items = first.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    let next = first.json["next"]
        .as_str()
        .expect("a next page")
        .to_string();
    let second = api
        .get(&format!("/v1/audit?limit=500&after={next}"), Some(&bureau))
        .await;
    let rest = second.ok(200)["items"].as_array().unwrap().clone();
    assert!(!rest.is_empty());
    assert!(rest[0]["seq"].as_u64() > items[0]["seq"].as_u64());
    assert!(second.json["next"].is_null());
    api.get("/v1/audit?since=yesterday", Some(&reviewer))
        .await
        .error(400, "bad_request");

    let verified = api.get("/v1/audit/verify", Some(&reviewer)).await;
    assert!(
        verified.ok(200)["entries"].as_u64() >= Some(3),
        "{}",
        verified.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_files_outside_the_package_are_404() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    for path in [
        "/v1/products/p1/files/secret.txt",
        "/v1/products/p1/files/..",
        "/v1/products/../files/data.csv",
        "/v1/products/.hidden/files/data.csv",
    ] {
        let answer = api.get(path, Some(&bureau)).await;
        assert_eq!(answer.status.as_u16(), 404, "{path}: {}", answer.json);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_422_on_every_governance_body() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    let agreement = json!({
        "operator": "op-1", "mode": "comprehensive", "scope": { "max_level": 3 },
        "term_start": "2026-01-01T00:00:00Z", "term_end": "2026-12-31T00:00:00Z",
        "security_requirements": "s", "exit_conditions": "e", "colour": "red",
    });
    let message = api
        .post("/v1/agreements", &bureau, agreement)
        .await
        .error(422, "invalid");
    assert!(message.contains("colour"), "{message}");
    let nested = json!({
        "operator": "op-1", "mode": "comprehensive", "scope": { "max_level": 3, "extra_scope": [] },
        "term_start": "2026-01-01T00:00:00Z", "term_end": "2026-12-31T00:00:00Z",
        "security_requirements": "s", "exit_conditions": "e",
    });
    let message = api
        .post("/v1/agreements", &bureau, nested)
        .await
        .error(422, "invalid");
    assert!(message.contains("extra_scope"), "{message}");
    let message = api
        .post(
            "/v1/applications/app-000001/reviews",
            &bureau,
            json!({ "decision": "approve", "reason": "ok", "urgent": true }),
        )
        .await
        .error(422, "invalid");
    assert!(message.contains("urgent"), "{message}");
    let message = api
        .post(
            "/v1/applications",
            &bureau,
            json!({ "agreement": "agr-000001", "note": "x" }),
        )
        .await
        .error(422, "invalid");
    assert!(
        message.contains("note") || message.contains("scenario"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_is_not_a_request_body() {
    let api = TestApi::new(1);
    let bureau = bureau(&api);
    // serde reads a struct from an array of its fields in order; the API does not.
    for (path, body) in [
        (
            "/v1/applications/app-000001/reviews",
            json!(["approve", "looks fine"]),
        ),
        ("/v1/operators/op-1/suspend", json!(["a reason"])),
    ] {
        let message = api.post(path, &bureau, body).await.error(422, "invalid");
        assert!(message.contains("JSON object"), "{path}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_uri_is_414_in_the_error_shape() {
    let api = TestApi::new(1);
    let path = format!("/v1/datasets?after={}", "a".repeat(9000));
    let message = api.get(&path, None).await.error(414, "uri_too_long");
    assert!(message.contains("8 KiB"), "{message}");
    // Just under the limit is read as usual (here: no token).
    let path = format!("/v1/datasets?after={}", "a".repeat(8000));
    api.get(&path, None).await.error(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_key_needs_no_token_and_is_the_domains() {
    let api = TestApi::new(1);
    let answer = api.get("/v1/domain/public-key", None).await;
    let body = answer.ok(200).clone();
    let key = api.state.domain().keys.public_key();
    assert_eq!(body["public_key"], key.to_hex());
    assert_eq!(body["key_id"], key.key_id());
    assert_eq!(body["algorithm"], "ed25519");
    let described: std::collections::BTreeSet<String> = crate::schemas::all()["DomainPublicKey"]
        ["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    let sent: std::collections::BTreeSet<String> =
        body.as_object().expect("object").keys().cloned().collect();
    assert_eq!(described, sent);
}
