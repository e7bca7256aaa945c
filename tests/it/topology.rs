//! The topology of `docker/compose.yml` without Docker: two nodes over one PostgreSQL and Redis,
//! behind a loopback proxy that spreads connections over both, as nginx does there.

use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::spawn_app;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

/// Hands each new connection to the next backend in turn; counts what each one got.
struct RoundRobin {
    addr: SocketAddr,
    served: Arc<Vec<AtomicUsize>>,
}

impl RoundRobin {
    async fn start(backends: Vec<SocketAddr>) -> RoundRobin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served: Arc<Vec<AtomicUsize>> = Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = served.clone();
        tokio::spawn(async move {
            let mut next = 0;
            while let Ok((mut client, _)) = listener.accept().await {
                let i = next % backends.len();
                next += 1;
                counts[i].fetch_add(1, Ordering::Relaxed);
                let backend = backends[i];
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        RoundRobin { addr, served }
    }

    fn served(&self) -> Vec<usize> {
        self.served.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }
}

fn addr_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_behind_a_proxy_serve_one_queue_together() {
    let app = spawn_app().await;
    let second = app.second_node().await;
    let proxy = RoundRobin::start(vec![addr_of(&app.base), addr_of(&second)]).await;
    // A client without connection reuse, so that every request and socket picks a node anew.
    let mut via = app.on(&format!("http://{}", proxy.addr));
    via.http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();

    let mut customers = Vec::new();
    for place in 1..=10 {
        let (ticket, token) = via.joined(app.queue).await;
        assert_eq!(ticket["position"], place);
        let id = ticket["id"].as_str().unwrap().to_owned();
        let mut ws = via.ws(&format!("/ws/tickets/{id}?token={token}")).await;
        ws.json().await;
        customers.push((ws, place));
    }
    let served = proxy.served();
    assert!(served.iter().all(|&n| n >= 5), "both nodes took connections: {served:?}");

    // Calls made through either node reach every customer, whichever node holds their socket.
    for round in 1..=3 {
        via.call_next(&app.admin, app.queue, "Desk 1").await.expect(200);
        for (ws, place) in &mut customers {
            let want = if *place > round {
                json!({"status": "waiting", "position": *place - round})
            } else {
                json!({"status": "called", "position": null})
            };
            if *place < round {
                continue; // called in an earlier round
            }
            // Estimates may move first: read until the new place (each read is bounded).
            loop {
                let t = ws.json().await["ticket"].clone();
                if json!({"status": t["status"], "position": t["position"]}) == want {
                    break;
                }
            }
        }
    }
    let ready = via.get("/readyz", None).await.expect(200);
    assert_eq!(ready["redis"], "up", "{ready}");
}

/// The compose file and the proxy's configuration describe this topology. `docker compose config`
/// parses the file where the docker CLI has compose; the text is checked everywhere.
#[test]
fn the_compose_file_describes_two_nodes_behind_a_websocket_proxy() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker");
    let compose = std::fs::read_to_string(dir.join("compose.yml")).unwrap();
    for needle in ["image: postgres:16", "image: redis:7", "node1:", "node2:", "proxy:", "nginx.conf", "healthcheck:"] {
        assert!(compose.contains(needle), "compose.yml lacks {needle}");
    }
    let nginx = std::fs::read_to_string(dir.join("nginx.conf")).unwrap();
    for needle in
        ["server node1:8080", "server node2:8080", "proxy_set_header Upgrade $http_upgrade", "proxy_http_version 1.1"]
    {
        assert!(nginx.contains(needle), "nginx.conf lacks {needle}");
    }
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    for needle in ["USER queuecast", "HEALTHCHECK", "FROM debian:bookworm-slim"] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks {needle}");
    }

    let has_compose =
        std::process::Command::new("docker").args(["compose", "version"]).output().is_ok_and(|o| o.status.success());
    if has_compose {
        let out = std::process::Command::new("docker")
            .args(["compose", "-f", dir.join("compose.yml").to_str().unwrap(), "config", "--quiet"])
            .output()
            .unwrap();
        assert!(out.status.success(), "docker compose config: {}", String::from_utf8_lossy(&out.stderr));
    } else {
        eprintln!("docker compose is not available here: the compose file's text was checked, not parsed");
    }
}
