//! Ticket tokens are checked in batches (a reconnect storm brings thousands at once): every check
//! of a batch still gets its own answer, whoever's ticket it is.

use crate::common;

use common::spawn_app;
use futures_util::future::join_all;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_checked_together_each_open_their_own_ticket_and_no_other() {
    // Arrange: tickets of two tenants.
    let app = spawn_app().await;
    let (beta, _) = app.new_tenant("beta").await;
    let beta_queue = app.create_queue(&beta, "b", serde_json::json!({})).await;
    let mut tickets = Vec::new();
    for queue in [app.queue, beta_queue] {
        for _ in 0..20 {
            let (ticket, token) = app.joined(queue).await;
            tickets.push((queue, ticket["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap(), token));
        }
    }

    // Act: every ticket with its token, with the next one's, and an unknown ticket, all at once.
    let store = &app.store;
    let checks = tickets.iter().enumerate().flat_map(|(i, (_, id, token))| {
        let other = &tickets[(i + 1) % tickets.len()].2;
        [(*id, token.clone()), (*id, other.clone()), (uuid::Uuid::new_v4(), token.clone())]
    });
    let answers = join_all(checks.map(|(id, token)| async move { store.open_ticket(id, &token).await.unwrap() })).await;

    // Assert
    for (i, (queue, _, _)) in tickets.iter().enumerate() {
        let opened = answers[3 * i].as_ref().expect("its own token opens a ticket");
        assert_eq!(opened.queue_id, *queue);
        assert!(answers[3 * i + 1].is_none(), "another ticket's token opens nothing");
        assert!(answers[3 * i + 2].is_none(), "no such ticket");
    }
    // And sockets opened at once each show their own ticket.
    let sockets = join_all(tickets.iter().map(|(_, id, token)| {
        let app = &app;
        async move {
            let mut ws = app.ws(&format!("/ws/tickets/{id}?token={token}")).await;
            ws.json().await["ticket"]["id"].as_str().unwrap().to_owned()
        }
    }))
    .await;
    assert_eq!(sockets, tickets.iter().map(|t| t.1.to_string()).collect::<Vec<_>>());
}
