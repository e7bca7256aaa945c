//! Sockets per credential are capped: the sixth socket of a ticket closes the first, across
//! nodes too, and a flood with one token never keeps other customers out.

use crate::common;

use common::{spawn_app, WsEvent};
use serde_json::json;

#[tokio::test]
async fn the_sixth_socket_of_a_ticket_closes_the_first_on_any_node() {
    // Arrange: two nodes sharing Redis; a ticket's five sockets spread over both.
    let app = spawn_app().await;
    let other = app.on(&app.second_node().await);
    let (ticket, token) = app.joined(app.queue).await;
    let path = format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap());
    let mut first = app.ws(&path).await;
    assert_eq!(first.json().await["type"], "ticket");
    let mut rest = Vec::new();
    for i in 0..4 {
        let mut ws = if i % 2 == 0 { other.ws(&path).await } else { app.ws(&path).await };
        assert_eq!(ws.json().await["type"], "ticket");
        rest.push(ws);
    }

    // Act: the sixth, on the other node.
    let mut sixth = other.ws(&path).await;
    assert_eq!(sixth.json().await["type"], "ticket");

    // Assert: the first (on this node) closes as replaced; the others stay and still hear.
    assert_eq!(first.closed().await, 4409);
    app.call_next(&app.admin, app.queue, "1").await.expect(200);
    for ws in rest.iter_mut().chain(std::iter::once(&mut sixth)) {
        let WsEvent::Json(frame) = ws.next().await else { panic!("a socket under the cap closed") };
        assert_eq!(frame["ticket"]["status"], "called", "{frame}");
    }
    let metrics = app.http.get(format!("{}/metrics", other.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("queuecast_sockets_refused_total{kind=\"customer\"}")),
        "no refusal counted:\n{metrics}"
    );
}

#[tokio::test]
async fn a_flood_with_one_token_holds_five_sockets_and_keeps_no_one_out() {
    // Arrange
    let app = spawn_app().await;
    let (ticket, token) = app.joined(app.queue).await;
    let path = format!("/ws/tickets/{}?token={token}", ticket["id"].as_str().unwrap());

    // Act: 60 sockets with one token, each kept open by the client.
    let mut flood = Vec::new();
    for _ in 0..60 {
        let mut ws = app.ws(&path).await;
        assert_eq!(ws.json().await["type"], "ticket");
        flood.push(ws);
    }

    // Assert: all but the newest five were closed as replaced, and another customer connects.
    for ws in flood.iter_mut().take(55) {
        assert_eq!(ws.closed().await, 4409);
    }
    let (other, other_token) = app.joined(app.queue).await;
    let mut theirs = app.ws(&format!("/ws/tickets/{}?token={other_token}", other["id"].as_str().unwrap())).await;
    assert_eq!(theirs.json().await["ticket"]["id"], other["id"]);
    app.post(&format!("/api/v1/queues/{}/call-next", app.queue), Some(&app.admin), json!({"counter": "2"}))
        .await
        .expect(200);
    for ws in flood.iter_mut().skip(55) {
        let WsEvent::Json(frame) = ws.next().await else { panic!("one of the newest five closed") };
        assert_eq!(frame["ticket"]["status"], "called");
    }
}
