//! A real listener on 127.0.0.1:0, a raw HTTP/1.1 request, and a graceful shutdown.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{AppState, Server, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_a_free_port_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let path = dir.path().to_path_buf();
    let cfg = config.clone();
    let state = tokio::task::spawn_blocking(move || AppState::open(&path, cfg))
        .await
        .unwrap()
        .unwrap();
    let server = Server::bind(state, config.listen).await.unwrap();
    let addr = server.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), serving)
        .await
        .expect("shuts down")
        .unwrap()
        .unwrap();
    // The data directory can be opened again at once: nothing holds it.
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || AppState::open(&path, ServerConfig::default()).map(drop))
        .await
        .unwrap()
        .unwrap();
}
